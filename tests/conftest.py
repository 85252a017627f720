"""Shared fixtures: one local Spark session, settings pointing at temporary folders,
and one small generated + ingested lakehouse reused by the end-to-end tests.

`make test` runs two pytest-xdist workers (`-n 2 --dist loadgroup`), each with its own Spark
session: the tests that use the demo lakehouse (directly or through the models chain) are put
in `xdist_group("lakehouse")` and at the front of the collection, so one worker takes them all,
in file order, and the other takes every other test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sparkvalue import pipeline
from sparkvalue.config import Settings, load_config
from sparkvalue.lakehouse import tables as lh

TEST_KEY = "test-pseudonym-key-not-a-secret"

# A pytest-xdist worker runs from `python -c`: its __main__ has neither a file nor a spec, which
# pyspark.sql.connect (imported by MLflow's Spark flavour) takes for a doctest run without the
# Connect dependencies, and exits. Give it the file it lacks.
if not hasattr(sys.modules["__main__"], "__file__") and sys.modules["__main__"].__spec__ is None:
    sys.modules["__main__"].__file__ = os.devnull  # (multiprocessing spawn would run it: nothing)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the group into a node id suffix
def pytest_collection_modifyitems(config, items):
    """Start test_production's cluster jobs early, in their own processes beside the models chain,
    on cores the chain alone leaves idle: the test that submits the training job runs after the
    first test of another module that builds the chain's silver tables, the one that submits the
    monthly job after the first that scores. Run alone, test_production keeps its order.
    Then group the tests of the demo lakehouse and put them first (see the module's text)."""
    launchers = (("test_the_cluster_has_two_workers_and_takes_the_training_job", "models_lake"),
                 ("test_the_cluster_takes_the_monthly_job", "scored"))
    for launcher, fixture in launchers:
        moving = next((item for item in items if item.name == launcher), None)
        if moving is None:
            continue
        home = items.index(moving)
        items.remove(moving)
        at = next((i for i, item in enumerate(items)
                   if item.path != moving.path and fixture in getattr(item, "fixturenames", ())), None)
        items.insert(home if at is None else at + 1, moving)
    lakehouse = [item for item in items if "demo_lake" in getattr(item, "fixturenames", ())]
    for item in lakehouse:
        item.add_marker(pytest.mark.xdist_group("lakehouse"))
    grouped = set(lakehouse)
    items[:] = lakehouse + [item for item in items if item not in grouped]


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    os.environ["SPARKVALUE_PSEUDONYM_KEY"] = TEST_KEY
    root = tmp_path_factory.mktemp("sparkvalue")
    return load_config("local").with_overrides({
        "paths": {
            "landing": str(root / "landing"),
            "lakehouse": str(root / "lakehouse"),
            "truth": str(root / "truth"),
            "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "mlflow_artifacts": str(root / "mlflow-artifacts"),
            "checkpoints": str(root / "checkpoints"),
        },
        "spark": {
            "driver_memory": "3g",
            "shuffle_partitions": 2,
            "conf": {
                "spark.ui.enabled": "false",
                "spark.default.parallelism": "2",
                "spark.databricks.delta.snapshotPartitions": "2",
                "spark.sql.warehouse.dir": str(root / "warehouse"),
            },
        },
        # The small test population has ~25 callers per call-centre-like hub.
        "graph": {"hub_min_in_degree": 15},
        "generate": {"subscribers": 2500, "months": 4, "end_month": "2026-10", "seed": 7,
                     "edges_per_subscriber": 10, "files_per_month": 1},
    })


@pytest.fixture(scope="session")
def spark(base_settings: Settings):
    from sparkvalue.session import build_session

    session = build_session(base_settings, app_name="sparkvalue-tests")
    yield session
    session.stop()


def settings_in(base: Settings, root: Path, **sections) -> Settings:
    """`base` with landing, lakehouse and truth moved under `root` (plus other overrides)."""
    paths = {"landing": str(root / "landing"), "lakehouse": str(root / "lakehouse"),
             "truth": str(root / "truth")}
    return base.with_overrides({"paths": paths, **sections})


@pytest.fixture(scope="session")
def demo_landing(spark, base_settings: Settings):
    """The small generated data set in the landing folder, generated once per worker."""
    return base_settings, pipeline.generate(spark, base_settings)


@pytest.fixture(scope="session")
def demo_lake(spark, demo_landing):
    """The demo landing ingested once: the lakehouse the models chain builds on."""
    settings, summary = demo_landing
    return settings, summary, pipeline.ingest(spark, settings, summary.months)


@pytest.fixture(scope="session")
def two_month_lake(spark, demo_landing, tmp_path_factory):
    """The last two months of the demo landing ingested into a lakehouse of their own, for the
    tests that read or rewrite bronze without the models chain (they run beside it)."""
    settings, summary = demo_landing
    settings = settings.with_overrides(
        {"paths": {"lakehouse": str(tmp_path_factory.mktemp("two-months") / "lakehouse")}})
    months = list(summary.months)[-2:]
    pipeline.ingest(spark, settings, months)
    return settings, months


# ------------------------------------------- the models chain, shared by test_models and test_production

@pytest.fixture(scope="session")
def models_lake(spark, demo_lake, tmp_path_factory):
    """Silver for all 4 generated months and an empty MLflow store of its own.

    Four months allow a 1-month horizon: train on 2 months, hold out the third.
    """
    settings, summary, _ = demo_lake
    root = tmp_path_factory.mktemp("models")
    settings = settings.with_overrides({
        "paths": {"mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                  "mlflow_artifacts": str(root / "artifacts")},
        "anomaly": {"horizon_months": 1},
        "models": {"holdout_months": 1},
        "segments": {"k_range": [5, 7]},  # three fits instead of eight; the choice of k is tested apart
    })
    pipeline.features(spark, settings, list(summary.months))
    return settings, list(summary.months)


@pytest.fixture(scope="session")
def trained(spark, models_lake):
    settings, months = models_lake
    return settings, pipeline.train(spark, settings)


def _cached_rdds(spark) -> set[int]:
    """Ids of the persisted RDDs of the application's own DataFrames (not Delta's caches of
    table states, which Delta keeps per snapshot)."""
    persisted = spark.sparkContext._jsc.getPersistentRDDs()
    return {i for i in persisted.keySet() if not str(persisted[i].name()).startswith("Delta Table State")}


@pytest.fixture(scope="session")
def scored(spark, trained):
    """Score all months; train a worse stickiness model (depth 1: it must not take the champion
    alias); score the latest month again, as a rerun of the monthly job does, which must still
    use the champions. The first run's gold tables are kept (checkpointed) to compare."""
    settings, _ = trained
    lakehouse = settings.path("lakehouse")
    months = pipeline.silver_months(spark, settings)
    before = _cached_rdds(spark)
    first = pipeline.score(spark, settings, months)
    left_cached = len(_cached_rdds(spark) - before)  # what scoring left in memory
    kept = {name: lh.read_table(spark, lakehouse, f"gold.{name}").localCheckpoint()
            for name in ("stickiness", "anomaly", "value", "value_tiers", "segments", "segment_profiles",
                         "propensity", "ld_targets")}
    worse = pipeline.train(spark, settings, kinds=("stickiness",), max_depth=1)
    second = pipeline.score(spark, settings, months[-1:])
    return settings, months, first, second, kept, worse, left_cached


@pytest.fixture(scope="session")
def recommended(spark, scored):
    """Marketing of the latest month: the matrix, the recommendations and the marketing tables."""
    settings, months, *_ = scored
    return settings, months, pipeline.recommend(spark, settings, months[-1:])
