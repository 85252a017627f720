"""Row validation of a raw extract against the data contract (pure transforms).

`validate_rows` types every column and collects, per row, the reasons it
breaks the contract; `flag_duplicates` and `flag_unknown_references` add key
rules; `good_rows` and `quarantine_rows` split the result. A reason reads
`<rule>: <column> = <value> (<expected>)`; subscriber numbers in reasons and in
the quarantined record are pseudonymised like everywhere else.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sparkvalue.contract.fields import DataFrameMissingColumnError, Field, RawTable
from sparkvalue.privacy import pseudonymise

ERRORS = "_errors"
SOURCE_FILE = "_source_file"
CORRUPT = "_corrupt_record"
EXTRACT_MONTH = "_extract_month"
RAW = "_raw_"  # prefix of the untouched string value of each column


def require_columns(columns: list[str], spec: RawTable, *, source: str) -> None:
    """Raise if a required contract column is absent from a file's header."""
    missing = [f.name for f in spec.fields if f.name not in columns]
    if missing:
        raise DataFrameMissingColumnError(
            f"{source}: table '{spec.name}' lacks column(s) {', '.join(missing)}; the contract "
            f"(docs/data-contract.md) requires {', '.join(spec.columns)}. Nothing was written: "
            "fix the extract and run ingest again."
        )


def _typed(field: Field, text: Column) -> Column:
    """The typed value of a column's text; null where it does not parse."""
    if field.dtype == "date":
        return F.try_to_date(text, "yyyy-MM-dd")
    if field.dtype == "boolean":
        lowered = F.lower(text)
        return F.when(lowered == "true", True).when(lowered == "false", False)
    return text.try_cast(field.dtype)


def _reason(rule: str, column: str, shown: Column, expected: str) -> Column:
    return F.concat(F.lit(f"{rule}: {column} = "), F.coalesce(shown, F.lit("<empty>")),
                    F.lit(f" ({expected})"))


