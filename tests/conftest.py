"""Shared fixtures: one local Spark session, settings pointing at temporary folders,
and one small generated + ingested lakehouse reused by the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparkvalue.config import Settings, load_config

TEST_KEY = "test-pseudonym-key-not-a-secret"


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
def demo_lake(spark, base_settings: Settings):
    """The small generated data set, generated and ingested once for the session."""
    from sparkvalue import pipeline

    summary = pipeline.generate(spark, base_settings)
    results = pipeline.ingest(spark, base_settings, summary.months)
    return base_settings, summary, results
