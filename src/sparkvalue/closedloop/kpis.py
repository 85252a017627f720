"""KPIs (MISSION.md item 14): one row per KPI per month, so BI shows a trend.

Each KPI is a rate numerator / denominator over the month's subscribers:
- snapshot_retention_60_120 / snapshot_retention_120_plus: of the snapshot cohort with a
  3-month average revenue of 60-120 (120+) in the snapshot month, the share still active;
- bundle_rate_downgrade_warned / bundle_rate_churn_warned: share with a running bundle this
  month among subscribers warned last month of a downgrade (W04) / churn (any W06, which
  only fires without a bundle: so this is the rate of newly bound warned subscribers);
- second_topup_rate_3_5m: prepaid subscribers in their 3rd-5th month who topped up;
- low_usage_mou_change: MOU this month / last month - 1 of those with the low-usage warning
  (W02) last month (numerator and denominator are the two months' MOU);
- churn_rate: subscribers cancelled this month / active last month;
- vas_penetration, bundle_rate: shares of active subscribers with a value-added service /
  a running bundle;
- offer_response_rate: responses / treatment contacts made this month.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.features.months import shift_month

DESCRIPTIONS = {
    "snapshot_retention_60_120": "snapshot cohort with 60-120 yuan 3-month revenue: share still active",
    "snapshot_retention_120_plus": "snapshot cohort with 120+ yuan 3-month revenue: share still active",
    "bundle_rate_downgrade_warned": "bundle rate of subscribers with last month's downgrade warning (W04)",
    "bundle_rate_churn_warned": "bundle rate of subscribers with last month's churn warning (W06)",
    "second_topup_rate_3_5m": "prepaid subscribers in their 3rd-5th month who topped up",
    "low_usage_mou_change": "MOU change of last month's low-usage-warned subscribers (W02)",
    "churn_rate": "subscribers cancelled this month / active last month",
    "vas_penetration": "active subscribers with a value-added service",
    "bundle_rate": "active subscribers with a running bundle",
    "offer_response_rate": "responses / treatment contacts made this month",
}


def _rates(df: DataFrame, rates: dict[str, tuple[Column, Column, Column]]) -> DataFrame:
    """Every rate of `rates` (kpi -> (whose rows, numerator, denominator)) in one aggregation of
    `df` by month: a KPI has a row in a month where at least one of its rows is."""
    sums = [F.struct(F.lit(kpi).alias("kpi"), F.count(F.when(rows, 1)).alias("rows"),
                     F.sum(F.when(rows, numerator)).cast("double").alias("numerator"),
                     F.sum(F.when(rows, denominator)).cast("double").alias("denominator"))
            for kpi, (rows, numerator, denominator) in rates.items()]
    return (df.groupBy("month").agg(F.array(*sums).alias("rates"))
            .select("month", F.inline("rates"))
            .where(F.col("rows") > 0)
            .select("month", "kpi", "numerator", "denominator"))


def kpis(features: DataFrame, warnings: DataFrame, snapshot: DataFrame, contacts: DataFrame,
         months: list[str]) -> DataFrame:
    """gold.kpis of `months`. `features` and `warnings` must hold the month before the first
    too (for the churn rate and the low-usage change); `snapshot` is (subscriber_id, revenue_3m_avg)
    of the snapshot month.

    The rates over subscribers come from one join of each month with the month before and one
    aggregation (the rows without a month before match none of the rates that need it)."""
    key = ["subscriber_id", "month"]
    active = F.col("status") != "cancelled"
    one = F.lit(1)
    f = features.join(warnings, key, "left")
    bundled = (F.coalesce("bundles_active", F.lit(0)) > 0).cast("int")
    churn_warned = F.coalesce(F.col("w06_churn_balance") | F.col("w06_churn_rejoiner")
                              | F.col("w06_churn_offnet_circle"), F.lit(False))
    previous = f.select("subscriber_id", shift_month(F.col("month"), 1).alias("month"),
                        F.col("status").alias("prev_status"), F.col("mou").alias("prev_mou"),
                        F.coalesce("w02_low_usage", F.lit(False)).alias("prev_low_usage"),
                        F.coalesce("w04_downgrade", F.lit(False)).alias("prev_downgrade"),
                        churn_warned.alias("prev_churn_warned"))
    in_months = F.col("month").isin(months)
    with_prev = f.where(in_months).join(previous, key, "left")
    rates = {
        "second_topup_rate_3_5m": (active & (F.col("payment_type") == "prepaid")
                                   & F.col("tenure_months").between(3, 5),
                                   (F.coalesce("topup_count", F.lit(0)) > 0).cast("int"), one),
        "vas_penetration": (active, (F.coalesce("services_held", F.lit(0)) > 0).cast("int"), one),
        "bundle_rate": (active, bundled, one),
        "bundle_rate_downgrade_warned": (active & F.col("prev_downgrade"), bundled, one),
        "bundle_rate_churn_warned": (active & F.col("prev_churn_warned"), bundled, one),
        "churn_rate": (F.col("prev_status") != "cancelled", (F.col("status") == "cancelled").cast("int"),
                       one),
        "low_usage_mou_change": (F.col("prev_low_usage") & active, F.col("mou"), F.col("prev_mou")),
    }
    parts = [_rates(with_prev, rates)]
    cohort = snapshot.select("subscriber_id", F.when(F.col("revenue_3m_avg") >= 120, "120_plus")
                             .when(F.col("revenue_3m_avg") >= 60, "60_120").alias("band")) \
        .where(F.col("band").isNotNull())
    month_df = features.where(in_months).select("month").distinct()
    still = features.where(in_months & active).select("subscriber_id", "month", F.lit(1).alias("present"))
    retained = cohort.crossJoin(month_df).join(still, key, "left")
    parts.append(_rates(retained, {f"snapshot_retention_{band}": (F.col("band") == band,
                                                                  F.coalesce("present", F.lit(0)), one)
                                   for band in ("60_120", "120_plus")}))
    contacts_m = contacts.where(F.col("arm") == "treatment") \
        .withColumn("month", F.date_format("contact_date", "yyyy-MM"))
    took = F.col("response_date").isNotNull().cast("int")
    parts.append(_rates(contacts_m, {"offer_response_rate": (F.lit(True), took, one)}))
    out = reduce(DataFrame.unionByName, parts).where(in_months)
    # the low-usage change is a ratio of sums minus one; the others are plain rates
    value = F.try_divide(F.col("numerator"), F.col("denominator"))
    value = F.when(F.col("kpi") == "low_usage_mou_change", value - 1).otherwise(value)
    descriptions = F.create_map(*[x for k, d in DESCRIPTIONS.items() for x in (F.lit(k), F.lit(d))])
    return out.select("month", "kpi", value.alias("value"), "numerator", "denominator",
                      F.try_element_at(descriptions, F.col("kpi")).alias("description"))
