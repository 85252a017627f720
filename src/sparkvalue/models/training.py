"""Stickiness and anomaly: decision-tree pipelines trained on months with a known outcome.

Both models predict the same event, "cancelled within the horizon after month M",
from different indicators (MISSION.md items 5 and 6): stickiness from what binds a
subscriber, anomaly from what changed. The latest months with a known outcome are
held out; training months end early enough that no training label looks past the
first held-out month.

Class imbalance: rows are weighted so both classes carry the same total weight.
A leaf's probabilities then come from the unweighted training rows in it: the
plain share of leavers is calibrated (stickiness = P(stay) x 100, anomaly =
P(leave within its horizon) x 100). The balanced share (what the weighted tree
sees) is kept in the rules table for reference.

Training sample: past `models.fit_sample` rows a tree learns from every positive (the rare
class) and a share of the negatives, chosen by a hash of subscriber and month (the same rows
every run). Each kept negative stands for 1 / share of them (SAMPLE_WEIGHT): the class weights
come from the whole population, a leaf's counts and shares are the population's estimates, and
the logistic scorer is fitted with the same weights, so its probability stays calibrated.
Training time then stops growing with the subscriber base.

Labels: every model's label is joined to the shared model frame once (`with_labels`); a
model's sample and held-out rows are filters of the frame held in memory. The frame holds only
the rows some tree reads; the class counts come from a narrow pass over all rows before it
(`class_summary`, `pipeline.training_frame`).

Scoring: a fitted tree and a fitted logistic scorer are compiled to column expressions
(`trees.leaf_expression`, `logistic_expression`) that give what their pipelines give, without
assembling a feature vector per row; the registered Spark ML pipelines stay the models.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, reduce

from pyspark.errors import AnalysisException, ParseException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import DecisionTreeClassifier, LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import (
    OneHotEncoder,
    OneHotEncoderModel,
    SQLTransformer,
    StandardScaler,
    StandardScalerModel,
    StringIndexer,
    VectorAssembler,
)
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkvalue.config import SERVICE_REVENUE, ConfigError, Settings
from sparkvalue.features.months import add_months
from sparkvalue.models import indicators as ind
from sparkvalue.models.trees import index_column, indexed_columns, leaf_expression, rule_text, tree_leaves

log = logging.getLogger("sparkvalue")

LABEL = "label"
WEIGHT = "weight"
SAMPLE_WEIGHT = "sample_weight"  # how many training rows a row of the sample stands for
LEAVER_SHARE = "rate"  # the leaf's share of positives among its training rows
SCORE = "score"  # what a model ranks by: the leaf share, or the logistic regression's probability


class TrainingDataError(ValueError):
    """Not enough months, or only one class, to train and hold out."""


Event = Callable[[], Column]  # a condition on a row of silver: its month is an outcome event


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # stickiness | anomaly | propensity-<name>: the experiment and registered model
    indicators: tuple[ind.Indicator, ...]
    horizon: int
    event: Event = ind.cancelled  # a positive: a month with the event in the `horizon` months after M
    population: str | None = None  # Spark SQL on the model frame: the rows the model is for
    positive: str = "leavers"  # what a positive is called in reports
    scorer: str = "leaf"  # leaf: the tree's leaf share scores | logistic: a logistic regression does
    max_depth: int | None = None  # None: models.max_depth
    min_instances_per_node: int | None = None  # None: models.min_instances_per_node

    def outcome(self, subscriber: DataFrame, months: list[str], *, label: str) -> DataFrame:
        """Key + `label` (1.0 / 0.0) of every subscriber still there in one of `months`."""
        return ind.event_within(subscriber, self.event(), months, self.horizon, label)


def model_spec(settings: Settings, kind: str) -> ModelSpec:
    if kind == "stickiness":
        return ModelSpec(kind, ind.STICKINESS, settings.stickiness.horizon_months)
    if kind == "anomaly":
        return ModelSpec(kind, ind.ANOMALY, settings.anomaly.horizon_months)
    name = kind.removeprefix("propensity-")
    if kind.startswith("propensity-") and name in settings.propensity.models:
        cfg = settings.propensity.models[name]
        return ModelSpec(kind, ind.PROPENSITY, settings.propensity.horizon_months,
                         event=partial(ind.billed, SERVICE_REVENUE[cfg.service]),
                         population=cfg.population, positive="takers", scorer=settings.propensity.scorer,
                         max_depth=settings.propensity.max_depth,
                         min_instances_per_node=settings.propensity.min_instances_per_node)
    raise ValueError(f"unknown model kind {kind!r} ({', '.join(tree_kinds(settings))})")


def tree_kinds(settings: Settings) -> tuple[str, ...]:
    """Every decision-tree model the configuration defines."""
    return ("stickiness", "anomaly", *(f"propensity-{n}" for n in settings.propensity.models))


def frame_columns(settings: Settings, kinds: tuple[str, ...], available: list[str]) -> list[str]:
    """The columns of the model frame that training `kinds` reads: the key, each tree's
    indicators and the columns its population names, the segments' usage features. The frame
    every model shares is held with these only (75 of 170 columns with the defaults)."""
    wanted = {"subscriber_id", "month"}
    for kind in kinds:
        if kind == "segments":
            wanted.update(settings.segments.features)
            continue
        spec = model_spec(settings, kind)
        wanted.update(i.name for i in spec.indicators)
        wanted.update(population_columns([spec], available))
    return [c for c in available if c in wanted]


def population_columns(specs: list[ModelSpec], available: list[str]) -> list[str]:
    """The key and the columns of `available` that the specs' populations name (every name in a
    condition that is a column: a superset is harmless)."""
    names = {name for spec in specs if spec.population
             for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", spec.population)}
    return [c for c in available if c in {"subscriber_id", "month"} | names]


@dataclass(frozen=True)
class MonthSplit:
    train: tuple[str, ...]
    holdout: tuple[str, ...]


def split_months(months: list[str], horizon: int, holdout_months: int,
                 train_months: int | None = None) -> MonthSplit:
    """Held-out = the last `holdout_months` months with a known outcome; train = the
    months whose outcome window ends by the first held-out month, the latest
    `train_months` of them (all when None)."""
    known = ind.known_outcome_months(months, horizon)
    if len(known) <= holdout_months:
        raise TrainingDataError(
            f"training needs more than {holdout_months} month(s) whose next {horizon} month(s) are "
            f"in silver; silver has {len(months)} month(s) ({', '.join(sorted(months)) or 'none'})")
    holdout = tuple(known[-holdout_months:])
    train = tuple(m for m in known if add_months(m, horizon) <= holdout[0])
    if not train:
        raise TrainingDataError(
            f"no training month ends its {horizon}-month outcome window before the held-out "
            f"months {holdout}; ingest more history or lower models.holdout_months")
    return MonthSplit(train[-train_months:] if train_months else train, holdout)


def model_split(settings: Settings, spec: ModelSpec, months: list[str]) -> MonthSplit:
    """`split_months` of silver's `months` with the `models` settings and the model's horizon."""
    m = settings.models
    return split_months(months, spec.horizon, m.holdout_months, m.train_months)


def frame_months(settings: Settings, kinds: tuple[str, ...], months: list[str]) -> list[str]:
    """The months of the model frame that training `kinds` reads: each tree's training and
    held-out months, the latest month for the segments. Outcomes come from silver itself."""
    wanted = {months[-1]} if "segments" in kinds else set()
    for _, labelled in model_months(settings, kinds, months):
        wanted.update(labelled)
    return sorted(wanted)


def label_column(kind: str) -> str:
    """The model frame's column holding a tree model's label (see `with_labels`)."""
    return "label__" + re.sub(r"\W", "_", kind)


def model_months(settings: Settings, kinds: tuple[str, ...],
                 months: list[str]) -> list[tuple[ModelSpec, tuple[str, ...]]]:
    """Each tree model of `kinds` with its training and held-out months of silver's `months`."""
    return [(spec, (*split.train, *split.holdout)) for spec, split in model_splits(settings, kinds, months)]


