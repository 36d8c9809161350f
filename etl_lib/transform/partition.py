"""Partition columns: ``year=YYYY/month=MM`` from a date/timestamp column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.spec.model import DatasetSpec
from etl_lib.transform.metadata import as_utc

PARTITION_COLUMNS = ("year", "month")


def with_partition_columns(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Add ``year`` (``YYYY``) and ``month`` (``MM``) as strings, from ``partition_by``
    or, when the spec has none, from ``_ingested_at``."""
    values = partition_columns(spec)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(values)

    return transform


def partition_columns(spec: DatasetSpec) -> dict[str, Column]:
    """The columns ``with_partition_columns`` adds, by name, in order."""
    source = spec.partition_by or "_ingested_at"
    return {"year": F.date_format(F.col(source), "yyyy"), "month": F.date_format(F.col(source), "MM")}


def partition_of(at: datetime) -> dict[str, Column]:
    """The partition columns of rows without ``partition_by``, ingested at ``at``: what
    ``partition_columns`` gives from ``_ingested_at``, as text literals."""
    utc = as_utc(at)
    return {"year": F.lit(f"{utc.year:04d}"), "month": F.lit(f"{utc.month:02d}")}


def partition_path(year: str, month: str) -> str:
    """The folder of one partition, relative to the dataset folder."""
    return f"year={year}/month={month}"


def partition_name() -> Column:
    """``year=YYYY/month=MM`` of a row, as its folder is named."""
    return F.concat(F.lit("year="), F.col("year"), F.lit("/month="), F.col("month"))