def validate_rows(raw: DataFrame, spec: RawTable, *, key: str, id_length: int) -> DataFrame:
    """Type the contract columns of `raw` and list what each row breaks.

    Input: the extract's columns (strings for CSV, typed for Parquet), plus
    `_source_file`, `_extract_month` and, for CSV, `_corrupt_record`.
    Output: the typed contract columns (subscriber numbers pseudonymised), `_extract_month`,
    `_source_file`, `_raw_<column>` (the original text) for each column whose text has to be
    parsed (a non-string contract type read as text: every such column of a CSV, none of a
    Parquet file written with the contract's types), and `_errors` (array of reasons, empty
    when the row is good). Grain: one row per input row. `shown_text` gives any column's text.

    A column read with its contract type is taken as it is: no round trip through text for
    every value of the biggest extracts; its text is made only for a reason or a quarantined
    record. Two projections: the first types each column once, the second judges the typed
    columns (Spark keeps them apart rather than repeat the typing in every rule), and a
    row's reasons are put together only when one of its rules fails.
    """
    source = {f.name: f.dataType for f in raw.schema.fields}
    typed: dict[str, Column] = {}
    raw_cols: dict[str, Column] = {}
    for f in spec.fields:
        column = F.col(f.name)
        if not f.pii and source[f.name] == f.spark_type and f.dtype != "string":
            typed[f.name] = column
            continue
        # CSV reads empty fields as null; Parquet may carry empty strings.
        text = column.cast("string")
        text = F.when(text != "", text)
        if f.pii:
            typed[f.name] = pseudonymise(text, key=key, length=id_length)
        elif f.dtype == "string":
            typed[f.name] = text
        else:
            typed[f.name] = _typed(f, text)
            raw_cols[f.name] = text
    staged = raw.select(
        *[v.alias(k) for k, v in typed.items()],
        *[v.alias(RAW + k) for k, v in raw_cols.items()],
        F.col(SOURCE_FILE), F.col(EXTRACT_MONTH),
        *([F.col(CORRUPT)] if CORRUPT in raw.columns else []),
    )

    rules: list[tuple[Column, Column]] = []  # (fails, reason)
    if CORRUPT in raw.columns:
        # First, so that it is the row's rule: the other reasons follow from it.
        rules.append((F.col(CORRUPT).isNotNull(),
                      F.lit("malformed_record: wrong number of fields or unparseable quoting")))
    for f in spec.fields:
        value, shown = F.col(f.name), shown_text(staged, f.name)
        is_blank = value.isNull() if f.name not in raw_cols else shown.isNull()
        if f.required:
            rules.append((is_blank, _reason("missing", f.name, shown, "required")))
        if f.name in raw_cols:
            rules.append((~is_blank & value.isNull(),
                          _reason("bad_type", f.name, shown, f"expected {f.dtype}"
                                  + (" yyyy-MM-dd" if f.dtype == "date" else ""))))
        if f.allowed and f.dtype != "boolean":
            rules.append((value.isNotNull() & ~value.isin(*f.allowed),
                          _reason("not_allowed", f.name, shown, "one of " + ", ".join(f.allowed))))
        if f.minimum is not None or f.maximum is not None:
            low = value < f.minimum if f.minimum is not None else F.lit(False)
            high = value > f.maximum if f.maximum is not None else F.lit(False)
            bounds = f"{f.minimum:g} to {f.maximum:g}" if f.minimum is not None and \
                f.maximum is not None else (f">= {f.minimum:g}" if f.minimum is not None
                                            else f"<= {f.maximum:g}")
            rules.append((value.isNotNull() & (low | high), _reason("out_of_range", f.name, shown, bounds)))
    month_value = F.col(spec.month_from)
    month_text = (F.date_format(month_value, "yyyy-MM")
                  if spec.get(spec.month_from).dtype == "date" else month_value)
    extract_month = F.col(EXTRACT_MONTH)
    rules.append((month_value.isNotNull() & (month_text != extract_month),
                  F.concat(F.lit(f"wrong_month: {spec.month_from} = "), shown_text(staged, spec.month_from),
                           F.lit(" (the extract's month "), extract_month, F.lit(")"))))
    # Table-level rules need the typed columns; they only judge rows whose inputs are valid.
    rules += [(~F.coalesce(F.expr(condition), F.lit(True)), F.lit(f"check_failed: {name} ({condition})"))
              for name, condition in spec.checks]
    fails = [F.coalesce(failed, F.lit(False)) for failed, _ in rules]
    any_fails = fails[0]
    for failed in fails[1:]:
        any_fails = any_fails | failed
    reasons = F.array(*[F.when(failed, reason) for failed, reason in rules])
    errors = F.when(any_fails, F.array_compact(reasons))
    return staged.select(
        *spec.columns, *[RAW + c for c in spec.columns if c in raw_cols], SOURCE_FILE, EXTRACT_MONTH,
        F.coalesce(errors, F.array().cast("array<string>")).alias(ERRORS),
    )


def shown_text(df: DataFrame, column: str) -> Column:
    """A column's text as the extract gave it: `_raw_<column>` where validation kept one, else
    the column itself as text (read with its contract type, a string, or a pseudonymised
    number, which is its own raw value)."""
    return F.col(RAW + column) if RAW + column in df.columns else F.col(column).cast("string")


def _with_reason(reason: Column) -> Column:
    """`_errors` plus `reason` when it is not null (no array_compact: its lambda is evaluated
    row by row outside generated code, over every row of the biggest extracts)."""
    return F.when(reason.isNull(), F.col(ERRORS)).otherwise(F.array_append(F.col(ERRORS), reason))


