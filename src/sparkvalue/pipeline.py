"""Wiring of the stages: the only layer that reads, writes and logs.

Each function takes the session and the settings and returns a small summary
(counts and locations, never subscriber-level data).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
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
    validate_rows,
)
from sparkvalue.lakehouse import tables as lh
from sparkvalue.privacy import load_key

log = logging.getLogger("sparkvalue")


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
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
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
    spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
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
    # Validation projects ~3 expressions per column; whole-stage code generation of such
    # a wide projection exceeds the JVM's 64 KB method limit and then falls back after a
    # slow failed compile. Wide plans are compiled expression by expression instead.
    previous = spark.conf.get("spark.sql.codegen.maxFields")
    spark.conf.set("spark.sql.codegen.maxFields", "40")
    try:
        for name, spec in RAW_TABLES.items():
            results.extend(_ingest_table(spark, settings, extracts[name], spec, months, key))
    finally:
        spark.conf.set("spark.sql.codegen.maxFields", previous)
    _record_run(spark, lakehouse, run_id, results)
    return results


def _ingest_table(spark: SparkSession, settings: Settings, extracts: list[landing.Extract],
                  spec: RawTable, months: list[str], key: str) -> list[TableResult]:
    """Validate one table's extracts; write bronze and quarantine rows of those months."""
    lakehouse = settings.path("lakehouse")
    started = time.perf_counter()
    raw = landing.read_extracts(spark, extracts, spec, settings.ingest.format)
    checked = validate_rows(raw, spec, key=key, id_length=settings.privacy.id_length)
    checked = flag_duplicates(checked, spec)
    targets = {ref.table: _bronze_months(spark, lakehouse, ref.table, months)
               for ref in spec.references}
    checked = flag_unknown_references(checked, spec, targets)
    checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    # One pass over the persisted rows counts the good ones and the bad ones per rule.
    counts = checked.groupBy(
        F.col(EXTRACT_MONTH).alias("month"),
        F.coalesce(F.substring_index(F.get(F.col(ERRORS), 0), ":", 1), F.lit("")).alias("rule"),
    ).count().collect()
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    lh.replace_partition(good_rows(checked, spec), lh.table_path(lakehouse, lh.BRONZE[spec.name]),
                         where=in_months, partition_by=("month",))
    lh.replace_partition(quarantine_rows(checked, spec),
                         lh.table_path(lakehouse, lh.QUARANTINE),
                         where=f"table_name = '{spec.name}' AND {in_months}",
                         partition_by=lh.QUARANTINE.partition)
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
    lh.append_rows(df, lh.table_path(lakehouse, lh.INGEST_RUNS))


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


def features(spark: SparkSession, settings: Settings, months: list[str] | tuple[str, ...]) -> FeaturesSummary:
    """Silver features of `months` from bronze: subscriber-month, graph, warnings.

    Point in time: each month's features use bronze rows of that month and earlier.
    Re-running replaces those months.
    """
    from sparkvalue.features.columns import GRAPH_FEATURES, names
    from sparkvalue.features.graph import graph_features
    from sparkvalue.features.usage import subscriber_month_features
    from sparkvalue.features.warnings import trial_expiries, warning_flags

    months = sorted(set(months))
    lakehouse = settings.path("lakehouse")

    def bronze(name: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, f"bronze.{name}").drop("_source_file")

    summary = FeaturesSummary(months, {})
    in_months = "month IN (" + ", ".join(f"'{m}'" for m in months) + ")"
    started = time.perf_counter()
    subscriber = subscriber_month_features(
        bronze("subscribers"), bronze("usage_monthly"), bronze("bundles"), bronze("product_events"),
        months=months)
    subscriber = _write_silver(spark, subscriber, "subscriber_features", lakehouse, in_months, started,
                               summary)

    started = time.perf_counter()
    g = settings.graph
    graph = graph_features(bronze("call_edges"), bronze("subscribers"), months=months,
                           hub_min_in_degree=g.hub_min_in_degree, strong_tie_minutes=g.strong_tie_minutes,
                           reset_probability=g.pagerank_reset_probability, max_iter=g.max_iter,
                           tol=g.pagerank_tol)
    community = Window.partitionBy("month", "community")
    graph = (graph.join(subscriber.select("month", "subscriber_id", "revenue"),
                        on=["month", "subscriber_id"], how="left")
             .withColumn("revenue_vs_community",
                         F.when(F.col("community").isNotNull(),
                                F.col("revenue") / F.avg("revenue").over(community) - 1.0))
             .select(*names(GRAPH_FEATURES)))
    graph = _write_silver(spark, graph, "graph_features", lakehouse, in_months, started, summary)

    started = time.perf_counter()
    joined = subscriber.join(graph, on=["month", "subscriber_id"], how="left")
    contacts = bronze("contact_history").where(F.col("month") <= months[-1])
    warnings = warning_flags(joined, trial_expiries(contacts), rules_config=settings.warnings)
    _write_silver(spark, warnings, "warnings", lakehouse, in_months, started, summary)
    return summary


def _write_silver(spark: SparkSession, df: DataFrame, name: str, lakehouse: str, in_months: str,
                  started: float, summary: FeaturesSummary) -> DataFrame:
    """Write a silver table's months (key checked), note the time, and read them back."""
    doc = lh.SILVER[name]
    path = lh.table_path(lakehouse, doc)
    _write_checked(df, path, doc, in_months)
    summary.tables[name] = path
    summary.seconds[name] = round(time.perf_counter() - started, 2)
    log.info("features %s..%s: %s in %.1fs", summary.months[0], summary.months[-1], name,
             summary.seconds[name])
    return spark.read.format("delta").load(path).where(in_months)


def bronze_months(spark: SparkSession, settings: Settings) -> list[str]:
    """Months present in bronze subscribers (a small aggregate, one row per month)."""
    subs = lh.read_table(spark, settings.path("lakehouse"), "bronze.subscribers")
    return sorted(r[0] for r in subs.select("month").distinct().collect())


def _write_checked(df: DataFrame, path: str, doc: lh.TableDoc, where: str) -> None:
    """Write the months of a silver/gold table after checking its key is unique."""
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    lh.assert_unique(df, doc.key, table=f"{doc.layer}.{doc.name}")
    lh.replace_partition(df, path, where=where, partition_by=doc.partition)
    df.unpersist()
