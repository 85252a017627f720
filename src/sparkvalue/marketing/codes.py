"""Segment codes (MISSION.md item 11): trend class x dimension x band, one per subscriber.

Trend classes, first match wins: 5 pre-cancel or cancelled; 41/42/43 spend/voice/data
below `warning_ratio` of the previous 3-month average; 3 spend below `declining_ratio`;
21/22/23 spend/voice/data above `rising_ratio`; 1 stable. The dimension is the one the
class is about (2 spend, 3 minutes, 4 data; spend for 1, 3, 5) and the band is the
subscriber's band in it, so `23-4-03` reads "data rising, data band 3".
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sparkvalue.config import Settings

DIMENSIONS = {"spend": ("revenue", 2), "minutes": ("mou", 3), "data": ("data_mb", 4)}


def band(value: Column, edges: tuple[float, ...]) -> Column:
    """1 below the first edge, 2 from it to the second, ..., len(edges) + 1 above the last."""
    out = F.lit(1)
    for edge in edges:
        out = out + F.when(F.coalesce(value, F.lit(0.0)) >= edge, 1).otherwise(0)
    return out.cast("int")


def trend_class(settings: Settings) -> Column:
    rules = settings.segment_codes
    ratio = {name: F.coalesce(F.col(col), F.lit(1.0)) for name, col in
             (("spend", "revenue_vs_prev3"), ("minutes", "mou_vs_prev3"), ("data", "data_mb_vs_prev3"))}
    return (F.when(F.col("status").isin("pre_cancel", "cancelled"), F.lit("5"))
            .when(ratio["spend"] < rules.warning_ratio, F.lit("41"))
            .when(ratio["minutes"] < rules.warning_ratio, F.lit("42"))
            .when(ratio["data"] < rules.warning_ratio, F.lit("43"))
            .when(ratio["spend"] < rules.declining_ratio, F.lit("3"))
            .when(ratio["spend"] > rules.rising_ratio, F.lit("21"))
            .when(ratio["minutes"] > rules.rising_ratio, F.lit("22"))
            .when(ratio["data"] > rules.rising_ratio, F.lit("23"))
            .otherwise(F.lit("1")))


def segment_codes(features: DataFrame, settings: Settings) -> DataFrame:
    """One row per subscriber per month (gold.segment_codes)."""
    bands = settings.segment_codes.bands
    staged = features.select(
        "subscriber_id", "month", trend_class(settings).alias("trend_class"),
        band(F.col("revenue"), bands.spend).alias("spend_band"),
        band(F.col("mou"), bands.minutes).alias("minutes_band"),
        band(F.col("data_mb"), bands.data).alias("data_band"),
        band(F.col("tenure_months"), bands.tenure).alias("tenure_band"),
        (F.coalesce(F.col("bundles_active"), F.lit(0)) > 0).alias("has_bundle"))
    tc = F.col("trend_class")
    dimension = F.when(tc.isin("22", "42"), 3).when(tc.isin("23", "43"), 4).otherwise(2)
    chosen = F.when(dimension == 3, F.col("minutes_band")).when(dimension == 4, F.col("data_band")) \
        .otherwise(F.col("spend_band"))
    return staged.select(
        "subscriber_id", "month", "trend_class", dimension.alias("dimension"), chosen.alias("band"),
        F.format_string("%s-%d-%02d", tc, dimension, chosen).alias("segment_code"),
        "spend_band", "minutes_band", "data_band", "tenure_band", "has_bundle")


def code_summary(codes: DataFrame, features: DataFrame) -> DataFrame:
    """One row per trend class per month with its size, share and bundle (binding) rate."""
    rows = codes.join(features.select("subscriber_id", "month", "revenue"), ["subscriber_id", "month"])
    out = rows.groupBy("month", "trend_class").agg(
        F.count("*").alias("subscribers"),
        F.avg(F.col("has_bundle").cast("double")).alias("bundle_rate"),
        F.avg("revenue").alias("avg_revenue"))
    return out.select("month", "trend_class", "subscribers",
                      (F.col("subscribers") / F.sum("subscribers").over(Window.partitionBy("month")))
                      .alias("share"), "bundle_rate", "avg_revenue")