def model_splits(settings: Settings, kinds: tuple[str, ...],
                 months: list[str]) -> list[tuple[ModelSpec, MonthSplit]]:
    """Each tree model of `kinds` with its split of silver's `months`."""
    specs = [model_spec(settings, kind) for kind in kinds if kind != "segments"]
    return [(spec, model_split(settings, spec, months)) for spec in specs]


def with_labels(frame: DataFrame, subscriber: DataFrame, labelled: list[tuple[ModelSpec, tuple[str, ...]]],
                marks: DataFrame | None = None) -> DataFrame:
    """The model frame plus each model's label (`label_column`): 1.0 / 0.0 in its months, null
    in the others. `frame`'s rows are the subscribers still there in their month, the rows an
    outcome is defined for; `subscriber` is silver, where the events come from.

    Every model's events are marked in one pass over silver (`label_marks`; `marks`: those
    already computed) and joined to the frame once, so that the models' keys, samples and
    held-out rows are filters of the frame held in memory, not joins. `frame` must hold no
    cancelled rows (`model_frame` holds none)."""
    if not labelled:
        return frame
    marks = label_marks(subscriber, labelled) if marks is None else marks
    joined = frame.join(marks, ["subscriber_id", "month"], "left")
    return joined.select(*frame.columns, *[
        F.when(F.col("month").isin(sorted(months)), F.coalesce(F.col(f"_event{i}"), F.lit(0.0)))
        .alias(label_column(spec.kind)) for i, (spec, months) in enumerate(labelled)])


