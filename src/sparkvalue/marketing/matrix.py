"""The marketing matrix: value tier x stickiness tier x anomaly x segment group -> strategy.

The rules come from `marketing.matrix`; the configuration loader has already checked
that every combination is covered by exactly one rule, so the first match is the
only match.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.config import MATRIX_DIMENSIONS, Settings

# the gold column each matrix dimension reads
COLUMNS = {"value": "value_tier", "stickiness": "stickiness_tier", "anomaly": "is_anomalous",
           "group": "segment_group"}


def _matches(rule, dimension: str) -> Column:
    chosen = getattr(rule, dimension)
    if chosen == "*":
        return F.lit(True)
    return F.col(COLUMNS[dimension]).isin(*rule.values(dimension))


def rule_number(settings: Settings) -> Column:
    """1-based number of the matrix rule that covers the row (null if a dimension is missing)."""
    expr = None
    for i, rule in enumerate(settings.marketing.matrix, start=1):
        cond = F.lit(True)
        for dimension in MATRIX_DIMENSIONS:
            cond = cond & _matches(rule, dimension)
        expr = F.when(cond, F.lit(i)) if expr is None else expr.when(cond, F.lit(i))
    return expr


def with_strategy(views: DataFrame, settings: Settings) -> DataFrame:
    """`views` (one row per subscriber with the four dimensions) plus `matrix_rule` and `strategy`."""
    strategy = None
    for i, rule in enumerate(settings.marketing.matrix, start=1):
        cond = F.col("matrix_rule") == i
        strategy = F.when(cond, rule.strategy) if strategy is None else strategy.when(cond, rule.strategy)
    return views.withColumn("matrix_rule", rule_number(settings)).withColumn("strategy", strategy)
