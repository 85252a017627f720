# Set-up and entry points. `make demo` and `make test` are the two README commands.
# Everything downloaded is cached: the virtual environment in .venv (rebuilt only
# when pyproject.toml changes) and the JVM jars in $(SPARKVALUE_CACHE), keyed by
# the hash of jvm/pom.xml, so a second run downloads nothing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
SPARKVALUE_CACHE ?= $(HOME)/.cache/sparkvalue
POM_HASH := $(shell md5sum jvm/pom.xml | cut -c1-12)
JAR_DIR := $(SPARKVALUE_CACHE)/jars-$(POM_HASH)
JAR_LINK := $(SPARKVALUE_CACHE)/jars

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser demo test lint bench clean-data package

setup: $(VENV)/.installed $(JAR_DIR)/.complete
	@ln -sfn $(JAR_DIR) $(JAR_LINK)

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $@

# Maven resolves Delta's transitive jar set from Maven Central into ~/.m2 and
# copies it (minus what pyspark already ships, see jvm/pom.xml) into the cache.
$(JAR_DIR)/.complete:
	@mkdir -p $(JAR_DIR)
	mvn --batch-mode --quiet -f jvm/pom.xml dependency:copy-dependencies -DoutputDirectory=$(JAR_DIR)
	@touch $@

demo: setup
	$(VENV)/bin/sparkvalue demo

# The package as one zip for spark-submit --py-files (see README "Run on a cluster").
package: setup
	$(VENV)/bin/python -m sparkvalue.cluster dist/sparkvalue.zip

# The report test renders the page in headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

test: setup browser
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup --durations=15

lint: setup
	$(VENV)/bin/ruff check src tests jobs benchmarks

clean-data:
	rm -rf .data
