"""Customer value: the AHP index, value tiers, RFM scores and CLV (MISSION.md item 4).

Indicators (grouped as configured under `value.ahp`):
- current contribution: revenue, return rate;
- historical contribution: 3-month average revenue, tenure;
- influence of the call circle: social (PageRank), business (on-net minutes with the
  circle: traffic the subscriber brings to the network), corporate group (distinct
  groups plus key persons among the contacts).

Each indicator is clipped to its monthly robust quantiles and scaled to 0..1, so a
few extreme subscribers do not squeeze everyone else into a corner. The index is
100 x the AHP-weighted sum, plus the key-person bonus, capped at 100.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sparkvalue.config import Settings
from sparkvalue.models.ahp import AhpResult, ahp_weights, combine
from sparkvalue.models.ranking import exact_rank, tiers_by_rank

INDICATORS: dict[str, Column] = {
    "revenue": F.col("revenue"),
    "return_rate": F.col("return_rate"),
    "revenue_3m_avg": F.col("revenue_3m_avg"),
    "tenure_months": F.col("tenure_months").cast("double"),
    "social_influence": F.col("pagerank"),
    "business_influence": F.col("circle_depth") * F.col("circle_onnet_share"),
    "group_influence": (F.col("circle_groups") + F.col("circle_key_persons")).cast("double"),
}
TIER_ORDER = ("high", "mid_high", "mid", "low")
PREPAID = "prepaid"


@dataclass(frozen=True)
class AhpModel:
    groups: AhpResult
    members: dict[str, AhpResult]
    weights: dict[str, float]  # indicator -> global weight

    def group_of(self, indicator: str) -> str:
        return next(g for g, r in self.members.items() if indicator in r.names)


def ahp_model(settings: Settings) -> AhpModel:
    """Weights from the configured matrices; refuses inconsistent or unknown indicators."""
    cfg = settings.value.ahp
    groups = ahp_weights([list(r) for r in cfg.groups.matrix], list(cfg.groups.names),
                         name="value.ahp.groups")
    members = {g: ahp_weights([list(r) for r in m.matrix], list(m.names), name=f"value.ahp.members.{g}")
               for g, m in cfg.members.items()}
    unknown = sorted({n for r in members.values() for n in r.names} - set(INDICATORS))
    if unknown:
        raise ValueError(f"value.ahp.members: unknown indicator(s) {unknown}; "
                         f"known: {sorted(INDICATORS)}")
    return AhpModel(groups, members, combine(groups, members))


def with_scaled_indicators(frame: DataFrame, names: list[str], quantiles: tuple[float, float]) -> DataFrame:
    """`<name>_scaled` in 0..1: clipped to the month's quantiles, then min-max scaled."""
    low, high = quantiles
    raw = frame.select("*", *[F.coalesce(INDICATORS[n], F.lit(0.0)).alias(f"_{n}") for n in names])
    bounds = raw.groupBy("month").agg(*[
        F.percentile_approx(f"_{n}", [low, high], 10_000).alias(f"_{n}_q") for n in names])
    out = raw.join(F.broadcast(bounds), "month")
    scaled = []
    for n in names:
        lo, hi = F.get(F.col(f"_{n}_q"), 0), F.get(F.col(f"_{n}_q"), 1)
        clipped = F.least(F.greatest(F.col(f"_{n}"), lo), hi)
        scaled.append(F.when(hi > lo, (clipped - lo) / (hi - lo)).otherwise(F.lit(0.0)).alias(f"{n}_scaled"))
    return out.select(*frame.columns, *scaled)


def value_index(frame: DataFrame, model: AhpModel, settings: Settings) -> DataFrame:
    """Adds per-group points, the key-person bonus and `value_score` (0..100)."""
    v = settings.value
    names = list(model.weights)
    scaled = with_scaled_indicators(frame, names, v.robust_quantiles)
    groups = {g: sum((F.lit(100.0 * model.weights[n]) * F.col(f"{n}_scaled") for n in r.names),
                     F.lit(0.0))
              for g, r in model.members.items()}
    bonus = F.when(F.col("is_key_person"), F.lit(v.key_person_bonus)).otherwise(F.lit(0.0))
    staged = scaled.select("*", *[expr.alias(f"value_{g}") for g, expr in groups.items()],
                           bonus.alias("key_person_bonus"))
    total = sum((F.col(f"value_{g}") for g in groups), F.col("key_person_bonus"))
    return staged.withColumn("value_score", F.least(total, F.lit(100.0)))


