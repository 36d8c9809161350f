"""Keep one row per key: the latest.

The winner of a key is the row with the greatest ``latest_by`` (nulls lose),
then the latest ``_ingested_at``, then the greatest ``_source_file``, then the
greatest ``_source_row`` (the later line of the same file). That order is total
over processed rows, so reruns always pick the same winner.
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
        F.col("_ingested_at").desc_nulls_last(),
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
