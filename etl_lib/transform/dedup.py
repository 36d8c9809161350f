"""Keep one row per key: the latest.

The winner of a key is the row with the greatest ``latest_by`` (nulls lose),
then the latest *delivery* (``_delivered_at``: the raw object's last-modified
time when the ledger first saw that content), then the greatest ``_source_file``,
then the greatest ``_source_row`` (the later line of the same file). Every part
comes from the data and its delivery, none from when a run processed it, so
retries, reruns, ``--source`` and reprocessing never change a winner. Rows
written before ``_delivered_at`` existed fall back to their ``_ingested_at``.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def winner_order(latest_by: str | None) -> list[Column]:
    """The descending sort that puts a key's winning row first."""
    order = [F.col(latest_by).desc_nulls_last()] if latest_by else []
    return [
        *order,
        F.coalesce(F.col("_delivered_at"), F.col("_ingested_at")).desc_nulls_last(),
        F.col("_source_file").desc_nulls_last(),
        F.col("_source_row").desc_nulls_last(),
    ]


def keep_latest_per_key(keys: list[str], latest_by: str | None) -> Callable[[DataFrame], DataFrame]:
    """One row per ``keys`` value: the winner under ``winner_order``. No keys: unchanged."""

    def transform(df: DataFrame) -> DataFrame:
        if not keys:
            return df
        window = Window.partitionBy(*keys).orderBy(*winner_order(latest_by))
        return df.withColumn("_rank", F.row_number().over(window)).filter("_rank = 1").drop("_rank")

    return transform
