"""Lineage columns every processed and analytics-ready row carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

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
    delivered = F.lit(None) if delivered_at is None else F.timestamp_micros(F.lit(_micros(delivered_at)))
    return {
        "_source_file": F.lit(source_file),
        "_ingested_at": F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp"),
        "_run_id": F.lit(run_id),
        "_delivered_at": delivered.cast("timestamp"),
    }


def metadata_as_text(
    source_file: str, ingested_at: datetime, run_id: str, delivered_at: float | None = None
) -> dict[str, Column]:
    """``metadata_columns`` with the two timestamps as the text the JSON lines hold for them
    (``json_timestamp``): the same lines, and, since a string literal is a reference in
    Spark's generated code where a timestamp literal is written into the code itself, code
    Spark compiles once per spec rather than once per file."""
    return {
        "_source_file": F.lit(source_file),
        "_ingested_at": F.lit(json_timestamp(ingested_at)),
        "_run_id": F.lit(run_id),
        "_delivered_at": F.lit(json_timestamp(delivered_datetime(delivered_at))).cast("string"),
    }


def as_utc(at: datetime) -> datetime:
    """``at`` on the UTC clock (a naive datetime is taken as UTC already)."""
    return at.astimezone(UTC) if at.tzinfo is not None else at


def json_timestamp(at: datetime | None) -> str | None:
    """``at`` as the text Spark's JSON writer gives a timestamp in a UTC session
    (``2024-05-06T07:08:09.123Z``: milliseconds, the rest cut off), None for None."""
    if at is None:
        return None
    utc = as_utc(at)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def delivered_datetime(delivered_at: float | None) -> datetime | None:
    """``_delivered_at`` (seconds since the epoch, as the ledger keeps it) as a UTC datetime,
    to the microsecond as ``metadata_columns`` rounds it."""
    if delivered_at is None:
        return None
    micros = _micros(delivered_at)
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)
