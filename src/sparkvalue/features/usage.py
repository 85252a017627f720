"""Subscriber-month features from bronze (MISSION.md item 2).

Grain: one row per subscriber per month. Point in time: every look-back window
reads months M-13..M of a target month M (by month index), so the features of
month M use data of months <= M and nothing later.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sparkvalue.features.columns import SUBSCRIBER_FEATURES, names
from sparkvalue.features.months import month_end, month_index, month_start

HISTORY_MONTHS = 13  # the longest look-back: the same month last year plus this one
SERVICE_REVENUES = ("vas_news_rev", "vas_crbt_rev", "vas_data_pack_rev", "vas_other_rev")

SUBSCRIBER_ATTRIBUTES = (
    "brand", "plan_code", "plan_type", "plan_fee", "payment_type", "status", "home_city", "id_local",
    "age_band", "is_employee", "is_special_number", "vip_level", "group_id", "is_key_person",
    "vpn_group_id", "family_id", "is_family_head", "handset_class", "is_secondary_number",
    "has_call_forwarding", "has_broadband", "numbers_held_12m",
)


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, numerator / denominator)


def usage_windows(monthly: DataFrame, months: list[str]) -> DataFrame:
    """Windows, year-over-year, bands, shares and dynamics of the target `months`.

    Input: one row per subscriber and month with the bronze usage columns, `month`
    and `m` (month index), holding the 13 months before each target. Output: the
    rows of the target months with the derived columns below.

    The look-back windows are conditional aggregates: each row is paired with the
    targets it is history for (`d` = target index - its index, 0..13) and grouped by
    subscriber and target. One hash aggregation, no sort, and only the targets' rows
    are computed (a monthly run reads 13 months and computes one).
    """
    mou = F.col("outgoing_min") + F.col("incoming_min")
    base = monthly.select(
        "*",
        mou.alias("mou"),
        (F.col("discount_cost") + F.col("gift_cost")).alias("cost"),
        sum(F.col(c) for c in SERVICE_REVENUES).alias("vas_revenue"),
        sum((F.col(c) > 0).cast("int") for c in SERVICE_REVENUES).alias("services_held"),
    )
    targets = monthly.sparkSession.createDataFrame([(m,) for m in months], "target string") \
        .select("target", month_index(F.col("target")).alias("target_m"))
    d = F.col("target_m") - F.col("m")
    history = base.join(F.broadcast(targets), (d >= 0) & (d <= HISTORY_MONTHS), "inner")

    def last(k: int, x: Column) -> Column:  # this month and the k-1 before
        return F.when(d < k, x)

    def before(k: int, x: Column) -> Column:  # the k months before this one
        return F.when((d >= 1) & (d <= k), x)

    def ago(k: int, x: Column) -> Column:  # exactly k months ago
        return F.first(F.when(d == k, x), ignorenulls=True)

    c = F.col
    derived = {
        "revenue_3m_avg": F.avg(last(3, c("revenue"))),
        "revenue_6m_avg": F.avg(last(6, c("revenue"))),
        "revenue_12m_avg": F.avg(last(12, c("revenue"))),
        "mou_3m_avg": F.avg(last(3, c("mou"))),
        "mou_6m_avg": F.avg(last(6, c("mou"))),
        "data_mb_3m_avg": F.avg(last(3, c("data_mb"))),
        "data_mb_6m_avg": F.avg(last(6, c("data_mb"))),
        "months_of_history": F.count(last(HISTORY_MONTHS, F.lit(1))),
        "revenue_lag1": ago(1, c("revenue")),
        "revenue_6m_avg_lag1": F.avg(before(6, c("revenue"))),
        "revenue_ly": ago(12, c("revenue")),
        "mou_ly": ago(12, c("mou")),
        "mou_lag1": ago(1, c("mou")),
        "mou_ly_lag1": ago(13, c("mou")),
        "data_mb_ly": ago(12, c("data_mb")),
        "revenue_band_min": F.min(before(3, c("revenue"))),
        "revenue_band_max": F.max(before(3, c("revenue"))),
        "mou_band_min": F.min(before(3, c("mou"))),
        "mou_band_max": F.max(before(3, c("mou"))),
        "data_mb_band_min": F.min(before(3, c("data_mb"))),
        "data_mb_band_max": F.max(before(3, c("data_mb"))),
        "revenue_prev3_avg": F.avg(before(3, c("revenue"))),
        "mou_prev3_avg": F.avg(before(3, c("mou"))),
        "data_mb_prev3_avg": F.avg(before(3, c("data_mb"))),
        "incoming_share_lag1": ago(1, _ratio(c("incoming_min"), c("mou"))),
        "offnet_minutes_share_lag1": ago(1, _ratio(c("offnet_min"), c("onnet_min") + c("offnet_min"))),
        "balance_lag1": ago(1, c("balance")),
        "balance_lag2": ago(2, c("balance")),
        "topup_amount_3m": F.sum(last(3, c("topup_amount"))),
        "topup_count_3m": F.sum(last(3, c("topup_count"))),
        "low_balance_alerts_3m_avg": F.avg(last(3, c("low_balance_alerts"))),
        "competitor_cs_calls_3m": F.sum(last(3, c("competitor_cs_calls"))),
        "downgrades_3m": F.sum(last(3, (c("plan_change") < 0).cast("int"))),
        "upgrades_3m": F.sum(last(3, (c("plan_change") > 0).cast("int"))),
        "services_held_lag1": ago(1, c("services_held")),
        **{f"{r.removeprefix('vas_').removesuffix('_rev')}_months_prev3":
           F.sum(before(3, (c(r) > 0).cast("int"))) for r in SERVICE_REVENUES[:3]},
        "suspended_days_3m": F.sum(last(3, c("suspended_days"))),
    }
    # The rows are shuffled by subscriber and aggregated where they land: a partial aggregation
    # before the shuffle, with the buffers of every window, merged few rows (a task's files hold
    # few months of a subscriber; 11.3 M -> 8.5 M at 1M subscribers) and cost more than it saved.
    windows = (history.repartition("subscriber_id")
               .groupBy("subscriber_id", F.col("target").alias("month"))
               .agg(*[v.alias(k) for k, v in derived.items()]))
    out = base.where(F.col("month").isin(months)).join(windows, on=["subscriber_id", "month"], how="inner")
    total_calls = F.col("outgoing_calls") + F.col("incoming_calls")
    shares = {
        "outgoing_share": _ratio(F.col("outgoing_min"), F.col("mou")),
        "incoming_share": _ratio(F.col("incoming_min"), F.col("mou")),
        "offnet_minutes_share": _ratio(F.col("offnet_min"), F.col("onnet_min") + F.col("offnet_min")),
        "vpn_minutes_share": _ratio(F.col("vpn_min"), F.col("mou")),
        "vpn_calls_share": _ratio(F.col("vpn_calls"), total_calls),
        "roaming_share": _ratio(F.col("roaming_min"), F.col("mou")),
        "long_distance_share": _ratio(F.col("long_distance_min") + F.col("long_distance_in_min"),
                                      F.col("mou")),
        "international_share": _ratio(F.col("international_min"), F.col("mou")),
        "return_rate": _ratio(F.col("revenue") - F.col("cost"), F.col("revenue")),
        "revenue_yoy": _ratio(F.col("revenue"), F.col("revenue_ly")),
        "mou_yoy": _ratio(F.col("mou"), F.col("mou_ly")),
        "data_mb_yoy": _ratio(F.col("data_mb"), F.col("data_mb_ly")),
        "mou_2m_yoy": _ratio(F.col("mou") + F.col("mou_lag1"), F.col("mou_ly") + F.col("mou_ly_lag1")),
        "revenue_vs_prev3": _ratio(F.col("revenue"), F.col("revenue_prev3_avg")),
        "mou_vs_prev3": _ratio(F.col("mou"), F.col("mou_prev3_avg")),
        "data_mb_vs_prev3": _ratio(F.col("data_mb"), F.col("data_mb_prev3_avg")),
        "revenue_band_position": _band_position("revenue"),
        "mou_band_position": _band_position("mou"),
        "data_mb_band_position": _band_position("data_mb"),
        "balance_change": F.col("balance") - F.col("balance_lag1"),
        "balance_falling_2m": (F.col("balance") < F.col("balance_lag1"))
        & (F.col("balance_lag1") < F.col("balance_lag2")),
        "avg_topup_3m": _ratio(F.col("topup_amount_3m"), F.col("topup_count_3m")),
        "services_dropped_1m": F.greatest(F.col("services_held_lag1") - F.col("services_held"), F.lit(0)),
    }
    return out.select("*", *[v.alias(k) for k, v in shares.items()])


def _band_position(column: str) -> Column:
    """Where this month sits in the band of the 3 months before: <0 below, 0..1 inside, >1 above."""
    low, high = F.col(f"{column}_band_min"), F.col(f"{column}_band_max")
    width = high - low
    return F.when(width > 0, (F.col(column) - low) / width) \
        .when(width == 0, F.when(F.col(column) > high, 2.0).when(F.col(column) < low, -1.0)
              .otherwise(0.5))


def bundle_features(bundles: DataFrame, months: list[str]) -> DataFrame:
    """Active bundles per subscriber and month: count, months to the nearest end, discount.

    Point in time: a bundle counts in month M only if it was extracted in M or earlier.
    """
    target = bundles.sparkSession.createDataFrame([(m,) for m in months], "target string")
    active = (
        bundles.crossJoin(F.broadcast(target))
        .where((F.col("month") <= F.col("target"))
               & (F.col("start_date") <= month_end(F.col("target")))
               & (F.col("end_date") >= month_start(F.col("target"))))
    )
    return active.groupBy("subscriber_id", F.col("target").alias("month")).agg(
        F.count("*").alias("bundles_active"),
        F.min(F.months_between(F.col("end_date"), month_end(F.col("target")))).alias("bundle_months_to_end"),
        F.sum("monthly_discount").alias("bundle_discount"),
        F.max((F.col("bundle_type") == "handset_contract").cast("int")).cast("boolean")
        .alias("has_handset_contract"),
    )


def event_features(events: DataFrame) -> DataFrame:
    """Value-added-service events of each subscriber-month: subscriptions and cancellations."""
    month = F.date_format("event_date", "yyyy-MM")
    return events.groupBy("subscriber_id", month.alias("month")).agg(
        F.sum((F.col("action") == "subscribe").cast("int")).alias("services_subscribed_1m"),
        F.sum((F.col("action") == "unsubscribe").cast("int")).alias("services_cancelled_1m"),
        F.sum(((F.col("action") == "subscribe") & (F.col("channel") == "silent")).cast("int"))
        .alias("silent_activations_1m"),
    )


def alone_if_null(group: str) -> Column:
    """A window key beside `group`: most subscribers have no family, VPN or community, and
    partitioned by the bare group they would all meet in one task (one null key); each is
    then its own group."""
    return F.when(F.col(group).isNull(), F.col("subscriber_id"))


def subscriber_month_features(subscribers: DataFrame, usage: DataFrame, bundles: DataFrame,
                              events: DataFrame, *, months: list[str]) -> DataFrame:
    """The subscriber-month feature table for `months` (yyyy-MM) from bronze inputs.

    Inputs may hold any months; only months up to the latest target are used.
    Output grain: one row per subscriber present in `subscribers` in a target month.
    """
    last = max(months)
    first_needed = F.add_months(month_start(F.lit(min(months))), -HISTORY_MONTHS)
    in_range = (F.col("month") <= last) & (month_start(F.col("month")) >= first_needed)
    monthly = (
        usage.where(in_range).drop("_source_file")
        .withColumn("m", month_index(F.col("month")))
    )
    windows = usage_windows(monthly, months)
    subs = subscribers.where(F.col("month").isin(months)).select(
        "subscriber_id", "month", "activation_date", *SUBSCRIBER_ATTRIBUTES)
    family = Window.partitionBy("month", "family_id", alone_if_null("family_id"))
    vpn = Window.partitionBy("month", "vpn_group_id", alone_if_null("vpn_group_id"))
    subs = subs.select(
        "*",
        F.floor(F.months_between(month_end(F.col("month")), F.col("activation_date")))
        .cast("int").alias("tenure_months"),
        F.when(F.col("family_id").isNotNull(), F.count("*").over(family)).otherwise(0)
        .alias("family_size"),
        F.when(F.col("vpn_group_id").isNotNull(), F.count("*").over(vpn)).otherwise(0)
        .alias("vpn_size"),
        F.col("handset_class").isin("smart_3g", "4g", "5g").alias("data_capable"),
    )
    bundle = bundle_features(bundles.where(F.col("month") <= last), months)
    event = event_features(events.where(F.col("month").isin(months)))
    out = (
        subs.join(windows.drop("m"), on=["subscriber_id", "month"], how="left")
        .join(bundle, on=["subscriber_id", "month"], how="left")
        .join(event, on=["subscriber_id", "month"], how="left")
    )
    out = out.select(
        "*",
        F.coalesce("bundles_active", F.lit(0)).alias("_bundles_active"),
        F.coalesce("bundle_discount", F.lit(0.0)).alias("_bundle_discount"),
        F.coalesce("has_handset_contract", F.lit(False)).alias("_has_handset_contract"),
        F.coalesce("services_subscribed_1m", F.lit(0)).alias("_services_subscribed_1m"),
        F.coalesce("services_cancelled_1m", F.lit(0)).alias("_services_cancelled_1m"),
        F.coalesce("silent_activations_1m", F.lit(0)).alias("_silent_activations_1m"),
        F.col("family_id").isNotNull().alias("in_family"),
        F.col("vpn_group_id").isNotNull().alias("in_vpn"),
    )
    for name in ("bundles_active", "bundle_discount", "has_handset_contract", "services_subscribed_1m",
                 "services_cancelled_1m", "silent_activations_1m"):
        out = out.drop(name).withColumnRenamed(f"_{name}", name)
    return out.select(*names(SUBSCRIBER_FEATURES))
