"""The indicators each model reads, and the model input: features + outcome label.

An indicator is a column of the joined silver tables (or derived from last month's
row), with the value that stands in for "unknown" (no history yet) and the short
label that the readable tree rules print. Spark's trees take no nulls, so every
indicator has a fill value (for a null or NaN); a fill of -1 on a ratio means "no history".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.features.months import add_months, shift_month


@dataclass(frozen=True)
class Indicator:
    name: str
    label: str  # what the rules print, e.g. "tenure (months)"
    fill: float = 0.0
    kind: str = "number"  # number | flag (0/1) | category (string, indexed by the pipeline)

    @property
    def categorical(self) -> bool:
        return self.kind == "category"


def _ind(name: str, label: str, fill: float = 0.0) -> Indicator:
    return Indicator(name, label, fill)


def _flag(name: str, label: str) -> Indicator:
    return Indicator(name, label, kind="flag")


def _cat(name: str, label: str) -> Indicator:
    return Indicator(name, label, kind="category")


# MISSION.md item 5: tenure, special number, employee / free plan, discount plans, VPN size
# and activity, family plan, bundles, broadband, circle breadth and on-net share, data-service
# activity, payment type. The operator's seed document also lists business activity under
# stickiness (业务活跃性: active state, suspended-but-kept numbers, usage against its own
# history); without it the tree sees only what a subscriber holds, not whether they still use
# it, and ranks churners no better than AUC 0.77 on the demo data (0.86+ with it).
STICKINESS: tuple[Indicator, ...] = (
    _ind("tenure_months", "tenure (months)"),
    _flag("is_special_number", "special number"),
    _flag("is_employee", "employee number"),
    _cat("payment_type", "payment type"),
    _cat("plan_type", "plan type"),
    _ind("plan_fee", "plan fee (yuan)"),
    _ind("bundle_discount", "bundle discount (yuan/month)"),
    _ind("vpn_size", "VPN group size"),
    _ind("vpn_minutes_share", "VPN share of minutes"),
    _ind("vpn_calls_share", "VPN share of calls"),
    _ind("family_size", "family plan size"),
    _flag("is_family_head", "family plan head"),
    _ind("bundles_active", "bundles running"),
    _ind("bundle_months_to_end", "months to bundle end", fill=-1.0),
    _flag("has_handset_contract", "handset contract"),
    _flag("has_broadband", "home broadband"),
    _ind("circle_breadth", "call-circle breadth"),
    _ind("circle_depth", "call-circle minutes"),
    _ind("circle_onnet_share", "on-net share of the circle"),
    _ind("data_mb", "data this month (MB)"),
    _ind("data_mb_3m_avg", "data, 3-month average (MB)"),
    _ind("services_held", "value-added services held"),
    _ind("vip_level", "VIP level"),
    _flag("is_key_person", "corporate key person"),
    _cat("status", "account status"),
    _ind("mou_vs_prev3", "minutes / previous 3-month average", fill=1.0),
    _ind("data_mb_vs_prev3", "data / previous 3-month average", fill=1.0),
    _ind("incoming_share", "incoming share of minutes"),
)

# MISSION.md item 6: plan downgrade, leaving a VPN or family group, cancelling several
# services at once, revenue or minutes outside their 3-month band, drop vs the same month
# last year, rising off-net share, competitors' customer-service calls, forwarding to a
# competitor, balance falling; and the account-status warning (状态预警) of the seed document.
ANOMALY: tuple[Indicator, ...] = (
    _cat("status", "account status"),
    _ind("downgrades_3m", "plan downgrades, 3 months"),
    _flag("left_vpn", "left the VPN group"),
    _flag("left_family", "left the family plan"),
    _ind("services_cancelled_1m", "services cancelled this month"),
    _ind("services_dropped_1m", "services dropped since last month"),
    _ind("revenue_band_position", "revenue vs its 3-month band", fill=0.5),
    _ind("mou_band_position", "minutes vs their 3-month band", fill=0.5),
    _ind("data_mb_band_position", "data vs its 3-month band", fill=0.5),
    _ind("revenue_vs_prev3", "revenue / previous 3-month average", fill=1.0),
    _ind("mou_vs_prev3", "minutes / previous 3-month average", fill=1.0),
    _ind("mou_yoy", "minutes / same month last year", fill=1.0),
    _ind("revenue_yoy", "revenue / same month last year", fill=1.0),
    _ind("offnet_share_change", "change of the off-net share of minutes"),
    _ind("incoming_share_change", "change of the incoming share of minutes"),
    _ind("competitor_cs_calls_3m", "calls from competitors' service, 3 months"),
    _ind("forwarded_to_competitor_calls", "calls forwarded to a competitor"),
    _flag("has_call_forwarding", "call forwarding set"),
    _ind("balance_change", "balance change (yuan)"),
    _flag("balance_falling_2m", "balance falling 2 months"),
    _ind("suspended_days_3m", "days suspended, 3 months"),
    _ind("low_balance_alerts_3m_avg", "low-balance alerts a month"),
    _ind("circle_churned_share", "share of the circle that left"),
    _ind("circle_competitor_minutes_share", "competitor share of circle minutes"),
    _ind("vip_level_change", "VIP level change"),
)

# MISSION.md item 7: the usage profile, the handset and the holder behind a service adoption.
PROPENSITY: tuple[Indicator, ...] = (
    _ind("local_min", "local minutes"),
    _ind("long_distance_min", "long-distance minutes"),
    _ind("roaming_min", "roaming minutes"),
    _ind("incoming_min", "incoming minutes"),
    _ind("local_incoming_calls", "local incoming calls"),
    _ind("outgoing_calls", "outgoing calls"),
    _ind("sms_count", "SMS sent"),
    _ind("data_mb", "data this month (MB)"),
    _ind("data_mb_3m_avg", "data, 3-month average (MB)"),
    _ind("data_mb_6m_avg", "data, 6-month average (MB)"),
    _ind("data_mb_band_min", "data, lowest of the 3 months before (MB)"),
    _ind("data_mb_vs_prev3", "data / previous 3-month average", fill=1.0),
    _ind("revenue", "revenue (yuan)"),
    _ind("plan_fee", "plan fee (yuan)"),
    _ind("services_held", "value-added services held"),
    _ind("tenure_months", "tenure (months)"),
    _ind("family_size", "family plan size"),
    _ind("vpn_size", "VPN group size"),
    _ind("circle_breadth", "call-circle breadth"),
    _cat("handset_class", "handset"),
    _cat("age_band", "age band"),
    _cat("brand", "brand"),
    _cat("payment_type", "payment type"),
)

# Columns of last month's row that the change indicators compare with.
_LAG_COLUMNS = ("vpn_size", "family_size", "vip_level")


def model_frame(subscriber: DataFrame, graph: DataFrame, months: list[str],
                keep: Callable[[DataFrame], DataFrame] | None = None) -> DataFrame:
    """One row per subscriber in `months` who had not left by the month's end.

    Joins the silver subscriber and graph features and derives the change
    indicators that need last month's row. `subscriber`/`graph` may hold more
    months; the month before each is read for the lags (`months` need not follow
    each other). `keep`: the subscriber rows of `months` to join, of all of them (the
    rows a training sample reads), before they are shuffled; last month's rows are all read.
    """
    lag_months = sorted({*months, *(add_months(m, -1) for m in months)})
    base = subscriber.where(F.col("month").isin(lag_months))
    previous = base.select(
        "subscriber_id",
        shift_month(F.col("month"), 1).alias("month"),
        *[F.col(c).alias(f"{c}_prev") for c in _LAG_COLUMNS],
    )
    rows = base.where(F.col("month").isin(months) & (F.col("status") != "cancelled"))
    joined = (
        (keep(rows) if keep else rows)
        .join(graph.where(F.col("month").isin(months)), ["subscriber_id", "month"], "left")
        .join(previous, ["subscriber_id", "month"], "left")
    )
    derived = {
        "left_vpn": (F.coalesce(F.col("vpn_size_prev"), F.lit(0)) > 0) & (F.col("vpn_size") == 0),
        "left_family": (F.coalesce(F.col("family_size_prev"), F.lit(0)) > 0)
        & (F.col("family_size") == 0),
        "vip_level_change": F.col("vip_level") - F.coalesce(F.col("vip_level_prev"), F.col("vip_level")),
        "offnet_share_change": F.col("offnet_minutes_share") - F.col("offnet_minutes_share_lag1"),
        "incoming_share_change": F.col("incoming_share") - F.col("incoming_share_lag1"),
    }
    return joined.select("*", *[expr.alias(name) for name, expr in derived.items()])


def assemble_inputs(frame: DataFrame, indicators: tuple[Indicator, ...]) -> DataFrame:
    """Key columns plus every indicator, nulls replaced by the indicator's fill value.

    Booleans become 0/1 doubles; categorical indicators stay strings (the pipeline
    indexes them, so the rules can print their values). A NaN counts as unknown too.
    """
    return frame.select("subscriber_id", "month", *input_columns(indicators))


def input_columns(indicators: tuple[Indicator, ...]) -> list[Column]:
    """Every indicator as `assemble_inputs` gives it (a null or NaN number becomes its fill)."""
    return [F.coalesce(F.col(i.name), F.lit("unknown")).alias(i.name) if i.categorical
            else F.nanvl(F.coalesce(F.col(i.name).cast("double"), F.lit(i.fill)), F.lit(i.fill)).alias(i.name)
            for i in indicators]


def cancelled() -> Column:
    """A row of silver whose month the subscriber left in (the churn models' outcome event)."""
    return F.col("status") == "cancelled"


def billed(revenue_column: str) -> Column:
    """A row of silver whose month a service (its revenue column) was billed in."""
    return F.coalesce(F.col(revenue_column) > 0, F.lit(False))


def outcome_labels(subscriber: DataFrame, months: list[str], horizon: int, *,
                   label: str = "left") -> DataFrame:
    """`label` = 1.0 when the subscriber is cancelled in one of the `horizon` months after M.

    Only months whose whole horizon is in `subscriber` may be labelled; the caller
    chooses them (see `known_outcome_months`).
    """
    return event_within(subscriber, cancelled(), months, horizon, label)


Window = tuple[str, Column, int, tuple[str, ...]]  # (flag, event condition, horizon, months)


def event_marks(silver: DataFrame, windows: list[Window]) -> DataFrame:
    """(subscriber_id, month, one double per window's flag) in one pass over silver: the flag is
    1.0 when a month of silver whose row meets the window's event lies in the `horizon` months
    after `month`, `month` one of the window's months. Each event row marks the months M-1 ..
    M-horizon it answers for; a row holds at least one 1.0 (absent: 0.0 for every flag)."""
    first = min(m for *_, months in windows for m in months)
    last = max(add_months(max(months), horizon) for _, _, horizon, months in windows)
    reach = max(horizon for _, _, horizon, _ in windows)
    flags = [flag for flag, *_ in windows]
    any_of = partial(reduce, lambda a, b: a | b)
    events = silver.where((F.col("month") > first) & (F.col("month") <= last)).select(
        "subscriber_id", "month", *[event.alias(flag) for flag, event, _, _ in windows])
    exploded = events.where(any_of([F.col(f) for f in flags])).select(
        "subscriber_id", F.explode(F.array(*[F.struct(F.lit(k).alias("k"), shift_month(F.col("month"), -k)
                                                      .alias("month")) for k in range(1, reach + 1)]))
        .alias("m"), *flags)
    # a mark counts for a window within its horizon and months only; marks no window counts are
    # dropped before they are shuffled (a one-month window looks one month back, not three)
    counted = [(F.col(flag) & (F.col("m.k") <= horizon) & F.col("m.month").isin(sorted(months))).alias(flag)
               for flag, _, horizon, months in windows]
    marks = exploded.select("subscriber_id", F.col("m.month").alias("month"), *counted)
    return marks.where(any_of([F.col(f) for f in flags])).groupBy("subscriber_id", "month") \
        .agg(*[F.max(F.col(f).cast("double")).alias(f) for f in flags])


def event_within(subscriber: DataFrame, event: Column, months: list[str], horizon: int,
                 label: str) -> DataFrame:
    """Per subscriber still there in M (of `months`): 1.0 if a month whose row meets `event` is
    in M+1..M+horizon, else 0.0."""
    return (
        subscriber.where(F.col("month").isin(months) & (F.col("status") != "cancelled"))
        .select("subscriber_id", "month")
        .join(event_marks(subscriber, [(label, event, horizon, tuple(months))]), ["subscriber_id", "month"],
              "left")
        .fillna({label: 0.0})
    )


def known_outcome_months(months: list[str], horizon: int) -> list[str]:
    """Months M with all of M+1..M+horizon present."""
    have = set(months)
    return [m for m in sorted(months) if all(add_months(m, k) in have for k in range(1, horizon + 1))]
