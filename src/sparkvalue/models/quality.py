"""How good the champion models are on generated data, judged against the generator's truth.

Only generated data has a truth: the churn probability the generator used for every
subscriber and month (`<truth>/subscriber_month`). On the stickiness model's held-out
months it gives the best AUC any model could reach (the "oracle"); the champion's AUC
is read from the scored gold table on the same rows. For the anomaly flag, every
subscriber who left after the model's training months is looked up 1, 2 and 3 months
before leaving: was the flag up?

Everything is aggregated in Spark; only per-score levels and counts reach the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from sparkvalue.config import Settings
from sparkvalue.features.months import add_months, month_start, shift_month
from sparkvalue.lakehouse import tables as lh
from sparkvalue.models import tracking
from sparkvalue.models.indicators import outcome_labels
from sparkvalue.models.metrics import BinaryMetrics, binary_metrics, binary_metrics_from_levels, score_levels
from sparkvalue.privacy import load_key, pseudonymise

LEADS = (1, 2, 3)


@dataclass(frozen=True)
class StickinessQuality:
    holdout: tuple[str, ...]
    oracle: BinaryMetrics
    model: BinaryMetrics
    model_version: int

    @property
    def gap(self) -> float:
        return self.oracle.auc - self.model.auc


@dataclass(frozen=True)
class AnomalyQuality:
    churn_months: tuple[str, ...]
    churners: int
    caught: int  # flagged in at least one of the 3 months before leaving
    by_lead: dict[int, tuple[int, int]]  # months before leaving -> (flagged, churners with a row)
    false_alarm_rate: float  # share of subscriber-months flagged among those who stay 3+ months
    model_version: int

    @property
    def catch_rate(self) -> float:
        return self.caught / self.churners if self.churners else 0.0


def _run_params(client, name: str) -> tuple[int, dict[str, str]]:
    champion = tracking.require_champion(client, name)
    return champion.version, client.get_run(champion.run_id).data.params


def stickiness_quality(spark: SparkSession, settings: Settings) -> StickinessQuality:
    """Oracle and champion AUC / lift on the champion's held-out months."""
    client = tracking.configure(settings)
    version, params = _run_params(client, tracking.model_name(settings, "stickiness"))
    holdout = tuple(params["holdout_months"].split(","))
    horizon = int(params["horizon_months"])
    lakehouse = settings.path("lakehouse")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    labels = outcome_labels(subscriber, list(holdout), horizon)

    # P(leave within h) = 1 - prod over the h months of (1 - next-month churn probability)
    key = load_key(settings)
    truth = (_truth(spark, settings, "subscriber_month")
             .select(pseudonymise("subscriber_id", key=key).alias("subscriber_id"),
                     F.col("month").cast("string").alias("truth_month"), "churn_prob_next_month"))
    oracle = (labels.join(truth, "subscriber_id")
              .where((F.col("truth_month") >= F.col("month"))
                     & (F.col("truth_month") < shift_month(F.col("month"), horizon)))
              .groupBy("subscriber_id", "month", "left")
              .agg(F.exp(F.sum(F.log1p(-F.least(F.col("churn_prob_next_month"), F.lit(0.999999)))))
                   .alias("p_stay")))
    oracle_metrics = binary_metrics_from_levels(
        score_levels(oracle.select((1.0 - F.col("p_stay")).alias("risk"), "left"),
                     score="risk", label="left", decimals=4))

    gold = (lh.read_table(spark, lakehouse, "gold.stickiness")
            .where(F.col("month").isin(list(holdout)))
            .select("subscriber_id", "month", (100.0 - F.col("stickiness_score")).alias("risk")))
    model_metrics = binary_metrics(labels.join(gold, ["subscriber_id", "month"]), score="risk", label="left")
    return StickinessQuality(holdout, oracle_metrics, model_metrics, version)