def with_tiers(scored: DataFrame, settings: Settings) -> tuple[DataFrame, DataFrame]:
    """`value_rank` (1 = most valuable; ties broken by subscriber id) and `value_tier`; and the
    persisted rows the result reads (`exact_rank`): unpersist them when done."""
    shares = settings.value.tiers
    ranked, held = exact_rank(scored, partition="month",
                              order=[F.col("value_score").desc(), F.col("subscriber_id")], rank="value_rank")
    return ranked.withColumn("value_tier", tiers_by_rank(
        F.col("value_rank"), F.col("partition_rows"), [(t, getattr(shares, t)) for t in TIER_ORDER])), held


def rfm_scores(frame: DataFrame) -> DataFrame:
    """Telecom RFM, each 1..5 (5 best).

    - R: a top-up this month or a billed account (postpaid, group-paid, free) -> 5; a
      top-up in the 2 months before -> 3; none in 3 months -> 1.
    - F: quintile of this month's outgoing calls + SMS.
    - M: quintile of the 3-month average revenue.
    """
    activity = (F.col("outgoing_calls") + F.col("sms_count")).cast("double")
    # to the micro-yuan: an average's last bit depends on the order its rows were summed in, which
    # differs between runs (a cluster fetches shuffle blocks in another order), and the cuts are
    # values of the data, so subscribers tied with a cut would otherwise change quintile
    money = F.round(F.coalesce(F.col("revenue_3m_avg"), F.col("revenue")), 6)
    cuts = frame.groupBy("month").agg(
        F.percentile_approx(activity, [0.2, 0.4, 0.6, 0.8], 10_000).alias("_f_cuts"),
        F.percentile_approx(money, [0.2, 0.4, 0.6, 0.8], 10_000).alias("_m_cuts"))
    recency = (F.when((F.col("payment_type") != PREPAID) | (F.col("topup_count") > 0), 5)
               .when(F.col("topup_count_3m") > 0, 3).otherwise(1))
    joined = frame.join(F.broadcast(cuts), "month")
    return joined.select(
        *frame.columns,
        recency.alias("r_score"),
        _quintile(activity, "_f_cuts").alias("f_score"),
        _quintile(money, "_m_cuts").alias("m_score"),
    ).withColumn("rfm", F.concat_ws("", "r_score", "f_score", "m_score"))


def _quintile(value: Column, cuts: str) -> Column:
    return 1 + sum((F.when(value > F.get(F.col(cuts), i), 1).otherwise(0) for i in range(4)), F.lit(0))


def clv(margin: Column, p_stay: Column, *, stickiness_horizon: int, months: int,
        annual_discount_rate: float) -> Column:
    """Sum over the next `months` of margin x retention^h / (1 + d)^h (geometric series).

    retention = monthly P(stay) = P(stay over the stickiness horizon)^(1/horizon);
    d = monthly discount rate equivalent to the annual one.
    """
    monthly_discount = (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0
    retention = F.pow(F.greatest(F.least(p_stay, F.lit(1.0)), F.lit(0.0)), F.lit(1.0 / stickiness_horizon))
    q = retention / F.lit(1.0 + monthly_discount)
    series = F.when(q < 1.0, q * (1.0 - F.pow(q, F.lit(float(months)))) / (1.0 - q)).otherwise(
        F.lit(float(months)))
    return margin * series


def tier_validation(value: DataFrame, snapshot: DataFrame) -> DataFrame:
    """Per month and tier: subscribers, share, average 3-month revenue and value, and the
    share of the snapshot cohort and of the key persons that fall in the tier."""
    flagged = value.join(snapshot.withColumn("_snap", F.lit(True)), "subscriber_id", "left")
    per_tier = flagged.groupBy("month", "value_tier").agg(
        F.count("*").alias("subscribers"),
        F.avg("revenue_3m_avg").alias("avg_revenue_3m"),
        F.avg("value_score").alias("avg_value_score"),
        F.count(F.when(F.col("_snap"), 1)).alias("snapshot_subscribers"),
        F.count(F.when(F.col("is_key_person"), 1)).alias("key_persons"),
    )
    w = Window.partitionBy("month")
    return per_tier.select(
        "month", "value_tier", "subscribers",
        (F.col("subscribers") / F.sum("subscribers").over(w)).alias("share"),
        "avg_revenue_3m", "avg_value_score", "snapshot_subscribers",
        _share(F.col("snapshot_subscribers"), F.sum("snapshot_subscribers").over(w)).alias("snapshot_share"),
        "key_persons",
        _share(F.col("key_persons"), F.sum("key_persons").over(w)).alias("key_person_share"),
    )


def _share(part: Column, whole: Column) -> Column:
    return F.when(whole > 0, part / whole)