def label_marks(subscriber: DataFrame, labelled: list[tuple[ModelSpec, tuple[str, ...]]]) -> DataFrame:
    """Every model's events in one pass over silver (`indicators.event_marks`, which
    `ModelSpec.outcome` uses too): key and one flag per model (`_event{i}`, its place in
    `labelled`), for the keys with an event in a model's months."""
    return ind.event_marks(subscriber, [(f"_event{i}", spec.event(), spec.horizon, tuple(months))
                                        for i, (spec, months) in enumerate(labelled)])


def labelled_rows(frame: DataFrame, spec: ModelSpec, months: list[str] | tuple[str, ...]) -> DataFrame:
    """Key, indicators and LABEL of the model's population in `months` (whose outcome must be
    known). `frame`: `indicators.model_frame` of (at least) `months` `with_labels`, shared by
    the models."""
    rows = population(frame.where(F.col("month").isin(sorted(months))), spec)
    return rows.select("subscriber_id", "month", *ind.input_columns(spec.indicators),
                       F.col(label_column(spec.kind)).alias(LABEL))


def labelled_keys(frame: DataFrame, spec: ModelSpec, months: list[str] | tuple[str, ...]) -> DataFrame:
    """`labelled_rows` without the indicators: subscriber_id, month and LABEL."""
    return labelled_rows(frame, spec, months).select("subscriber_id", "month", LABEL)


def population(frame: DataFrame, spec: ModelSpec) -> DataFrame:
    """The rows of the model frame the model is for (all, unless the spec says otherwise)."""
    if spec.population is None:
        return frame
    return frame.where(population_condition(frame, spec))


def population_condition(frame: DataFrame, spec: ModelSpec) -> Column:
    """The model's population as a condition on `frame`'s columns (true when the spec has none);
    a condition Spark cannot read on them is a ConfigError naming the setting."""
    if spec.population is None:
        return F.lit(True)
    try:
        condition = F.expr(spec.population)
        _ = frame.select(condition).schema  # analysed here, not at the first action
        return condition
    except (AnalysisException, ParseException) as exc:
        key = spec.kind.replace("propensity-", "propensity.models.")
        detail = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise ConfigError(f"{key}.population: {spec.population!r} is not a valid condition on the "
                          f"silver columns ({exc.getCondition()}): {detail}") from None


def checked_counts(counts: dict[float, int], spec: ModelSpec) -> dict[float, int]:
    """The model's training rows per class (`pipeline.training_frame`), refused unless both classes
    are there."""
    counts = {label: n for label, n in counts.items() if n}
    if len(counts) < 2:
        found = ", ".join(f"{int(k)}: {v:,} rows" for k, v in counts.items()) or "no rows"
        raise TrainingDataError(
            f"{spec.kind}: the training months hold one outcome only ({found}); a tree needs "
            f"{spec.positive} and others. Widen the population or add months of history.")
    return counts


