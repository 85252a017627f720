"""Wiring of the stages: the only layer that reads, writes and logs.

Each function takes the session and the settings and returns a small summary
(counts and locations, never subscriber-level data).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from sparkvalue.config import Settings
from sparkvalue.contract.fields import RawTable
from sparkvalue.contract.raw import RAW_TABLES
from sparkvalue.generate import extracts as gen
from sparkvalue.generate.population import population
from sparkvalue.ingest import landing
from sparkvalue.ingest.validate import (
    ERRORS,
    EXTRACT_MONTH,
    flag_duplicates,
    flag_unknown_references,
    good_rows,
    quarantine_rows,
    raw_text_of_bad_rows,
    validate_rows,
)
from sparkvalue.lakehouse import tables as lh
from sparkvalue.lakehouse.docs import documented
from sparkvalue.privacy import load_key

log = logging.getLogger("sparkvalue")

# Whole-stage code generation of a projection this wide exceeds the JVM's 64 KB method limit:
# Spark logs the failed compile as an ERROR with its stack and falls back to compiling
# expression by expression. Plans over this many columns are compiled that way at once.
WIDE_PLAN_FIELDS = "40"


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """`key` set to `value` in the session while the block runs, then set back."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


# ------------------------------------------------------------------ generate

@dataclass
class GenerateSummary:
    landing: str
    truth: str
    months: tuple[str, ...]
    subscribers: int
    seconds: dict[str, float] = field(default_factory=dict)


def generate(spark: SparkSession, settings: Settings) -> GenerateSummary:
    """Write every raw table for every month to the landing folder, and the hidden truth."""
    g = settings.generate
    plan = generation_plan(settings)
    months = plan.months
    landing_root, truth_root = settings.path("landing"), settings.path("truth")
    summary = GenerateSummary(landing_root, truth_root, months, plan.n)
    started = time.perf_counter()
    pop = materialise_population(spark, plan, f"{truth_root}/population")
    summary.seconds["population"] = round(time.perf_counter() - started, 2)
    edge_from = len(months) - (g.edge_months or len(months))
    # an extract is written as the generator partitions it (`files_per_month` files), not merged
    with _session_conf(spark, "spark.sql.adaptive.coalescePartitions.enabled", "false"):
        for table in RAW_TABLES:
            started = time.perf_counter()
            for t, month in enumerate(months):
                if table == "groups":
                    df = gen.groups_extract(spark, plan, t)
                elif table == "call_edges" and t < edge_from:
                    df = spark.createDataFrame([], RAW_TABLES[table].schema)
                else:
                    df = gen.EXTRACTS[table](pop, plan, t)
                _write_landing(df, landing.extract_folder(landing_root, table, month), g.format)
            summary.seconds[table] = round(time.perf_counter() - started, 2)
            log.info("generated %s for %d months in %.1fs", table, len(months),
                     summary.seconds[table])
        started = time.perf_counter()
        _write_truth(spark, pop, plan, truth_root)
        summary.seconds["truth"] = round(time.perf_counter() - started, 2)
    return summary


def generation_plan(settings: Settings) -> gen.Plan:
    g = settings.generate
    return gen.Plan(n=g.subscribers, months=gen.month_list(g.end_month, g.months), seed=g.seed,
                    edges_per_subscriber=g.edges_per_subscriber, partitions=g.files_per_month)


def materialise_population(spark: SparkSession, plan: gen.Plan, path: str) -> DataFrame:
    """Write the latent population once and read it back.

    Every extract reads it instead of re-deriving ~60 hashed expressions per row
    (which would also bloat every query plan).
    """
    with _session_conf(spark, "spark.sql.codegen.maxFields", WIDE_PLAN_FIELDS):
        (population(spark, n=plan.n, months=len(plan.months), seed=plan.seed,
                    partitions=plan.partitions)
         .transform(gen.with_service_state, plan=plan)
         .write.mode("overwrite").parquet(path))
    return spark.read.parquet(path)


def _write_landing(df: DataFrame, folder: str, fmt: str) -> None:
    writer = df.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", True).option("dateFormat", "yyyy-MM-dd").csv(folder)
    else:
        writer.parquet(folder)


def _write_truth(spark: SparkSession, pop: DataFrame, plan: gen.Plan, root: str) -> None:
    gen.truth_subscribers(pop, plan).write.mode("overwrite").parquet(f"{root}/subscribers")
    months = None
    for t in range(len(plan.months)):
        part = gen.truth_subscriber_month(pop, plan, t)
        months = part if months is None else months.unionByName(part)
    months.write.mode("overwrite").partitionBy("month").parquet(f"{root}/subscriber_month")
    gen.truth_propensity(pop, plan).write.mode("overwrite").parquet(f"{root}/service_propensity")
    gen.truth_campaign_effects(spark).coalesce(1).write.mode("overwrite") \
        .parquet(f"{root}/campaign_effects")


# ------------------------------------------------------------------ ingest

@dataclass
class TableResult:
    table: str
    month: str
    loaded: int
    quarantined: int
    rules: dict[str, int]
    extra_columns: tuple[str, ...]
    seconds: float


