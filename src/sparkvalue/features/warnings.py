"""Rule-based warnings of the retention playbook (MISSION.md "Rule-based warnings").

`warning_flags(features, trials, rules=...)` evaluates every rule on the joined
subscriber-month and graph features; thresholds come from `conf` (`warnings:`).
Grain: one row per subscriber per month, one boolean per rule, plus the codes and
readable reasons of the rules that fired.

Not in the data, so not evaluated: "calls with competitors' staff" (no staff
directory of other operators exists in the extracts).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.config import Warnings
from sparkvalue.features.months import month_start


def trial_expiries(contacts: DataFrame) -> DataFrame:
    """(subscriber_id, expiry_month) of accepted trial offers (`...-TRIAL-<n>M`)."""
    months = F.regexp_extract("offer_code", r"TRIAL-(\d+)M", 1)
    return (
        contacts.where((F.col("arm") == "treatment") & F.col("response_date").isNotNull()
                       & (months != ""))
        .select("subscriber_id",
                F.date_format(F.add_months(F.col("response_date"), months.cast("int")), "yyyy-MM")
                .alias("expiry_month"))
        .distinct()
    )


def describe_rules(rules: Warnings) -> dict[str, str]:
    """Each rule's code and readable reason, with the configured thresholds."""
    r = rules
    lo, hi = r.churn_revenue_band
    first, last = r.new_subscriber_months
    return {
        "W01_NEW_LOW_BALANCE": f"month {first}-{last} in network with balance below "
                               f"{r.new_subscriber_low_balance:g}: offer a second top-up",
        "W02_LOW_USAGE": f"3-month MOU below {r.low_usage_mou_ratio:.0%} of the average",
        "W03_PRICE_SENSITIVE": f"top-ups of {r.price_sensitive_topup_max:g} or less and "
                               f"{r.price_sensitive_alerts_min}+ low-balance alerts a month",
        "W04_DOWNGRADE": f"revenue below {r.downgrade_revenue_ratio:.0%} of the 6-month average for "
                         f"{r.downgrade_months} month(s)",
        "W04_PROMOTION_EXPIRING": "a value-added-service trial ends next month",
        "W05_DUAL_SIM": f"incoming share above {r.dual_sim_incoming_share:.0%} for {r.dual_sim_months} "
                        f"month(s) or minutes down {r.dual_sim_yoy_drop:.0%} on the same months last year",
        "W06_CHURN_BALANCE": f"balance falling 2 months and below {r.churn_balance_max:g}, "
                             f"revenue {lo:g}-{hi:g}, no bundle",
        "W06_CHURN_REJOINER": f"{r.churn_rejoin_numbers}+ numbers in a year, revenue {lo:g}-{hi:g}, "
                              "no bundle",
        "W06_CHURN_OFFNET_CIRCLE": f"over {r.churn_offnet_circle_share:.0%} of the circle on "
                                   f"competitors, revenue {lo:g}-{hi:g}, no bundle",
        "W07_COMPETITOR_CS_CALLS": "called by a competitor's customer service",
        "W07_FORWARD_TO_COMPETITOR": "calls forwarded to a competitor's number",
        "W08_BUNDLE_EXPIRING": f"a bundle ends within {r.bundle_expiry_months} month(s)",
        "W08_LOW_BALANCE": f"prepaid balance below {r.low_balance:g}",
        "W08_POSTPAID_DUE": "postpaid bill overdue",
        "W08_SUSPENDED": "line suspended",
    }