def class_weights(counts: dict[float, int]) -> dict[float, float]:
    """Weight per class so that both classes weigh the same in total."""
    total = sum(counts.values())
    return {label: total / (2.0 * n) for label, n in counts.items()}


def negative_share(counts: dict[float, int], fit_sample: int) -> float:
    """The share of negatives a training sample of about `fit_sample` rows keeps: all the
    positives, and never fewer negatives than positives."""
    positives, negatives = counts[1.0], counts[0.0]
    if positives + negatives <= fit_sample:
        return 1.0
    return min(1.0, max(fit_sample - positives, positives) / negatives)


def training_sample(rows: DataFrame, share: float, seed: int) -> DataFrame:
    """Every positive and `share` of the negatives (by a hash of subscriber and month), with
    SAMPLE_WEIGHT: 1 for a positive, 1 / share for a negative."""
    if share >= 1.0:
        return rows.withColumn(SAMPLE_WEIGHT, F.lit(1.0))
    positive = F.col(LABEL) == 1.0
    return (rows.where(positive | (sample_draw(seed) < share))
            .withColumn(SAMPLE_WEIGHT, F.when(positive, 1.0).otherwise(1.0 / share)))


def sample_draw(seed: int) -> Column:
    """A row's draw for the training sample, in [0, 1): a hash of subscriber, month and seed, the
    same for every model (a share s keeps the rows whose draw is under s)."""
    buckets = 1 << 30
    return F.pmod(F.xxhash64("subscriber_id", "month", F.lit(seed)), F.lit(buckets)) / float(buckets)


# ------------------------------------------------------------------ the trees' frame, narrow first
#
# Each tree learns from every positive of its training months and the negatives whose draw
# (`sample_draw`, one hash for all trees) is under its share, and is evaluated on all rows of its
# held-out months. The shared frame holds only those wide rows: the class counts (which give the
# shares) come first from a narrow pass over keys, population columns and labels; the wide rows
# are then filtered before they are shuffled, on their month and draw (no join needed), and the
# positives outside that filter let through by a map of hashed keys (`POSITIVE_MAP_BITS`, the
# same size whatever the number of subscribers; a key it lets through wrongly is a negative
# whose draw no tree keeps). Every tree's counts, sample and held-out rows stay those of the
# frame of all rows.

POSITIVE_MAP_BITS = 1 << 26  # 8 MB of 64-bit words: a million positives let ~1.5 % of the other keys through


def _map_slot() -> tuple[Column, Column]:
    """(word, bit) of a row's key in the positives' map: a hash of subscriber and month that the
    sample's draw does not use; the bit as a long with that one bit set."""
    slot = f"pmod(xxhash64(subscriber_id, month), {POSITIVE_MAP_BITS}L)"
    return F.expr(f"shiftright({slot}, 6)"), F.expr(f"shiftleft(1L, CAST({slot} & 63 AS INT))")


def class_summary(narrow: DataFrame, splits: list[tuple[ModelSpec, MonthSplit]]) -> DataFrame:
    """Per word of the positives' map that a positive sets (at most POSITIVE_MAP_BITS / 64 rows;
    word -1 for the rows that are no tree's training positive): the bits of every tree's
    training positives hashed to it (`bits`), and each tree's training rows per class
    (`positives{i}`, `negatives{i}`, i its place in `splits`). `narrow`: keys, the populations'
    columns and every tree's label (`with_labels`)."""
    classes = [F.when(population_condition(narrow, spec) & F.col("month").isin(sorted(split.train)),
                      F.col(label_column(spec.kind))) for spec, split in splits]
    positive = F.coalesce(reduce(lambda a, b: a | b, [c == 1.0 for c in classes]), F.lit(False))
    word, bit = _map_slot()
    none = F.lit(0).cast("long")
    rows = narrow.select(F.when(positive, word).otherwise(F.lit(-1).cast("long")).alias("word"),
                         F.when(positive, bit).otherwise(none).alias("bit"),
                         *[c.alias(f"_class{i}") for i, c in enumerate(classes)])
    per_class = [agg for i in range(len(splits)) for agg in (
        F.count_if(F.col(f"_class{i}") == 1.0).alias(f"positives{i}"),
        F.count_if(F.col(f"_class{i}") == 0.0).alias(f"negatives{i}"))]
    return rows.groupBy("word").agg(F.bit_or("bit").alias("bits"), F.count(F.lit(1)).alias("rows"),
                                    *per_class)


