"""Subscriber tags and the marketing track: what the closed loop learns about each subscriber.

Tags (as of a month's end, from the contact history up to then and the month's scores):
needs (the propensity models where the subscriber is in the top two deciles, and the usage
segment), the preferred channel (most responses, then most contacts), the offers accepted,
and the promotion sensitivity (responses / treated contacts: high >= 20 %, medium >= 5 %,
low below, unknown without a contact). The offer frame carries them, so the next month's
rules can use them. The track lists per subscriber, month and offer what was recommended,
whether and how it was contacted, whether and when it was taken, and the revenue change.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkvalue.features.months import month_end, shift_month

HIGH_SENSITIVITY = 0.20
MEDIUM_SENSITIVITY = 0.05
REVENUE_AFTER = 2  # the track's revenue change: this month to this many months after


def contact_tags(contacts: DataFrame, months: DataFrame) -> DataFrame:
    """(subscriber_id, month) -> preferred_channel, offers_accepted, contacts_treated, responses,
    promotion_sensitivity, from the treatment contacts made up to each month's end."""
    treated = (contacts.where(F.col("arm") == "treatment")
               .join(F.broadcast(months), F.col("contact_date") <= month_end(F.col("month"))))
    took = F.col("response_date").isNotNull() & (F.col("response_date") <= month_end(F.col("month")))
    per_channel = treated.groupBy("subscriber_id", "month", "channel").agg(
        F.count(F.when(took, 1)).alias("r"), F.count("*").alias("n"))
    preferred = per_channel.groupBy("subscriber_id", "month").agg(
        F.max_by("channel", F.struct("r", "n", F.col("channel"))).alias("preferred_channel"))
    totals = treated.groupBy("subscriber_id", "month").agg(
        F.count("*").alias("contacts_treated"), F.count(F.when(took, 1)).alias("responses"),
        F.array_sort(F.collect_set(F.when(took, F.col("offer_code")))).alias("offers_accepted"))
    rate = F.col("responses") / F.col("contacts_treated")
    return totals.join(preferred, ["subscriber_id", "month"]).withColumn(
        "promotion_sensitivity", F.when(rate >= HIGH_SENSITIVITY, "high")
        .when(rate >= MEDIUM_SENSITIVITY, "medium").otherwise("low"))


def subscriber_tags(matrix: DataFrame, propensity: DataFrame, tags: DataFrame) -> DataFrame:
    """One row per subscriber of the month (gold.subscriber_tags)."""
    key = ["subscriber_id", "month"]
    needs = propensity.where(F.col("decile") <= 2).groupBy(*key).agg(
        F.array_sort(F.collect_list("model")).alias("service_needs"))
    return (matrix.select(*key, "segment_name").join(needs, key, "left").join(tags, key, "left")
            .select(*key,
                    F.coalesce("service_needs", F.array().cast("array<string>")).alias("service_needs"),
                    F.col("segment_name").alias("usage_need"), "preferred_channel",
                    F.coalesce("offers_accepted", F.array().cast("array<string>")).alias("offers_accepted"),
                    F.coalesce("contacts_treated", F.lit(0)).cast("long").alias("contacts_treated"),
                    F.coalesce("responses", F.lit(0)).cast("long").alias("responses"),
                    F.coalesce("promotion_sensitivity", F.lit("unknown")).alias("promotion_sensitivity")))


def marketing_track(recommended: DataFrame, contacts: DataFrame, revenue: DataFrame) -> DataFrame:
    """One row per subscriber x month x offer that was recommended or contacted (gold.marketing_track)."""
    key = ["subscriber_id", "month", "offer_code"]
    recs = recommended.select(*key, F.lit(True).alias("recommended"),
                              F.col("channel").alias("recommended_channel"), F.col("rank"))
    contacted = contacts.groupBy(*key).agg(
        F.first("arm").alias("arm"), F.first("channel").alias("contact_channel"),
        F.min("contact_date").alias("contact_date"), F.min("response_date").alias("response_date"))
    track = recs.join(contacted, key, "full")

    def revenue_at(offset: int, name: str) -> DataFrame:  # month M's row carries M + offset's revenue
        return revenue.select("subscriber_id", shift_month(F.col("month"), -offset).alias("month"),
                              F.col("revenue").alias(name))

    return (track.join(revenue_at(0, "revenue"), ["subscriber_id", "month"], "left")
            .join(revenue_at(REVENUE_AFTER, "revenue_2m_after"), ["subscriber_id", "month"], "left")
            .select(*key, F.coalesce("recommended", F.lit(False)).alias("recommended"), "recommended_channel",
                    "rank", F.col("arm").isNotNull().alias("contacted"), "arm", "contact_channel",
                    "contact_date", F.col("response_date").isNotNull().alias("taken"), "response_date",
                    "revenue", "revenue_2m_after",
                    (F.col("revenue_2m_after") - F.col("revenue")).alias("revenue_change")))
