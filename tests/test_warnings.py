"""One test per warning rule, with a row on each side of its threshold."""

import pytest
from chispa import assert_df_equality

from sparkvalue.config import load_config
from sparkvalue.features.warnings import describe_rules, trial_expiries, warning_flags

RULES = load_config("local").warnings
MONTH = "2026-10"

SCHEMA = (
    "subscriber_id string, month string, tenure_months int, balance double, mou_3m_avg double, "
    "avg_topup_3m double, low_balance_alerts_3m_avg double, revenue double, revenue_6m_avg double, "
    "revenue_lag1 double, revenue_6m_avg_lag1 double, incoming_share double, "
    "incoming_share_lag1 double, mou_2m_yoy double, bundles_active long, balance_falling_2m boolean, "
    "numbers_held_12m int, circle_competitor_share double, competitor_cs_calls int, "
    "forwarded_to_competitor_calls int, bundle_months_to_end double, payment_type string, "
    "status string, suspended_days int"
)
# A subscriber no rule fires on: long tenure, healthy balance and usage, a bundle.
NEUTRAL = dict(
    tenure_months=40, balance=80.0, mou_3m_avg=100.0, avg_topup_3m=100.0,
    low_balance_alerts_3m_avg=0.0, revenue=50.0, revenue_6m_avg=50.0, revenue_lag1=50.0,
    revenue_6m_avg_lag1=50.0, incoming_share=0.5, incoming_share_lag1=0.5, mou_2m_yoy=1.0,
    bundles_active=1, balance_falling_2m=False, numbers_held_12m=0, circle_competitor_share=0.1,
    competitor_cs_calls=0, forwarded_to_competitor_calls=0, bundle_months_to_end=None,
    payment_type="prepaid", status="active", suspended_days=0,
)
NO_BUNDLE = {"bundles_active": 0}

# rule code -> (overrides that fire it, overrides just on the other side of the threshold)
CASES = {
    "W01_NEW_LOW_BALANCE": ({"tenure_months": 2, "balance": 9.9}, {"tenure_months": 4, "balance": 9.9}),
    "W03_PRICE_SENSITIVE": ({"avg_topup_3m": 30.0, "low_balance_alerts_3m_avg": 2.0},
                            {"avg_topup_3m": 30.0, "low_balance_alerts_3m_avg": 1.9}),
    "W04_DOWNGRADE": ({"revenue": 34.9, "revenue_lag1": 34.9},
                      {"revenue": 34.9, "revenue_lag1": 35.0}),
    "W05_DUAL_SIM": ({"incoming_share": 0.71, "incoming_share_lag1": 0.71},
                     {"incoming_share": 0.71, "incoming_share_lag1": 0.70}),
    "W06_CHURN_BALANCE": ({**NO_BUNDLE, "balance_falling_2m": True, "balance": 49.0},
                          {**NO_BUNDLE, "balance_falling_2m": True, "balance": 50.0}),
    "W06_CHURN_REJOINER": ({**NO_BUNDLE, "numbers_held_12m": 2},
                           {"numbers_held_12m": 2}),
    "W06_CHURN_OFFNET_CIRCLE": ({**NO_BUNDLE, "circle_competitor_share": 0.51},
                                {**NO_BUNDLE, "circle_competitor_share": 0.51, "revenue": 61.0,
                                 "revenue_6m_avg": 61.0, "revenue_lag1": 61.0,
                                 "revenue_6m_avg_lag1": 61.0}),
    "W07_COMPETITOR_CS_CALLS": ({"competitor_cs_calls": 1}, {"competitor_cs_calls": 0}),
    "W07_FORWARD_TO_COMPETITOR": ({"forwarded_to_competitor_calls": 3},
                                  {"forwarded_to_competitor_calls": 0}),
    "W08_BUNDLE_EXPIRING": ({"bundle_months_to_end": 0.9}, {"bundle_months_to_end": 1.1}),
    "W08_LOW_BALANCE": ({"balance": 4.9}, {"balance": 5.0}),
    "W08_POSTPAID_DUE": ({"payment_type": "postpaid", "balance": -1.0},
                         {"payment_type": "postpaid", "balance": 0.0}),
    "W08_SUSPENDED": ({"suspended_days": 3}, {"suspended_days": 0}),
}


