"""BI access over JDBC/ODBC: every lakehouse table under a readable database and table name.

`sparkvalue serve-sql` registers each Delta table that exists as an external table
`<layer>.<table>` (databases `bronze`, `silver`, `gold`, `ops`) in a local Derby
metastore, puts the table and column descriptions of `lakehouse/tables.py` on it, and
starts Spark's Thrift JDBC/ODBC server (HiveServer2 protocol) inside the same Spark
application, bound to `serving.sql_host` (loopback by default).

The descriptions live in the Delta tables themselves (the `comment` of each column and the
table's description), so every Delta reader sees them. The pipeline writes them with the
data (`docs.documented`, `tables.replace_partition`); a table written by an older release
gets them here once, as a metadata-only commit.
"""

from __future__ import annotations

import logging
import signal
import threading

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from sparkvalue.config import Settings
from sparkvalue.lakehouse.docs import table_columns
from sparkvalue.lakehouse.tables import CATALOG, TableDoc, table_path
from sparkvalue.session import build_session

log = logging.getLogger("sparkvalue")

DATABASES = {
    "bronze": "Validated landing extracts, partitioned by month; subscriber numbers are pseudonyms.",
    "silver": "Monthly subscriber and call-circle features and the retention warning rules.",
    "gold": "Scores, tiers, segments, the marketing matrix, recommendations and the closed loop.",
    "ops": "Run logs of the jobs.",
}


class ServingError(RuntimeError):
    """A server's Spark driver ended under it."""


WATCH_SECONDS = 2.0  # how often serve-sql checks that its Spark driver still runs


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _same_location(found: str, path: str) -> bool:
    return found.removeprefix("file:").rstrip("/") == path.removeprefix("file:").rstrip("/")


def _location_and_comment(spark: SparkSession, ident: str) -> tuple[str, str | None]:
    """Where a registered table lives and its description, from the catalog and the Delta
    metadata (DESCRIBE DETAIL would also count the table's files: a Spark job per table)."""
    rows = {row[0]: row[1] for row in spark.sql(f"DESCRIBE TABLE EXTENDED {ident}").collect()}
    return rows["Location"], rows.get("Comment")


def _describe(spark: SparkSession, settings: Settings, ident: str, name: str, doc: TableDoc,
              description: str | None) -> int:
    """Put the documented table and column descriptions on the table; how many changed.

    Tables the pipeline created carry them already; older ones get them here, once."""
    changed = 0
    if (description or "") != doc.description:
        spark.sql(f"COMMENT ON TABLE {ident} IS {_quoted(doc.description)}")
        changed += 1
    present = {f.name: f.metadata.get("comment") for f in spark.table(ident).schema.fields}
    stale = [(c, text) for c, _, text in table_columns(name, doc, settings.warnings)
             if c in present and present[c] != text]
    if stale:
        spark.sql(f"ALTER TABLE {ident} ALTER COLUMN "
                  + ", ".join(f"`{c}` COMMENT {_quoted(text)}" for c, text in stale))
        changed += len(stale)
    return changed


def register_tables(spark: SparkSession, settings: Settings) -> list[str]:
    """Register every lakehouse table that exists as `<layer>.<table>`; the names registered.

    Needs a session with a Hive metastore (`build_session(..., hive=True)`). A table
    registered earlier at another location (another lakehouse) is registered again here.
    """
    lakehouse = settings.path("lakehouse")
    registered = []
    databases = set()
    for name, doc in CATALOG.items():
        path = table_path(lakehouse, doc)
        if not DeltaTable.isDeltaTable(spark, path):
            continue  # not written yet in this lakehouse
        if doc.layer not in databases:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS {doc.layer} COMMENT {_quoted(DATABASES[doc.layer])}")
            databases.add(doc.layer)
        ident = f"{doc.layer}.{doc.name}"
        found = _location_and_comment(spark, ident) if spark.catalog.tableExists(ident) else None
        if found is not None and not _same_location(found[0], path):
            spark.sql(f"DROP TABLE {ident}")  # external: the data stays where it is
            found = None
        if found is None:
            spark.sql(f"CREATE TABLE {ident} USING DELTA LOCATION {_quoted(path)}")
            found = _location_and_comment(spark, ident)
        changed = _describe(spark, settings, ident, name, doc, found[1])
        log.info("registered %s (%d descriptions updated)", ident, changed)
        registered.append(ident)
    return registered


def jdbc_url(settings: Settings, database: str = "gold") -> str:
    return f"jdbc:hive2://{settings.serving.sql_host}:{settings.serving.sql_port}/{database}"


def driver_alive(spark: SparkSession) -> bool:
    """Whether the JVM behind `spark` still runs: the process this Python started, or (under
    spark-submit, which starts the JVM first) whether it still answers."""
    from py4j.protocol import Py4JError

    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is not None:
        return proc.poll() is None
    try:
        spark.sparkContext._jvm.java.lang.System.nanoTime()
        return True
    except (Py4JError, OSError):
        return False


def serve_sql(settings: Settings, *, ready: threading.Event | None = None,
              stop: threading.Event | None = None) -> None:
    """Register the tables and serve them over JDBC until SIGINT/SIGTERM (or `stop` is set)."""
    serving = settings.serving
    settings = settings.with_overrides({"spark": {"conf": {
        "spark.hive.server2.thrift.bind.host": serving.sql_host,
        "spark.hive.server2.thrift.port": str(serving.sql_port),
        "spark.hive.server2.transport.mode": "binary",
    }}})
    spark = build_session(settings, app_name="sparkvalue-serve-sql", hive=True)
    stop = stop or threading.Event()
    try:
        tables = register_tables(spark, settings)
        server = spark._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
        server.startWithContext(spark._jsparkSession.sqlContext())
        print(f"serving {len(tables)} tables over JDBC at {jdbc_url(settings)}  (Ctrl-C stops)", flush=True)
        for db in DATABASES:
            names = [t.split(".", 1)[1] for t in tables if t.startswith(db + ".")]
            if names:
                print(f"  {db}: {', '.join(names)}", flush=True)
        if ready is not None:
            ready.set()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(timeout=WATCH_SECONDS):
            if not driver_alive(spark):  # a supervisor should see the server end, and restart it
                raise ServingError(f"the Spark driver serving {jdbc_url(settings)} has ended (killed, or out "
                                   "of memory: see its log above); the JDBC server is down")
    finally:
        if driver_alive(spark):
            spark.stop()