def ingest(spark: SparkSession, settings: Settings, months: list[str] | tuple[str, ...],
           run_id: str | None = None) -> list[TableResult]:
    """Validate the landing extracts of `months` into bronze; bad rows into quarantine.

    Every file's header of every month is checked before anything is written. The
    months of one table are validated and written together (one Delta commit per
    table); re-running replaces those months' bronze partitions and quarantine rows.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    months = sorted(set(months))
    fmt = settings.ingest.format
    landing_root, lakehouse = settings.path("landing"), settings.path("lakehouse")
    key = load_key(settings)
    extracts = {name: [landing.inspect_extract(spark, landing_root, spec, m, fmt) for m in months]
                for name, spec in RAW_TABLES.items()}
    results: list[TableResult] = []
    # Validation projects ~3 expressions per column (see WIDE_PLAN_FIELDS).
    with _session_conf(spark, "spark.sql.codegen.maxFields", WIDE_PLAN_FIELDS):
        for name, spec in RAW_TABLES.items():
            results.extend(_ingest_table(spark, settings, extracts[name], spec, months, key))
    _record_run(spark, lakehouse, run_id, results)
    return results


def _ingest_table(spark: SparkSession, settings: Settings, extracts: list[landing.Extract],
                  spec: RawTable, months: list[str], key: str) -> list[TableResult]:
    """Validate one table's extracts; write bronze and quarantine rows of those months."""
    lakehouse = settings.path("lakehouse")
    started = time.perf_counter()
    raw = landing.read_extracts(spark, extracts, spec, settings.ingest.format)
    checked = validate_rows(raw, spec, key=key, id_length=settings.privacy.id_length)
    keyed = [ref.column for ref in spec.references if ref.column in spec.key]
    if keyed:
        # Hashed by a reference column of the key (an id, never mostly null), the rows serve
        # both the key check's window and that reference's join: one shuffle, not two.
        checked = checked.repartition(F.col(keyed[0]))
    checked = flag_duplicates(checked, spec)
    targets = {ref.table: _bronze_months(spark, lakehouse, ref.table, months)
               for ref in spec.references}
    checked = flag_unknown_references(checked, spec, targets)
    checked = raw_text_of_bad_rows(checked, spec).persist(StorageLevel.MEMORY_AND_DISK)
    # One pass over the persisted rows counts the good ones and the bad ones per rule.
    counts = checked.groupBy(
        F.col(EXTRACT_MONTH).alias("month"),
        F.coalesce(F.substring_index(F.get(F.col(ERRORS), 0), ":", 1), F.lit("")).alias("rule"),
    ).count().collect()
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    bronze = lh.BRONZE[spec.name]
    lh.replace_partition(documented(good_rows(checked, spec), f"bronze.{spec.name}"),
                         lh.table_path(lakehouse, bronze), where=in_months, partition_by=("month",),
                         description=bronze.description)
    quarantine = documented(quarantine_rows(checked, spec), "bronze.quarantine")
    path, where = lh.table_path(lakehouse, lh.QUARANTINE), f"table_name = '{spec.name}' AND {in_months}"
    lh.create_if_missing(quarantine, path, lh.QUARANTINE.partition, lh.QUARANTINE.description)
    # A clean extract commits nothing to the quarantine (a Delta commit costs seconds), unless
    # an earlier run of these months left rows there to replace.
    if any(r["rule"] for r in counts) or lh.has_rows(spark, path, where):
        lh.replace_partition(quarantine, path, where=where, partition_by=lh.QUARANTINE.partition,
                             description=lh.QUARANTINE.description)
    checked.unpersist()
    seconds = round((time.perf_counter() - started) / len(months), 2)
    results = []
    for extract in extracts:
        rules = {r["rule"]: r["count"] for r in counts if r["month"] == extract.month and r["rule"]}
        loaded = sum(r["count"] for r in counts if r["month"] == extract.month and not r["rule"])
        result = TableResult(spec.name, extract.month, loaded, sum(rules.values()),
                             dict(sorted(rules.items())), extract.extra_columns, seconds)
        log.info("ingest %s %s: %d loaded, %d quarantined %s%s", extract.month, spec.name,
                 loaded, result.quarantined, rules or "",
                 f" (ignored columns {extract.extra_columns})" if extract.extra_columns else "")
        results.append(result)
    return results


def _bronze_months(spark: SparkSession, lakehouse: str, table: str, months: list[str]) -> DataFrame:
    return (spark.read.format("delta").load(lh.table_path(lakehouse, lh.BRONZE[table]))
            .where(F.col("month").isin(months)))


def _record_run(spark: SparkSession, lakehouse: str, run_id: str,
                results: list[TableResult]) -> None:
    rows = [(run_id, r.table, r.month, r.loaded, r.quarantined, r.rules,
             list(r.extra_columns), r.seconds) for r in results]
    df = spark.createDataFrame(rows, "run_id string, table_name string, month string, "
                               "loaded long, quarantined long, rules map<string,long>, "
                               "ignored_columns array<string>, seconds double") \
        .withColumn("finished_at", F.current_timestamp())
    lh.append_rows(documented(df, "ops.ingest_runs"), lh.table_path(lakehouse, lh.INGEST_RUNS),
                   description=lh.INGEST_RUNS.description)


def landing_months(spark: SparkSession, settings: Settings) -> tuple[str, ...]:
    """The months that have a subscribers extract in the landing folder, oldest first."""
    folder = f"{settings.path('landing')}/subscribers"
    months = landing.list_months(spark, folder)
    if not months:
        raise landing.LandingError(f"{folder}: no monthly extracts (extract=yyyy-MM folders)")
    return months


# ------------------------------------------------------------------ features

@dataclass
class FeaturesSummary:
    months: list[str]
    tables: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


def _bronze(spark: SparkSession, lakehouse: str, name: str) -> DataFrame:
    return lh.read_table(spark, lakehouse, f"bronze.{name}").drop("_source_file")


def subscriber_query(spark: SparkSession, settings: Settings, months: list[str]) -> DataFrame:
    """The subscriber-month features of `months` from bronze (not written)."""
    from sparkvalue.features.usage import subscriber_month_features

    lakehouse = settings.path("lakehouse")
    return subscriber_month_features(*[_bronze(spark, lakehouse, name) for name in
                                       ("subscribers", "usage_monthly", "bundles", "product_events")],
                                     months=months)


def graph_query(spark: SparkSession, settings: Settings, months: list[str]) -> DataFrame:
    """The graph features of `months` from bronze (not written), the roles of the months
    before from silver when it holds them."""
    from sparkvalue.features.graph import graph_features

    lakehouse, g = settings.path("lakehouse"), settings.graph
    return graph_features(_bronze(spark, lakehouse, "call_edges"), _bronze(spark, lakehouse, "subscribers"),
                          months=months, hub_min_in_degree=g.hub_min_in_degree,
                          strong_tie_minutes=g.strong_tie_minutes,
                          reset_probability=g.pagerank_reset_probability, max_iter=g.max_iter,
                          tol=g.pagerank_tol, previous_roles=_previous_roles(spark, lakehouse, months))


def vpn_targets_query(spark: SparkSession, settings: Settings, months: list[str]) -> DataFrame:
    """gold.vpn_targets of `months` from the features, segments and call edges of those months
    (not written)."""
    from sparkvalue.marketing.groups import vpn_targets

    lakehouse, in_months = settings.path("lakehouse"), F.col("month").isin(months)
    return vpn_targets(*[lh.read_table(spark, lakehouse, name).where(in_months) for name in
                         ("silver.subscriber_features", "gold.segments", "bronze.call_edges")], settings)


