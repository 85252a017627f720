"""Subscriber-month features: windows on a hand-made series, point in time, the silver tables."""

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from sparkvalue.contract.raw import USAGE_MONTHLY
from sparkvalue.features.columns import GRAPH_FEATURES, SUBSCRIBER_FEATURES, names
from sparkvalue.features.graph import graph_features
from sparkvalue.features.months import month_index
from sparkvalue.features.usage import subscriber_month_features, usage_windows
from sparkvalue.lakehouse import tables as lh


def _series(spark, revenues, balances):
    months = [f"{2025 + (i // 12)}-{i % 12 + 1:02d}" for i in range(len(revenues))]
    zero = {f.name: 0 for f in USAGE_MONTHLY.fields if f.dtype in ("double", "int")}
    rows = []
    for month, revenue, balance in zip(months, revenues, balances, strict=True):
        row = {**zero, "subscriber_id": "s", "month": month, "revenue": float(revenue),
               "balance": float(balance), "outgoing_min": 60.0, "incoming_min": 40.0,
               "onnet_min": 70.0, "offnet_min": 30.0}
        rows.append(tuple(float(row[f.name]) if f.dtype == "double" else row[f.name]
                          for f in USAGE_MONTHLY.fields))
    df = spark.createDataFrame(rows, USAGE_MONTHLY.schema)
    return df.withColumn("m", month_index(F.col("month")))


def test_windows_year_over_year_and_band(spark):
    revenues = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 55]
    balances = [50] * 11 + [40, 30, 20]
    out = usage_windows(_series(spark, revenues, balances), ["2026-02"])
    expected = spark.createDataFrame(
        [(55.0, (120 + 130 + 55) / 3, 20.0, 55 / 20.0, 110.0, 130.0, -55 / 20.0, 55 / 120.0,
          True, 0.4, 100.0)],
        "revenue double, revenue_3m_avg double, revenue_ly double, revenue_yoy double, "
        "revenue_band_min double, revenue_band_max double, revenue_band_position double, "
        "revenue_vs_prev3 double, balance_falling_2m boolean, incoming_share double, mou double")
    assert_approx_df_equality(out.select(*expected.columns), expected, 1e-9, ignore_nullable=True)


def test_history_before_the_series_is_null(spark):
    out = usage_windows(_series(spark, [10, 20], [5, 5]), ["2025-01"]).first()
    assert out["revenue_ly"] is None and out["revenue_band_min"] is None
    assert out["revenue_3m_avg"] == 10.0


def _bronze(spark, settings, name):
    return lh.read_table(spark, settings.path("lakehouse"), f"bronze.{name}").drop("_source_file")


def test_features_are_point_in_time(spark, two_month_lake):
    """Changing anything after month M leaves the features of M unchanged."""
    settings, (month, later) = two_month_lake
    tables = {n: _bronze(spark, settings, n) for n in
              ("subscribers", "usage_monthly", "bundles", "product_events", "call_edges")}

    def disturb(df, name):
        is_later = F.col("month") == later
        if name == "usage_monthly":
            return df.withColumn("revenue", F.when(is_later, F.col("revenue") * 10 + 1)
                                 .otherwise(F.col("revenue")))
        if name == "subscribers":
            return df.withColumn("status", F.when(is_later, F.lit("cancelled")).otherwise(F.col("status")))
        if name == "call_edges":
            return df.withColumn("minutes", F.when(is_later, F.lit(999.0)).otherwise(F.col("minutes")))
        return df.where(~is_later)

    changed = {n: disturb(df, n) for n, df in tables.items()}

    def subscriber(t):  # both months at once, kept: M is compared, the later month summed
        return subscriber_month_features(t["subscribers"], t["usage_monthly"], t["bundles"],
                                         t["product_events"], months=[month, later]).localCheckpoint()

    def graph(t):
        return graph_features(t["call_edges"], t["subscribers"], months=[month], hub_min_in_degree=200,
                              strong_tie_minutes=20.0, reset_probability=0.15, max_iter=5, tol=1e-6)

    before, after = subscriber(tables), subscriber(changed)
    # (a replaced input column loses its bronze comment: values are compared, not descriptions)
    assert_df_equality(before.where(F.col("month") == month), after.where(F.col("month") == month),
                       ignore_row_order=True, ignore_metadata=True)
    # PageRank sums in whatever order the shuffle delivers: equal to the last bits only.
    assert_approx_df_equality(graph(tables), graph(changed), 1e-12, ignore_row_order=True)
    # ...while the later month does see its own change.
    later_before, later_after = (df.where(F.col("month") == later).agg(F.sum("revenue")).first()[0]
                                 for df in (before, after))
    assert later_after > later_before


