"""Discount audit (MISSION.md item 10): who receives a discount they do not need.

Per discount (a running bundle of each type, or a discount plan) and month: how many
receive it; how many of them bring a low return yet are sticky anyway (the thresholds of
`marketing.discount_audit`); what those cost per month and per year; how many of them
receive another discount too (the overlap); and the yearly saving if the discount were
stopped for them, net of the revenue that their leaving could take (1 - P(stay a month)^12
of 12 months of their average revenue).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sparkvalue.config import Settings
from sparkvalue.features.months import month_end, month_start


def received_discounts(bundles: DataFrame, features: DataFrame, months: DataFrame) -> DataFrame:
    """(subscriber_id, month, discount, amount): running bundles by type plus discount plans."""
    running = (bundles.select("subscriber_id", "bundle_type", "start_date", "end_date", "monthly_discount")
               .join(F.broadcast(months), (F.col("start_date") <= month_end(F.col("month")))
                     & (F.col("end_date") >= month_start(F.col("month"))))
               .groupBy("subscriber_id", "month", F.col("bundle_type").alias("discount"))
               .agg(F.sum("monthly_discount").alias("amount")))
    plans = features.where(F.col("plan_type") == "discount").select(
        "subscriber_id", "month", F.lit("discount_plan").alias("discount"),
        F.greatest(F.coalesce(F.col("discount_cost"), F.lit(0.0))
                   - F.coalesce(F.col("bundle_discount"), F.lit(0.0)), F.lit(0.0)).alias("amount"))
    return running.unionByName(plans)


def discount_audit(received: DataFrame, features: DataFrame, stickiness: DataFrame, value: DataFrame,
                   settings: Settings) -> DataFrame:
    """One row per discount per month (gold.discount_audit)."""
    rules = settings.marketing.discount_audit
    key = ["subscriber_id", "month"]
    rows = (received.join(features.select(*key, "return_rate"), key)
            .join(stickiness.select(*key, "stickiness_tier", "stickiness_score"), key, "left")
            .join(value.select(*key, "revenue_3m_avg"), key, "left")
            .withColumn("discounts", F.count("*").over(Window.partitionBy(*key))))
    flagged = (F.col("return_rate") < rules.max_return_rate) & F.col("stickiness_tier").isin(
        *rules.stickiness_tiers)
    flagged = F.coalesce(flagged, F.lit(False))
    leave_year = 1 - F.pow(F.coalesce(F.col("stickiness_score"), F.lit(100.0)) / 100.0, 12)
    at_risk = leave_year * F.coalesce(F.col("revenue_3m_avg"), F.lit(0.0)) * 12
    out = rows.groupBy("month", "discount").agg(
        F.count("*").alias("receivers"),
        F.count(F.when(flagged, 1)).alias("low_return_high_stickiness"),
        F.coalesce(F.sum(F.when(flagged, F.col("amount"))), F.lit(0.0)).alias("monthly_cost"),
        F.count(F.when(flagged & (F.col("discounts") > 1), 1)).alias("_overlap"),
        F.coalesce(F.sum(F.when(flagged, at_risk)), F.lit(0.0)).alias("revenue_at_risk"))
    flagged_n = F.col("low_return_high_stickiness")
    return out.select(
        "month", "discount", "receivers", "low_return_high_stickiness",
        (flagged_n / F.col("receivers")).alias("share_flagged"), "monthly_cost",
        F.when(flagged_n > 0, F.col("_overlap") / flagged_n).otherwise(F.lit(0.0)).alias("overlap_rate"),
        (F.col("monthly_cost") * 12).alias("yearly_cost"), "revenue_at_risk",
        (F.col("monthly_cost") * 12 - F.col("revenue_at_risk")).alias("saving_if_cleaned"))
