"""Delta table locations, their documentation, and idempotent monthly writes."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkvalue.contract.raw import RAW_TABLES


class DuplicateKeyError(ValueError):
    """A table's key is not unique in the rows about to be written."""


@dataclass(frozen=True)
class TableDoc:
    layer: str
    name: str
    grain: str
    key: tuple[str, ...]
    description: str
    partition: tuple[str, ...] = ("month",)


QUARANTINE = TableDoc(
    "bronze", "quarantine",
    "one row per rejected landing row",
    (),
    "Landing rows that broke the contract: table, month, source file, the first rule, all "
    "reasons and the original record (subscriber numbers pseudonymised).",
    ("table_name", "month"),
)
INGEST_RUNS = TableDoc(
    "ops", "ingest_runs",
    "one row per table per month per ingest run",
    ("run_id", "table_name", "month"),
    "What each ingest run read, loaded and quarantined, with counts per rule.",
    (),
)
BRONZE = {
    name: TableDoc("bronze", name, spec.grain, spec.key,
                   spec.description + " Validated landing rows; `_source_file` names the file.")
    for name, spec in RAW_TABLES.items()
}
SILVER = {
    "subscriber_features": TableDoc(
        "silver", "subscriber_features", "one row per subscriber per month",
        ("subscriber_id", "month"),
        "Usage windows (1/3/6/12 months), year over year, the 3-month band and where the month "
        "sits in it, shares, tenure, bundles, family and VPN, balance and top-up dynamics, "
        "services, plan changes, and the subscriber's attributes. Point in time: month M uses "
        "bronze rows of M and before."),
    "graph_features": TableDoc(
        "silver", "graph_features", "one row per subscriber per month",
        ("subscriber_id", "month"),
        "The call circle of the month: breadth, depth, operator shares, in-degree, hubs, "
        "PageRank, strong-tie community with size, role and deviations, churned contacts of "
        "last month, corporate reach, VPN breadth and the long-distance flow."),
    "warnings": TableDoc(
        "silver", "warnings", "one row per subscriber per month",
        ("subscriber_id", "month"),
        "The retention playbook's rules: one flag per rule, the codes and readable reasons of "
        "those that fired, thresholds from conf `warnings:`."),
}
GOLD = {
    "value": TableDoc(
        "gold", "value", "one row per subscriber per month", ("subscriber_id", "month"),
        "The AHP value index with its components, the value tier by exact rank, RFM scores and "
        "CLV (margin x the stickiness model's retention, discounted). Weights and consistency "
        "ratios of each scoring are in the MLflow experiment `<prefix>-value`."),
    "value_tiers": TableDoc(
        "gold", "value_tiers", "one row per tier per month", ("month", "value_tier"),
        "Validation of the value tiers: size, average 3-month revenue, and how the snapshot "
        "cohort and the corporate key persons spread over the tiers."),
    "stickiness": TableDoc(
        "gold", "stickiness", "one row per subscriber per month", ("subscriber_id", "month"),
        "Stickiness score P(stay) x 100 and tier from the champion decision tree, with the "
        "path that decided each row and the model version."),
    "anomaly": TableDoc(
        "gold", "anomaly", "one row per subscriber per month", ("subscriber_id", "month"),
        "Anomaly (early churn warning) score 0-100 from the champion decision tree on change "
        "indicators, the flag, the indicators that fired and the model version."),
    "model_rules": TableDoc(
        "gold", "model_rules", "one row per leaf per model version",
        ("model_name", "model_version", "leaf"),
        "Every leaf of every trained tree as a readable rule, with the training "
        "subscriber-months and positives (leavers, takers) in it.", ("model_name",)),
    "model_lift": TableDoc(
        "gold", "model_lift", "one row per decile per model version",
        ("model_name", "model_version", "decile"),
        "Held-out lift table of every trained tree: the decile's subscribers and positives, its "
        "rate, the base rate and the lift.", ("model_name",)),
    "segments": TableDoc(
        "gold", "segments", "one row per subscriber per month", ("subscriber_id", "month"),
        "Usage segment (k-means on the usage profile) of every subscriber, with the segment's "
        "generated name, its group this month and the model version."),
    "segment_profiles": TableDoc(
        "gold", "segment_profiles", "one row per segment per month", ("month", "segment"),
        "What each segment is this month: size, share, average value and stickiness, the "
        "features that set it apart (in words), its group from the configured rules."),
    "propensity": TableDoc(
        "gold", "propensity", "one row per subscriber per propensity model per month",
        ("subscriber_id", "month", "model"),
        "Probability of taking a value-added service in the next month(s), for the subscribers "
        "the model is for (its population), with the decile and the rule that decided it."),
    "ld_targets": TableDoc(
        "gold", "ld_targets", "one row per targeted subscriber per month", ("subscriber_id", "month"),
        "Subscribers whose long-distance minutes concentrate on one region (targeted "
        "long-distance and hometown-network offers), with the region and its group size."),
    "marketing_matrix": TableDoc(
        "gold", "marketing_matrix", "one row per subscriber per month", ("subscriber_id", "month"),
        "The four views of every subscriber (value, stickiness, anomaly, needs) and the one "
        "strategy the configured marketing matrix gives them, with the rule that decided it."),
    "matrix_summary": TableDoc(
        "gold", "matrix_summary", "one row per matrix cell present per month",
        ("month", "value_tier", "stickiness_tier", "is_anomalous", "segment_group"),
        "Subscribers per cell of the marketing matrix and its strategy, for BI."),
    "recommendations": TableDoc(
        "gold", "recommendations", "one row per subscriber per eligible offer per month",
        ("subscriber_id", "month", "offer_code"),
        "Every offer of the catalog a subscriber is eligible for, with its score; the "
        "recommended ones ranked (up to marketing.offers_per_slot retention, service and usage "
        "offers, one per family, within the channel limits) with channel, cadence and the reason. "
        "Excluded subscribers (gold.marketing_exclusions) have no rows."),
    "marketing_exclusions": TableDoc(
        "gold", "marketing_exclusions", "one row per excluded subscriber per month",
        ("subscriber_id", "month"),
        "Subscribers who get no offer this month and the global exclusions (marketing.exclusions) "
        "that hold for them."),
    "discount_audit": TableDoc(
        "gold", "discount_audit", "one row per discount per month", ("month", "discount"),
        "Per discount: receivers, those with low return and high stickiness who still get it, "
        "their cost, overlap with other discounts, yearly cost and the saving if cleaned up."),
    "segment_codes": TableDoc(
        "gold", "segment_codes", "one row per subscriber per month", ("subscriber_id", "month"),
        "Trend class x dimension x band: one segment code per subscriber (MISSION.md item 11), "
        "with the subscriber's band in each dimension."),
    "segment_code_summary": TableDoc(
        "gold", "segment_code_summary", "one row per trend class per month", ("month", "trend_class"),
        "Subscribers, share, bundle (binding) rate and average revenue per trend class."),
    "group_priority": TableDoc(
        "gold", "group_priority", "one row per corporate group per month", ("month", "group_id"),
        "Each corporate group's return-rate band and key-person value, and the service-priority "
        "cell (1-15, corporate.priority) they give."),
    "group_priority_summary": TableDoc(
        "gold", "group_priority_summary", "one row per priority cell per month (all 15)",
        ("month", "priority"), "Corporate groups per service-priority cell, for BI."),
    "vpn_targets": TableDoc(
        "gold", "vpn_targets", "one row per seed or target per month", ("subscriber_id", "month"),
        "VPN seed targeting: active VPN members of the seed segment groups, silent members of "
        "their VPN (target 1) and outsiders who call them often (target 2), with the linking seed."),
    "campaign_results": TableDoc(
        "gold", "campaign_results", "one row per contact month x campaign x offer x channel x segment",
        ("month", "campaign_id", "offer_code", "channel", "segment_name"),
        "Treatment against control from the contact history: responses, lift with its 95 % interval "
        "and p-value, revenue 3 months before vs after, incremental revenue, cost and return. "
        "segment_name (all) sums every segment."),
    "campaign_uplift": TableDoc(
        "gold", "campaign_uplift", "one row per contact month x campaign x offer x propensity decile",
        ("month", "campaign_id", "offer_code", "decile"),
        "Does targeting pay: the lift of each campaign per decile of the propensity model behind its "
        "offer."),
    "subscriber_tags": TableDoc(
        "gold", "subscriber_tags", "one row per subscriber per month", ("subscriber_id", "month"),
        "What the closed loop learned: service and usage needs, preferred channel, offers accepted "
        "and promotion sensitivity (also columns of the offer frame, for the next recommendations)."),
    "marketing_track": TableDoc(
        "gold", "marketing_track", "one row per subscriber x month x offer recommended or contacted",
        ("subscriber_id", "month", "offer_code"),
        "Each subscriber's marketing history: recommended (channel, rank), contacted (arm, channel, "
        "date), taken (date), and the revenue change two months on."),
    "kpis": TableDoc(
        "gold", "kpis", "one row per KPI per month", ("month", "kpi"),
        "The assessment list's rates (snapshot retention by revenue band, bundle rates of warned "
        "subscribers, second top-ups, low-usage MOU change, churn, VAS and bundle penetration, offer "
        "response) with numerator and denominator, for trends in BI."),
}
CATALOG: dict[str, TableDoc] = {
    **{f"bronze.{n}": d for n, d in BRONZE.items()},
    "bronze.quarantine": QUARANTINE,
    **{f"silver.{n}": d for n, d in SILVER.items()},
    **{f"gold.{n}": d for n, d in GOLD.items()},
    "ops.ingest_runs": INGEST_RUNS,
}