@pytest.fixture(scope="module")
def silver(models_lake):
    """The silver tables of the models chain (`pipeline.features` over every generated month,
    on the demo lake): the last two months."""
    settings, months = models_lake
    return settings, months[-2:]


def test_silver_tables_follow_their_documented_columns(spark, silver):
    settings, months = silver
    lakehouse = settings.path("lakehouse")
    subs, graph, warnings = (lh.read_table(spark, lakehouse, f"silver.{n}").where(F.col("month").isin(months))
                             for n in ("subscriber_features", "graph_features", "warnings"))
    assert subs.columns == names(SUBSCRIBER_FEATURES)
    assert graph.columns == names(GRAPH_FEATURES)
    bronze_subs = _bronze(spark, settings, "subscribers").where(F.col("month").isin(months))
    for table in (subs, graph, warnings):
        assert table.count() == bronze_subs.count()
        assert table.select("subscriber_id", "month").distinct().count() == table.count()
    sums = [r[1] for r in graph.groupBy("month").agg(F.sum("pagerank")).collect()]
    assert sums == [pytest.approx(1.0, abs=1e-6)] * len(months)
    # Hubs are exactly the subscribers called by at least graph.hub_min_in_degree numbers.
    edges = _bronze(spark, settings, "call_edges").where(F.col("month").isin(months))
    called = edges.groupBy("month", F.col("callee_id").alias("subscriber_id")).count() \
        .where(F.col("count") >= settings.graph.hub_min_in_degree)
    expected = {tuple(r) for r in called.join(bronze_subs, ["month", "subscriber_id"], "inner")
                .select("month", "subscriber_id").collect()}
    got = {tuple(r) for r in graph.where("is_hub").select("month", "subscriber_id").collect()}
    assert got == expected and len(expected) > 0
    assert graph.where("is_hub AND pagerank IS NOT NULL").count() == 0


def test_group_sizes_and_community_deviation_are_per_group(spark, silver):
    """Family and VPN sizes count the group's subscribers of the month (0 without a group), and
    revenue_vs_community compares with the community's average; the many subscribers without
    a group or community are spread over tasks, not gathered under one null key."""
    settings, months = silver
    lakehouse = settings.path("lakehouse")
    subs = lh.read_table(spark, lakehouse, "silver.subscriber_features").where(F.col("month").isin(months))
    for group, size in (("family_id", "family_size"), ("vpn_group_id", "vpn_size")):
        counts = subs.where(F.col(group).isNotNull()).groupBy("month", group).agg(F.count("*").alias("n"))
        expected = (subs.join(counts, ["month", group], "left")
                    .select("subscriber_id", "month", F.coalesce("n", F.lit(0)).cast("int").alias(size)))
        assert subs.where(F.col(group).isNull()).count() > 0
        assert_df_equality(subs.select("subscriber_id", "month", F.col(size).cast("int")), expected,
                           ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    graph = lh.read_table(spark, lakehouse, "silver.graph_features").where(F.col("month").isin(months))
    revenue = graph.join(subs.select("subscriber_id", "month", "revenue"), ["subscriber_id", "month"], "left")
    means = revenue.where(F.col("community").isNotNull()).groupBy("month", "community") \
        .agg(F.avg("revenue").alias("mean"))
    expected = (revenue.join(means, ["month", "community"], "left")
                .select("subscriber_id", "month",
                        (F.col("revenue") / F.col("mean") - 1.0).alias("revenue_vs_community")))
    plain = [F.col(c).alias(c, metadata={}) for c in expected.columns]  # without the column comments
    assert_approx_df_equality(graph.select(*plain), expected.select(*plain), 1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_planted_signals_show_in_silver(spark, silver):
    """Churners' circles hold more churned contacts; competitor calls warn before churn."""
    settings, months = silver
    lakehouse = settings.path("lakehouse")
    warnings = lh.read_table(spark, lakehouse, "silver.warnings").where(F.col("month") == months[0])
    nxt = _bronze(spark, settings, "subscribers").where(F.col("month") == months[1]) \
        .select("subscriber_id", (F.col("status") == "cancelled").alias("leaves"))
    rates = {r["w07_competitor_cs_calls"]: r["rate"] for r in warnings.join(nxt, "subscriber_id", "inner")
             .groupBy("w07_competitor_cs_calls").agg(F.avg(F.col("leaves").cast("double")).alias("rate"))
             .collect()}
    assert rates[True] > 3 * rates[False]


def test_previous_month():
    from sparkvalue.features.months import previous_month

    assert [previous_month(m) for m in ("2026-01", "2026-03", "2026-12")] == \
        ["2025-12", "2026-02", "2026-11"]