def features(spark: SparkSession, settings: Settings, months: list[str] | tuple[str, ...]) -> FeaturesSummary:
    """Silver features of `months` from bronze: subscriber-month, graph, warnings.

    Point in time: each month's features use bronze rows of that month and earlier.
    Re-running replaces those months.
    """
    from sparkvalue.features.columns import GRAPH_FEATURES, names
    from sparkvalue.features.usage import alone_if_null
    from sparkvalue.features.warnings import trial_expiries, warning_flags

    months = sorted(set(months))
    lakehouse = settings.path("lakehouse")
    summary = FeaturesSummary(months, {})
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    started = time.perf_counter()
    subscriber = _write_table(spark, subscriber_query(spark, settings, months),
                              lh.SILVER["subscriber_features"], lakehouse, in_months, started, summary)

    started = time.perf_counter()
    graph = graph_query(spark, settings, months)
    community = Window.partitionBy("month", "community", alone_if_null("community"))
    graph = (graph.join(subscriber.select("month", "subscriber_id", "revenue"),
                        on=["month", "subscriber_id"], how="left")
             .withColumn("revenue_vs_community",
                         F.when(F.col("community").isNotNull(),
                                F.col("revenue") / F.avg("revenue").over(community) - 1.0))
             .select(*names(GRAPH_FEATURES)))
    graph = _write_table(spark, graph, lh.SILVER["graph_features"], lakehouse, in_months, started, summary)

    started = time.perf_counter()
    joined = subscriber.join(graph, on=["month", "subscriber_id"], how="left")
    contacts = _bronze(spark, lakehouse, "contact_history").where(F.col("month") <= months[-1])
    warnings = warning_flags(joined, trial_expiries(contacts), rules_config=settings.warnings)
    _write_table(spark, warnings, lh.SILVER["warnings"], lakehouse, in_months, started, summary,
                 warnings=settings.warnings)
    return summary


def _beside(aside: Callable[[], object], main: Callable[[], object], *, name: str) -> None:
    """Run `aside` in a second thread of this Spark application while `main` runs in this one,
    and return when both are done (an error of either is raised): one chain's driver-side work
    (model loading, Delta commits) overlaps the other's jobs."""
    with ThreadPoolExecutor(1, thread_name_prefix=name) as side:
        future = side.submit(aside)
        main()
        future.result()


def _write_table(spark: SparkSession, df: DataFrame, doc: lh.TableDoc, lakehouse: str, in_months: str,
                 started: float, summary, warnings=None, *, held: bool = False) -> DataFrame:
    """Write a silver/gold table's months (key checked), note the time, and read them back.
    `held`: see `_write_checked`."""
    path = lh.table_path(lakehouse, doc)
    _write_checked(df, path, doc, in_months, warnings, held=held)
    summary.tables[doc.name] = path
    summary.seconds[doc.name] = round(time.perf_counter() - started, 2)
    log.info("%s %s..%s: %s in %.1fs", doc.layer, summary.months[0], summary.months[-1], doc.name,
             summary.seconds[doc.name])
    return spark.read.format("delta").load(path).where(in_months)


def _previous_roles(spark: SparkSession, lakehouse: str, months: list[str]) -> DataFrame | None:
    """The community roles silver.graph_features holds for the months before `months` (those
    not among them), when it holds every one of them: the churned contacts' leaders come
    from there instead of computing those months' graph again. None when one is missing."""
    from delta.tables import DeltaTable

    from sparkvalue.features.months import months_before

    before = months_before(months)
    path = lh.table_path(lakehouse, lh.SILVER["graph_features"])
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    roles = spark.read.format("delta").load(path).where(F.col("month").isin(before))
    if len(roles.select("month").distinct().collect()) < len(before):
        return None
    log.info("graph: the community roles of %s from silver.graph_features", ", ".join(before))
    return roles.select("month", F.col("subscriber_id").alias("id"), "community_role")


def table_months(spark: SparkSession, settings: Settings, table: str) -> list[str]:
    """Months present in a lakehouse table (a small aggregate, one row per month)."""
    rows = lh.read_table(spark, settings.path("lakehouse"), table).select("month").distinct().collect()
    return sorted(r[0] for r in rows)


def bronze_months(spark: SparkSession, settings: Settings) -> list[str]:
    return table_months(spark, settings, "bronze.subscribers")


def _write_checked(df: DataFrame, path: str, doc: lh.TableDoc, where: str, warnings=None, *,
                   held: bool = False) -> None:
    """Write the months of a silver/gold table, documented, after checking its key is unique.
    `warnings`: the configuration silver.warnings' column comments describe.

    The rows are persisted for the check and the write, so they are computed once; `held`: they
    are a projection of rows already persisted (`exact_rank`'s), which both then read instead of
    a copy (7 M synthetic rows ranked, key-checked and written to Delta: 59-61 s with the copy,
    49-54 s without)."""
    name = f"{doc.layer}.{doc.name}"
    df = documented(df, name, warnings)
    if not held:
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        lh.assert_unique(df, doc.key, table=name)
        lh.replace_partition(df, path, where=where, partition_by=doc.partition, description=doc.description)
    finally:
        df.unpersist()


# ------------------------------------------------------------------ models

@dataclass
class TrainSummary:
    months: list[str]
    results: list  # lifecycle.TrainResult per tree model
    ahp: dict[str, float]
    consistency: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)


def silver_months(spark: SparkSession, settings: Settings) -> list[str]:
    return table_months(spark, settings, "silver.subscriber_features")


def training_frame_query(spark: SparkSession, settings: Settings, kinds: tuple[str, ...],
                         months: list[str]) -> DataFrame:
    """The model frame the models of `kinds` read (not persisted) over the months they read, the
    trees' training windows and held-out months and the segments' latest; silver's `months`.
    `train` computes it once for all the trees (each then takes its months, population and
    label) and once for the segments."""
    from sparkvalue.models.indicators import model_frame
    from sparkvalue.models.training import frame_columns, frame_months, model_months, with_labels

    lakehouse = settings.path("lakehouse")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    graph = lh.read_table(spark, lakehouse, "silver.graph_features")
    frame = model_frame(subscriber, graph, frame_months(settings, kinds, months))
    return with_labels(frame.select(*frame_columns(settings, kinds, frame.columns)), subscriber,
                       model_months(settings, kinds, months))


