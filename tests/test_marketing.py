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


# ------------------------------------------------------------------ offers and recommendations
from sparkvalue.marketing import audit, codes, groups  # noqa: E402
from sparkvalue.marketing.offers import _ddl, check_catalog, frame_columns, recommend  # noqa: E402

CLEAN = {"month": "2026-10", "strategy": "marketing_led", "matrix_rule": 9, "clv": 1000.0,
         "is_employee": False, "plan_type": "standard", "is_secondary_number": False,
         "has_call_forwarding": False, "days_since_contact": None, "suspended_days": 0, "status": "active",
         "mou": 100.0, "sms_count": 5, "data_mb": 100.0, "tenure_months": 12, "revenue": 50.0}


def offer(code: str, **kw) -> dict:
    return {"code": code, "name": code.lower(), "slot": "service", "family": code, "cost": 0.0,
            "channels": ["sms"], "cadence": "monthly_batch", "propensity": "0.5", "eligibility": "true", **kw}


def catalog(settings, *offers, **marketing):
    return settings.with_overrides({"marketing": {"offers": list(offers), **marketing}})


def offer_frame(spark, settings, rows: list[dict]):
    cols = frame_columns(settings)
    data = [tuple({**CLEAN, **row}.get(c) for c, _, _ in cols) for row in rows]
    return spark.createDataFrame(data, _ddl(cols))


def run(spark, settings, rows):
    recs, exclusions, staged = recommend(offer_frame(spark, settings, rows), settings, F.current_timestamp())
    out = recs.collect(), exclusions.collect()
    staged.unpersist()
    return out


def test_each_global_exclusion_keeps_its_subscriber_off_every_list(spark, base_settings):
    settings = catalog(base_settings, offer("1456-ANY"))
    triggers = {"EMPLOYEE": {"is_employee": True}, "DATA_ONLY": {"plan_type": "data_only"},
                "SECONDARY": {"is_secondary_number": True}, "FORWARDING": {"has_call_forwarding": True},
                "RECENT_CONTACT": {"days_since_contact": 30}, "SUSPENDED": {"suspended_days": 11},
                "PRE_CANCEL": {"status": "pre_cancel"},
                "SILENT": {"mou": 0.0, "sms_count": 0, "data_mb": 0.0},
                "DO_NOT_DISTURB": {"strategy": "do_not_disturb"}}
    assert set(triggers) == {e.code for e in settings.marketing.exclusions}
    rows = [{"subscriber_id": code.lower(), **change} for code, change in triggers.items()]
    # just inside the limits: contacted 31 days ago, suspended 10 days, some data only
    rows += [{"subscriber_id": "clean"}, {"subscriber_id": "contact31", "days_since_contact": 31},
             {"subscriber_id": "suspended10", "suspended_days": 10},
             {"subscriber_id": "data_only_use", "mou": 0.0, "sms_count": 0, "data_mb": 1.0}]
    recs, exclusions = run(spark, settings, rows)
    assert {(r["subscriber_id"], tuple(r["exclusion_codes"])) for r in exclusions} == \
        {(code.lower(), (code,)) for code in triggers}
    assert all(len(r["exclusion_reasons"]) == 1 for r in exclusions)
    assert {r["subscriber_id"] for r in recs} == {"clean", "contact31", "suspended10", "data_only_use"}
    assert all(r["recommended"] for r in recs)


def test_eligibility_boundaries_and_offer_exclusions(spark, base_settings):
    settings = catalog(base_settings, offer("2111-PREPAY", slot="retention",
                                            eligibility="tenure_months >= 2 AND revenue >= 20",
                                            exclusions=["bundles_active > 0"]),
                       strategy_weights={"marketing_led": {"retention": 1.0}})
    rows = [{"subscriber_id": "tenure1", "tenure_months": 1},
            {"subscriber_id": "tenure2", "tenure_months": 2},
            {"subscriber_id": "rev19", "revenue": 19.99}, {"subscriber_id": "rev20", "revenue": 20.0},
            {"subscriber_id": "no_tenure", "tenure_months": None},
            {"subscriber_id": "bundled", "bundles_active": 1},
            {"subscriber_id": "no_bundle", "bundles_active": 0}]
    recs, _ = run(spark, settings, rows)
    got = spark.createDataFrame([(r["subscriber_id"], r["offer_code"]) for r in recs],
                                "subscriber_id string, offer_code string")
    expected = spark.createDataFrame([(s, "2111-PREPAY") for s in ("tenure2", "rev20", "no_bundle")],
                                     "subscriber_id string, offer_code string")
    assert_df_equality(got, expected, ignore_row_order=True)


