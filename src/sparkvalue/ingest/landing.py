"""Reading the landing folder: `<landing>/<table>/extract=<yyyy-MM>/<files>`.

Files are listed through Hadoop's FileSystem so that local folders, HDFS and
object stores behave alike. Headers are checked file by file before any data
is read, so that a missing column stops the run before anything is written.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sparkvalue.contract.fields import RawTable
from sparkvalue.ingest.validate import CORRUPT, EXTRACT_MONTH, SOURCE_FILE, require_columns


class LandingError(RuntimeError):
    """A landing extract is absent or cannot be parsed; the message names the file."""


@dataclass(frozen=True)
class Extract:
    """The files of one table and month, grouped by identical header."""

    table: str
    month: str
    folder: str
    files_by_header: dict[tuple[str, ...], tuple[str, ...]]
    extra_columns: tuple[str, ...]


def extract_folder(landing: str, table: str, month: str) -> str:
    return f"{landing.rstrip('/')}/{table}/extract={month}"


def _statuses(spark: SparkSession, folder: str) -> list:
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(conf)
    return list(fs.listStatus(path)) if fs.exists(path) else []


def list_files(spark: SparkSession, folder: str) -> list[str]:
    """Data files of a folder (no `_SUCCESS`, no hidden files, no empty files)."""
    out = []
    for status in _statuses(spark, folder):
        name = status.getPath().getName()
        if status.isFile() and not name.startswith(("_", ".")) and status.getLen() > 0:
            out.append(status.getPath().toString())
    return sorted(out)


def _csv_header(spark: SparkSession, file: str) -> list[str]:
    """The first line of a CSV file, read through Hadoop's FileSystem (no Spark job)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(file)
    stream = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine() or ""
    finally:
        stream.close()
    if "\ufffd" in line or "\x00" in line:
        raise ValueError("the first line is not UTF-8 text")
    return [c.strip().strip('"').lstrip("\ufeff") for c in next(csv.reader([line]), [])]


def list_months(spark: SparkSession, table_folder: str) -> tuple[str, ...]:
    """Months of the `extract=yyyy-MM` folders below a table's landing folder."""
    names = [s.getPath().getName() for s in _statuses(spark, table_folder) if s.isDirectory()]
    return tuple(sorted(n.split("=", 1)[1] for n in names
                        if re.fullmatch(r"extract=\d{4}-\d{2}", n)))


def inspect_extract(spark: SparkSession, landing: str, spec: RawTable, month: str,
                    fmt: str) -> Extract:
    """Check that the extract exists and every file carries every contract column."""
    folder = extract_folder(landing, spec.name, month)
    files = list_files(spark, folder)
    if not files:
        raise LandingError(
            f"{folder}: no extract for table '{spec.name}' month {month}. Every table needs a "
            "folder per month, with a header-only file when the month has no rows."
        )
    by_header: dict[tuple[str, ...], list[str]] = {}
    extras: set[str] = set()
    for file in files:
        try:
            if fmt == "csv":
                columns = _csv_header(spark, file)
            else:
                columns = spark.read.parquet(file).columns
        except Exception as exc:  # Spark raises many kinds; the file is what matters
            raise LandingError(f"{file}: cannot be parsed as {fmt}: "
                               f"{str(exc).splitlines()[0]}") from None
        require_columns(columns, spec, source=file)
        extras.update(c for c in columns if c not in spec.columns)
        by_header.setdefault(tuple(columns), []).append(file)
    return Extract(spec.name, month, folder,
                   {h: tuple(f) for h, f in by_header.items()}, tuple(sorted(extras)))


def read_extracts(spark: SparkSession, extracts: list[Extract], spec: RawTable,
                  fmt: str) -> DataFrame:
    """All rows of the extracts: contract columns (as read), `_source_file`,
    `_extract_month` and, for CSV, `_corrupt_record`."""
    parts = []
    for extract, header, files in ((e, h, f) for e in extracts
                                   for h, f in e.files_by_header.items()):
        if fmt == "csv":
            schema = T.StructType([T.StructField(c, T.StringType()) for c in header]
                                  + [T.StructField(CORRUPT, T.StringType())])
            df = (spark.read.schema(schema)
                  .option("header", True).option("mode", "PERMISSIVE")
                  .option("columnNameOfCorruptRecord", CORRUPT)
                  .option("enforceSchema", False)
                  .csv(list(files)))
            cols = [*spec.columns, CORRUPT]
        else:
            df = spark.read.parquet(*files)
            cols = spec.columns
        parts.append(df.select(*cols, F.col("_metadata.file_path").alias(SOURCE_FILE),
                               F.lit(extract.month).alias(EXTRACT_MONTH)))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    return out