def training_frame(spark: SparkSession, settings: Settings, trees: tuple[str, ...],
                   months: list[str]) -> tuple[DataFrame, dict[str, dict[float, int]]]:
    """The trees' shared model frame, held in memory, and each tree's training rows per class.

    Narrow first (see `training.class_summary`): a pass over keys, the populations' columns and
    the labels counts every tree's classes and maps its training positives; the wide rows are
    then only those some tree reads (its held-out months, the training rows its sample draws,
    the positives), chosen before they are shuffled. Every tree's counts, sample and held-out
    rows are those of `training_frame_query`'s frame of all rows."""
    from sparkvalue.models import training as tr
    from sparkvalue.models.indicators import model_frame

    lakehouse = settings.path("lakehouse")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    graph = lh.read_table(spark, lakehouse, "silver.graph_features")
    splits = tr.model_splits(settings, trees, months)
    labelled = tr.model_months(settings, trees, months)
    frame_months = tr.frame_months(settings, trees, months)
    present = subscriber.where(F.col("month").isin(frame_months) & (F.col("status") != "cancelled"))
    specs = [spec for spec, _ in splits]
    wide = model_frame(subscriber, graph, frame_months)
    # the populations read on silver's subscriber columns (the defaults' do): no joins
    narrow = present if all(tr.reads_on(spec, present.columns, wide.columns) for spec in specs) else wide
    marks = tr.label_marks(subscriber, labelled).persist(StorageLevel.MEMORY_AND_DISK)  # read twice
    narrow = tr.with_labels(narrow.select(*tr.population_columns(specs, narrow.columns)), subscriber,
                            labelled, marks)
    summary = tr.class_summary(narrow, splits).persist(StorageLevel.MEMORY_AND_DISK)
    counts, everything = tr.summary_counts(summary, splits)
    shares = {kind: tr.negative_share(c, settings.models.fit_sample)
              for kind, c in counts.items() if all(c.values())}  # a tree with one class fails alone
    read = tr.read_condition(present, splits, shares, settings.models.seed, wide.columns)
    sampled = any(share < 1.0 for share in shares.values())
    frame = model_frame(subscriber, graph, frame_months,
                        keep=lambda rows: tr.kept_rows(rows, read, summary if sampled else None))
    frame = tr.with_labels(frame.select(*tr.frame_columns(settings, trees, frame.columns)), subscriber,
                           labelled, marks).persist(StorageLevel.MEMORY_AND_DISK)
    rows = frame.count()
    summary.unpersist()
    marks.unpersist()
    log.info("training frame: %d of the %d subscriber-months of the trees' months (held-out months, "
             "positives, the samples' draws)", rows, everything)
    return frame, counts


def train(spark: SparkSession, settings: Settings, *, kinds: tuple[str, ...] | None = None,
          max_depth: int | None = None) -> TrainSummary:
    """Train the models on silver (each an MLflow run and a registered version; the
    champion alias moves only to a version at least as good), log the value AHP, and
    write every new tree's rules and lift table to gold.model_rules / gold.model_lift.

    `kinds`: stickiness, anomaly, propensity-<name>, segments; default all of them.
    """
    from sparkvalue.models import lifecycle
    from sparkvalue.models.training import model_spec, tree_kinds

    kinds = kinds or (*tree_kinds(settings), "segments")

    lakehouse = settings.path("lakehouse")
    months = silver_months(spark, settings)
    ahp = _log_value_ahp(settings)
    summary = TrainSummary(months, [], ahp.weights,
                           {"groups": ahp.groups.consistency_ratio,
                            **{g: r.consistency_ratio for g, r in ahp.members.items()}})
    # the trees share one frame held in memory; the segments read their one month apart (the
    # latest, which no tree reads), so that the trees' frame holds no month for them alone
    trees = tuple(k for k in kinds if k != "segments")

    def fit(kind: str, frame: DataFrame | None, counts: dict[str, dict[float, int]]):
        started = time.perf_counter()
        if kind == "segments":
            result = lifecycle.train_segments(
                spark, settings, training_frame_query(spark, settings, ("segments",), months), months[-1])
        else:
            result = lifecycle.train_tree(spark, settings, model_spec(settings, kind), frame, counts[kind],
                                          months, max_depth=max_depth)
        return result, round(time.perf_counter() - started, 2)

    # `models.concurrent_fits` models at a time, threads of this Spark application: much of a
    # model's time is the driver's (MLflow, saving and loading model files, planning), which
    # another model's Spark jobs fill. The segments start first, while this thread builds the
    # trees' frame: they need not wait for it, and the longest fit started last would leave the
    # other threads idle at the end. A model that fails does not stop the others; the rules of
    # those trained are written, then the first failure is raised.
    failures = []
    frame = None
    with ThreadPoolExecutor(settings.models.concurrent_fits, thread_name_prefix="train") as pool:
        submitted = {"segments": pool.submit(fit, "segments", None, {})} if "segments" in kinds else {}
        if trees:
            started = time.perf_counter()
            frame, counts = training_frame(spark, settings, trees, months)
            summary.seconds["frame"] = round(time.perf_counter() - started, 2)
            submitted.update({kind: pool.submit(fit, kind, frame, counts) for kind in trees})
        for kind in kinds:
            try:
                result, summary.seconds[kind] = submitted[kind].result()
            except Exception as exc:  # noqa: BLE001 - raised below, once the others are done
                failures.append(exc)
                continue
            summary.results.append(result)
    if frame is not None:
        frame.unpersist()
    _write_rules(spark, lakehouse, [r for r in summary.results if isinstance(r, lifecycle.TrainResult)])
    if failures:
        raise failures[0]
    return summary


def _log_value_ahp(settings: Settings):
    """The AHP behind the value index as an MLflow run: weights and consistency ratios."""
    import mlflow

    from sparkvalue.models import tracking
    from sparkvalue.models.value import ahp_model

    model = ahp_model(settings)  # refuses an inconsistent matrix before anything is trained
    tracking.configure(settings)
    mlflow.set_experiment(experiment_id=tracking.experiment(settings, "value"))
    with mlflow.start_run(run_name="value-ahp"):
        mlflow.log_params({f"weight_{k}": round(v, 6) for k, v in model.weights.items()})
        mlflow.log_params({"key_person_bonus": settings.value.key_person_bonus,
                           "robust_quantiles": list(settings.value.robust_quantiles)})
        mlflow.log_metrics({"cr_groups": model.groups.consistency_ratio,
                            **{f"cr_{g}": r.consistency_ratio for g, r in model.members.items()}})
        tracking.log_json({"groups": model.groups.as_dict(),
                           "members": {g: r.as_dict() for g, r in model.members.items()},
                           "global": model.weights,
                           "consistency_ratio": {"groups": model.groups.consistency_ratio,
                                                 **{g: r.consistency_ratio
                                                    for g, r in model.members.items()}}},
                          "ahp.json")
    return model


def _write_rules(spark: SparkSession, lakehouse: str, results: list) -> None:
    """The new versions' leaves (gold.model_rules) and held-out lift tables (gold.model_lift), one
    write per table for every model trained."""
    from sparkvalue.models import columns as gold

    if not results:
        return
    rules = [(x.name, x.version, r["leaf"], r["rule"], r["path"], r["depth"], r["rows"], r["positives"],
              float(r["rate"]), float(r["balanced_rate"]), r["raising"], x.promoted)
             for x in results for r in x.leaves]
    lift = [(x.name, x.version, d["decile"], float(d["rows"]), float(d["positives"]), float(d["rate"]),
             x.metrics.base_rate, float(d["lift"]), ",".join(x.split.holdout))
            for x in results for d in x.metrics.deciles]
    versions = " OR ".join(f"(model_name = '{x.name}' AND model_version = {x.version})" for x in results)
    for table, contract, rows, schema in (
        ("model_rules", gold.MODEL_RULES, rules,
         "leaf int, rule string, rule_path string, depth int, subscribers long, leavers long, "
         "leaver_share double, balanced_leaver_share double, raising_indicators array<string>, "
         "is_champion boolean"),
        ("model_lift", gold.MODEL_LIFT, lift,
         "decile int, subscribers double, positives double, rate double, base_rate double, lift double, "
         "holdout_months string"),
    ):
        df = (spark.createDataFrame(rows, "model_name string, model_version int, " + schema)
              .withColumn("trained_at", F.current_timestamp())
              .select(*[c for c, _, _ in contract]))
        doc = lh.GOLD[table]
        _write_checked(df, lh.table_path(lakehouse, doc), doc, versions)


