from pathlib import Path

from pyspark.sql import types as T

from sparkvalue.contract import RAW_TABLES
from sparkvalue.contract.docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_data_contract_doc_is_current():
    doc = (ROOT / "docs" / "data-contract.md").read_text()
    assert doc == render(), "docs/data-contract.md is stale: run `sparkvalue docs`"


def test_tables_doc_is_current():
    from sparkvalue.lakehouse.docs import render as render_tables

    doc = (ROOT / "docs" / "tables.md").read_text()
    assert doc == render_tables(), "docs/tables.md is stale: run `sparkvalue docs`"


def test_every_mission_table_is_declared_with_key_and_month():
    assert set(RAW_TABLES) == {"subscribers", "usage_monthly", "call_edges", "product_events",
                               "bundles", "groups", "contact_history"}
    for spec in RAW_TABLES.values():
        assert spec.key and set(spec.key) <= set(spec.columns), spec.name
        assert spec.month_from in spec.columns, spec.name
        for ref in spec.references:
            assert ref.column in spec.columns
            assert ref.target_column in RAW_TABLES[ref.table].columns
        assert isinstance(spec.schema, T.StructType)
        assert spec.schema.fieldNames() == spec.columns


def test_referenced_tables_are_ingested_first():
    order = list(RAW_TABLES)
    for spec in RAW_TABLES.values():
        for ref in spec.references:
            assert order.index(ref.table) < order.index(spec.name)


def test_subscriber_numbers_are_marked_personal():
    pii = {(name, c) for name, spec in RAW_TABLES.items() for c in spec.pii_columns}
    assert ("subscribers", "subscriber_id") in pii
    assert ("call_edges", "caller_id") in pii and ("call_edges", "callee_id") in pii
    for name, spec in RAW_TABLES.items():
        if "subscriber_id" in spec.columns:
            assert (name, "subscriber_id") in pii
