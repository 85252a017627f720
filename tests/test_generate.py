"""The generator: deterministic for a seed, contract-shaped, and carrying the planted signals."""

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from sparkvalue import pipeline
from sparkvalue.contract import RAW_TABLES
from sparkvalue.generate import extracts as gen

MONTHS = gen.month_list("2026-10", 8)


@pytest.fixture(scope="module")
def population(spark, tmp_path_factory):
    plan = gen.Plan(n=20_000, months=MONTHS, seed=11, edges_per_subscriber=12, partitions=2)
    pop = pipeline.materialise_population(spark, plan, str(tmp_path_factory.mktemp("pop")))
    return plan, pop


def test_month_list():
    assert gen.month_list("2026-02", 3) == ("2025-12", "2026-01", "2026-02")


def test_same_seed_same_data(spark, tmp_path):
    plan = gen.Plan(n=2500, months=MONTHS[:3], seed=5, edges_per_subscriber=8, partitions=2)
    first = pipeline.materialise_population(spark, plan, str(tmp_path / "a"))
    second = pipeline.materialise_population(spark, plan, str(tmp_path / "b"))
    for table in ("subscribers", "usage_monthly", "call_edges", "product_events"):
        assert_df_equality(gen.EXTRACTS[table](first, plan, 2), gen.EXTRACTS[table](second, plan, 2),
                           ignore_row_order=True)
    other = gen.Plan(n=2500, months=MONTHS[:3], seed=6, edges_per_subscriber=8, partitions=2)
    third = pipeline.materialise_population(spark, other, str(tmp_path / "c"))
    a = gen.usage_extract(first, plan, 2).agg(F.sum("revenue")).first()[0]
    b = gen.usage_extract(third, other, 2).agg(F.sum("revenue")).first()[0]
    assert a != b


def test_extracts_follow_the_contract(population):
    plan, pop = population
    for table, build in gen.EXTRACTS.items():
        df = build(pop, plan, 3)
        assert df.schema.fieldNames() == RAW_TABLES[table].columns, table
    edges = gen.edges_extract(pop, plan, 3)
    per_subscriber = edges.count() / gen.subscribers_extract(pop, plan, 3).count()
    assert 8 <= per_subscriber <= 16
    assert edges.groupBy("caller_id", "callee_id").count().where("count > 1").count() == 0
    operators = {r[0] for r in edges.select("callee_operator").distinct().collect()}
    assert operators == {"own", "own_other_region", "competitor", "fixed"}


def _usage_all_months(plan, pop):
    parts = [gen.usage_extract(pop, plan, t).withColumn("t", F.lit(t)) for t in range(len(MONTHS))]
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def test_churners_show_the_drop_before_they_leave(spark, population):
    plan, pop = population
    truth = gen.truth_subscribers(pop, plan).where(F.col("churn_cause") == "episode")
    months = spark.createDataFrame([(m, t) for t, m in enumerate(MONTHS)], "churn_month string, ct int")
    churners = truth.join(months, on="churn_month", how="inner").where(F.col("ct") >= 4)
    usage = _usage_all_months(plan, pop)
    # Revenue and competitors' customer-service calls in the month before leaving,
    # relative to the same subscriber three months before that.
    before = (usage.join(churners.select("subscriber_id", "ct"), on="subscriber_id", how="inner")
              .groupBy("subscriber_id")
              .agg(F.sum(F.when(F.col("t") == F.col("ct") - 1, F.col("revenue"))).alias("late"),
                   F.sum(F.when(F.col("t") == F.col("ct") - 4, F.col("revenue"))).alias("early"),
                   F.sum(F.when(F.col("t") == F.col("ct") - 1, F.col("competitor_cs_calls")))
                   .alias("comp_calls")))
    churn_ratio, churn_comp = before.agg(F.expr("avg(late / early)"), F.avg("comp_calls")).first()
    stayers = (usage.join(truth.select("subscriber_id"), on="subscriber_id", how="left_anti")
               .groupBy("subscriber_id")
               .agg(F.sum(F.when(F.col("t") == 6, F.col("revenue"))).alias("late"),
                    F.sum(F.when(F.col("t") == 3, F.col("revenue"))).alias("early"),
                    F.sum(F.when(F.col("t") == 6, F.col("competitor_cs_calls"))).alias("comp")))
    stay_ratio, stay_comp = stayers.agg(F.expr("avg(late / early)"), F.avg("comp")).first()
    assert before.count() > 100
    assert churn_ratio < 0.8 * stay_ratio
    assert churn_comp > 5 * stay_comp


def test_churn_is_higher_without_bundles_and_not_trivial(population):
    plan, pop = population
    truth = gen.truth_subscribers(pop, plan)
    rates = {r["has_bundle"]: r["rate"] for r in truth.groupBy("has_bundle").agg(
        F.avg(F.col("churn_month").isNotNull().cast("double")).alias("rate")).collect()}
    assert rates[False] > 1.5 * rates[True]
    overall = truth.agg(F.avg(F.col("churn_month").isNotNull().cast("double"))).first()[0]
    assert 0.05 < overall < 0.45


def test_archetypes_have_distinct_usage(population):
    plan, pop = population
    usage = gen.usage_extract(pop, plan, 5).join(
        gen.truth_subscribers(pop, plan).select("subscriber_id", "archetype"), on="subscriber_id",
        how="inner")
    profile = {r["archetype"]: r for r in usage.groupBy("archetype").agg(
        F.avg("data_mb").alias("data"), F.avg("long_distance_min").alias("ld"),
        F.avg("vpn_min").alias("vpn"), F.count("*").alias("n")).collect()}
    assert len(profile) == 8
    assert profile["youth_data"]["data"] > 2 * profile["local_premium"]["data"]
    assert profile["long_distance"]["ld"] > 3 * profile["local_premium"]["ld"]
    assert profile["corporate_vpn"]["vpn"] > 100 > profile["family_member"]["vpn"]
