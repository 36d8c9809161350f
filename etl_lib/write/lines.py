"""The JSON lines a file's rows are staged as: processed, rejected, and the narrow copy
a spec's expectations check.

The expressions depend on the spec alone, so they are built once per spec (each
``Column`` is a round trip to the JVM) and applied to every file's rows.
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.read.csv import CORRUPT, RAW
from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec
from etl_lib.transform.partition import PARTITION_COLUMNS
from etl_lib.transform.validate import REASONS, is_valid

KIND = "kind"
REJECTED_COLUMNS = [
    "_source_file",
    "_source_row",
    "_ingested_at",
    "_run_id",
    "_delivered_at",
    REASONS,
    RAW,
    CORRUPT,
    "_rescued_data",
]
_JSON = {"ignoreNullFields": "false"}  # processed and rejected rows carry every column, nulls too


def processed_columns(spec: DatasetSpec) -> list[str]:
    """Columns written to processed, in order (partition columns last)."""
    return [
        *spec.column_names,
        "_rescued_data",
        "_source_file",
        "_source_row",
        "_ingested_at",
        "_run_id",
        "_delivered_at",
        *PARTITION_COLUMNS,
    ]


def staged_lines(spec: DatasetSpec, rows: DataFrame, check_columns: list[str] | None) -> DataFrame:
    """The lines a file's rows become, as ``kind``, ``year``, ``month``, ``value`` (one JSON object):
    a valid row one ``processed`` line in its partition (and, with ``check_columns``, one narrow
    ``checks`` line for the spec's expectations), a rejected row one ``rejected`` line."""
    checks = None if check_columns is None else tuple(check_columns)
    return rows.select(_lines(SpecKey(spec), checks))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _lines(key: SpecKey, check_columns: tuple[str, ...] | None) -> Column:
    def entry(kind: str, columns: list[str], partitioned: bool = False) -> Column:
        year, month = (F.col("year"), F.col("month")) if partitioned else (F.lit(None), F.lit(None))
        line = F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]), _JSON)
        return F.struct(
            F.lit(kind).alias(KIND),
            year.cast("string").alias("year"),
            month.cast("string").alias("month"),
            line.alias("value"),
        )

    data = [c for c in processed_columns(key.spec) if c not in PARTITION_COLUMNS]
    valid = [entry("processed", data, partitioned=True)]
    if check_columns is not None:
        valid.append(entry("checks", list(check_columns)))
    lines = F.when(is_valid(), F.array(*valid)).otherwise(F.array(entry("rejected", REJECTED_COLUMNS)))
    return F.inline(lines)  # one row per struct, its fields as columns


@lru_cache(maxsize=1)
def written_counts() -> tuple[Column, ...]:
    """What a file's staged lines are counted by as they are written: ``processed``, ``rejected``."""
    return (
        F.sum((F.col(KIND) == "processed").cast("long")).alias("processed"),
        F.sum((F.col(KIND) == "rejected").cast("long")).alias("rejected"),
    )