def test_ranking_order_scores_and_slot_limits(spark, base_settings):
    settings = catalog(
        base_settings,
        offer("1456-S1", propensity="0.10"), offer("1456-S2", propensity="0.30"),
        offer("1456-S3", propensity="0.20", cost=5.0),
        offer("1133-U1", slot="usage", propensity="0.25", channels=["app"]),
        offer("2111-R1", slot="retention", propensity="0.9"))
    recs, _ = run(spark, settings, [{"subscriber_id": "a", "clv": 200.0}])
    got = spark.createDataFrame(
        [(r["offer_code"], r["recommended"], r["rank"], r["slot_rank"], round(r["score"], 6)) for r in recs],
        "offer_code string, recommended boolean, rank int, slot_rank int, score double")
    expected = spark.createDataFrame([
        ("1456-S2", True, 1, 1, 60.0),       # 0.30 x 200 x 1.0 - 0
        ("1133-U1", True, 2, 1, 50.0),
        ("1456-S3", True, 3, 2, 35.0),       # 0.20 x 200 - 5
        ("1456-S1", False, None, None, 20.0),  # a third service offer: the slot holds two
        ("2111-R1", False, None, None, 0.0),   # marketing_led gives retention no weight
    ], "offer_code string, recommended boolean, rank int, slot_rank int, score double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    reasons = {r["offer_code"]: r["reason"] for r in recs}
    assert reasons["1456-S1"] == "left off: 2 service offers with higher scores"
    assert reasons["2111-R1"] == "left off: strategy marketing_led gives retention offers no weight"
    assert reasons["1456-S2"] == ("marketing_led (matrix rule 9); eligible: true; 0.300 x CLV 200 x weight "
                                  "1.00 - cost 0.0 = 60.0")


def test_no_two_offers_of_one_family_are_stacked(spark, base_settings):
    settings = catalog(base_settings,
                       offer("1254-DATA5", family="data_pack", propensity="0.2"),
                       offer("1154-DATA10", family="data_pack", propensity="0.4"),
                       offer("1456-NEWS", family="news", propensity="0.1"))
    recs, _ = run(spark, settings, [{"subscriber_id": "a"}])
    got = {r["offer_code"]: (r["recommended"], r["rank"]) for r in recs}
    assert got == {"1154-DATA10": (True, 1), "1456-NEWS": (True, 2), "1254-DATA5": (False, None)}
    assert [r["reason"] for r in recs if r["offer_code"] == "1254-DATA5"] == \
        ["left off: an offer of family data_pack is already on the list"]


def test_contact_limits_per_channel_move_an_offer_to_its_next_channel_or_leave_it_off(spark, base_settings):
    settings = catalog(base_settings,
                       offer("2111-CALL1", slot="retention", propensity="0.5", channels=["outbound_call"]),
                       offer("2221-CALL2", slot="retention", propensity="0.4", channels=["outbound_call"]),
                       offer("1456-CALL3", propensity="0.3", channels=["outbound_call", "sms"]),
                       strategy_weights={"marketing_led": {"retention": 1.0}},
                       channel_limits={"outbound_call": {"per_subscriber": 1}})
    recs, _ = run(spark, settings, [{"subscriber_id": "a"}])
    got = {r["offer_code"]: (r["recommended"], r["channel"], r["rank"]) for r in recs}
    assert got == {"2111-CALL1": (True, "outbound_call", 1), "1456-CALL3": (True, "sms", 2),
                   "2221-CALL2": (False, "outbound_call", None)}
    assert [r["reason"] for r in recs if r["offer_code"] == "2221-CALL2"] == \
        ["left off: its channels reached the subscriber's contact limits"]


@pytest.mark.parametrize("place, expr, message", [
    ("eligibility", "no_such_column > 1", r"no_such_column"),
    ("eligibility", "tenure_months >=", r"PARSE_SYNTAX_ERROR|Syntax error"),
    ("eligibility", "tenure_months + 1", r"gives int, not true/false"),
    ("propensity", "plan_type", r"gives string, not a number"),
])
def test_a_bad_rule_expression_is_rejected_with_its_offer_code(spark, base_settings, place, expr, message):
    settings = catalog(base_settings, offer("1456-GOOD"), offer("1456-BAD", **{place: expr}))
    with pytest.raises(ConfigError, match=rf"marketing\.offers\[1456-BAD\]\.{place}: .*{message}"):
        check_catalog(spark, settings)
    check_catalog(spark, base_settings)  # the shipped catalog is valid


def test_the_loader_rejects_unknown_code_digits_and_duplicate_codes(base_settings):
    with pytest.raises(ConfigError, match=r"offer 1796-X: unknown method digit '7'"):
        catalog(base_settings, offer("1796-X"))
    with pytest.raises(ConfigError, match=r"offer code\(s\) used twice: 1456-A"):
        catalog(base_settings, offer("1456-A"), offer("1456-A"))
    with pytest.raises(ConfigError, match=r"no channel_limits for fax|channels"):
        catalog(base_settings, offer("1456-A", channels=["fax"]))


def test_segment_codes_classify_trends_and_bands(spark, base_settings):
    cols = "subscriber_id string, month string, status string, revenue_vs_prev3 double, " \
           "mou_vs_prev3 double, data_mb_vs_prev3 double, revenue double, mou double, data_mb double, " \
           "tenure_months int, bundles_active long"
    rows = [("stable", "active", 1.0, 1.0, 1.0, 5.0, 40.0, 50.0, 2, 0),
            ("spend_up", "active", 1.2, 1.0, 1.0, 30.0, 300.0, 50.0, 12, 1),
            ("voice_up", "active", 1.0, 1.5, 1.0, 30.0, 300.0, 50.0, 12, 0),
            ("data_up", "active", 1.05, 1.0, 1.11, 30.0, 300.0, 600.0, 12, 0),
            ("declining", "active", 0.85, 1.0, 1.0, 60.0, 300.0, 50.0, 12, 0),
            ("spend_warn", "active", 0.5, 0.5, 0.5, 250.0, 300.0, 50.0, 12, 0),
            ("voice_warn", "active", 1.0, 0.59, 0.5, 30.0, 2000.0, 50.0, 12, 0),
            ("data_warn", "active", 1.0, 1.0, 0.2, 30.0, 300.0, 10000.0, 12, 0),
            ("leaving", "pre_cancel", 1.5, 1.5, 1.5, 30.0, 300.0, 50.0, 12, 0),
            ("new", "active", None, None, None, 9.99, 0.0, 0.0, 0, 0)]
    features = spark.createDataFrame([(s, "2026-10", *r) for s, *r in rows], cols)
    got = codes.segment_codes(features, base_settings).select("subscriber_id", "segment_code")
    expected = spark.createDataFrame([
        ("stable", "1-2-01"), ("spend_up", "21-2-03"), ("voice_up", "22-3-03"), ("data_up", "23-4-03"),
        ("declining", "3-2-04"), ("spend_warn", "41-2-06"), ("voice_warn", "42-3-06"),
        ("data_warn", "43-4-06"), ("leaving", "5-2-03"), ("new", "1-2-01")],
        "subscriber_id string, segment_code string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    summary = codes.code_summary(codes.segment_codes(features, base_settings), features)
    spend_up = summary.where(F.col("trend_class") == "21").first()
    assert (spend_up["subscribers"], spend_up["bundle_rate"]) == (1, 1.0)
    assert summary.agg(F.sum("share")).first()[0] == pytest.approx(1.0)


def test_group_priority_cells_and_the_fifteen_cell_summary(spark, base_settings):
    groups_df = spark.createDataFrame(
        [("G1", "2026-10", "it", 100.0, 10.0), ("G2", "2026-10", "it", 100.0, 20.0),
         ("G3", "2026-10", "it", 100.0, 60.0), ("G4", "2026-10", "it", 100.0, 150.0),
         ("G5", "2026-10", "it", 0.0, 5.0)],
        "group_id string, month string, industry string, group_revenue double, group_cost double")
    features = spark.createDataFrame(
        [("a", "2026-10", "G1", True), ("b", "2026-10", "G1", False), ("c", "2026-10", "G2", True),
         ("d", "2026-10", "G3", True), ("e", "2026-10", "G4", False)],
        "subscriber_id string, month string, group_id string, is_key_person boolean")
    value = spark.createDataFrame(
        [(s, "2026-10", tier) for s, tier in (("a", "high"), ("b", "high"), ("c", "mid"), ("d", "low"))],
        "subscriber_id string, month string, value_tier string")
    got = groups.group_priority(groups_df, features, value, base_settings)
    expected = spark.createDataFrame([
        ("G1", "above_85", 2, 1, "high", 1), ("G2", "75_85", 1, 1, "mid", 5), ("G3", "0_50", 1, 1, "low", 13),
        ("G4", "below_0", 1, 0, "low", 15), ("G5", "below_0", 0, 0, "low", 15)],
        "group_id string, return_band string, members long, key_persons long, key_person_value string, "
        "priority int")
    assert_df_equality(got.select("group_id", "return_band", "members", "key_persons", "key_person_value",
                                  "priority"), expected, ignore_row_order=True, ignore_nullable=True)
    summary = groups.priority_summary(spark, got, base_settings, ["2026-10", "2026-11"])
    assert summary.count() == 30  # every cell of every month, also of a month without groups
    assert summary.where(F.col("month") == "2026-11").agg(F.sum("groups")).first()[0] == 0
    assert {r["priority"]: r["groups"] for r in summary.where("groups > 0").collect()} == \
        {1: 1, 5: 1, 13: 1, 15: 2}


def test_vpn_seeds_and_their_two_targets(spark, base_settings):
    features = spark.createDataFrame(
        [("seed", "V1", 150.0), ("silent", "V1", 3.0), ("busy", "V1", 80.0), ("outsider", None, 0.0),
         ("rare", None, 0.0), ("other_vpn", "V2", 0.0), ("seed_low", "V2", 20.0)],
        "subscriber_id string, vpn_group_id string, vpn_min double").withColumn("month", F.lit("2026-10"))
    segments = features.select("subscriber_id", "month", F.lit("corporate_related").alias("segment_group"))
    edges = spark.createDataFrame(
        [("seed", "silent", 1), ("busy", "seed", 9), ("outsider", "seed", 3), ("seed", "outsider", 2),
         ("rare", "seed", 1), ("seed", "other_vpn", 6)],
        "caller_id string, callee_id string, calls int").withColumn("month", F.lit("2026-10"))
    got = groups.vpn_targets(features, segments, edges, base_settings)
    expected = spark.createDataFrame([
        ("seed", "seed", "V1", "seed", 0), ("silent", "target_1", "V1", "seed", 1),
        ("outsider", "target_2", "V1", "seed", 5), ("other_vpn", "target_2", "V1", "seed", 6)],
        "subscriber_id string, role string, vpn_group_id string, seed_id string, calls_with_seed long")
    assert_df_equality(got.select("subscriber_id", "role", "vpn_group_id", "seed_id", "calls_with_seed"),
                       expected, ignore_row_order=True, ignore_nullable=True)


def test_discount_audit_counts_costs_and_overlap(spark, base_settings):
    months = spark.createDataFrame([("2026-10",)], "month string")
    bundles = spark.createDataFrame(
        [("a", "minimum_spend", "2026-01-01", "2026-12-31", 10.0),
         ("b", "minimum_spend", "2026-01-01", "2026-12-31", 20.0),
         ("c", "minimum_spend", "2026-01-01", "2026-09-30", 99.0)],  # ended before October
        "subscriber_id string, bundle_type string, start string, end string, monthly_discount double"
    ).selectExpr("subscriber_id", "bundle_type", "to_date(start) start_date", "to_date(end) end_date",
                 "monthly_discount")
    features = spark.createDataFrame(
        [("a", "2026-10", "discount", 15.0, 10.0, 0.3), ("b", "2026-10", "standard", 20.0, 20.0, 0.9)],
        "subscriber_id string, month string, plan_type string, discount_cost double, bundle_discount double, "
        "return_rate double")
    stickiness = spark.createDataFrame([("a", "2026-10", "high", 100.0), ("b", "2026-10", "high", 100.0)],
                                       "subscriber_id string, month string, stickiness_tier string, "
                                       "stickiness_score double")
    value = spark.createDataFrame([("a", "2026-10", 50.0), ("b", "2026-10", 80.0)],
                                  "subscriber_id string, month string, revenue_3m_avg double")
    received = audit.received_discounts(bundles, features, months)
    got = audit.discount_audit(received, features, stickiness, value, base_settings).select(
        "discount", "receivers", "low_return_high_stickiness", "monthly_cost", "overlap_rate", "yearly_cost",
        "saving_if_cleaned")
    expected = spark.createDataFrame(
        [("minimum_spend", 2, 1, 10.0, 1.0, 120.0, 120.0), ("discount_plan", 1, 1, 5.0, 1.0, 60.0, 60.0)],
        "discount string, receivers long, low_return_high_stickiness long, monthly_cost double, "
        "overlap_rate double, yearly_cost double, saving_if_cleaned double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
