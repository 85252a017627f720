"""One-to-one recommendations: global exclusions, the offer catalog's rules, ranking.

Every subscriber-month is one row of the *offer frame*: silver features, graph features,
warning flags, the marketing matrix, CLV, each propensity model's probability
(`p_<model>`), the days since the last contact and the closed loop's tags (preferred
channel, offers accepted, promotion sensitivity). The catalog's expressions are Spark
SQL over exactly these columns (`frame_columns`), so `check_catalog` can reject an unknown
column or a syntax error before any data is read.

For each subscriber, in one pass and without a shuffle:
1. the global exclusions that hold (any one: no offer at all);
2. the offers whose eligibility holds and none of whose exclusions do;
3. score = propensity x CLV x strategy weight(slot) - cost;
4. a greedy pick in score order (then the offer's channel preference): an offer joins the
   list unless one of its family is there already, its slot holds `offers_per_slot`, or the
   channel has reached the subscriber's limit — the first of its channels with room wins.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, NumericType

from sparkvalue.config import ConfigError, Settings

_MATRIX = ("value_tier", "value_score", "stickiness_tier", "stickiness_score", "is_anomalous",
           "anomaly_score", "segment", "segment_name", "segment_group", "top_service_model",
           "top_service_probability", "matrix_rule", "strategy")
_TAGS = ("preferred_channel", "offers_accepted", "contacts_treated", "responses", "promotion_sensitivity")
_VALUE = (("clv", "double", "customer lifetime value (yuan, gold.value)"),
          ("monthly_margin", "double", "3-month average revenue x return rate (gold.value)"),
          ("in_snapshot", "boolean", "member of the snapshot cohort (gold.value)"))


def frame_columns(settings: Settings) -> list[tuple[str, str, str]]:
    """The offer frame's columns (name, type, meaning) that the catalog's expressions may use."""
    from sparkvalue.features.columns import GRAPH_FEATURES, SUBSCRIBER_FEATURES
    from sparkvalue.features.warnings import describe_rules
    from sparkvalue.models.columns import MARKETING_MATRIX, SUBSCRIBER_TAGS

    matrix = {c: (c, t, d) for c, t, d in MARKETING_MATRIX}
    return [
        *SUBSCRIBER_FEATURES,
        *GRAPH_FEATURES[2:],
        *[(code.lower(), "boolean", text) for code, text in describe_rules(settings.warnings).items()],
        ("warning_count", "int", "playbook warnings that fired (silver.warnings)"),
        *[matrix[c] for c in _MATRIX],
        *_VALUE,
        *[(f"p_{name}", "double", f"probability of the {name} propensity model (null: not in its population)")
          for name in settings.propensity.models],
        ("days_since_contact", "int", "days from the last contact (treatment) to the month's end; "
                                      "null: never contacted"),
        *[(c, t, d) for c, t, d in SUBSCRIBER_TAGS if c in _TAGS],
    ]


def _ddl(columns: list[tuple[str, str, str]]) -> str:
    return ", ".join(f"`{name}` {dtype}" for name, dtype, _ in columns)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def check_catalog(spark: SparkSession, settings: Settings) -> None:
    """Parse and resolve every exclusion and offer expression against the offer frame's
    columns; raise ConfigError naming the offer code (or exclusion), the place and the
    expression on an unknown column, a syntax error or a wrong type."""
    empty = spark.createDataFrame([], _ddl(frame_columns(settings)))
    checks = [(f"marketing.exclusions[{e.code}].when", e.when, BooleanType)
              for e in settings.marketing.exclusions]
    for offer in settings.marketing.offers:
        for place, expr in offer.expressions().items():
            kind = NumericType if place == "propensity" else BooleanType
            checks.append((f"marketing.offers[{offer.code}].{place}", expr, kind))
    for where, expr, kind in checks:
        try:
            dtype = empty.select(F.expr(expr).alias("x")).schema["x"].dataType
        except Exception as exc:  # ParseException, AnalysisException: both name the problem
            raise ConfigError(f"{where}: {expr!r}: {_first_line(exc)}") from None
        if not isinstance(dtype, kind):
            want = "a number" if kind is NumericType else "true/false"
            raise ConfigError(f"{where}: {expr!r} gives {dtype.simpleString()}, not {want}")


def offer_frame(spark: SparkSession, settings: Settings, months: list[str],
                matrix: DataFrame) -> DataFrame:
    """One row per subscriber-month of `matrix` with every column of `frame_columns`."""
    from sparkvalue.closedloop.tags import contact_tags
    from sparkvalue.features.months import month_end
    from sparkvalue.lakehouse import tables as lh

    lakehouse = settings.path("lakehouse")
    key = ["subscriber_id", "month"]

    def table(name: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, name).where(F.col("month").isin(months))

    columns = frame_columns(settings)
    warnings = table("silver.warnings")
    graph = table("silver.graph_features")
    value = table("gold.value").select(*key, *[c for c, _, _ in _VALUE])
    models = list(settings.propensity.models)
    propensity = (table("gold.propensity").groupBy(*key).pivot("model", models)
                  .agg(F.first("probability")))
    propensity = propensity.select(*key, *[F.col(m).alias(f"p_{m}") for m in models])
    months_df = spark.createDataFrame([(m,) for m in months], "month string")
    history = lh.read_table(spark, lakehouse, "bronze.contact_history")
    contacts = (history.where(F.col("arm") == "treatment").select("subscriber_id", "contact_date")
                .join(F.broadcast(months_df), F.col("contact_date") <= month_end(F.col("month")))
                .groupBy(*key).agg(F.datediff(month_end(F.col("month")), F.max("contact_date"))
                                   .alias("days_since_contact")))
    tags = contact_tags(history.drop("month"), months_df).select(*key, *_TAGS)
    frame = (table("silver.subscriber_features")
             .join(matrix.select(*key, *_MATRIX), key)
             .join(graph, key, "left").join(warnings, key, "left").join(value, key, "left")
             .join(propensity, key, "left").join(contacts, key, "left").join(tags, key, "left"))
    frame = frame.fillna({"contacts_treated": 0, "responses": 0, "promotion_sensitivity": "unknown"})
    accepted = F.coalesce("offers_accepted", F.array().cast("array<string>"))
    return frame.withColumn("offers_accepted", accepted).select(*[F.col(c).cast(t) for c, t, _ in columns])


def _exclusions(settings: Settings) -> tuple[Column, Column]:
    rules = settings.marketing.exclusions
    holds = [(F.coalesce(F.expr(e.when), F.lit(False)), e) for e in rules]
    codes = F.filter(F.array(*[F.when(h, F.lit(e.code)) for h, e in holds]), lambda x: x.isNotNull()) \
        if rules else F.array().cast("array<string>")
    reasons = F.filter(F.array(*[F.when(h, F.lit(e.reason)) for h, e in holds]), lambda x: x.isNotNull()) \
        if rules else F.array().cast("array<string>")
    return codes, reasons


def _candidates(settings: Settings) -> Column:
    """Array of the row's eligible offers, each a struct with its score and static facts."""
    marketing = settings.marketing
    structs = []
    for offer in marketing.offers:
        weights = marketing.strategy_weights
        weight = F.try_element_at(F.create_map(*[x for s, w in weights.items()
                                             for x in (F.lit(s), F.lit(float(w[offer.slot])))]),
                              F.col("strategy"))
        p = F.greatest(F.least(F.coalesce(F.expr(offer.propensity).cast("double"), F.lit(0.0)),
                               F.lit(1.0)), F.lit(0.0))
        score = p * F.coalesce(F.col("clv"), F.lit(0.0)) * weight - F.lit(offer.cost)
        eligible = F.coalesce(F.expr(offer.eligibility), F.lit(False))
        for exclusion in offer.exclusions:
            eligible = eligible & ~F.coalesce(F.expr(exclusion), F.lit(False))
        decoded = offer.decoded()
        structs.append(F.when(eligible, F.struct(
            F.lit(offer.code).alias("offer_code"), F.lit(offer.name).alias("offer_name"),
            F.lit(offer.slot).alias("slot"), F.lit(offer.family).alias("family"),
            F.lit(decoded["type"]).alias("offer_type"), F.lit(decoded["method"]).alias("method"),
            F.lit(decoded["requirement"]).alias("requirement"), F.lit(decoded["gift"]).alias("gift"),
            F.lit(offer.cadence).alias("cadence"),
            F.array(*[F.lit(c) for c in offer.channels]).alias("channels"),
            F.lit(offer.eligibility).alias("rule"),
            p.alias("propensity"), weight.alias("strategy_weight"), F.lit(offer.cost).alias("cost"),
            score.alias("score"))))
    return F.filter(F.array(*structs), lambda x: x.isNotNull())


