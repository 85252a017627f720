"""Campaign results (MISSION.md item 13): treatment against control from contact history.

One row per contact month x campaign x offer x usage segment x channel, plus a row per
campaign x offer x channel over all segments (`segment_name` = "(all)"): contacts and
responses of both arms, response rates, the absolute lift with a 95 % interval, the
relative lift and the z-test's p-value; the mean revenue change from the 3 months before
the contact month to the 3 months after, for treatment and control, and from it the
incremental revenue (difference x treated contacts x 3 months), the cost (responders x
the catalog's cost) and the return. Control rows only ever count as control.

`uplift_by_decile` asks whether targeting pays: the same lift per decile of the
propensity model behind the offer (the `p_<model>` its propensity expression uses).
"""

from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.closedloop.stats import lift_columns
from sparkvalue.config import Settings
from sparkvalue.features.months import shift_month

ALL = "(all)"
WINDOW = 3  # months of revenue before and after the contact month


def _offer_costs(settings: Settings) -> Column:
    pairs = [x for o in settings.marketing.offers for x in (F.lit(o.code), F.lit(o.cost))]
    return F.try_element_at(F.create_map(*pairs), F.col("offer_code"))


def offer_models(settings: Settings) -> dict[str, str]:
    """Offer code -> the propensity model its propensity expression reads (first p_<model>)."""
    models = set(settings.propensity.models)
    out = {}
    for offer in settings.marketing.offers:
        names = [m for m in re.findall(r"\bp_(\w+)", offer.propensity) if m in models]
        if names:
            out[offer.code] = names[0]
    return out


def contacts_with_revenue(contacts: DataFrame, revenue: DataFrame) -> DataFrame:
    """Contacts (with `month` = contact month) plus `revenue_before` and `revenue_after`: the
    subscriber's mean revenue over the `WINDOW` (3) months before and after the contact month."""
    offsets = F.explode(F.array(*[F.lit(i) for i in range(-WINDOW, WINDOW + 1) if i])).alias("offset")
    windows = contacts.select("contact_id", "subscriber_id", "month", offsets) \
        .withColumn("revenue_month", shift_month(F.col("month"), F.col("offset")))
    joined = windows.join(revenue.select("subscriber_id", F.col("month").alias("revenue_month"), "revenue"),
                          ["subscriber_id", "revenue_month"], "left")
    means = joined.groupBy("contact_id").agg(
        F.avg(F.when(F.col("offset") < 0, F.col("revenue"))).alias("revenue_before"),
        F.avg(F.when(F.col("offset") > 0, F.col("revenue"))).alias("revenue_after"))
    return contacts.join(means, "contact_id", "left")


def _summarise(rows: DataFrame, by: list[str], *extra: Column) -> DataFrame:
    """Contacts and responses per arm, with the lift statistics, grouped by `by`."""
    treat = F.col("arm") == "treatment"
    ctrl = F.col("arm") == "control"
    took = F.col("response_date").isNotNull()
    agg = rows.groupBy(*by).agg(
        F.count(F.when(treat, 1)).alias("contacts_treatment"),
        F.count(F.when(ctrl, 1)).alias("contacts_control"),
        F.count(F.when(treat & took, 1)).alias("responses_treatment"),
        F.count(F.when(ctrl & took, 1)).alias("responses_control"),
        *extra)
    stats = lift_columns(F.col("contacts_treatment"), F.col("responses_treatment"),
                         F.col("contacts_control"), F.col("responses_control"))
    return agg.select("*", *[v.alias(k) for k, v in stats.items()])


def _revenue_change(arm: str) -> Column:
    change = F.col("revenue_after") - F.col("revenue_before")
    return F.avg(F.when(F.col("arm") == arm, change)).alias(f"revenue_change_{arm}")


def campaign_results(contacts: DataFrame, revenue: DataFrame, segments: DataFrame,
                     settings: Settings) -> DataFrame:
    """gold.campaign_results of the contacts given (their `month` is the contact month)."""
    rows = (contacts_with_revenue(contacts, revenue)
            .join(segments.select("subscriber_id", "month", "segment_name"), ["subscriber_id", "month"],
                  "left")
            .withColumn("segment_name", F.coalesce(F.col("segment_name"), F.lit("(not scored)")))
            .withColumn("unit_cost", _offer_costs(settings)))
    by = ["month", "campaign_id", "offer_code", "channel"]
    extra = (_revenue_change("treatment"), _revenue_change("control"),
             F.first("unit_cost").alias("unit_cost"))
    out = _summarise(rows, [*by, "segment_name"], *extra).unionByName(
        _summarise(rows, by, *extra).withColumn("segment_name", F.lit(ALL)))
    incremental = (F.col("revenue_change_treatment") - F.col("revenue_change_control")) \
        * F.col("contacts_treatment") * WINDOW
    cost = F.col("responses_treatment") * F.col("unit_cost")
    return out.select("*", incremental.alias("incremental_revenue"), cost.alias("cost"),
                      F.try_divide(incremental, cost).alias("return_on_cost"),
                      (F.col("p_value") < 0.05).alias("significant"))


def uplift_by_decile(contacts: DataFrame, propensity: DataFrame, settings: Settings) -> DataFrame | None:
    """Lift per decile of the offer's propensity model in the contact month (offers with one)."""
    models = offer_models(settings)
    if not models:
        return None
    pairs = [x for code, model in models.items() for x in (F.lit(code), F.lit(model))]
    rows = (contacts.withColumn("model", F.try_element_at(F.create_map(*pairs), F.col("offer_code")))
            .where(F.col("model").isNotNull())
            .join(propensity.select("subscriber_id", "month", "model", "decile"),
                  ["subscriber_id", "month", "model"]))
    return _summarise(rows, ["month", "campaign_id", "offer_code", "model", "decile"])


def pooled_by_offer(results: DataFrame) -> DataFrame:
    """gold.campaign_results' (all) rows summed per offer over every contact month, with the lift
    statistics of the pooled counts, the incremental revenue and the cost (a few rows)."""
    sums = ("contacts_treatment", "contacts_control", "responses_treatment", "responses_control",
            "incremental_revenue", "cost")
    pooled = results.where(F.col("segment_name") == ALL).groupBy("offer_code").agg(
        *[F.sum(c).alias(c) for c in sums])
    stats = lift_columns(F.col("contacts_treatment"), F.col("responses_treatment"),
                         F.col("contacts_control"), F.col("responses_control"))
    return pooled.select("*", *[v.alias(k) for k, v in stats.items()]).orderBy("offer_code")