def table_path(lakehouse: str, doc: TableDoc) -> str:
    return f"{lakehouse.rstrip('/')}/{doc.layer}/{doc.name}"


def assert_unique(df: DataFrame, key: tuple[str, ...], *, table: str) -> None:
    """Raise if `key` repeats in `df`: one aggregation whose one row of counts reaches the
    driver (no key value: a subscriber id never appears in the error or the log)."""
    if not key:
        return
    repeats = (df.groupBy(*key).count().where(F.col("count") > 1)
               .agg(F.count("*").alias("keys"), F.max("count").alias("most")).first())
    if repeats["keys"]:
        raise DuplicateKeyError(
            f"{table}: key ({', '.join(key)}) is not unique: {repeats['keys']:,} key value(s) repeat, "
            f"one of them in {repeats['most']:,} rows. Nothing was written."
        )


def create_if_missing(df: DataFrame, path: str, partition_by: tuple[str, ...],
                      description: str | None) -> None:
    """Create the table empty, with its description, when it does not exist yet (the data
    commit follows). Column comments come with `df`'s schema (see `docs.documented`)."""
    from delta.tables import DeltaTable

    if description is None or DeltaTable.isDeltaTable(df.sparkSession, path):
        return
    writer = df.limit(0).writeTo(f"delta.`{path}`").using("delta").tableProperty("comment", description)
    if partition_by:
        writer = writer.partitionedBy(*[F.col(c) for c in partition_by])
    writer.create()