# the (offer, channel) pairs `_pick` ranks, in its struct's field order
_PAIRS = ("array<struct<neg_score: double, preference: int, offer_code: string, slot: string, "
          "family: string, channel: string>>")


def _pick(settings: Settings, candidates: Column) -> Column:
    """The greedy list: (offer, channel) pairs in score order, kept while the family, slot and
    channel limits allow."""
    marketing = settings.marketing
    limits = F.create_map(*[x for ch, lim in marketing.channel_limits.items()
                            for x in (F.lit(ch), F.lit(lim.per_subscriber))])
    pairs = F.flatten(F.transform(candidates, lambda c: F.transform(c["channels"], lambda ch, i: F.struct(
        (-c["score"]).alias("neg_score"), i.alias("preference"), c["offer_code"].alias("offer_code"),
        c["slot"].alias("slot"), c["family"].alias("family"), ch.alias("channel")))))
    pairs = F.array_sort(F.filter(pairs, lambda x: x["neg_score"] < 0))  # score > 0 only

    def room(acc: Column, x: Column) -> Column:
        return (~F.exists(acc, lambda a: (a["offer_code"] == x["offer_code"]) | (a["family"] == x["family"]))
                & (F.size(F.filter(acc, lambda a: a["slot"] == x["slot"])) < marketing.offers_per_slot)
                & (F.size(F.filter(acc, lambda a: a["channel"] == x["channel"]))
                   < F.coalesce(F.try_element_at(limits, x["channel"]), F.lit(0))))

    def take(acc: Column, x: Column) -> Column:
        return F.when(room(acc, x), F.concat(acc, F.array(x))).otherwise(acc)

    # from a typed empty list: as `filter(pairs, false)` the sorted pairs were computed twice a
    # row (the recommendations 20 % slower at 1M)
    return F.aggregate(pairs, F.array().cast(_PAIRS), take)


