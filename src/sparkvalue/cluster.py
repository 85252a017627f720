"""Shipping the job to a cluster: the package as one zip for `spark-submit --py-files`, and
a configuration folder written from validated settings for `--conf-dir`.

    python -m sparkvalue.cluster dist/sparkvalue.zip      (what `make package` runs)
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import yaml

from sparkvalue.config import Settings, resolve_path

PACKAGE = Path(__file__).resolve().parent


def build_zip(dest: str | Path) -> Path:
    """Zip the `sparkvalue` package (sources only) into `dest` for `--py-files`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(PACKAGE.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                zf.write(file, Path("sparkvalue") / file.relative_to(PACKAGE))
    return dest


def write_conf_dir(settings: Settings, folder: str | Path, env: str) -> Path:
    """Write `settings` as a self-contained configuration folder (`base.yaml` holding all of
    it, an empty `<env>.yaml`), so a job started elsewhere reads exactly these settings."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    content = settings.model_dump(mode="json", exclude={"env", "root"})
    # relative paths were relative to the settings' project root: make them absolute
    for section, key in [*(("paths", k) for k in content["paths"]), ("serving", "metastore"),
                         ("serving", "mlflow_backend_store"), ("privacy", "key_file"), ("spark", "jars_dir")]:
        if content[section].get(key):
            content[section][key] = resolve_path(content[section][key], settings.root)
    (folder / "base.yaml").write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    (folder / f"{env}.yaml").write_text("{}\n")
    return folder


if __name__ == "__main__":
    print(build_zip(sys.argv[1] if len(sys.argv) > 1 else "dist/sparkvalue.zip"))