@dataclass
class ScoreSummary:
    months: list[str]
    versions: dict[str, int]
    tables: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


def score(spark: SparkSession, settings: Settings, months: list[str] | tuple[str, ...]) -> ScoreSummary:
    """Every gold table of `months` from the champion models only: stickiness, anomaly,
    value (+ tiers), segments (+ profiles), propensity, long-distance targets.

    Every row carries the model version and the scoring time. Re-running replaces
    those months.
    """
    from datetime import UTC, datetime

    from sparkvalue.features.columns import names
    from sparkvalue.models import columns as gold
    from sparkvalue.models import lifecycle, tracking
    from sparkvalue.models.indicators import assemble_inputs, model_frame
    from sparkvalue.models.training import model_spec, tree_kinds

    months = sorted(set(months))
    lakehouse = settings.path("lakehouse")
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    client = tracking.configure(settings)
    for kind in (*tree_kinds(settings), "segments"):  # refuse before writing anything
        tracking.require_champion(client, tracking.model_name(settings, kind))
    scored_at = F.lit(datetime.now(UTC).replace(microsecond=0)).cast("timestamp")
    subscriber = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    graph = lh.read_table(spark, lakehouse, "silver.graph_features")
    frame = model_frame(subscriber, graph, months).persist(StorageLevel.MEMORY_AND_DISK)
    summary = ScoreSummary(months, {}, {})

    def tree_table(kind: str) -> DataFrame:
        started = time.perf_counter()
        spec = model_spec(settings, kind)
        name = tracking.model_name(settings, kind)
        champion, fitted = lifecycle.load_champion(client, name)
        rows = fitted.score(spark, assemble_inputs(frame, spec.indicators))
        stamp = [F.lit(name).alias("model_name"), F.lit(champion.version).alias("model_version"),
                 scored_at.alias("scored_at")]
        if kind == "stickiness":
            t = settings.stickiness.tiers
            out = rows.select(
                "subscriber_id", "month",
                (F.lit(100.0) * (1.0 - F.col("rate"))).alias("stickiness_score"), "leaf", "rule_path",
                *stamp)
            out = out.withColumn("stickiness_tier",
                                 F.when(F.col("stickiness_score") >= t.high, "high")
                                 .when(F.col("stickiness_score") >= t.mid, "mid").otherwise("low"))
        else:
            out = rows.select(
                "subscriber_id", "month",
                (F.lit(100.0) * F.col("rate")).alias("anomaly_score"),
                F.col("raising").alias("fired_indicators"), "leaf", "rule_path", *stamp)
            out = out.withColumn("is_anomalous", F.col("anomaly_score") >= settings.anomaly.flag_threshold)
        out = out.withColumn("leaf", F.col("leaf").cast("int")).select(*names(getattr(gold, kind.upper())))
        summary.versions[kind] = champion.version
        return _write_table(spark, out, lh.GOLD[kind], lakehouse, in_months, started, summary)

    def propensity_table() -> None:
        started = time.perf_counter()
        propensity, held = _propensity(spark, settings, client, frame, scored_at, summary)
        try:
            _write_table(spark, propensity.select(*names(gold.PROPENSITY)), lh.GOLD["propensity"],
                         lakehouse, in_months, started, summary, held=True)
        finally:
            held.unpersist()

    # two chains at once, each a thread of this Spark application (one's driver-side work, model
    # loading and Delta commits, overlaps the other's jobs): anomaly and propensity beside
    # stickiness, value, segments and long-distance targets, which need each other in that order
    _beside(lambda: (tree_table("anomaly"), propensity_table()),
            lambda: _score_chain(spark, settings, client, frame, subscriber, tree_table("stickiness"),
                                 in_months, scored_at, summary), name="score")
    frame.unpersist()
    return summary


def _score_chain(spark: SparkSession, settings: Settings, client, frame: DataFrame, subscriber: DataFrame,
                 stickiness: DataFrame, in_months: str, scored_at, summary: ScoreSummary) -> None:
    """gold.value and value_tiers, segment_profiles and segments, ld_targets (`score`)."""
    from sparkvalue.features.columns import names
    from sparkvalue.models import columns as gold
    from sparkvalue.models import lifecycle, tracking

    lakehouse = settings.path("lakehouse")
    started = time.perf_counter()
    value, tiers, held = _value(spark, settings, frame, stickiness, subscriber, scored_at)
    try:
        _write_table(spark, value.select(*names(gold.VALUE)), lh.GOLD["value"], lakehouse, in_months,
                     started, summary, held=True)
        started = time.perf_counter()
        _write_table(spark, tiers, lh.GOLD["value_tiers"], lakehouse, in_months, started, summary)
    finally:
        held.unpersist()
    value = lh.read_table(spark, lakehouse, "gold.value").where(in_months)

    started = time.perf_counter()
    name = tracking.model_name(settings, "segments")
    champion, seg_model, seg_meta = lifecycle.load_segments(client, name)
    version = champion.version
    stamp = [F.lit(name).alias("model_name"), F.lit(version).alias("model_version"),
             scored_at.alias("scored_at")]
    profiles, assigned = _segment_profiles(spark, settings, frame, seg_model, seg_meta, value, stickiness,
                                           stamp)
    _write_table(spark, profiles.select(*names(gold.SEGMENT_PROFILES)), lh.GOLD["segment_profiles"],
                 lakehouse, in_months, started, summary)
    profiles = lh.read_table(spark, lakehouse, "gold.segment_profiles").where(in_months)
    segments_out = assigned.join(profiles.select("month", "segment", "segment_name", "segment_group"),
                                 ["month", "segment"]).select(*names(gold.SEGMENTS[:-3]), *stamp)
    segments_out = _write_table(spark, segments_out, lh.GOLD["segments"], lakehouse, in_months, started,
                                summary)
    summary.versions["segments"] = version
    assigned.unpersist()

    started = time.perf_counter()
    _write_table(spark, _ld_targets(settings, frame, segments_out, scored_at).select(*names(gold.LD_TARGETS)),
                 lh.GOLD["ld_targets"], lakehouse, in_months, started, summary)


