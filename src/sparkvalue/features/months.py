"""Month helpers: months are `yyyy-MM` strings in every table."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def month_start(month: Column) -> Column:
    return F.to_date(F.concat(month, F.lit("-01")))


def month_end(month: Column) -> Column:
    return F.last_day(month_start(month))


def month_index(month: Column) -> Column:
    """Months since year 0, so that consecutive months differ by one."""
    start = month_start(month)
    return F.year(start) * 12 + F.month(start) - 1


def shift_month(month: Column, months: int | Column) -> Column:
    return F.date_format(F.add_months(month_start(month), months), "yyyy-MM")


def previous_month(month: str) -> str:
    """The `yyyy-MM` before `month` (plain Python, for driver-side bookkeeping)."""
    year, mon = map(int, month.split("-"))
    return f"{year - (mon == 1):04d}-{(mon - 2) % 12 + 1:02d}"


def months_before(months: list[str] | tuple[str, ...]) -> list[str]:
    """The months just before each of `months` that are not among them (plain Python)."""
    return sorted({previous_month(m) for m in months} - set(months))


def add_months(month: str, months: int) -> str:
    """The `yyyy-MM` `months` after `month` (negative: before); plain Python."""
    year, mon = map(int, month.split("-"))
    index = year * 12 + mon - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
