"""The one place a SparkSession is built: Delta enabled, BI-readable table defaults."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from pyspark.sql import SparkSession

from sparkvalue.config import ConfigError, Settings, resolve_path

# Every Delta table stays at protocol reader 1 / writer 2 so that BI tools, delta-rs
# (the `deltalake` package), Polars and DuckDB can open it: no deletion vectors,
# no column mapping, classic checkpoints, and timestamps with a time zone.
DELTA_READER_FRIENDLY = {
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
    "spark.databricks.delta.properties.defaults.columnMapping.mode": "none",
    "spark.databricks.delta.properties.defaults.checkpointPolicy": "classic",
    "spark.databricks.delta.properties.defaults.enableRowTracking": "false",
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
}

DELTA_SESSION = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def delta_jars(jars_dir: str, root: str) -> list[str]:
    """The jar files `make setup` placed in `jars_dir` (Delta and its dependencies)."""
    folder = resolve_path(jars_dir, root)
    jars = sorted(glob.glob(os.path.join(folder, "*.jar")))
    if not any(Path(j).name.startswith("delta-spark_") for j in jars):
        raise ConfigError(
            f"spark.jars_dir: no Delta jars in {folder}. Run `make setup` to resolve them "
            "from Maven Central into the local cache, or set spark.jars_dir: null and pass "
            "the jars with spark-submit --jars."
        )
    return jars


def build_session(settings: Settings, *, app_name: str | None = None, hive: bool = False) -> SparkSession:
    """Build (or return the running) SparkSession configured from `settings.spark`.

    All JVM settings must be known before the first `getOrCreate()`: a session that
    already runs keeps its jars and extensions. `hive` adds a Hive metastore (Derby, in
    `serving.metastore`) for the JDBC server's database and table names; the Delta jars
    then also go on the driver's class path, where the server's session threads load them.
    """
    spark_cfg = settings.spark
    builder = SparkSession.builder.appName(app_name or spark_cfg.app_name)
    if spark_cfg.master:
        builder = builder.master(spark_cfg.master)
    conf = {
        **DELTA_SESSION,
        **DELTA_READER_FRIENDLY,
        "spark.driver.memory": spark_cfg.driver_memory,
        "spark.sql.shuffle.partitions": str(spark_cfg.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        # A join whose smaller side, once shuffled, is at most this much in every partition is
        # a shuffled hash join: the larger side (15 M call edges at 1M subscribers) is not
        # sorted (the graph features alone at 1M: -20 to -25 %, `benchmarks/ab.py`). At least
        # the advisory partition size (64 MB), or it does nothing.
        "spark.sql.adaptive.maxShuffledHashJoinLocalMapThreshold": "64MB",
        "spark.ui.showConsoleProgress": "false",
        **spark_cfg.conf,
    }
    if spark_cfg.jars_dir:
        jars = delta_jars(spark_cfg.jars_dir, settings.root)
        conf["spark.jars"] = ",".join(jars)
        if hive:
            conf["spark.driver.extraClassPath"] = ":".join(jars)
    if hive:
        metastore = resolve_path(settings.serving.metastore, settings.root)
        conf["spark.sql.warehouse.dir"] = os.path.join(metastore, "warehouse")
        conf["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
            f"jdbc:derby:;databaseName={os.path.join(metastore, 'metastore_db')};create=true")
        # Derby reads its home (where derby.log goes) from a JVM system property
        java_options = spark_cfg.conf.get("spark.driver.extraJavaOptions", "")
        conf["spark.driver.extraJavaOptions"] = f"{java_options} -Dderby.system.home={metastore}".strip()
        builder = builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    checkpoints = settings.path("checkpoints")
    spark.sparkContext.setCheckpointDir(checkpoints)
    return spark