def _segment_profiles(spark: SparkSession, settings: Settings, frame: DataFrame, model, meta: list[dict],
                      value: DataFrame, stickiness: DataFrame, stamp: list) -> tuple[DataFrame, DataFrame]:
    """Per month and segment: size, share, averages, what sets it apart, the group; and the
    subscriber -> segment assignment (persisted)."""
    from sparkvalue.models import segments as seg

    features = list(settings.segments.features)
    assigned = seg.assign(model, seg.usage_profile(frame, settings.segments.features)) \
        .persist(StorageLevel.MEMORY_AND_DISK)
    joined = (assigned.join(frame.select("subscriber_id", "month", "tenure_months",
                                         *[F.coalesce(F.col(f).cast("double"), F.lit(0.0)).alias(f)
                                           for f in features]), ["subscriber_id", "month"])
              .join(value.select("subscriber_id", "month", "value_score"), ["subscriber_id", "month"], "left")
              .join(stickiness.select("subscriber_id", "month", "stickiness_score"),
                    ["subscriber_id", "month"], "left"))
    logged = {f: F.log1p(F.greatest(F.col(f), F.lit(0.0))) for f in features}
    grouped = joined.groupBy("month", "segment").agg(
        F.count("*").alias("subscribers"), F.avg("value_score").alias("avg_value_score"),
        F.avg("stickiness_score").alias("avg_stickiness"), F.avg("tenure_months").alias("avg_tenure_months"),
        *[F.avg(f).alias(f"{f}_mean") for f in features],
        *[F.avg(logged[f]).alias(f"{f}_log_mean") for f in features])
    population = joined.groupBy("month").agg(
        *[F.avg(f).alias(f"{f}_pop") for f in features],
        *[F.avg(logged[f]).alias(f"{f}_log_pop") for f in features],
        *[F.stddev_pop(logged[f]).alias(f"{f}_log_sd") for f in features])
    month = Window.partitionBy("month")
    ratios = grouped.join(F.broadcast(population), "month").select(
        "*", (F.col("subscribers") / F.sum("subscribers").over(month)).alias("share"),
        *[F.when(F.col(f"{f}_pop") > 0, F.col(f"{f}_mean") / F.col(f"{f}_pop")).alias(f"{f}_ratio")
          for f in features],
        # distance from the population on the scale k-means sees: log(1 + x), in standard deviations
        *[F.when(F.col(f"{f}_log_sd") > 0, (F.col(f"{f}_log_mean") - F.col(f"{f}_log_pop"))
                 / F.col(f"{f}_log_sd")).otherwise(0.0).alias(f"{f}_z") for f in features])
    names = spark.createDataFrame([(int(m["segment"]), m["name"]) for m in meta],
                                  "segment int, segment_name string")
    n = settings.segments.distinguishing_features
    ranked = F.sort_array(F.array(*[F.struct(
        (-F.abs(F.col(f"{f}_z"))).alias("k"),
        F.format_string(f"{seg.LABELS.get(f, f)} %.1fx the average (%+.1f sd)", F.col(f"{f}_ratio"),
                        F.col(f"{f}_z")).alias("w"))
        for f in features]))
    profiles = (ratios.join(F.broadcast(names), "segment", "left")
                .withColumn("segment_group", seg.group_column(settings))
                .withColumn("distinguishing", F.transform(F.slice(ranked, 1, n), lambda x: x["w"]))
                .withColumn("feature_means", F.create_map(*[c for f in features
                                                            for c in (F.lit(f), F.col(f"{f}_mean"))]))
                .withColumn("feature_ratios", F.create_map(*[c for f in features
                                                             for c in (F.lit(f), F.col(f"{f}_ratio"))]))
                .select("*", *stamp))
    return profiles, assigned


def _propensity(spark: SparkSession, settings: Settings, client, frame: DataFrame, scored_at,
                summary: ScoreSummary) -> tuple[DataFrame, DataFrame]:
    """Every propensity model's population scored by its champion; decile within month and model.
    And the persisted rows that reads (`exact_rank`): unpersist them when done."""
    from sparkvalue.models import lifecycle, tracking
    from sparkvalue.models.indicators import assemble_inputs
    from sparkvalue.models.ranking import exact_rank
    from sparkvalue.models.training import SCORE, model_spec
    from sparkvalue.models.training import population as in_population

    parts = []
    for key, cfg in settings.propensity.models.items():
        kind = f"propensity-{key}"
        spec = model_spec(settings, kind)
        name = tracking.model_name(settings, kind)
        champion, fitted = lifecycle.load_champion(client, name)
        inputs = assemble_inputs(in_population(frame, spec), spec.indicators)
        rows = fitted.score(spark, inputs)
        parts.append(rows.select(
            "subscriber_id", "month", F.lit(key).alias("model"), F.lit(cfg.service).alias("service"),
            F.col(SCORE).alias("probability"), F.col("leaf").cast("int").alias("leaf"), "rule_path",
            F.lit(name).alias("model_name"), F.lit(champion.version).alias("model_version"),
            scored_at.alias("scored_at")))
        summary.versions[kind] = champion.version
    scored = functools.reduce(DataFrame.unionByName, parts) \
        .withColumn("_part", F.concat_ws("|", "month", "model"))
    ranked, held = exact_rank(scored, partition="_part",
                              order=[F.col("probability").desc(), F.col("subscriber_id")])
    decile = F.ceil(F.col("rank") * 10.0 / F.col("partition_rows")).cast("int")
    return ranked.withColumn("decile", decile), held


def _ld_targets(settings: Settings, frame: DataFrame, segments: DataFrame, scored_at) -> DataFrame:
    """Subscribers whose long-distance minutes concentrate on one region, with the region's count."""
    cfg = settings.long_distance
    targets = frame.where((F.col("ld_minutes") >= cfg.min_minutes)
                          & (F.col("ld_top_region_share") >= cfg.min_share)
                          & F.col("ld_top_region").isNotNull())
    return (targets.select("subscriber_id", "month", F.col("ld_top_region").alias("ld_region"),
                           F.col("ld_top_region_share").alias("ld_region_share"), "ld_minutes",
                           F.col("long_distance_min").cast("double").alias("long_distance_min"))
            .withColumn("region_targets", F.count("*").over(Window.partitionBy("month", "ld_region")))
            .join(segments.select("subscriber_id", "month", "segment_name"), ["subscriber_id", "month"],
                  "left")
            .withColumn("scored_at", scored_at))


