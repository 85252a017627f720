"""The closed loop on hand-made contact histories with known answers."""

from __future__ import annotations

import math

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from sparkvalue.closedloop import campaigns
from sparkvalue.closedloop.stats import lift_columns, normal_cdf


def test_normal_cdf_matches_the_error_function(spark):
    zs = [-3.0, -1.96, -0.5, 0.0, 0.7, 1.644854, 3.5]
    got = spark.createDataFrame([(z,) for z in zs], "z double").select(normal_cdf(F.col("z")).alias("p"))
    got = got.collect()
    for z, row in zip(zs, got, strict=True):
        assert row["p"] == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), abs=2e-7)


def test_two_proportion_lift_interval_and_p_value(spark):
    # treatment 30 of 100, control 10 of 100: difference 0.2, Wald se sqrt(.3*.7/100 + .1*.9/100),
    # pooled z = 0.2 / sqrt(.2*.8*(1/100 + 1/100)) = 3.5355, two-sided p = 0.000407
    df = spark.createDataFrame([(100, 30, 100, 10), (50, 5, 0, 0)], "nt long, xt long, nc long, xc long")
    stats = lift_columns(F.col("nt"), F.col("xt"), F.col("nc"), F.col("xc"))
    rows = df.select(*[v.alias(k) for k, v in stats.items()]).collect()
    r = rows[0]
    se = math.sqrt(0.3 * 0.7 / 100 + 0.1 * 0.9 / 100)
    assert r["lift"] == pytest.approx(0.2)
    assert (r["lift_low"], r["lift_high"]) == (pytest.approx(0.2 - 1.959964 * se, abs=1e-6),
                                               pytest.approx(0.2 + 1.959964 * se, abs=1e-6))
    assert r["relative_lift"] == pytest.approx(2.0)
    assert r["z"] == pytest.approx(3.5355339, abs=1e-6)
    assert r["p_value"] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(3.5355339 / math.sqrt(2)))), abs=1e-6)
    empty_control = rows[1]  # no control arm: nothing to compare with
    assert (empty_control["response_rate_control"], empty_control["lift"], empty_control["p_value"]) == \
        (None, None, None)


def test_campaign_results_count_arms_apart_and_measure_revenue_change(spark, base_settings):
    contacts = spark.createDataFrame([
        ("c1", "CMP-1", "1456-NEWS-TRIAL-3M", "a", "2026-06", "sms", "treatment", "2026-06-09"),
        ("c2", "CMP-1", "1456-NEWS-TRIAL-3M", "b", "2026-06", "sms", "treatment", None),
        # a control subscriber who took the offer anyway counts as a control response only
        ("c3", "CMP-1", "1456-NEWS-TRIAL-3M", "c", "2026-06", "sms", "control", "2026-06-20"),
        ("c4", "CMP-1", "1456-NEWS-TRIAL-3M", "d", "2026-06", "sms", "control", None),
        ("c5", "CMP-1", "1456-NEWS-TRIAL-3M", "e", "2026-06", "sms", "treatment", "2026-06-11"),
    ], "contact_id string, campaign_id string, offer_code string, subscriber_id string, month string, "
       "channel string, arm string, response_date string")
    revenue_rows = []
    for sub, before, after in (("a", 50.0, 56.0), ("b", 50.0, 50.0), ("c", 40.0, 41.0), ("d", 40.0, 39.0),
                               ("e", 20.0, 23.0)):
        revenue_rows += [(sub, m, before) for m in ("2026-03", "2026-04", "2026-05")]
        revenue_rows += [(sub, m, after) for m in ("2026-07", "2026-08", "2026-09")]
        revenue_rows.append((sub, "2026-06", 999.0))  # the contact month itself is left out
    revenue = spark.createDataFrame(revenue_rows, "subscriber_id string, month string, revenue double")
    segments = spark.createDataFrame([("a", "2026-06", "heavy data"), ("b", "2026-06", "heavy data")],
                                     "subscriber_id string, month string, segment_name string")
    got = campaigns.campaign_results(contacts, revenue, segments, base_settings)
    cols = ["segment_name", "contacts_treatment", "contacts_control", "responses_treatment",
            "responses_control", "revenue_change_treatment", "revenue_change_control", "incremental_revenue",
            "cost"]
    expected = spark.createDataFrame([
        ("(all)", 3, 2, 2, 1, 3.0, 0.0, 27.0, 6.0),        # (3 - 0) x 3 treated x 3 months; 2 takers x 3.0
        ("heavy data", 2, 0, 1, 0, 3.0, None, None, 3.0),
        ("(not scored)", 1, 2, 1, 1, 3.0, 0.0, 9.0, 3.0),
    ], "segment_name string, contacts_treatment long, contacts_control long, responses_treatment long, "
       "responses_control long, revenue_change_treatment double, revenue_change_control double, "
       "incremental_revenue double, cost double")
    assert_df_equality(got.select(*cols), expected, ignore_row_order=True, ignore_nullable=True)
    overall = got.where(F.col("segment_name") == "(all)").first()
    assert overall["lift"] == pytest.approx(2 / 3 - 1 / 2)


