"""Landing -> bronze on real Spark and real Delta tables."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from sparkvalue import pipeline
from sparkvalue.contract import DataFrameMissingColumnError
from sparkvalue.contract.raw import RAW_TABLES
from sparkvalue.ingest.landing import LandingError
from sparkvalue.lakehouse import tables as lh
from sparkvalue.privacy import pseudonymise_value
from tests.conftest import TEST_KEY, settings_in

MONTH = "2026-10"


def _bronze(spark, settings, table):
    return spark.read.format("delta").load(lh.table_path(settings.path("lakehouse"),
                                                         lh.BRONZE[table]))


def _landing_rows(spark, settings, table, month):
    folder = f"{settings.path('landing')}/{table}/extract={month}"
    return spark.read.option("header", True).csv(folder).count()


def test_clean_data_lands_whole(spark, demo_lake):
    settings, summary, results = demo_lake
    assert {r.table for r in results} == set(RAW_TABLES)
    for r in results:
        assert r.quarantined == 0, (r.table, r.month, r.rules)
        assert r.loaded == _landing_rows(spark, settings, r.table, r.month), (r.table, r.month)
    subs = _bronze(spark, settings, "subscribers")
    assert sorted(r[0] for r in subs.select("month").distinct().collect()) == list(summary.months)
    runs = spark.read.format("delta").load(lh.table_path(settings.path("lakehouse"),
                                                         lh.INGEST_RUNS))
    assert runs.count() == len(RAW_TABLES) * len(summary.months)


def test_bronze_holds_only_pseudonyms(spark, two_month_lake):
    settings, _ = two_month_lake
    raw = (spark.read.option("header", True).csv(f"{settings.path('landing')}/subscribers/"
                                                  f"extract={MONTH}")
           .select("subscriber_id").limit(5).collect())
    bronze_ids = _bronze(spark, settings, "subscribers").where(F.col("month") == MONTH)
    for row in raw:
        number = row["subscriber_id"]
        assert bronze_ids.where(F.col("subscriber_id") == number).count() == 0
        pseudonym = pseudonymise_value(number, key=TEST_KEY, length=settings.privacy.id_length)
        assert bronze_ids.where(F.col("subscriber_id") == pseudonym).count() == 1
    edges = _bronze(spark, settings, "call_edges")
    assert edges.where(F.col("caller_id").rlike("^1[0-9]{10}$")).count() == 0


def test_rerunning_a_month_replaces_it(spark, two_month_lake):
    settings, months = two_month_lake
    assert months[-1] == MONTH
    before = {t: _bronze(spark, settings, t).groupBy("month").count().localCheckpoint() for t in RAW_TABLES}
    quarantine = lh.table_path(settings.path("lakehouse"), lh.QUARANTINE)
    commits = DeltaTable.forPath(spark, quarantine).history().count()
    pipeline.ingest(spark, settings, [MONTH])
    for table, counts in before.items():
        assert_df_equality(_bronze(spark, settings, table).groupBy("month").count(), counts,
                           ignore_row_order=True)
    # Clean extracts with nothing quarantined before: the quarantine gets no commit.
    assert DeltaTable.forPath(spark, quarantine).history().count() == commits


def test_a_repeated_key_stops_the_write_and_the_table_keeps_its_rows(spark, tmp_path):
    from sparkvalue.models.columns import MATRIX_SUMMARY

    doc, path, where = lh.GOLD["matrix_summary"], str(tmp_path / "matrix_summary"), f"month = '{MONTH}'"
    schema = ", ".join(f"{name} {kind}" for name, kind, _ in MATRIX_SUMMARY)

    def cells(*groups: str):
        return spark.createDataFrame(
            [(MONTH, "high", "high", False, group, 1, "retain", 5, 0.25) for group in groups], schema)

    pipeline._write_checked(cells("a", "b"), path, doc, where)
    commits = DeltaTable.forPath(spark, path).history().count()
    with pytest.raises(lh.DuplicateKeyError, match=(
            r"^gold\.matrix_summary: key \(month, value_tier, stickiness_tier, is_anomalous, "
            r"segment_group\) is not unique: 2 key value\(s\) repeat, one of them in 3 rows\. "
            r"Nothing was written\.$")):
        pipeline._write_checked(cells("a", "a", "a", "b", "b", "c"), path, doc, where)
    assert DeltaTable.forPath(spark, path).history().count() == commits
    assert_df_equality(spark.read.format("delta").load(path), cells("a", "b"), ignore_row_order=True,
                       ignore_nullable=True, ignore_metadata=True)


def test_bronze_is_readable_without_spark(spark, two_month_lake):
    from deltalake import DeltaTable

    settings, _ = two_month_lake
    path = lh.table_path(settings.path("lakehouse"), lh.BRONZE["usage_monthly"])
    table = DeltaTable(path)
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert table.to_pyarrow_table().num_rows == _bronze(spark, settings, "usage_monthly").count()
    for name in RAW_TABLES:
        schema = _bronze(spark, settings, name).schema
        assert "timestamp_ntz" not in schema.simpleString(), name


# ----------------------------------------------------------- bad rows

def _copy_month(settings, target_root: Path) -> None:
    for table in RAW_TABLES:
        src = Path(settings.path("landing")) / table / f"extract={MONTH}"
        shutil.copytree(src, target_root / "landing" / table / f"extract={MONTH}")


def _first_row(folder: Path) -> dict:
    file = next(p for p in sorted(folder.glob("*.csv")) if p.stat().st_size > 0)
    with file.open() as handle:
        return next(csv.DictReader(handle))


def _append_csv(folder: Path, name: str, rows: list[dict], header: list[str]) -> None:
    with (folder / name).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_each_rule_quarantines_its_rows_and_good_rows_still_land(spark, demo_landing, tmp_path):
    settings = settings_in(demo_landing[0], tmp_path)
    _copy_month(demo_landing[0], tmp_path)
    landing = tmp_path / "landing"
    usage_dir = landing / "usage_monthly" / f"extract={MONTH}"
    good = _first_row(usage_dir)
    header = RAW_TABLES["usage_monthly"].columns

    def variant(**changes):
        return {**good, **changes}

    bad_usage = [
        variant(subscriber_id="13999999999", revenue="1.5"),    # not a subscriber of the month
        variant(revenue="abc"),                                 # bad type
        variant(revenue="-5"),                                  # out of range
        variant(subscriber_id=""),                              # missing
        variant(month="2026-01"),                               # wrong month
        variant(plan_change="7"),                               # out of range
        variant(onnet_min="0", offnet_min="0"),                 # table rule
        dict(good),                                             # identical copy of a good row
    ]
    _append_csv(usage_dir, "part-zz-bad.csv", bad_usage, header)
    with (usage_dir / "part-zz-bad.csv").open("a") as handle:
        handle.write("13800000000,2026-10,1.0\n")             # too few fields

    subs_dir = landing / "subscribers" / f"extract={MONTH}"
    sub = _first_row(subs_dir)
    bad_subs = [
        {**sub, "subscriber_id": "13700000001", "status": "zombie"},
        {**sub, "subscriber_id": "13700000002", "activation_date": "2026-13-45"},
        {**sub, "subscriber_id": "13700000003", "is_employee": "maybe"},
        {**sub, "subscriber_id": "13700000004", "group_id": "G999999", "is_key_person": "false"},
    ]
    _append_csv(subs_dir, "part-zz-bad.csv", bad_subs, RAW_TABLES["subscribers"].columns)

    edges_dir = landing / "call_edges" / f"extract={MONTH}"
    edge = _first_row(edges_dir)
    bad_edges = [
        {**edge, "callee_id": edge["caller_id"]},                                  # self edge
        {**edge, "callee_id": "13600000000", "callee_operator": "own"},            # unknown callee
        {**edge, "callee_id": "15300000000", "callee_operator": "own",
         "calls": "1"},                                                             # unknown callee
    ]
    _append_csv(edges_dir, "part-zz-bad.csv", bad_edges, RAW_TABLES["call_edges"].columns)
    # The same edge key twice with different contents: both copies are rejected.
    conflicting = {**edge, "callee_id": "18100000001", "callee_operator": "competitor"}
    _append_csv(edges_dir, "part-zz-conflict.csv",
                [conflicting, {**conflicting, "minutes": "99.0"}], RAW_TABLES["call_edges"].columns)

    results = pipeline.ingest(spark, settings, [MONTH])
    by_table = {r.table: r for r in results}

    quarantine = spark.read.format("delta").load(lh.table_path(settings.path("lakehouse"),
                                                               lh.QUARANTINE))
    got = (quarantine.select("table_name", "rule", F.col("reasons")[0].alias("reason"))
           .where(F.col("month") == MONTH))
    expected = [
        ("usage_monthly", "unknown_key", "unknown_key: subscriber_id = "
         + pseudonymise_value("13999999999", key=TEST_KEY)
         + " is not in subscribers of this month"),
        ("usage_monthly", "bad_type", "bad_type: revenue = abc (expected double)"),
        ("usage_monthly", "out_of_range", "out_of_range: revenue = -5 (0 to 1e+06)"),
        ("usage_monthly", "missing", "missing: subscriber_id = <empty> (required)"),
        ("usage_monthly", "wrong_month", "wrong_month: month = 2026-01 (the extract's month 2026-10)"),
        ("usage_monthly", "out_of_range", "out_of_range: plan_change = 7 (-1 to 1)"),
        ("usage_monthly", "check_failed", "check_failed: minutes_split_consistent (abs(outgoing_min "
         "+ incoming_min - onnet_min - offnet_min) <= 1 + 0.01 * (outgoing_min + incoming_min))"),
        ("usage_monthly", "duplicate_row", "duplicate_row: subscriber_id="
         + pseudonymise_value(good["subscriber_id"], key=TEST_KEY) + ", month=2026-10 already loaded"),
        ("subscribers", "not_allowed", "not_allowed: status = zombie (one of active, suspended, "
         "pre_cancel, cancelled)"),
        ("subscribers", "bad_type", "bad_type: activation_date = 2026-13-45 (expected date yyyy-MM-dd)"),
        ("subscribers", "bad_type", "bad_type: is_employee = maybe (expected boolean)"),
        ("subscribers", "unknown_key", "unknown_key: group_id = G999999 is not in groups of this month"),
        ("call_edges", "check_failed", "check_failed: no_self_edge (caller_id <> callee_id)"),
        ("call_edges", "unknown_key", "unknown_key: callee_id = "
         + pseudonymise_value("13600000000", key=TEST_KEY) + " is not in subscribers of this month"),
        ("call_edges", "unknown_key", "unknown_key: callee_id = "
         + pseudonymise_value("15300000000", key=TEST_KEY) + " is not in subscribers of this month"),
    ]
    conflict_key = ("conflicting_duplicate_key: caller_id="
                    + pseudonymise_value(edge["caller_id"], key=TEST_KEY) + ", callee_id="
                    + pseudonymise_value("18100000001", key=TEST_KEY)
                    + ", month=2026-10 appears with different contents")
    expected += [("call_edges", "conflicting_duplicate_key", conflict_key)] * 2
    malformed = got.where(F.col("rule") == "malformed_record")
    assert malformed.count() == 1
    assert_df_equality(got.where(F.col("rule") != "malformed_record"),
                       spark.createDataFrame(expected, got.schema), ignore_row_order=True,
                       ignore_nullable=True)
    # Good rows still land: every row of the copied month (the clean demo month lands whole).
    for table, result in by_table.items():
        assert result.loaded == _landing_rows(spark, demo_landing[0], table, MONTH), table
    assert by_table["usage_monthly"].quarantined == 9
    # The quarantined record keeps the original values (numbers pseudonymised).
    record = json.loads(quarantine.where(F.col("rule") == "bad_type")
                        .where(F.col("table_name") == "usage_monthly").first()["record"])
    assert record["revenue"] == "abc"
    assert record["subscriber_id"] == pseudonymise_value(good["subscriber_id"], key=TEST_KEY)

    # The bad files fixed and the month ingested again: its quarantine rows are replaced (none).
    for folder in (usage_dir, subs_dir, edges_dir):
        for bad in folder.glob("part-zz-*.csv"):
            bad.unlink()
    pipeline.ingest(spark, settings, [MONTH])
    assert spark.read.format("delta").load(lh.table_path(settings.path("lakehouse"), lh.QUARANTINE)) \
        .where(F.col("month") == MONTH).count() == 0


def test_missing_column_stops_before_anything_is_written(spark, demo_landing, tmp_path):
    settings = settings_in(demo_landing[0], tmp_path)
    _copy_month(demo_landing[0], tmp_path)
    usage_dir = tmp_path / "landing" / "usage_monthly" / f"extract={MONTH}"
    good = _first_row(usage_dir)
    header = [c for c in RAW_TABLES["usage_monthly"].columns if c != "revenue"]
    _append_csv(usage_dir, "part-zz-no-revenue.csv", [{c: good[c] for c in header}], header)
    with pytest.raises(DataFrameMissingColumnError) as err:
        pipeline.ingest(spark, settings, [MONTH])
    message = str(err.value)
    assert "part-zz-no-revenue.csv" in message and "revenue" in message
    assert not (tmp_path / "lakehouse").exists()


def test_unparseable_file_stops_with_its_name(spark, demo_landing, tmp_path):
    settings = settings_in(demo_landing[0], tmp_path, ingest={"format": "parquet"})
    for table in RAW_TABLES:
        folder = tmp_path / "landing" / table / f"extract={MONTH}"
        folder.mkdir(parents=True)
        (spark.read.option("header", True).csv(f"{demo_landing[0].path('landing')}/{table}/"
                                               f"extract={MONTH}")
         .write.mode("overwrite").parquet(str(folder)))
    broken = tmp_path / "landing" / "bundles" / f"extract={MONTH}" / "part-broken.parquet"
    broken.write_bytes(b"this is not parquet at all")
    with pytest.raises(LandingError, match="part-broken.parquet: cannot be parsed as parquet"):
        pipeline.ingest(spark, settings, [MONTH])
    assert not (tmp_path / "lakehouse").exists()


def test_missing_extract_is_named(spark, demo_landing, tmp_path):
    settings = settings_in(demo_landing[0], tmp_path)
    with pytest.raises(LandingError, match="no extract for table 'groups' month 2026-10"):
        pipeline.ingest(spark, settings, [MONTH])


def test_typed_parquet_rows_are_judged_and_quarantined_with_their_values(spark, demo_landing, tmp_path):
    """Parquet written with the contract's types (as the generator writes it) is taken as it is;
    its bad rows still get their rule, and their record shows their values as text."""
    settings = settings_in(demo_landing[0], tmp_path, ingest={"format": "parquet"})
    typed = {}
    for table, spec in RAW_TABLES.items():
        csv_rows = spark.read.option("header", True).csv(
            f"{demo_landing[0].path('landing')}/{table}/extract={MONTH}")
        typed[table] = csv_rows.select(*[F.col(f.name).cast(f.spark_type) for f in spec.fields])
        typed[table].write.parquet(str(tmp_path / "landing" / table / f"extract={MONTH}"))
    good = typed["usage_monthly"].orderBy("subscriber_id").limit(1).localCheckpoint()
    (good.withColumn("revenue", F.lit(-5.0))
     .unionByName(good.withColumn("plan_change", F.lit(7)))
     .unionByName(good.withColumn("subscriber_id", F.lit("")))
     .unionByName(good.withColumn("subscriber_id", F.lit("13999999999")))
     .unionByName(good)                                              # identical copy of a good row
     .write.mode("append").parquet(str(tmp_path / "landing" / "usage_monthly" / f"extract={MONTH}")))
    edge = (typed["call_edges"].orderBy("caller_id", "callee_id").limit(1)
            .withColumn("callee_id", F.lit("18100000001")).withColumn("callee_operator", F.lit("competitor"))
            .localCheckpoint())
    (edge.unionByName(edge.withColumn("minutes", F.lit(99.0)))       # one key, two contents
     .write.mode("append").parquet(str(tmp_path / "landing" / "call_edges" / f"extract={MONTH}")))

    results = {r.table: r for r in pipeline.ingest(spark, settings, [MONTH])}

    quarantine = spark.read.format("delta").load(lh.table_path(settings.path("lakehouse"), lh.QUARANTINE))
    got = quarantine.select("table_name", "rule", F.col("reasons")[0].alias("reason"))
    number = good.first()["subscriber_id"]
    edge_row = edge.first()
    usage_key = "subscriber_id=" + pseudonymise_value(number, key=TEST_KEY) + ", month=2026-10"
    edge_key = ("caller_id=" + pseudonymise_value(edge_row["caller_id"], key=TEST_KEY) + ", callee_id="
                + pseudonymise_value("18100000001", key=TEST_KEY) + ", month=2026-10")
    expected = [
        ("usage_monthly", "out_of_range", "out_of_range: revenue = -5.0 (0 to 1e+06)"),
        ("usage_monthly", "out_of_range", "out_of_range: plan_change = 7 (-1 to 1)"),
        ("usage_monthly", "missing", "missing: subscriber_id = <empty> (required)"),
        ("usage_monthly", "unknown_key", "unknown_key: subscriber_id = "
         + pseudonymise_value("13999999999", key=TEST_KEY) + " is not in subscribers of this month"),
        ("usage_monthly", "duplicate_row", f"duplicate_row: {usage_key} already loaded"),
        ("call_edges", "conflicting_duplicate_key",
         f"conflicting_duplicate_key: {edge_key} appears with different contents"),
        ("call_edges", "conflicting_duplicate_key",
         f"conflicting_duplicate_key: {edge_key} appears with different contents"),
    ]
    assert_df_equality(got, spark.createDataFrame(expected, got.schema), ignore_row_order=True,
                       ignore_nullable=True)
    record = json.loads(quarantine.where(F.col("reasons")[0].startswith("out_of_range: revenue"))
                        .first()["record"])
    assert record["revenue"] == "-5.0" and record["plan_change"] == str(good.first()["plan_change"])
    assert record["subscriber_id"] == pseudonymise_value(number, key=TEST_KEY)
    # every good row lands, with the values it was written with
    for table, result in results.items():
        assert result.loaded == typed[table].count(), table
    columns = [c for c in RAW_TABLES["usage_monthly"].columns if c != "subscriber_id"]
    assert_df_equality(_bronze(spark, settings, "usage_monthly").select(*columns),
                       typed["usage_monthly"].select(*columns), ignore_row_order=True,
                       ignore_nullable=True, ignore_metadata=True)  # bronze carries column comments