def snapshot_cohort(subscriber: DataFrame, settings: Settings) -> DataFrame:
    """The snapshot cohort (拍照客户), frozen in `value.snapshot_month` (default: silver's first
    month): (subscriber_id, revenue_3m_avg) of that month's subscribers with a 3-month average
    revenue of at least `value.snapshot_min_revenue`. `subscriber`: silver.subscriber_features."""
    cfg = settings.value
    month = cfg.snapshot_month or subscriber.agg(F.min("month")).first()[0]
    in_cohort = (F.col("month") == month) & (F.col("revenue_3m_avg") >= cfg.snapshot_min_revenue)
    return subscriber.where(in_cohort).select("subscriber_id", "revenue_3m_avg")


def _value(spark: SparkSession, settings: Settings, frame: DataFrame, stickiness: DataFrame,
           subscriber: DataFrame, scored_at) -> tuple[DataFrame, DataFrame, DataFrame]:
    from sparkvalue.features.columns import names
    from sparkvalue.models import columns as gold
    from sparkvalue.models import value as v

    cfg = settings.value
    model = v.ahp_model(settings)
    snapshot = snapshot_cohort(subscriber, settings).select("subscriber_id")  # one month: unique ids
    horizon = settings.stickiness.horizon_months
    joined = (frame.join(stickiness.select("subscriber_id", "month", "stickiness_score",
                                           F.col("model_version").alias("stickiness_model_version")),
                         ["subscriber_id", "month"], "left")
              .join(snapshot.withColumn("in_snapshot", F.lit(True)), "subscriber_id", "left")
              .fillna({"in_snapshot": False}))
    scored = v.rfm_scores(v.value_index(joined, model, settings))
    p_stay = F.col("stickiness_score") / 100.0
    scored = scored.select(
        "*",
        (F.coalesce(F.col("revenue_3m_avg"), F.col("revenue"))
         * F.coalesce(F.col("return_rate"), F.lit(0.0))).alias("monthly_margin"),
        F.pow(p_stay, F.lit(1.0 / horizon)).alias("p_stay_monthly"),
        scored_at.alias("scored_at"),
    ).withColumn("clv", v.clv(F.col("monthly_margin"), p_stay, stickiness_horizon=horizon,
                              months=cfg.clv_horizon_months,
                              annual_discount_rate=cfg.clv_annual_discount_rate))
    # Ranked (sorted and persisted) with the gold columns only, not the ~250 of the model frame.
    kept = [c for c in names(gold.VALUE) if c not in ("value_rank", "value_tier")]
    ranked, held = v.with_tiers(scored.select(*kept), settings)
    return ranked, v.tier_validation(ranked, snapshot), held


# ------------------------------------------------------------------ marketing

@dataclass
class RecommendSummary:
    months: list[str]
    tables: dict[str, str]
    strategies: dict[str, int]  # subscribers per strategy over the months
    seconds: dict[str, float] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)  # recommended offers per slot
    excluded: int = 0  # subscriber-months excluded from every offer


def recommend(spark: SparkSession, settings: Settings,
              months: list[str] | tuple[str, ...]) -> RecommendSummary:
    """The marketing matrix, recommendations, exclusions, discount audit, segment codes, corporate
    group priority and VPN targets of `months` from the gold model tables (score them first)."""
    from datetime import UTC, datetime

    from sparkvalue.features.columns import names
    from sparkvalue.marketing.matrix import with_strategy
    from sparkvalue.marketing.offers import check_catalog
    from sparkvalue.models import columns as gold

    check_catalog(spark, settings)  # a bad offer rule stops the run before anything is written
    months = sorted(set(months))
    lakehouse = settings.path("lakehouse")
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    scored_at = F.lit(datetime.now(UTC).replace(microsecond=0)).cast("timestamp")
    key = ["subscriber_id", "month"]

    def gold_table(name: str, *cols: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, f"gold.{name}").where(in_months).select(*key, *cols)

    started = time.perf_counter()
    top = gold_table("propensity", "model", "probability").groupBy(*key).agg(
        F.max_by("model", "probability").alias("top_service_model"),
        F.max("probability").alias("top_service_probability"))
    views = (gold_table("value", "value_tier", "value_score")
             .join(gold_table("stickiness", "stickiness_tier", "stickiness_score"), key, "left")
             .join(gold_table("anomaly", "is_anomalous", "anomaly_score"), key, "left")
             .join(gold_table("segments", "segment", "segment_name", "segment_group"), key, "left")
             .join(top, key, "left"))
    matrix = with_strategy(views, settings).withColumn("scored_at", scored_at) \
        .select(*names(gold.MARKETING_MATRIX)).persist(StorageLevel.MEMORY_AND_DISK)  # joined once
    missing = matrix.where(F.col("strategy").isNull()).count()
    if missing:  # checked before anything is written
        raise ValueError(f"{missing:,} subscriber-month(s) of {months[0]}..{months[-1]} have no strategy: "
                         "a gold model table lacks them; re-run `sparkvalue score` for these months")
    summary = RecommendSummary(months, {}, {})
    written = _write_table(spark, matrix, lh.GOLD["marketing_matrix"], lakehouse, in_months, started, summary)
    matrix.unpersist()
    matrix = written

    started = time.perf_counter()
    cells = ["month", "value_tier", "stickiness_tier", "is_anomalous", "segment_group", "matrix_rule",
             "strategy"]
    counts = matrix.groupBy(*cells).agg(F.count("*").alias("subscribers")).withColumn(
        "share", F.col("subscribers") / F.sum("subscribers").over(Window.partitionBy("month")))
    _write_table(spark, counts.select(*names(gold.MATRIX_SUMMARY)), lh.GOLD["matrix_summary"], lakehouse,
                 in_months, started, summary)
    summary.strategies = {r["strategy"]: r["n"] for r in
                          matrix.groupBy("strategy").agg(F.count("*").alias("n")).collect()}
    # the offers and the other marketing tables (which do not read them) at once, in two threads
    _beside(lambda: _marketing_tables(spark, settings, months, in_months, summary),
            lambda: _recommend_offers(spark, settings, months, matrix, in_months, scored_at, summary),
            name="recommend")
    return summary


def _recommend_offers(spark: SparkSession, settings: Settings, months: list[str], matrix: DataFrame,
                      in_months: str, scored_at: Column, summary: RecommendSummary) -> None:
    """gold.recommendations and gold.marketing_exclusions from the offer frame."""
    from sparkvalue.marketing import offers

    lakehouse = settings.path("lakehouse")
    started = time.perf_counter()
    frame = offers.offer_frame(spark, settings, months, matrix)
    recs, exclusions, staged = offers.recommend(frame, settings, scored_at)
    recs = _write_table(spark, recs, lh.GOLD["recommendations"], lakehouse, in_months, started, summary)
    started = time.perf_counter()
    exclusions = _write_table(spark, exclusions, lh.GOLD["marketing_exclusions"], lakehouse, in_months,
                              started, summary)
    staged.unpersist()
    summary.offers = {r["slot"]: r["n"] for r in recs.where("recommended").groupBy("slot")
                      .agg(F.count("*").alias("n")).collect()}
    summary.excluded = exclusions.count()