def has_rows(spark: SparkSession, path: str, where: str) -> bool:
    """Whether the table at `path` has a row matching the SQL predicate `where` (on partition
    columns the Delta log answers it: no data file is read)."""
    return bool(spark.read.format("delta").load(path).where(where).limit(1).collect())


def replace_partition(df: DataFrame, path: str, *, where: str, partition_by: tuple[str, ...],
                      description: str | None = None) -> None:
    """Write `df` as the whole content of the partitions selected by the SQL predicate `where`.

    Re-running replaces those partitions, never duplicates them; Delta refuses rows of
    `df` outside the predicate. Columns a newer release adds are added to the table (older
    partitions read them as null, and they come after the existing columns); a column whose
    type changes is refused. A new table gets `description` as its comment.
    """
    create_if_missing(df, path, partition_by, description)
    writer = (df.write.format("delta").mode("overwrite").option("replaceWhere", where)
              .option("mergeSchema", "true"))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def append_rows(df: DataFrame, path: str, description: str | None = None) -> None:
    create_if_missing(df, path, (), description)
    df.write.format("delta").mode("append").save(path)


def read_table(spark: SparkSession, lakehouse: str, name: str) -> DataFrame:
    """Read a table of the catalog by its `layer.name`."""
    return spark.read.format("delta").load(table_path(lakehouse, CATALOG[name]))
