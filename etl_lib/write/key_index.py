"""The key index: for keyed datasets, which keys each source file put in which partition.

One small Parquet file per source file under ``_meta/key_index/{dataset}/``,
replaced with the file's other outputs. The analytics stage reads only this
index (a few columns) to find every partition holding a key it must
re-decide, instead of scanning processed JSON.
"""

from __future__ import annotations

from pyspark.sql import DataFrame


def key_index_columns(keys: list[str]) -> list[str]:
    """Columns of the index: the keys, the partition and the source file."""
    return [*keys, "year", "month", "_source_file"]


def write_key_index(valid_rows: DataFrame, keys: list[str], uri: str) -> None:
    """Write the distinct (keys, partition, source) of a file's valid rows as one Parquet file."""
    (
        valid_rows.select(*key_index_columns(keys))
        .distinct()
        .coalesce(1)
        .write.mode("overwrite")
        .option("compression", "snappy")
        .parquet(uri)
    )