def _marketing_tables(spark: SparkSession, settings: Settings, months: list[str], in_months: str,
                      summary: RecommendSummary) -> None:
    """Discount audit, segment codes, corporate group priority and VPN targets of `months`."""
    from sparkvalue.features.columns import names
    from sparkvalue.marketing import audit, codes, groups
    from sparkvalue.models import columns as gold

    lakehouse = settings.path("lakehouse")

    def table(name: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, name).where(in_months)

    features = table("silver.subscriber_features")
    months_df = spark.createDataFrame([(m,) for m in months], "month string")
    bundles = lh.read_table(spark, lakehouse, "bronze.bundles")

    def write(name: str, df: DataFrame, started: float) -> DataFrame:
        return _write_table(spark, df.select(*names(getattr(gold, name.upper()))), lh.GOLD[name], lakehouse,
                            in_months, started, summary)

    started = time.perf_counter()
    received = audit.received_discounts(bundles, features, months_df)
    write("discount_audit", audit.discount_audit(received, features, table("gold.stickiness"),
                                                 table("gold.value"), settings), started)
    started = time.perf_counter()
    segment_codes = write("segment_codes", codes.segment_codes(features, settings), started)
    started = time.perf_counter()
    write("segment_code_summary", codes.code_summary(segment_codes, features), started)
    started = time.perf_counter()
    priority = write("group_priority", groups.group_priority(table("bronze.groups"), features,
                                                             table("gold.value"), settings), started)
    started = time.perf_counter()
    write("group_priority_summary", groups.priority_summary(spark, priority, settings, months), started)
    started = time.perf_counter()
    write("vpn_targets", vpn_targets_query(spark, settings, months), started)


# ------------------------------------------------------------------ closed loop

@dataclass
class EvaluateSummary:
    months: list[str]
    tables: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


def contact_months(spark: SparkSession, settings: Settings) -> list[str]:
    return table_months(spark, settings, "bronze.contact_history")


def evaluate(spark: SparkSession, settings: Settings, months: list[str] | tuple[str, ...]) -> EvaluateSummary:
    """Campaign results and uplift by propensity decile of the contacts made in `months`; the
    subscriber tags, marketing track and KPIs of those months."""
    from sparkvalue.closedloop import campaigns, tags
    from sparkvalue.features.months import add_months

    months = sorted(set(months))
    lakehouse = settings.path("lakehouse")
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    history = lh.read_table(spark, lakehouse, "bronze.contact_history").drop("month", "_source_file")
    contacts = history.withColumn("month", F.date_format("contact_date", "yyyy-MM")).where(in_months)
    # the months of revenue the campaign windows and the track read around the contact months
    reach = max(campaigns.WINDOW, tags.REVENUE_AFTER)
    around = sorted({add_months(m, k) for m in months for k in range(-reach, reach + 1)})
    revenue = (lh.read_table(spark, lakehouse, "silver.subscriber_features")
               .where(F.col("month").isin(around)).select("subscriber_id", "month", "revenue"))
    segments = lh.read_table(spark, lakehouse, "gold.segments").where(in_months)
    summary = EvaluateSummary(months, {})
    # the subscriber tags and KPIs in a second thread, beside the campaign tables and the track
    _beside(lambda: _tags_and_kpis(spark, settings, months, in_months, history, summary),
            lambda: _campaign_tables(spark, settings, in_months, contacts, revenue, segments, summary),
            name="evaluate")
    return summary


def _campaign_tables(spark: SparkSession, settings: Settings, in_months: str, contacts: DataFrame,
                     revenue: DataFrame, segments: DataFrame, summary: EvaluateSummary) -> None:
    """gold.campaign_results, campaign_uplift and marketing_track (`evaluate`)."""
    from sparkvalue.closedloop import campaigns, tags
    from sparkvalue.features.columns import names
    from sparkvalue.models import columns as gold

    lakehouse = settings.path("lakehouse")
    started = time.perf_counter()
    results = campaigns.campaign_results(contacts, revenue, segments, settings)
    _write_table(spark, results.select(*names(gold.CAMPAIGN_RESULTS)), lh.GOLD["campaign_results"], lakehouse,
                 in_months, started, summary)
    started = time.perf_counter()
    uplift = campaigns.uplift_by_decile(contacts, lh.read_table(spark, lakehouse, "gold.propensity")
                                        .where(in_months), settings)
    if uplift is not None:
        _write_table(spark, uplift.select(*names(gold.CAMPAIGN_UPLIFT)), lh.GOLD["campaign_uplift"],
                     lakehouse, in_months, started, summary)
    started = time.perf_counter()
    recommended = lh.read_table(spark, lakehouse, "gold.recommendations").where(in_months) \
        .where("recommended")
    track = tags.marketing_track(recommended, contacts, revenue)
    _write_table(spark, track.select(*names(gold.MARKETING_TRACK)), lh.GOLD["marketing_track"], lakehouse,
                 in_months, started, summary)


def _tags_and_kpis(spark: SparkSession, settings: Settings, months: list[str], in_months: str,
                   history: DataFrame, summary: EvaluateSummary) -> None:
    """gold.subscriber_tags and gold.kpis (`evaluate`)."""
    from sparkvalue.closedloop import kpis, tags
    from sparkvalue.features.columns import names
    from sparkvalue.features.months import previous_month
    from sparkvalue.models import columns as gold

    lakehouse = settings.path("lakehouse")

    def gold_table(name: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, f"gold.{name}").where(in_months)

    months_df = spark.createDataFrame([(m,) for m in months], "month string")
    started = time.perf_counter()
    subscriber_tags = tags.subscriber_tags(gold_table("marketing_matrix"), gold_table("propensity"),
                                           tags.contact_tags(history, months_df))
    _write_table(spark, subscriber_tags.select(*names(gold.SUBSCRIBER_TAGS)), lh.GOLD["subscriber_tags"],
                 lakehouse, in_months, started, summary)
    started = time.perf_counter()
    with_previous = [*months, previous_month(months[0])]
    silver_in = F.col("month").isin(with_previous)
    features = lh.read_table(spark, lakehouse, "silver.subscriber_features")
    # the cohort gold.value flags `in_snapshot`, as it was in its month (not as gold.value's
    # first scored month saw it, which counted only those still there)
    snapshot = snapshot_cohort(features, settings)
    table = kpis.kpis(features.where(silver_in),
                      lh.read_table(spark, lakehouse, "silver.warnings").where(silver_in), snapshot,
                      history, months)
    _write_table(spark, table.select(*names(gold.KPIS)), lh.GOLD["kpis"], lakehouse, in_months, started,
                 summary)
