"""Render the lakehouse table catalog as Markdown (`sparkvalue docs` writes docs/tables.md)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkvalue.contract.raw import RAW_TABLES
from sparkvalue.lakehouse.tables import CATALOG, TableDoc

HEADER = """# Lakehouse tables

Generated from `src/sparkvalue/lakehouse/tables.py` by `sparkvalue docs`; do not edit by hand.
Paths are relative to `paths.lakehouse`. Every table is Delta at protocol reader 1 /
writer 2 (readable by delta-rs, DuckDB, Polars and BI tools); subscriber ids are
pseudonyms. Monthly tables are replaced per month (`replaceWhere`), never appended twice.
"""

# Columns of the tables that are not a raw table plus lineage.
OTHER_COLUMNS = {
    "bronze.quarantine": [
        ("table_name", "string", "raw table the row came from"),
        ("month", "string", "extract month (yyyy-MM)"),
        ("source_file", "string", "landing file the row was read from"),
        ("rule", "string", "first rule the row broke (missing, bad_type, not_allowed, out_of_range, "
                           "wrong_month, check_failed, duplicate_row, conflicting_duplicate_key, "
                           "unknown_key, malformed_record)"),
        ("reasons", "array<string>", "every rule broken, with column, value and expectation"),
        ("record", "string", "the original row as JSON (subscriber numbers pseudonymised)"),
    ],
    "ops.ingest_runs": [
        ("run_id", "string", "id of the ingest run"),
        ("table_name", "string", "raw table"),
        ("month", "string", "extract month"),
        ("loaded", "long", "rows written to bronze"),
        ("quarantined", "long", "rows written to quarantine"),
        ("rules", "map<string,long>", "quarantined rows per rule"),
        ("ignored_columns", "array<string>", "columns in the files that the contract does not know"),
        ("seconds", "double", "wall time per month of the table's ingest"),
        ("finished_at", "timestamp", "when the run finished (UTC)"),
    ],
}


def _warning_columns(warnings=None) -> list[tuple[str, str, str]]:
    from sparkvalue.config import load_config
    from sparkvalue.features.warnings import describe_rules

    checks = describe_rules(warnings or load_config("local").warnings)
    suffix = "" if warnings else " (default thresholds)"
    return [
        ("subscriber_id", "string", "pseudonymised subscriber number"),
        ("month", "string", "month (yyyy-MM), the partition"),
        *[(code.lower(), "boolean", f"{code}: {text}{suffix}") for code, text in checks.items()],
        ("warning_codes", "array<string>", "codes of the rules that fired"),
        ("warning_reasons", "array<string>", "readable reasons of the rules that fired"),
        ("warning_count", "int", "rules that fired"),
    ]


def table_columns(name: str, doc: TableDoc, warnings=None) -> list[tuple[str, str, str]]:
    """(column, type, meaning) of a catalog table. `warnings`: the `warnings:` section whose
    thresholds silver.warnings describes (default: those of the embedded configuration)."""
    from sparkvalue.features.columns import GRAPH_FEATURES, SUBSCRIBER_FEATURES

    silver = {"silver.subscriber_features": SUBSCRIBER_FEATURES, "silver.graph_features": GRAPH_FEATURES}
    if name in silver:
        return silver[name]
    if name == "silver.warnings":
        return _warning_columns(warnings)
    if name.startswith("gold."):
        from sparkvalue.models import columns as gold

        return getattr(gold, doc.name.upper())
    if name in OTHER_COLUMNS:
        return OTHER_COLUMNS[name]
    spec = RAW_TABLES[doc.name]
    cols = [(f.name, f.dtype, f.description + (" (pseudonym)" if f.pii else "")) for f in spec.fields]
    if "month" not in spec.columns:
        cols.append(("month", "string", "extract month (yyyy-MM), the partition"))
    cols.append(("_source_file", "string", "landing file the row was read from"))
    return cols


def documented(df: DataFrame, name: str, warnings=None) -> DataFrame:
    """`df` with the catalog's meaning of each column as its `comment` (one projection).

    Delta keeps the comments in the table's schema, so every reader (Spark SQL, the JDBC
    server, delta-rs) shows them; a table written before keeps the comments it has."""
    meaning = {c: text for c, _, text in table_columns(name, CATALOG[name], warnings)}
    return df.select(*[F.col(f"`{c}`").alias(c, metadata={"comment": meaning[c]}) if c in meaning
                       else F.col(f"`{c}`") for c in df.columns])


def render() -> str:
    lines = [HEADER]
    for name, doc in CATALOG.items():
        lines.append(f"\n## `{doc.layer}/{doc.name}`\n")
        lines.append(doc.description + "\n")
        lines.append(f"- grain: {doc.grain}")
        lines.append(f"- key: {', '.join(f'`{k}`' for k in doc.key) or '(none: a log)'}")
        lines.append(f"- partitioned by: {', '.join(f'`{p}`' for p in doc.partition) or '(none)'}")
        lines.append("")
        lines.append("| column | type | meaning |")
        lines.append("|---|---|---|")
        lines += [f"| `{c}` | {t} | {d} |" for c, t, d in table_columns(name, doc)]
    lines += _offer_frame()
    return "\n".join(lines) + "\n"


def _offer_frame() -> list[str]:
    """The columns that `marketing.exclusions` and the offers' rules may use (not a table)."""
    from sparkvalue.config import load_config
    from sparkvalue.marketing.offers import frame_columns

    return ["", "## Offer frame (not a table)", "",
            "The columns `marketing.exclusions` and the offers' `propensity`, `eligibility` and "
            "`exclusions` expressions (Spark SQL) may use: one row per subscriber per month, joined from "
            "silver.subscriber_features, silver.graph_features, silver.warnings, gold.marketing_matrix, "
            "gold.value, gold.propensity (one `p_<model>` per configured model) and bronze.contact_history. "
            "`sparkvalue recommend` checks every expression against them before it reads any data.", "",
            "| column | type | meaning |", "|---|---|---|",
            *[f"| `{c}` | {t} | {d} |" for c, t, d in frame_columns(load_config("local"))]]


def write_tables_doc(root: str) -> str:
    path = Path(root) / "docs" / "tables.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return str(path)

