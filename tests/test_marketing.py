"""The marketing matrix: configuration checks and one strategy for every cell."""

from __future__ import annotations

import itertools

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from sparkvalue.config import MATRIX_DIMENSIONS, ConfigError
from sparkvalue.marketing.matrix import with_strategy

# The default matrix, written out the way the business reads it (conf/base.yaml, marketing.matrix).
HIGH = ("high", "mid_high")


def expected_strategy(value: str, stickiness: str, anomaly: bool, group: str) -> str:
    if group == "do_not_market":
        return "do_not_disturb"
    if value in HIGH:
        if anomaly or stickiness == "low":
            return "retention_top"
        return "retention_second" if stickiness == "mid" else "marketing_led"
    if value == "mid":
        if anomaly or stickiness == "low":
            return "retention_second"
        return "moderate_marketing" if stickiness == "mid" else "marketing_led"
    return "do_not_disturb" if stickiness == "low" else "moderate_marketing"


def test_every_cell_of_the_default_matrix_gets_its_strategy(spark, base_settings):
    cells = list(itertools.product(*MATRIX_DIMENSIONS.values()))
    assert len(cells) == 4 * 3 * 2 * 4
    views = spark.createDataFrame(
        [(f"s{i:03d}", *cell) for i, cell in enumerate(cells)],
        "subscriber_id string, value_tier string, stickiness_tier string, is_anomalous boolean, "
        "segment_group string")
    got = with_strategy(views, base_settings).drop("matrix_rule")
    expected = spark.createDataFrame(
        [(f"s{i:03d}", *cell, expected_strategy(*cell)) for i, cell in enumerate(cells)],
        "subscriber_id string, value_tier string, stickiness_tier string, is_anomalous boolean, "
        "segment_group string, strategy string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # the business example: high value, high stickiness, no anomaly -> no retention spend
    example = got.where((F.col("value_tier") == "high") & (F.col("stickiness_tier") == "high")
                        & ~F.col("is_anomalous") & (F.col("segment_group") == "marketing_first"))
    assert [r["strategy"] for r in example.collect()] == ["marketing_led"]


def test_a_missing_dimension_gives_no_strategy(spark, base_settings):
    views = spark.createDataFrame([("s1", "high", None, False, "marketing_first")],
                                  "subscriber_id string, value_tier string, stickiness_tier string, "
                                  "is_anomalous boolean, segment_group string")
    row = with_strategy(views, base_settings).first()
    assert (row["matrix_rule"], row["strategy"]) == (None, None)


def test_the_loader_rejects_a_matrix_with_a_gap_or_an_overlap(base_settings):
    rules = [r.model_dump() for r in base_settings.marketing.matrix]
    with pytest.raises(ConfigError, match=r"marketing: .*matrix leaves 18 combination\(s\) without a "
                                          r"strategy, e\.g\. value=high, stickiness=high, anomaly=true, "
                                          r"group=marketing_first"):
        base_settings.with_overrides({"marketing": {"matrix": rules[:1] + rules[2:]}})
    overlapping = [*rules, {"value": ["low"], "anomaly": True, "strategy": "retention_top"}]
    with pytest.raises(ConfigError, match=r"matrix rules 1 and 12 both cover value=low, stickiness=high, "
                                          r"anomaly=true, group=do_not_market"):
        base_settings.with_overrides({"marketing": {"matrix": overlapping}})
    with pytest.raises(ConfigError, match=r"marketing\.matrix.*strategy"):
        base_settings.with_overrides({"marketing": {"matrix": [{"strategy": "spam_everyone"}]}})
