"""Column names, schemas and rules of every table sparkvalue reads or writes."""

from sparkvalue.contract.fields import DataFrameMissingColumnError, Field, RawTable, Reference
from sparkvalue.contract.raw import RAW_TABLES

__all__ = ["RAW_TABLES", "DataFrameMissingColumnError", "Field", "RawTable", "Reference"]