def flag_duplicates(checked: DataFrame, spec: RawTable) -> DataFrame:
    """Among otherwise good rows, the same key twice: identical copies keep one; different
    contents under one key are all quarantined (which one is right cannot be known)."""
    key = list(spec.key)
    content = F.xxhash64(*[F.col(c) for c in spec.columns])
    good = F.size(F.col(ERRORS)) == 0
    by_key = Window.partitionBy(F.col(EXTRACT_MONTH), *key, good)
    # Copies with one content differ at most in their file and (CSV) their text: ordered by
    # those, then the typed columns (in case two contents share a hash), the kept copy is
    # always the same one.
    ordered = by_key.orderBy(F.col(SOURCE_FILE), *[F.col(RAW + c) for c in spec.columns
                                                    if RAW + c in checked.columns],
                             *[F.col(c) for c in spec.columns])
    # the whole key group in the same order: one sort serves both window functions
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    key_text = F.concat_ws(", ", *[F.concat(F.lit(c + "="), F.col(c).cast("string")) for c in key])
    with_counts = checked.select(
        "*",
        # two contents under one key differ in their hash: min != max, no set per row
        (F.min(content).over(whole) != F.max(content).over(whole)).alias("_conflict"),
        F.row_number().over(ordered).alias("_copy"),
    )
    reason = (
        F.when(good & F.col("_conflict"),
               F.concat(F.lit("conflicting_duplicate_key: "), key_text,
                        F.lit(" appears with different contents")))
        .when(good & (F.col("_copy") > 1),
              F.concat(F.lit("duplicate_row: "), key_text, F.lit(" already loaded")))
    )
    return with_counts.select(
        *[c for c in checked.columns if c != ERRORS],
        _with_reason(reason).alias(ERRORS),
    )


def flag_unknown_references(checked: DataFrame, spec: RawTable,
                            targets: dict[str, DataFrame]) -> DataFrame:
    """Rows whose reference (e.g. subscriber_id -> subscribers) has no target in the month.

    `targets` maps a referenced table name to a DataFrame of its good rows (with `month`).
    """
    out = checked
    for i, ref in enumerate(spec.references):
        flag = f"_known_{i}"
        keys = (targets[ref.table]
                .select(F.col(ref.target_column).alias(f"_ref_{i}"), F.col("month").alias(f"_ref_m{i}"))
                .distinct().withColumn(flag, F.lit(True)))
        applies = F.col(ref.column).isNotNull()
        if ref.when:
            applies = applies & F.coalesce(F.expr(ref.when), F.lit(False))
        on = (F.col(ref.column) == F.col(f"_ref_{i}")) & (F.col(EXTRACT_MONTH) == F.col(f"_ref_m{i}"))
        out = out.join(keys, on=on, how="left")
        reason = F.when(applies & F.col(flag).isNull(),
                        F.concat(F.lit(f"unknown_key: {ref.column} = "), F.col(ref.column),
                                 F.lit(f" is not in {ref.table} of this month")))
        out = out.select(
            *[c for c in checked.columns if c != ERRORS],
            _with_reason(reason).alias(ERRORS),
        )
    return out


def raw_text_of_bad_rows(checked: DataFrame, spec: RawTable) -> DataFrame:
    """`checked` with the `_raw_` text only on rows that have reasons: the quarantine's record
    needs it, bronze does not. Cached or shuffled, the good rows then carry nulls instead of a
    second, text copy of every column."""
    bad = F.size(F.col(ERRORS)) > 0
    raw = {RAW + c for c in spec.columns}
    return checked.select(*[F.when(bad, F.col(c)).alias(c) if c in raw else F.col(c)
                            for c in checked.columns])


def good_rows(checked: DataFrame, spec: RawTable) -> DataFrame:
    """Rows without reasons, in the bronze layout: contract columns, month, source file."""
    return (
        checked.where(F.size(F.col(ERRORS)) == 0)
        .select(*spec.columns,
                *([] if "month" in spec.columns else [F.col(EXTRACT_MONTH).alias("month")]),
                SOURCE_FILE)
    )


def quarantine_rows(checked: DataFrame, spec: RawTable) -> DataFrame:
    """Rows with reasons: table, month, source file, first rule, all reasons, original record."""
    record = F.to_json(F.struct(*[shown_text(checked, c).alias(c) for c in spec.columns]))
    return checked.where(F.size(F.col(ERRORS)) > 0).select(
        F.lit(spec.name).alias("table_name"),
        F.col(EXTRACT_MONTH).alias("month"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.substring_index(F.get(F.col(ERRORS), 0), ":", 1).alias("rule"),
        F.col(ERRORS).alias("reasons"),
        record.alias("record"),
    )