def _reason(c: Column, picked: Column, per_slot: int) -> Column:
    why = F.format_string("%s (matrix rule %d); eligible: %s; %.3f x CLV %.0f x weight %.2f - cost %.1f "
                          "= %.1f", F.col("strategy"), F.col("matrix_rule"), c["rule"], c["propensity"],
                          F.coalesce(F.col("clv"), F.lit(0.0)), c["strategy_weight"], c["cost"], c["score"])
    return (F.when(F.exists(picked, lambda a: a["offer_code"] == c["offer_code"]), why)
            .when(c["strategy_weight"] <= 0, F.format_string(
                "left off: strategy %s gives %s offers no weight", F.col("strategy"), c["slot"]))
            .when(c["score"] <= 0, F.concat(F.lit("left off: expected value below cost; "), why))
            .when(F.exists(picked, lambda a: a["family"] == c["family"]),
                  F.format_string("left off: an offer of family %s is already on the list", c["family"]))
            .when(F.size(F.filter(picked, lambda a: a["slot"] == c["slot"])) >= per_slot,
                  F.format_string("left off: %d %s offers with higher scores", F.lit(per_slot), c["slot"]))
            .otherwise(F.lit("left off: its channels reached the subscriber's contact limits")))


def recommend(frame: DataFrame, settings: Settings,
              scored_at: Column) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(recommendations, exclusions, staged) of the offer frame, with the gold contracts' columns.

    `staged` holds each row's exclusions and candidates, persisted because both outputs read
    it; unpersist it once they are written."""
    from sparkvalue.features.columns import names
    from sparkvalue.models import columns as gold

    per_slot = settings.marketing.offers_per_slot
    codes, reasons = _exclusions(settings)
    rows = frame.select("subscriber_id", "month", "strategy", "matrix_rule", "clv",
                        codes.alias("exclusion_codes"), reasons.alias("exclusion_reasons"),
                        _candidates(settings).alias("candidates")).persist(StorageLevel.MEMORY_AND_DISK)
    exclusions = (rows.where(F.size("exclusion_codes") > 0).withColumn("scored_at", scored_at)
                  .select(*names(gold.MARKETING_EXCLUSIONS)))
    kept = rows.where(F.size("exclusion_codes") == 0) \
        .withColumn("picked", _pick(settings, F.col("candidates")))
    order = F.transform("picked", lambda a: a["offer_code"])
    per_offer = F.transform("candidates", lambda c: F.struct(
        c.alias("c"),
        F.array_position(order, c["offer_code"]).cast("int").alias("position"),
        F.try_element_at(F.filter("picked", lambda a: a["offer_code"] == c["offer_code"]),
                         F.lit(1))["channel"]
        .alias("picked_channel"),
        _reason(c, F.col("picked"), per_slot).alias("reason")))
    exploded = kept.select("*", F.explode(per_offer).alias("o"))
    c, position = F.col("o.c"), F.col("o.position")
    recommended = position > 0
    slot_rank = F.size(F.filter(F.slice("picked", 1, F.greatest(position, F.lit(1))),
                                lambda a: a["slot"] == c["slot"]))
    recs = exploded.select(
        "subscriber_id", "month",
        *[c[f].alias(f) for f in ("offer_code", "offer_name", "slot", "family", "offer_type", "method",
                                  "requirement", "gift", "cadence")],
        F.coalesce(F.col("o.picked_channel"), F.try_element_at(c["channels"], F.lit(1))).alias("channel"),
        "strategy", c["propensity"].alias("propensity"), "clv", c["strategy_weight"].alias("strategy_weight"),
        c["cost"].alias("cost"), c["score"].alias("score"), recommended.alias("recommended"),
        F.when(recommended, position).alias("rank"), F.when(recommended, slot_rank).alias("slot_rank"),
        F.col("o.reason").alias("reason"), scored_at.alias("scored_at"))
    return recs.select(*names(gold.RECOMMENDATIONS)), exclusions, rows