def summary_counts(summary: DataFrame,
                   splits: list[tuple[ModelSpec, MonthSplit]]) -> tuple[dict[str, dict[float, int]], int]:
    """Each tree's training rows per class, and the rows of the frame's months, from
    `class_summary` (one small aggregate)."""
    row = summary.agg(F.sum("rows").alias("rows"), *[F.sum(c).alias(c) for i in range(len(splits))
                                                     for c in (f"positives{i}", f"negatives{i}")]).first()
    counts = {spec.kind: {1.0: int(row[f"positives{i}"] or 0), 0.0: int(row[f"negatives{i}"] or 0)}
              for i, (spec, _) in enumerate(splits)}
    return counts, int(row["rows"] or 0)


def reads_on(spec: ModelSpec, columns: list[str], frame: list[str]) -> bool:
    """Whether every column of the model frame (`frame`'s columns) that the population names is
    one of `columns`."""
    return set(population_columns([spec], frame)) <= set(columns)


def read_condition(rows: DataFrame, splits: list[tuple[ModelSpec, MonthSplit]], shares: dict[str, float],
                   seed: int, frame: list[str]) -> Column:
    """The rows of `rows` some tree of `shares` reads whatever their label: its held-out months and
    its training rows whose draw is under its share, in its population when that reads on
    `rows`' columns (`reads_on`; else in all of its months). A condition on the row alone."""
    draw = sample_draw(seed)
    read = F.lit(False)
    for spec, split in splits:
        if spec.kind not in shares:
            continue
        members = population_condition(rows, spec) if reads_on(spec, rows.columns, frame) else F.lit(True)
        months = F.col("month").isin(sorted(split.holdout)) \
            | (F.col("month").isin(sorted(split.train)) & (draw < shares[spec.kind]))
        read = read | (members & months)
    return read


def kept_rows(rows: DataFrame, read: Column, summary: DataFrame | None) -> DataFrame:
    """`rows` that `read` keeps, and those whose key's bit is set in the positives' map of
    `summary` (`class_summary`; None: no map). The map is broadcast: a fixed size, no keys."""
    if summary is None:
        return rows.where(read)
    words = summary.where(F.col("bits") != 0).select(F.col("word").alias("_word"),
                                                     F.col("bits").alias("_bits"))
    word, bit = _map_slot()
    mapped = F.coalesce(F.col("_bits").bitwiseAND(F.col("_bit")) != 0, F.lit(False))
    return (rows.withColumn("_word", word).withColumn("_bit", bit)
            .join(F.broadcast(words), "_word", "left")
            .where(read | mapped).drop("_word", "_bit", "_bits"))


def with_weights(rows: DataFrame, weights: dict[float, float]) -> DataFrame:
    """The tree's weight: the class weight times what the row stands for in the sample."""
    return rows.withColumn(WEIGHT, F.when(F.col(LABEL) == 1.0, weights[1.0]).otherwise(weights[0.0])
                           * F.col(SAMPLE_WEIGHT))


def build_pipeline(spec: ModelSpec, settings: Settings, *, max_depth: int | None = None) -> Pipeline:
    m = settings.models
    categorical = [i for i in spec.indicators if i.categorical]
    stages = [category_indexer([i.name for i in categorical], [index_column(i) for i in categorical])] \
        if categorical else []
    stages.append(VectorAssembler(inputCols=[index_column(i) for i in spec.indicators],
                                  outputCol="features"))
    stages.append(DecisionTreeClassifier(
        featuresCol="features", labelCol=LABEL, weightCol=WEIGHT, leafCol="leaf",
        maxDepth=max_depth or spec.max_depth or m.max_depth,
        minInstancesPerNode=spec.min_instances_per_node or m.min_instances_per_node,
        maxBins=m.max_bins, seed=m.seed, impurity="gini"))
    return Pipeline(stages=stages)