def _frame(spark, rows):
    columns = [c.split()[0] for c in SCHEMA.split(", ")]
    data = [tuple({**NEUTRAL, "month": MONTH, **row}[c] for c in columns) for row in rows]
    return spark.createDataFrame(data, SCHEMA)


def _no_trials(spark):
    return spark.createDataFrame([], "subscriber_id string, expiry_month string")


def _flag(spark, features, code, trials=None):
    out = warning_flags(features, trials if trials is not None else _no_trials(spark), rules_config=RULES)
    return out.select("subscriber_id", code.lower())


def test_every_rule_has_a_case():
    tested = set(CASES) | {"W02_LOW_USAGE", "W04_PROMOTION_EXPIRING", "W05_DUAL_SIM"}
    assert tested == set(describe_rules(RULES))


@pytest.mark.parametrize("code", list(CASES))
def test_rule_fires_on_one_side_of_its_threshold(spark, code):
    fires, quiet = CASES[code]
    features = _frame(spark, [{"subscriber_id": "fires", **fires}, {"subscriber_id": "quiet", **quiet},
                              {"subscriber_id": "neutral"}])
    expected = spark.createDataFrame([("fires", True), ("quiet", False), ("neutral", False)],
                                     f"subscriber_id string, {code.lower()} boolean")
    assert_df_equality(_flag(spark, features, code), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_low_usage_is_relative_to_the_month_average(spark):
    # average 3-month MOU = (100 + 100 + 10 + 36) / 4 = 61.5; half of it is 30.75
    features = _frame(spark, [{"subscriber_id": "a"}, {"subscriber_id": "b"},
                              {"subscriber_id": "low", "mou_3m_avg": 10.0},
                              {"subscriber_id": "edge", "mou_3m_avg": 36.0}])
    expected = spark.createDataFrame([("a", False), ("b", False), ("low", True), ("edge", False)],
                                     "subscriber_id string, w02_low_usage boolean")
    assert_df_equality(_flag(spark, features, "W02_LOW_USAGE"), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_dual_sim_by_minutes_against_last_year(spark):
    features = _frame(spark, [{"subscriber_id": "down", "mou_2m_yoy": 0.69},
                              {"subscriber_id": "flat", "mou_2m_yoy": 0.70},
                              {"subscriber_id": "unknown", "mou_2m_yoy": None}])
    expected = spark.createDataFrame([("down", True), ("flat", False), ("unknown", False)],
                                     "subscriber_id string, w05_dual_sim boolean")
    assert_df_equality(_flag(spark, features, "W05_DUAL_SIM"), expected, ignore_row_order=True,
                       ignore_nullable=True)


def test_promotion_expiring_from_accepted_trials(spark):
    contacts = spark.createDataFrame(
        [("s1", "SVC-NEWS-TRIAL-3M", "treatment", "2026-08-05"),   # ends 2026-11: next month
         ("s2", "SVC-NEWS-TRIAL-3M", "treatment", "2026-07-05"),   # ended this month
         ("s3", "SVC-NEWS-TRIAL-3M", "control", "2026-08-05"),     # control: not an offer
         ("s4", "USE-DATA-PACK-20", "treatment", "2026-08-05")],   # not a trial
        "subscriber_id string, offer_code string, arm string, response_date string",
    ).selectExpr("subscriber_id", "offer_code", "arm", "to_date(response_date) as response_date")
    features = _frame(spark, [{"subscriber_id": s} for s in ("s1", "s2", "s3", "s4")])
    expected = spark.createDataFrame([("s1", True), ("s2", False), ("s3", False), ("s4", False)],
                                     "subscriber_id string, w04_promotion_expiring boolean")
    assert_df_equality(_flag(spark, features, "W04_PROMOTION_EXPIRING", trial_expiries(contacts)),
                       expected, ignore_row_order=True, ignore_nullable=True)


def test_codes_and_reasons_list_what_fired(spark):
    features = _frame(spark, [{"subscriber_id": "x", "competitor_cs_calls": 2, "suspended_days": 1}])
    row = warning_flags(features, _no_trials(spark), rules_config=RULES).first()
    assert row["warning_codes"] == ["W07_COMPETITOR_CS_CALLS", "W08_SUSPENDED"]
    assert row["warning_count"] == 2
    assert row["warning_reasons"][0].startswith("W07_COMPETITOR_CS_CALLS: called by")