def test_kpis_rate_each_month_over_its_own_subscribers_and_leave_out_rates_without_any(spark):
    from sparkvalue.closedloop import kpis

    features = spark.createDataFrame([
        # subscriber, month, status, payment, tenure, top-ups, services, bundles, MOU
        ("a", "2026-05", "active", "prepaid", 3, 1, 1, 0, 100.0),
        ("b", "2026-05", "active", "postpaid", 9, 0, 0, 0, 50.0),
        ("c", "2026-05", "active", "prepaid", 2, 0, 0, 0, 80.0),
        ("e", "2026-05", "cancelled", "postpaid", 20, 0, 0, 0, 0.0),
        ("a", "2026-06", "active", "prepaid", 4, 1, 1, 1, 50.0),
        ("b", "2026-06", "cancelled", "postpaid", 10, 0, 0, 0, 0.0),
        ("c", "2026-06", "active", "prepaid", 3, 0, 0, 0, 90.0),
        ("d", "2026-06", "active", "prepaid", 1, 2, 2, 2, 10.0),  # new: no month before
        ("e", "2026-06", "cancelled", "postpaid", 21, 0, 0, 0, 0.0),  # gone before the month
    ], "subscriber_id string, month string, status string, payment_type string, tenure_months int, "
       "topup_count int, services_held int, bundles_active int, mou double")
    warnings = spark.createDataFrame([
        ("a", "2026-05", True, True, False, False, False),    # low usage, downgrade
        ("b", "2026-05", False, False, True, False, False),   # churn (balance), then cancelled
    ], "subscriber_id string, month string, w02_low_usage boolean, w04_downgrade boolean, "
       "w06_churn_balance boolean, w06_churn_rejoiner boolean, w06_churn_offnet_circle boolean")
    snapshot = spark.createDataFrame([("a", 70.0), ("b", 130.0), ("c", 65.0), ("d", 10.0)],
                                     "subscriber_id string, revenue_3m_avg double")
    contacts = spark.createDataFrame([
        ("treatment", "2026-06-02", "2026-06-09"), ("treatment", "2026-06-03", None),
        ("control", "2026-06-02", "2026-06-05"), ("treatment", "2026-05-20", "2026-05-21"),
    ], "arm string, contact_date string, response_date string") \
        .withColumn("contact_date", F.to_date("contact_date"))

    got = kpis.kpis(features, warnings, snapshot, contacts, ["2026-06"])

    # bundle_rate_churn_warned has no row: its only subscriber (b) is not active any more
    expected = spark.createDataFrame([
        ("2026-06", "second_topup_rate_3_5m", 0.5, 1.0, 2.0),  # a topped up, c did not
        ("2026-06", "vas_penetration", 2 / 3, 2.0, 3.0),       # a, d of the active a, c, d
        ("2026-06", "bundle_rate", 2 / 3, 2.0, 3.0),
        ("2026-06", "bundle_rate_downgrade_warned", 1.0, 1.0, 1.0),
        ("2026-06", "churn_rate", 1 / 3, 1.0, 3.0),            # b of a, b, c active in May
        ("2026-06", "low_usage_mou_change", -0.5, 50.0, 100.0),
        ("2026-06", "snapshot_retention_60_120", 1.0, 2.0, 2.0),
        ("2026-06", "snapshot_retention_120_plus", 0.0, 0.0, 1.0),
        ("2026-06", "offer_response_rate", 0.5, 1.0, 2.0),
    ], "month string, kpi string, value double, numerator double, denominator double")
    assert_df_equality(got.drop("description"), expected, ignore_row_order=True, ignore_nullable=True)
    assert got.where(F.col("description").isNull()).count() == 0
