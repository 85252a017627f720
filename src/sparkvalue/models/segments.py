"""Needs: usage segments by k-means, named after what sets them apart, grouped by rules.

The usage profile (MISSION.md item 7) is heavy-tailed, so each feature is taken as
log(1 + x) and standardised before k-means; k is the one with the best silhouette
in `segments.k_range`, fitted on a sample of the latest month. A segment's centre
is then in standard deviations from the population: the features furthest from 0
distinguish it and name it. The group (marketing-first, retention-first,
corporate-related, do-not-market) is decided per month from the segment's profile
by the rules in configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparkvalue.config import Settings

SEGMENT = "segment"

# Words for the usage features a segment can be named after.
LABELS = {
    "local_min": "local minutes",
    "long_distance_min": "long-distance minutes",
    "long_distance_in_min": "incoming long-distance minutes",
    "roaming_min": "roaming minutes",
    "international_min": "international minutes",
    "vpn_min": "VPN minutes",
    "circle_breadth": "call-circle breadth",
    "circle_depth": "call-circle minutes",
    "data_mb": "data",
    "sms_count": "SMS",
    "vas_revenue": "value-added services",
}
SHORT = {
    "local_min": "local", "long_distance_min": "long-distance",
    "long_distance_in_min": "incoming long-distance", "roaming_min": "roaming",
    "international_min": "international", "vpn_min": "VPN",
    "circle_breadth": "wide-circle", "circle_depth": "deep-circle", "data_mb": "data", "sms_count": "SMS",
    "vas_revenue": "VAS",
}
NAMING_Z = 0.5  # a feature names a segment when its centre is this many standard deviations off


def usage_profile(frame: DataFrame, features: tuple[str, ...]) -> DataFrame:
    """Key plus each feature as log(1 + x) (nulls: 0), the input of the pipeline."""
    return frame.select("subscriber_id", "month", *[
        F.log1p(F.greatest(F.coalesce(F.col(f).cast("double"), F.lit(0.0)), F.lit(0.0))).alias(f)
        for f in features])


@dataclass(frozen=True)
class SegmentFit:
    model: PipelineModel
    k: int
    silhouettes: dict[int, float]
    segments: list[dict]  # segment, name, centre (z per feature), distinguishing (words), share


def fit_segments(profile: DataFrame, settings: Settings) -> SegmentFit:
    """Scale, then k-means for every k in the range; keep the best silhouette."""
    cfg = settings.segments
    features = list(cfg.features)
    assembler = VectorAssembler(inputCols=features, outputCol="raw_features")
    scaler = StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True)
    assembled = assembler.transform(profile)
    scaler_model = scaler.fit(assembled)
    # not persisted: k-means then holds its own deserialised copy of the points for its
    # iterations, where a persisted input is decoded from the cached columns at each one
    # (half the fit's time at 1M)
    scaled = scaler_model.transform(assembled).select("features")
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol=SEGMENT, metricName="silhouette")
    best, silhouettes = None, {}
    for k in range(cfg.k_range[0], cfg.k_range[1] + 1):
        km = KMeans(featuresCol="features", predictionCol=SEGMENT, k=k, seed=settings.models.seed,
                    maxIter=40).fit(scaled)
        silhouettes[k] = float(evaluator.evaluate(km.transform(scaled)))
        if best is None or silhouettes[k] > silhouettes[best[0]]:
            best = (k, km)
    k, km = best
    sizes = {int(r[SEGMENT]): r["count"] for r in km.transform(scaled).groupBy(SEGMENT).count().collect()}
    model = PipelineModel(stages=[assembler, scaler_model, km])
    total = sum(sizes.values())
    centres = [dict(zip(features, map(float, c), strict=True)) for c in km.clusterCenters()]
    names = segment_names(centres, cfg.distinguishing_features)
    segments = [{"segment": i, "name": names[i], "centre": centre,
                 "distinguishing": distinguishing(centre, cfg.distinguishing_features),
                 "share": sizes.get(i, 0) / total if total else 0.0}
                for i, centre in enumerate(centres)]
    return SegmentFit(model, k, silhouettes, segments)


def distinguishing(centre: dict[str, float], n: int) -> list[str]:
    """The n features furthest from the population, in words."""
    ranked = sorted(centre.items(), key=lambda kv: -abs(kv[1]))[:n]
    return [f"{LABELS.get(f, f)} {'above' if z > 0 else 'below'} average ({z:+.1f} sd)" for f, z in ranked]


def segment_names(centres: list[dict[str, float]], n: int) -> list[str]:
    """`heavy long-distance & roaming` from the features well above average; `light users,
    least <feature>` when none is; repeated names get a number."""
    names, seen = [], {}
    for centre in centres:
        high = [f for f, z in sorted(centre.items(), key=lambda kv: -kv[1]) if z >= NAMING_Z][:min(n, 2)]
        if high:
            name = "heavy " + " & ".join(SHORT.get(f, f) for f in high)
        else:
            lowest = min(centre.items(), key=lambda kv: kv[1])[0]
            name = f"light users, least {SHORT.get(lowest, lowest)}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return names


def silhouette(model: PipelineModel, profile: DataFrame) -> float:
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol=SEGMENT, metricName="silhouette")
    return float(evaluator.evaluate(model.transform(profile)))


def assign(model: PipelineModel, profile: DataFrame) -> DataFrame:
    """Key plus the segment number."""
    return model.transform(profile).select("subscriber_id", "month",
                                           F.col(SEGMENT).cast("int").alias(SEGMENT))


def group_column(settings: Settings) -> Column:
    """The first configured group rule that matches a profile row."""
    rules = settings.segments.groups
    expr = None
    for rule in rules:
        cond = F.expr(rule.when)
        expr = F.when(cond, F.lit(rule.group)) if expr is None else expr.when(cond, F.lit(rule.group))
    return expr.otherwise(F.lit(None).cast("string"))