def conditions(rules: Warnings) -> dict[str, Column]:
    """Each rule's condition on the joined feature row (same codes as `describe_rules`)."""
    r = rules
    lo, hi = r.churn_revenue_band
    first, last = r.new_subscriber_months
    in_month = F.col("tenure_months") + 1
    churn_base = (F.col("revenue") >= lo) & (F.col("revenue") <= hi) & (F.col("bundles_active") == 0)

    def below_6m(revenue: str, average: str) -> Column:
        return F.col(revenue) < r.downgrade_revenue_ratio * F.col(average)

    downgrade = below_6m("revenue", "revenue_6m_avg")
    if r.downgrade_months >= 2:
        downgrade = downgrade & below_6m("revenue_lag1", "revenue_6m_avg_lag1")
    dual_share = F.col("incoming_share") > r.dual_sim_incoming_share
    if r.dual_sim_months >= 2:
        dual_share = dual_share & (F.col("incoming_share_lag1") > r.dual_sim_incoming_share)
    return {
        "W01_NEW_LOW_BALANCE": (in_month >= first) & (in_month <= last)
        & (F.col("balance") < r.new_subscriber_low_balance),
        "W02_LOW_USAGE": F.col("mou_3m_avg") < r.low_usage_mou_ratio * F.col("_mou_3m_population_avg"),
        "W03_PRICE_SENSITIVE": (F.col("avg_topup_3m") <= r.price_sensitive_topup_max)
        & (F.col("low_balance_alerts_3m_avg") >= r.price_sensitive_alerts_min),
        "W04_DOWNGRADE": downgrade,
        "W04_PROMOTION_EXPIRING": F.col("_trial_expiring"),
        "W05_DUAL_SIM": dual_share | (F.col("mou_2m_yoy") < 1.0 - r.dual_sim_yoy_drop),
        "W06_CHURN_BALANCE": churn_base & F.col("balance_falling_2m")
        & (F.col("balance") < r.churn_balance_max),
        "W06_CHURN_REJOINER": churn_base & (F.col("numbers_held_12m") >= r.churn_rejoin_numbers),
        "W06_CHURN_OFFNET_CIRCLE": churn_base
        & (F.col("circle_competitor_share") > r.churn_offnet_circle_share),
        "W07_COMPETITOR_CS_CALLS": F.col("competitor_cs_calls") > 0,
        "W07_FORWARD_TO_COMPETITOR": F.col("forwarded_to_competitor_calls") > 0,
        "W08_BUNDLE_EXPIRING": (F.col("bundle_months_to_end") >= 0)
        & (F.col("bundle_months_to_end") <= r.bundle_expiry_months),
        "W08_LOW_BALANCE": (F.col("payment_type") == "prepaid") & (F.col("balance") < r.low_balance),
        "W08_POSTPAID_DUE": (F.col("payment_type") == "postpaid") & (F.col("balance") < 0),
        "W08_SUSPENDED": (F.col("status") == "suspended") | (F.col("suspended_days") > 0),
    }


def warning_flags(features: DataFrame, trials: DataFrame, *, rules_config: Warnings) -> DataFrame:
    """Every rule on every subscriber-month of `features` (joined usage and graph features).

    `trials`: output of `trial_expiries`. Output: month, subscriber_id, one boolean column
    per rule (lower-case code), `warning_codes`, `warning_reasons`, `warning_count`.
    A rule whose inputs are missing (e.g. no history yet) does not fire.
    """
    # The month's average as a one-row-per-month aggregate joined back: a window over the
    # whole month would put every subscriber of the month in one task.
    population = features.groupBy("month").agg(F.avg("mou_3m_avg").alias("_mou_3m_population_avg"))
    # `trials` is distinct per (subscriber, expiry month): the join adds no rows.
    trial = trials.select("subscriber_id", F.col("expiry_month").alias("_next"),
                          F.lit(True).alias("_trial_expiring"))
    next_month = F.date_format(F.add_months(month_start(F.col("month")), 1), "yyyy-MM")
    base = (
        features.select("*", next_month.alias("_next"))
        .join(F.broadcast(population), on="month", how="left")
        .join(trial, on=["subscriber_id", "_next"], how="left")
        .withColumn("_trial_expiring", F.coalesce("_trial_expiring", F.lit(False)))
    )
    checks = describe_rules(rules_config)
    flags = {code: F.coalesce(cond, F.lit(False)) for code, cond in conditions(rules_config).items()}
    flagged = base.select("subscriber_id", "month", *[v.alias(k.lower()) for k, v in flags.items()])
    codes = F.array_compact(F.array(*[F.when(F.col(k.lower()), F.lit(k)) for k in checks]))
    reasons = F.array_compact(F.array(*[F.when(F.col(k.lower()), F.lit(f"{k}: {text}"))
                                        for k, text in checks.items()]))
    return flagged.select("*", codes.alias("warning_codes"), reasons.alias("warning_reasons"),
                          F.size(codes).alias("warning_count"))
