"""Reading the lakehouse without Spark: DuckDB with its Delta extension, delta-rs (`deltalake`).

Every table is Delta at protocol reader 1 / writer 2 with classic checkpoints (see
`session.DELTA_READER_FRIENDLY`), which both read:

    from sparkvalue.lakehouse.readers import duckdb_connect
    con = duckdb_connect()
    con.sql("SELECT value_tier, count(*) FROM delta_scan('.data/lakehouse/gold/value') GROUP BY 1")

    from deltalake import DeltaTable
    DeltaTable(".data/lakehouse/gold/value").to_pandas(filters=[("month", "=", "2026-10")])
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def delta_extension() -> Path | None:
    """The Delta extension shipped by the `duckdb-extension-delta` wheel for this DuckDB, if any."""
    try:
        import duckdb_extension_delta
    except ImportError:
        return None
    found = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" \
        / "delta.duckdb_extension"
    return found if found.is_file() else None


def duckdb_connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `delta_scan` loaded: from the pip wheel when it matches this
    DuckDB (no download), else DuckDB's own `INSTALL delta` from its extension repository."""
    con = duckdb.connect(database)
    extension = delta_extension()
    if extension is not None:
        con.execute(f"LOAD '{extension}'")
    else:
        con.execute("INSTALL delta")
        con.execute("LOAD delta")
    return con
