"""Building blocks of the data contract: a field with its type, unit and rules."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
}


class DataFrameMissingColumnError(ValueError):
    """A required column is absent from an input; the message names file and column."""


@dataclass(frozen=True)
class Field:
    """One column of a raw table.

    `allowed` lists the permitted values, `minimum`/`maximum` bound numbers and
    dates (inclusive), `pii` marks subscriber numbers that ingest pseudonymises.
    """

    name: str
    dtype: str
    description: str
    unit: str = ""
    required: bool = True
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pii: bool = False

    @property
    def spark_type(self) -> T.DataType:
        return SPARK_TYPES[self.dtype]

    def rules_text(self) -> str:
        parts = []
        if self.allowed:
            parts.append("one of " + ", ".join(f"`{v}`" for v in self.allowed))
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{self.minimum:g} to {self.maximum:g}")
        elif self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        elif self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        if self.dtype == "date":
            parts.append("`yyyy-MM-dd`")
        if self.pii:
            parts.append("pseudonymised at ingest")
        return "; ".join(parts)


@dataclass(frozen=True)
class Reference:
    """`column` must name a row of `table` (its key `target_column`) in the same month.

    `when` is a Spark SQL condition on the row; the reference is checked only where it
    holds (for example only own-network callees must be our subscribers).
    """

    column: str
    table: str
    target_column: str
    when: str | None = None


@dataclass(frozen=True)
class RawTable:
    """A raw table of the landing contract.

    `month_from` names the column whose month must equal the extract's month
    (a `yyyy-MM` string or a date). `checks` are further row rules: a name and a
    Spark SQL condition that must hold.
    """

    name: str
    grain: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    month_from: str
    references: tuple[Reference, ...] = ()
    checks: tuple[tuple[str, str], ...] = ()
    description: str = ""

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def schema(self) -> T.StructType:
        return T.StructType([T.StructField(f.name, f.spark_type, not f.required) for f in self.fields])

    @property
    def pii_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.pii]

    def get(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)
