"""Lineage columns every processed and analytics-ready row carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def with_metadata(source_file: str, ingested_at: datetime, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """Add ``_source_file`` (the raw key), ``_ingested_at`` (UTC timestamp) and ``_run_id``."""

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(
            {
                "_source_file": F.lit(source_file),
                "_ingested_at": F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp"),
                "_run_id": F.lit(run_id),
            }
        )

    return transform