def category_indexer(inputs: list[str], outputs: list[str]) -> StringIndexer:
    """One StringIndexer for every categorical column (one pass over the rows to fit, one stage to
    save and load): categories in alphabetical order, an unseen one gets the last index."""
    return StringIndexer(inputCols=inputs, outputCols=outputs, handleInvalid="keep",
                         stringOrderType="alphabetAsc")


def leaf_table(model: PipelineModel, spec: ModelSpec, rows: DataFrame,
               weights: dict[float, float]) -> list[dict]:
    """Every leaf: path, indicators that raised the risk on the way, and the training rows
    in it (subscriber-months, leavers, plain and balanced share of leavers), counted with
    SAMPLE_WEIGHT: the whole training population's, not only the sample's. The leaf is the
    compiled tree (`trees.leaf_expression`), as in scoring: no feature vectors are built."""
    compiled = leaf_expression(model, tree_indicators(model)).alias("leaf")
    counts = {int(r["leaf"]): (round(r["rows"]), r["positives"]) for r in (
        rows.select(compiled, SAMPLE_WEIGHT, LABEL).groupBy("leaf")
        .agg(F.sum(SAMPLE_WEIGHT).alias("rows"), F.sum(LABEL).alias("positives")).collect())}
    table = []
    for leaf in tree_leaves(model, spec.indicators):
        n, pos = counts.get(leaf.index, (0, 0.0))
        pos = float(pos or 0.0)
        rate = pos / n if n else 0.0
        weighted_pos, weighted_neg = pos * weights[1.0], (n - pos) * weights[0.0]
        balanced = weighted_pos / (weighted_pos + weighted_neg) if n else 0.0
        stay = 1.0 - rate
        shown = stay if spec.kind == "stickiness" else rate
        table.append({
            "leaf": leaf.index, "path": leaf.path, "raising": leaf.raising, "depth": leaf.depth,
            "rows": int(n), "positives": int(pos), "rate": rate, "balanced_rate": balanced,
            "rule": rule_text(leaf.path, shown, int(n)),
        })
    return table


def apply_leaves(spark: SparkSession, model: PipelineModel, leaves: list[dict],
                 frame: DataFrame) -> DataFrame:
    """The frame plus leaf, leaf path, raising indicators and both leaver shares. The leaf is the
    tree compiled to one expression (`trees.leaf_expression`): no feature vectors are built."""
    lookup = spark.createDataFrame(
        [(float(r["leaf"]), r["path"], r["raising"], float(r["rate"]), float(r["balanced_rate"]))
         for r in leaves],
        "leaf double, rule_path string, raising array<string>, rate double, balanced_rate double")
    indicators = tree_indicators(model)
    scored = frame.withColumn("leaf", leaf_expression(model, indicators))
    return scored.join(F.broadcast(lookup), "leaf", "left")


def tree_indicators(model: PipelineModel) -> tuple[ind.Indicator, ...]:
    """The indicators of a tree pipeline (`build_pipeline`) in the order the tree numbers them:
    the vector assembler's inputs, a categorical one by its StringIndexer's output."""
    assembler = next(s for s in model.stages if isinstance(s, VectorAssembler))
    indexed = {out: column for out, (column, _) in indexed_columns(model).items()}
    return tuple(ind.Indicator(indexed[c], indexed[c], kind="category") if c in indexed
                 else ind.Indicator(c, c) for c in assembler.getInputCols())


def build_scorer(spec: ModelSpec, settings: Settings) -> Pipeline:
    """Logistic regression on log(1 + x) of the numeric indicators (usage is heavy-tailed) and
    the categories one-hot, standardised; weighted by SAMPLE_WEIGHT only (not by class), so its
    probability is calibrated."""
    numeric = [i.name for i in spec.indicators if not i.categorical]
    categorical = [i for i in spec.indicators if i.categorical]
    logs = ", ".join(f"log1p(greatest(`{c}`, 0D)) AS `{c}__log`" for c in numeric)
    stages = [SQLTransformer(statement=f"SELECT *, {logs} FROM __THIS__")]
    if categorical:
        stages.append(category_indexer([i.name for i in categorical],
                                       [f"{i.name}__lr_index" for i in categorical]))
    stages.append(OneHotEncoder(inputCols=[f"{i.name}__lr_index" for i in categorical],
                                outputCols=[f"{i.name}__onehot" for i in categorical], handleInvalid="keep"))
    stages.append(VectorAssembler(inputCols=[f"{c}__log" for c in numeric]
                                  + [f"{i.name}__onehot" for i in categorical], outputCol="lr_raw"))
    stages.append(StandardScaler(inputCol="lr_raw", outputCol="lr_features", withMean=True, withStd=True))
    stages.append(LogisticRegression(featuresCol="lr_features", labelCol=LABEL, weightCol=SAMPLE_WEIGHT,
                                     regParam=settings.propensity.reg_param, probabilityCol="lr_probability",
                                     rawPredictionCol="lr_raw_prediction", predictionCol="lr_prediction"))
    return Pipeline(stages=stages)


