"""Lineage columns every processed and analytics-ready row carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def with_metadata(
    source_file: str, ingested_at: datetime, run_id: str, delivered_at: float | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Add ``_source_file`` (the raw key), ``_ingested_at`` (UTC timestamp), ``_run_id`` and
    ``_delivered_at`` (when this content of the file was delivered: its object's last-modified
    time as the ledger first saw it; what decides the latest row, see ``transform.dedup``)."""
    values = metadata_columns(source_file, ingested_at, run_id, delivered_at)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(values)

    return transform


def metadata_columns(
    source_file: str, ingested_at: datetime, run_id: str, delivered_at: float | None = None
) -> dict[str, Column]:
    """The columns ``with_metadata`` adds, by name, in order."""
    delivered = F.lit(None) if delivered_at is None else F.timestamp_micros(F.lit(round(delivered_at * 1_000_000)))
    return {
        "_source_file": F.lit(source_file),
        "_ingested_at": F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp"),
        "_run_id": F.lit(run_id),
        "_delivered_at": delivered.cast("timestamp"),
    }