def _truth(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    path = f"{settings.path('truth')}/{table}"
    try:
        return spark.read.parquet(path)
    except AnalysisException:
        raise FileNotFoundError(f"no generator truth at {path} (paths.truth): model quality can only "
                                "be judged on data made by `sparkvalue generate`") from None


def anomaly_quality(spark: SparkSession, settings: Settings) -> AnomalyQuality:
    """Catch rate of the anomaly flag on churners whose last 3 months are after training."""
    client = tracking.configure(settings)
    version, params = _run_params(client, tracking.model_name(settings, "anomaly"))
    last_train = max(params["train_months"].split(","))
    lakehouse = settings.path("lakehouse")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    flags = lh.read_table(spark, lakehouse, "gold.anomaly").select("subscriber_id", "month", "is_anomalous")
    scored_months = sorted(r[0] for r in flags.select("month").distinct().collect())
    first, last = add_months(last_train, max(LEADS) + 1), scored_months[-1]

    left = (subscriber.where(F.col("status") == "cancelled")
            .groupBy("subscriber_id").agg(F.min("month").alias("churn_month"))
            .where((F.col("churn_month") >= first) & (F.col("churn_month") <= last)))
    leads = left.crossJoin(spark.createDataFrame([(k,) for k in LEADS], "lead int")) \
        .withColumn("month", F.date_format(F.add_months(month_start(F.col("churn_month")), -F.col("lead")),
                                                      "yyyy-MM"))
    looked_up = leads.join(flags, ["subscriber_id", "month"], "left")
    per_churner = looked_up.groupBy("subscriber_id", "churn_month").agg(
        F.max(F.coalesce(F.col("is_anomalous").cast("int"), F.lit(0))).alias("caught"))
    totals = per_churner.agg(F.count("*").alias("churners"), F.sum("caught").alias("caught")).first()
    by_lead = {int(r["lead"]): (int(r["flagged"] or 0), int(r["rows"])) for r in (
        looked_up.where(F.col("is_anomalous").isNotNull()).groupBy("lead")
        .agg(F.sum(F.col("is_anomalous").cast("int")).alias("flagged"), F.count("*").alias("rows"))
        .collect())}
    churn_months = tuple(sorted(r[0] for r in left.select("churn_month").distinct().collect()))

    stayers = _stayers(flags, left, last_train, last)
    alarms = stayers.agg(F.avg(F.col("is_anomalous").cast("double"))).first()[0] or 0.0
    return AnomalyQuality(churn_months, int(totals["churners"]), int(totals["caught"] or 0), by_lead,
                          float(alarms), version)


def _stayers(flags: DataFrame, left: DataFrame, last_train: str, last: str) -> DataFrame:
    """Scored subscriber-months after training whose subscriber is still there 3 months later."""
    window_end = shift_month(F.col("month"), max(LEADS))
    return (flags.where((F.col("month") > last_train) & (window_end <= F.lit(last)))
            .join(left, "subscriber_id", "left")
            .where(F.col("churn_month").isNull() | (F.col("churn_month") > window_end)))


def adjusted_rand_index(counts: dict[tuple[object, object], int]) -> float:
    """Hubert-Arabie adjusted Rand index from a contingency table {(a, b): count}."""
    def pairs(n: float) -> float:
        return n * (n - 1) / 2.0

    rows: dict[object, int] = {}
    cols: dict[object, int] = {}
    for (a, b), n in counts.items():
        rows[a] = rows.get(a, 0) + n
        cols[b] = cols.get(b, 0) + n
    total = sum(counts.values())
    index = sum(pairs(n) for n in counts.values())
    row_pairs, col_pairs = sum(map(pairs, rows.values())), sum(map(pairs, cols.values()))
    expected = row_pairs * col_pairs / pairs(total) if total > 1 else 0.0
    best = (row_pairs + col_pairs) / 2.0
    return 1.0 if best == expected else (index - expected) / (best - expected)


@dataclass(frozen=True)
class SegmentQuality:
    month: str
    model_version: int
    ari: float
    segments: list[tuple[int, str, int, str, float]]  # segment, name, size, main archetype, its share


def segment_quality(spark: SparkSession, settings: Settings) -> SegmentQuality:
    """Adjusted Rand index of the latest month's segments against the planted archetypes."""
    lakehouse = settings.path("lakehouse")
    segments = lh.read_table(spark, lakehouse, "gold.segments")
    month = segments.agg(F.max("month")).first()[0]
    key = load_key(settings)
    truth = _truth(spark, settings, "subscribers").select(
        pseudonymise("subscriber_id", key=key).alias("subscriber_id"), "archetype")
    rows = (segments.where(F.col("month") == month).join(truth, "subscriber_id")
            .groupBy("segment", "segment_name", "model_version", "archetype").count().collect())
    counts = {(r["segment"], r["archetype"]): r["count"] for r in rows}
    summary = []
    for seg_id in sorted({r["segment"] for r in rows}):
        mine = [r for r in rows if r["segment"] == seg_id]
        size = sum(r["count"] for r in mine)
        top = max(mine, key=lambda r: r["count"])
        summary.append((seg_id, top["segment_name"], size, top["archetype"], top["count"] / size))
    return SegmentQuality(month, int(rows[0]["model_version"]), adjusted_rand_index(counts), summary)


@dataclass(frozen=True)
class PropensityQuality:
    model: str
    holdout: tuple[str, ...]
    model_metrics: BinaryMetrics
    truth: BinaryMetrics
    model_version: int

    @property
    def lift_ratio(self) -> float:
        return self.model_metrics.top_decile_lift / self.truth.top_decile_lift


def propensity_quality(spark: SparkSession, settings: Settings) -> list[PropensityQuality]:
    """Each propensity champion's held-out AUC and lift next to the truth's own propensities'
    on the same rows (the model's population in its held-out months)."""
    from sparkvalue.models.training import model_spec

    client = tracking.configure(settings)
    lakehouse = settings.path("lakehouse")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    scored = lh.read_table(spark, lakehouse, "gold.propensity")
    key = load_key(settings)
    truth = _truth(spark, settings, "service_propensity").select(
        pseudonymise("subscriber_id", key=key).alias("subscriber_id"), "service", "monthly_propensity",
        "drop_months", "drop_response")
    out = []
    for name, cfg in settings.propensity.models.items():
        kind = f"propensity-{name}"
        version, params = _run_params(client, tracking.model_name(settings, kind))
        holdout = tuple(params["holdout_months"].split(","))
        spec = model_spec(settings, kind)
        labels = spec.outcome(subscriber, list(holdout), label="took")
        rows = (scored.where((F.col("model") == name) & F.col("month").isin(list(holdout))
                             & (F.col("model_version") == version))
                .select("subscriber_id", "month", "probability").join(labels, ["subscriber_id", "month"])
                .join(truth.where(F.col("service") == cfg.service), "subscriber_id")
                .withColumn("true_propensity", F.when(
                    F.array_contains("drop_months", F.col("month")),
                    1 - (1 - F.col("monthly_propensity")) * (1 - F.col("drop_response")))
                    .otherwise(F.col("monthly_propensity")))
                .persist())
        if rows.isEmpty():
            raise ValueError(f"gold.propensity holds no rows of {name} v{version} for its held-out months "
                             f"{', '.join(holdout)}: run `sparkvalue score` for them")
        model_metrics = binary_metrics_from_levels(
            score_levels(rows, score="probability", label="took", decimals=4))
        truth_metrics = binary_metrics_from_levels(
            score_levels(rows, score="true_propensity", label="took", decimals=5))
        rows.unpersist()
        out.append(PropensityQuality(name, holdout, model_metrics, truth_metrics, version))
    return out


@dataclass(frozen=True)
class CampaignQuality:
    offer_code: str
    contacts_treatment: int
    contacts_control: int
    lift: float
    lift_low: float
    lift_high: float
    planted: float  # mean true effect of contact over the treated subscribers

    @property
    def recovered(self) -> bool:
        return self.lift_low <= self.planted <= self.lift_high


def campaign_quality(spark: SparkSession, settings: Settings) -> list[CampaignQuality]:
    """Per offer over all contact months: the measured lift (gold.campaign_results, the (all)
    rows pooled) with its 95 % interval against the effect the generator planted."""
    from sparkvalue.closedloop.campaigns import pooled_by_offer

    lakehouse = settings.path("lakehouse")
    try:
        results = lh.read_table(spark, lakehouse, "gold.campaign_results")
    except AnalysisException:
        raise FileNotFoundError("no gold.campaign_results: run `sparkvalue evaluate` first") from None
    pooled = pooled_by_offer(results).collect()  # one row per offer
    key = load_key(settings)
    archetypes = _truth(spark, settings, "subscribers").select(
        pseudonymise("subscriber_id", key=key).alias("subscriber_id"), "archetype")
    effects = _truth(spark, settings, "campaign_effects")
    months = [r[0] for r in results.select("month").distinct().collect()]
    treated = (lh.read_table(spark, lakehouse, "bronze.contact_history")
               .where((F.col("arm") == "treatment")
                      & F.date_format("contact_date", "yyyy-MM").isin(months))
               .join(archetypes, "subscriber_id").join(effects, ["offer_code", "archetype"]))
    planted = {r[0]: r[1] for r in treated.groupBy("offer_code").agg(F.avg("true_effect")).collect()}
    return [CampaignQuality(r["offer_code"], r["contacts_treatment"], r["contacts_control"], r["lift"],
                            r["lift_low"], r["lift_high"], planted.get(r["offer_code"], float("nan")))
            for r in pooled]
