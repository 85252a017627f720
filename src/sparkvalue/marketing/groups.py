"""Corporate groups (MISSION.md item 12): service priority and VPN seed targeting.

Priority: each group's return rate band (`corporate.return_bands`) x the best value tier of
its key persons (low / mid / mid_high or high) -> one of 15 cells numbered by
`corporate.priority` (1 = served first). The summary lists all 15 cells every month, empty
ones with 0.

VPN seeds: active VPN members (`seed_min_vpn_minutes`) whose usage segment is in one of
`vpn_seeds.segment_groups` are seeds. Their call circle gives target 1, silent members of
the seed's own VPN (under `silent_max_vpn_minutes`), and target 2, subscribers outside that
VPN who have at least `target2_min_calls` calls with a seed. Each target is linked to the
seed it has most calls with (target 1 before target 2).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sparkvalue.config import KEY_PERSON_VALUES, Settings


def band_labels(settings: Settings) -> list[str]:
    """Names of the 5 return-rate bands, highest first, e.g. above_85, 75_85, ..., below_0."""
    edges = [round(e * 100) for e in settings.corporate.return_bands]
    return [f"above_{edges[0]}", *[f"{lo}_{hi}" for hi, lo in zip(edges, edges[1:], strict=False)],
            f"below_{edges[-1]}"]


def group_priority(groups: DataFrame, features: DataFrame, value: DataFrame, settings: Settings) -> DataFrame:
    """One row per corporate group per month (gold.group_priority)."""
    cfg = settings.corporate
    labels = band_labels(settings)
    tier = F.col("value_tier")
    kp_level = F.when(tier.isin("high", "mid_high"), 2).when(tier == "mid", 1).otherwise(0)
    members = (features.where(F.col("group_id").isNotNull())
               .join(value.select("subscriber_id", "month", "value_tier"), ["subscriber_id", "month"], "left")
               .groupBy("group_id", "month").agg(
                   F.count("*").alias("members"),
                   F.count(F.when(F.col("is_key_person"), 1)).alias("key_persons"),
                   F.max(F.when(F.col("is_key_person"), kp_level)).alias("_kp")))
    rate = F.when(F.col("group_revenue") > 0,
                  (F.col("group_revenue") - F.col("group_cost")) / F.col("group_revenue"))
    rows = groups.select("group_id", "month", "industry", rate.alias("group_return_rate")) \
        .join(members, ["group_id", "month"], "left")
    e = cfg.return_bands
    r = F.col("group_return_rate")
    band_index = (F.when(r.isNull(), 4).when(r > e[0], 0).when(r > e[1], 1).when(r > e[2], 2)
                  .when(r >= e[3], 3).otherwise(4))
    kp = F.coalesce(F.col("_kp"), F.lit(0))
    priority = None
    for b, row in enumerate(cfg.priority):
        for k, cell in enumerate(row):
            cond = (band_index == b) & (kp == k)
            priority = F.when(cond, cell) if priority is None else priority.when(cond, cell)
    return rows.select(
        "month", "group_id", "industry", "group_return_rate",
        F.element_at(F.array(*[F.lit(x) for x in labels]), band_index + 1).alias("return_band"),
        F.coalesce(F.col("members"), F.lit(0)).alias("members"),
        F.coalesce(F.col("key_persons"), F.lit(0)).alias("key_persons"),
        F.element_at(F.array(*[F.lit(x) for x in KEY_PERSON_VALUES]), kp + 1).alias("key_person_value"),
        priority.cast("int").alias("priority"))


def priority_summary(spark: SparkSession, priority: DataFrame, settings: Settings,
                     months: list[str]) -> DataFrame:
    """All 15 cells of each of `months` with their group counts and shares, 0 for an empty cell
    or a month without groups (gold.group_priority_summary)."""
    labels = band_labels(settings)
    cells = spark.createDataFrame(
        [(cell, labels[b], KEY_PERSON_VALUES[k]) for b, row in enumerate(settings.corporate.priority)
         for k, cell in enumerate(row)], "priority int, return_band string, key_person_value string")
    counts = priority.groupBy("month", "priority").agg(F.count("*").alias("groups"))
    months = spark.createDataFrame([(m,) for m in months], "month string")
    out = (months.crossJoin(F.broadcast(cells)).join(counts, ["month", "priority"], "left")
           .withColumn("groups", F.coalesce(F.col("groups"), F.lit(0)).cast("long")))
    total = F.sum("groups").over(Window.partitionBy("month"))
    return out.select("month", "priority", "return_band", "key_person_value", "groups",
                      F.when(total > 0, F.col("groups") / total).otherwise(F.lit(0.0)).alias("share"))


def vpn_targets(features: DataFrame, segments: DataFrame, edges: DataFrame, settings: Settings) -> DataFrame:
    """Seeds and their two target groups (gold.vpn_targets)."""
    cfg = settings.corporate.vpn_seeds
    key = ["subscriber_id", "month"]
    people = features.select(*key, "vpn_group_id", F.coalesce(F.col("vpn_min"), F.lit(0.0)).alias("vpn_min"))
    seeds = (people.join(segments.select(*key, "segment_group"), key)
             .where(F.col("vpn_group_id").isNotNull() & (F.col("vpn_min") >= cfg.seed_min_vpn_minutes)
                    & F.col("segment_group").isin(*cfg.segment_groups))
             .select(F.col("subscriber_id").alias("seed_id"), "month",
                     F.col("vpn_group_id").alias("seed_vpn")))

    def pairs(seed: str, other: str) -> DataFrame:
        return edges.select(F.col(seed).alias("seed_id"), F.col(other).alias("subscriber_id"), "month",
                            "calls")

    both_ways = pairs("caller_id", "callee_id").unionByName(pairs("callee_id", "caller_id"))
    circle = (both_ways.join(seeds, ["seed_id", "month"])
              .groupBy("seed_id", "month", "seed_vpn", "subscriber_id")
              .agg(F.sum("calls").alias("calls_with_seed")))
    others = circle.join(people, key).join(  # a seed is never someone else's target
        seeds.select(F.col("seed_id").alias("subscriber_id"), "month"), key, "left_anti")
    same_vpn = F.col("vpn_group_id") == F.col("seed_vpn")
    target_1 = F.coalesce(same_vpn, F.lit(False)) & (F.col("vpn_min") < cfg.silent_max_vpn_minutes)
    target_2 = ~F.coalesce(same_vpn, F.lit(False)) & (F.col("calls_with_seed") >= cfg.target2_min_calls)
    candidates = others.select(
        *key, F.when(target_1, "target_1").when(target_2, "target_2").alias("role"),
        F.col("seed_vpn").alias("vpn_group_id"), "seed_id", F.col("calls_with_seed").cast("long")
        .alias("calls_with_seed"), "vpn_min").where(F.col("role").isNotNull())
    best = (candidates.groupBy(*key).agg(F.max_by(
        F.struct("role", "vpn_group_id", "seed_id", "calls_with_seed", "vpn_min"),
        F.struct(F.when(F.col("role") == "target_1", 1).otherwise(0), "calls_with_seed", "seed_id"))
        .alias("t"))
        .select(*key, "t.*"))
    seed_rows = seeds.join(people.withColumnRenamed("subscriber_id", "seed_id"), ["seed_id", "month"]).select(
        F.col("seed_id").alias("subscriber_id"), "month", F.lit("seed").alias("role"),
        F.col("seed_vpn").alias("vpn_group_id"), "seed_id", F.lit(0).cast("long").alias("calls_with_seed"),
        "vpn_min")
    return seed_rows.unionByName(best)
