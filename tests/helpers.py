"""Helpers shared by the test modules."""

from __future__ import annotations

from pyspark.sql import functions as F


def rounded(df, digits: int = 9):
    """Doubles (also inside maps) rounded to `digits` decimals; maps as sorted entries (rows with maps
    cannot be sorted, which chispa does to ignore the row order)."""
    cols = []
    for f in df.schema.fields:
        kind = f.dataType.simpleString()
        if kind == "double":
            cols.append(F.round(f.name, digits).alias(f.name))
        elif kind == "map<string,double>":
            values = F.transform_values(f.name, lambda _, v: F.round(v, digits))
            cols.append(F.array_sort(F.map_entries(values)).alias(f.name))
        else:
            cols.append(F.col(f.name))
    return df.select(*cols)
