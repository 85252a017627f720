"""A tree model's life in MLflow: train, evaluate on held-out months, register, gate, load.

Every training run logs parameters, held-out metrics and artifacts (rules, leaf
table, feature importances, lift chart, indicators) and registers a new version.
The `champion` alias moves to it only when its held-out AUC is at least the
current champion's AUC on the same held-out rows minus `models.champion_tolerance`.
Scoring only ever loads `models:/<name>@champion` plus that version's leaf table.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.spark
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.storagelevel import StorageLevel

from sparkvalue.config import Settings
from sparkvalue.models import tracking
from sparkvalue.models.metrics import (
    BinaryMetrics,
    binary_metrics_from_levels,
    confusion_at,
    lift_chart,
    score_levels,
)
from sparkvalue.models.training import (
    LABEL,
    SCORE,
    ModelSpec,
    MonthSplit,
    apply_leaves,
    build_pipeline,
    build_scorer,
    checked_counts,
    class_weights,
    labelled_rows,
    leaf_table,
    model_split,
    negative_share,
    training_sample,
    with_score,
    with_weights,
)
from sparkvalue.models.trees import feature_importances

log = logging.getLogger("sparkvalue")
LEAVES_ARTIFACT = "rules/leaves.json"
# A fit runs a Spark job per tree level, optimiser step or k-means iteration over a sample of a
# few hundred thousand rows: one task per 100,000 rows, not one per shuffle partition, or the
# tasks' start-up is most of the fit
FIT_ROWS_PER_PARTITION = 100_000
RULES_MODEL = "rules_model"  # the tree of a model whose registered pipeline is a logistic scorer


@dataclass(frozen=True)
class TrainResult:
    kind: str
    name: str
    version: int
    run_id: str
    split: MonthSplit
    metrics: BinaryMetrics
    extra: dict[str, float]
    champion_auc: float | None
    promoted: bool
    leaves: list[dict]


def train_tree(spark: SparkSession, settings: Settings, spec: ModelSpec, frame: DataFrame,
               counts: dict[float, int], months: list[str], *, max_depth: int | None = None) -> TrainResult:
    """Train, evaluate, log, register and (if at least as good) promote one tree model.
    `frame`: the model frame of `months` (`indicators.model_frame`) with the model's label
    (`training.with_labels`), held in memory, at least the rows the model reads: the sample's
    draw and the held-out rows are filters of it. `counts`: the model's training rows per class
    (of all rows, `pipeline.training_frame`)."""
    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec.kind)
    split = model_split(settings, spec, months)
    holdout = labelled_rows(frame, spec, split.holdout).persist(StorageLevel.MEMORY_AND_DISK)
    sample = None
    try:
        counts = checked_counts(counts, spec)
        share = negative_share(counts, settings.models.fit_sample)
        tasks = max(1, math.ceil((counts[1.0] + share * counts[0.0]) / FIT_ROWS_PER_PARTITION))
        sample = training_sample(labelled_rows(frame, spec, split.train), share, settings.models.seed) \
            .repartition(tasks).persist(StorageLevel.MEMORY_AND_DISK)
        kept = sample.count()
        if share < 1.0:
            log.info("%s: %d training rows, %d %s; learns from all of these and %.2f%% of the others "
                     "(%d rows)", spec.kind, sum(counts.values()), counts[1.0], spec.positive, 100 * share,
                     kept)
        weights = class_weights(counts)
        weighted = with_weights(sample, weights)
        model = build_pipeline(spec, settings, max_depth=max_depth).fit(weighted)
        leaves = leaf_table(model, spec, weighted, weights)
        scorer = build_scorer(spec, settings).fit(sample) if spec.scorer == "logistic" else None
        fitted = Fitted(model, leaves, scorer)
        metrics, extra = evaluate(spark, settings, spec, fitted, holdout)
        current = tracking.champion(client, name)
        champion_auc = None
        if current is not None:
            _, champion = load_champion(client, name)
            champion_auc = evaluate(spark, settings, spec, champion, holdout)[0].auc
    finally:
        for cached in (sample, holdout):
            if cached is not None:
                cached.unpersist()

    # the experiment is named per run, not set: models train in threads (pipeline.train), and
    # MLflow's active experiment is one per process while its active run is one per thread
    with mlflow.start_run(experiment_id=tracking.experiment(settings, spec.kind),
                          run_name=f"{spec.kind}-{split.holdout[-1]}") as run:
        stage = model.stages[-1]
        mlflow.log_params({
            "kind": spec.kind, "horizon_months": spec.horizon, "population": spec.population or "all",
            "train_months": ",".join(split.train), "holdout_months": ",".join(split.holdout),
            "max_depth": stage.getMaxDepth(), "min_instances_per_node": stage.getMinInstancesPerNode(),
            "max_bins": stage.getMaxBins(), "seed": stage.getSeed(), "impurity": stage.getImpurity(),
            "class_weight_positive": round(weights[1.0], 6), "class_weight_negative": round(weights[0.0], 6),
            "training_rows": sum(counts.values()), "negative_sample_share": round(share, 6),
            "indicators": len(spec.indicators), "leaves": len(leaves), "scorer": spec.scorer,
        })
        mlflow.log_metrics({**metrics.as_mlflow_metrics("heldout_"), **extra,
                            **({"champion_heldout_auc": champion_auc} if champion_auc is not None else {})})
        _log_artifacts(spec, model, leaves, metrics)
        if scorer is not None:  # the registered model scores; the tree beside it explains
            tracking.log_spark_model(model, RULES_MODEL)
        info = tracking.log_spark_model(scorer or model, "model", name)
        version = int(info.registered_model_version)
    client.set_model_version_tag(name, str(version), "holdout_months", ",".join(split.holdout))
    promoted = _gate(client, name, version, "heldout_auc", metrics.auc, champion_auc,
                     settings.models.champion_tolerance)
    return TrainResult(spec.kind, name, version, run.info.run_id, split, metrics, extra,
                       champion_auc, promoted, leaves)


def _gate(client, name: str, version: int, metric: str, score: float, champion_score: float | None,
          tolerance: float) -> bool:
    """Tag the version with its score; move `champion` to it when at least the champion's score
    (on the same rows) minus the tolerance, or when there is no champion yet."""
    promoted = champion_score is None or score >= champion_score - tolerance
    client.set_model_version_tag(name, str(version), metric, f"{score:.6f}")
    if promoted:
        client.set_registered_model_alias(name, tracking.CHAMPION, str(version))
    log.info("%s v%d: %s %.4f (champion %s) -> %s", name, version, metric, score,
             "none" if champion_score is None else f"{champion_score:.4f}",
             "champion" if promoted else "not promoted")
    return promoted


@dataclass(frozen=True)
class Fitted:
    """A trained tree with its leaf table, and the logistic scorer when the model has one."""

    tree: PipelineModel
    leaves: list[dict]
    scorer: PipelineModel | None = None

    def score(self, spark: SparkSession, frame: DataFrame) -> DataFrame:
        """`frame` plus leaf, rule path, raising indicators, leaf shares and SCORE."""
        return with_score(apply_leaves(spark, self.tree, self.leaves, frame), self.scorer)


def evaluate(spark: SparkSession, settings: Settings, spec: ModelSpec, fitted: Fitted,
             holdout: DataFrame) -> tuple[BinaryMetrics, dict[str, float]]:
    """Held-out metrics of the model's score, and the confusion at the business thresholds.

    A tree has a few dozen distinct scores; a logistic score is rounded to 4 decimals so that
    at most 10,001 score levels reach the driver whatever the number of subscribers."""
    scored = fitted.score(spark, holdout)
    levels = score_levels(scored, score=SCORE, label=LABEL, decimals=6 if fitted.scorer is None else 4)
    metrics = binary_metrics_from_levels(levels)
    extra: dict[str, float] = {}
    if spec.kind == "stickiness":
        # predicted to leave = below a tier threshold of P(stay) x 100
        for tier, threshold in (("high", settings.stickiness.tiers.high),
                                ("mid", settings.stickiness.tiers.mid)):
            cm = confusion_at(levels, 1.0 - threshold / 100.0, positive_when="above")
            extra.update({f"below_{tier}_{k}": float(v) for k, v in cm.items()})
    elif spec.kind == "anomaly":
        cm = confusion_at(levels, settings.anomaly.flag_threshold / 100.0, positive_when="above")
        extra.update({f"flag_{k}": float(v) for k, v in cm.items()})
        extra["flag_recall"] = cm["tp"] / max(cm["tp"] + cm["fn"], 1)
        extra["flag_share"] = (cm["tp"] + cm["fp"]) / max(sum(cm.values()), 1)
    return metrics, extra


def _log_artifacts(spec: ModelSpec, model: PipelineModel, leaves: list[dict],
                   metrics: BinaryMetrics) -> None:
    tracking.log_json(leaves, LEAVES_ARTIFACT)
    tracking.log_json({"base_rate": metrics.base_rate, "rows": metrics.rows, "positives": metrics.positives,
                       "deciles": metrics.deciles}, "lift_table.json")
    tracking.log_json(feature_importances(model, spec.indicators), "feature_importances.json")
    tracking.log_json([{"name": i.name, "label": i.label, "kind": i.kind, "fill": i.fill}
                       for i in spec.indicators], "indicators.json")
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.md"
        ranked = sorted(leaves, key=lambda r: -r["rate"])
        rules.write_text(f"# {spec.kind}: leaves by share of {spec.positive}\n\n"
                         + "\n".join(f"- leaf {r['leaf']}: {r['rule']}" for r in ranked) + "\n")
        mlflow.log_artifact(str(rules), "rules")
        chart = lift_chart(metrics, str(Path(tmp) / "lift_chart.png"),
                           f"{spec.kind}: held-out lift by decile")
        mlflow.log_artifact(chart)


def load_champion(client, name: str) -> tuple[tracking.Champion, Fitted]:
    """The champion of a tree model: its tree, leaf table and scorer, all from the same run."""
    found = tracking.require_champion(client, name)
    registered = mlflow.spark.load_model(found.uri)
    leaves = tracking.load_json(found.run_id, LEAVES_ARTIFACT)
    params = client.get_run(found.run_id).data.params
    if params.get("scorer", "leaf") == "logistic":
        tree = mlflow.spark.load_model(f"runs:/{found.run_id}/{RULES_MODEL}")
        return found, Fitted(tree, leaves, registered)
    return found, Fitted(registered, leaves)


def load_segments(client, name: str) -> tuple[tracking.Champion, PipelineModel, list[dict]]:
    """The segments champion: its pipeline and segment descriptions (the same run)."""
    found = tracking.require_champion(client, name)
    return found, mlflow.spark.load_model(found.uri), tracking.load_json(found.run_id, SEGMENTS_ARTIFACT)


@dataclass(frozen=True)
class SegmentResult:
    kind: str
    name: str
    version: int
    run_id: str
    month: str
    k: int
    silhouettes: dict[int, float]
    silhouette: float
    champion_silhouette: float | None
    promoted: bool
    segments: list[dict]


SEGMENTS_ARTIFACT = "segments.json"


def train_segments(spark: SparkSession, settings: Settings, frame: DataFrame, month: str) -> SegmentResult:
    """Fit the usage segments on a sample of `month`, log, register; the alias moves when the
    silhouette on the same sample is at least the champion's (minus the tolerance)."""
    from sparkvalue.models import segments as seg

    client = tracking.configure(settings)
    name = tracking.model_name(settings, "segments")
    cfg = settings.segments
    profile = seg.usage_profile(frame, cfg.features)
    rows = profile.count()
    fraction = min(1.0, cfg.fit_sample / max(rows, 1))
    partitions = max(1, math.ceil(min(rows, cfg.fit_sample) / FIT_ROWS_PER_PARTITION))
    sample = profile.sample(fraction=fraction, seed=settings.models.seed).repartition(partitions)
    sample = sample.persist(StorageLevel.MEMORY_AND_DISK)
    fit = seg.fit_segments(sample, settings)
    score = fit.silhouettes[fit.k]
    champion_score = None
    current = tracking.champion(client, name)
    if current is not None:
        logged = client.get_run(current.run_id).data.params.get("features", "")
        if logged == ",".join(cfg.features):
            champion_score = seg.silhouette(mlflow.spark.load_model(current.uri), sample)
        else:
            log.info("%s: the champion used other features (%s); no comparison", name, logged)
    with mlflow.start_run(experiment_id=tracking.experiment(settings, "segments"),
                          run_name=f"segments-{month}") as run:
        mlflow.log_params({"month": month, "features": ",".join(cfg.features),
                           "k_range": list(cfg.k_range), "k": fit.k, "sample_rows": sample.count(),
                           "seed": settings.models.seed})
        metrics = {"silhouette": score, **{f"silhouette_k{k:02d}": v for k, v in fit.silhouettes.items()}}
        if champion_score is not None:
            metrics["champion_silhouette"] = champion_score
        mlflow.log_metrics(metrics)
        tracking.log_json(fit.segments, SEGMENTS_ARTIFACT)
        info = tracking.log_spark_model(fit.model, "model", name)
        version = int(info.registered_model_version)
    sample.unpersist()
    promoted = _gate(client, name, version, "silhouette", score, champion_score,
                     settings.models.champion_tolerance)
    return SegmentResult("segments", name, version, run.info.run_id, month, fit.k, fit.silhouettes, score,
                         champion_score, promoted, fit.segments)