def with_score(rows: DataFrame, scorer: PipelineModel | None) -> DataFrame:
    """`rows` (after apply_leaves) plus SCORE: the leaf share, or the scorer's probability."""
    if scorer is None:
        return rows.withColumn(SCORE, F.col(LEAVER_SHARE))
    return rows.withColumn(SCORE, logistic_expression(scorer))


def logistic_expression(scorer: PipelineModel) -> Column:
    """The probability `build_scorer`'s fitted pipeline gives, as one expression over the indicator
    columns: log(1 + x) of each number and each category's one-hot slot, standardised (a slot
    whose deviation is 0 gives 0), times the coefficients, plus the intercept, through the
    logistic function as Spark writes it (P(1) = 1 - 1 / (1 + e^margin)). The pipeline's arithmetic
    without its vectors; sums may differ from it in the last bits."""
    stages = {type(s): s for s in scorer.stages}
    transform, assembler = stages[SQLTransformer], stages[VectorAssembler]
    encoder, standard, logistic = stages[OneHotEncoderModel], stages[StandardScalerModel], \
        stages[LogisticRegressionModel]
    logs = dict(re.findall(r"log1p\(greatest\(`([^`]+)`, 0D\)\) AS `([^`]+)`", transform.getStatement()))
    if not logs:
        raise ValueError(f"not a logistic scorer of this version: {transform.getStatement()[:120]!r}")
    logged = {alias: name for name, alias in logs.items()}
    labels = indexed_columns(scorer)
    encoded = dict(zip(encoder.getOutputCols(), zip(encoder.getInputCols(), encoder.categorySizes,
                                                    strict=True), strict=True))
    keep, drop_last = encoder.getHandleInvalid() == "keep", encoder.getDropLast()
    mean, std = standard.mean.toArray(), standard.std.toArray()
    scale = [0.0 if v == 0 else 1.0 / v for v in std]
    shift = mean if standard.getWithMean() else [0.0] * len(mean)
    if not standard.getWithStd():
        scale = [1.0] * len(mean)
    weights = logistic.coefficients.toArray()
    margin, constant, slot = [], float(logistic.intercept), 0
    for column in assembler.getInputCols():
        if column in logged:
            value = F.log1p(F.greatest(F.col(logged[column]).cast("double"), F.lit(0.0)))
            margin.append((value - F.lit(float(shift[slot]))) * F.lit(float(weights[slot] * scale[slot])))
            slot += 1
            continue
        indexed, size = encoded[column]
        name, cats = labels[indexed]
        width = size - (1 if drop_last and not keep else 0) + (1 if keep and not drop_last else 0)
        block = range(slot, slot + width)
        constant -= sum(weights[p] * shift[p] * scale[p] for p in block)
        hit = [weights[slot + i] * scale[slot + i] if i < width else 0.0 for i in range(len(cats) + 1)]
        case = F.when(F.col(name).isNull(), F.lit(hit[len(cats)]))
        for i, cat in enumerate(cats):
            case = case.when(F.col(name) == F.lit(cat), F.lit(hit[i]))
        margin.append(case.otherwise(F.lit(hit[len(cats)])))  # unseen: StringIndexer's last index
        slot += width
    if slot != len(weights):
        raise ValueError(f"the scorer's {len(weights)} coefficients do not match its {slot} inputs")
    total = reduce(lambda a, b: a + b, margin, F.lit(constant))
    return F.lit(1.0) - F.lit(1.0) / (F.lit(1.0) + F.exp(total))
