"""Two lakes fed the same deliveries, one Parquet and one Iceberg, compared row for row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl_lib.config import open_storage
from etl_lib.iceberg.tables import open_iceberg
from tests.lake import RUN_COLUMNS

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_csv"


def iceberg_spec(text: str) -> str:
    """The spec ``text`` with ``table_format: iceberg``."""
    return text.rstrip("\n") + "\ntable_format: iceberg\n"


def deliver_sample(lake: Path, delivery: str, dataset: str) -> None:
    """Copy ``sample_csv/deliveries/{delivery}/{dataset}/*`` into the lake's ``raw/{dataset}/``."""
    target = lake / "raw" / dataset
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((SAMPLES / "deliveries" / delivery / dataset).iterdir()):
        shutil.copyfile(path, target / path.name)


def rows_of(frame: DataFrame) -> list[str]:
    """The frame's rows as sorted JSON, run columns left out (test data: a few thousand rows)."""
    kept = frame.drop(*RUN_COLUMNS)
    return sorted(json.dumps(r.asDict(), sort_keys=True, default=str) for r in kept.collect())


def parquet_rows(spark: SparkSession, lake: Path, dataset: str) -> list[str]:
    """Rows of a Parquet analytics-ready table (``year``/``month`` from its folders)."""
    root = lake / "analytics-ready" / dataset  # its year=/month= folders only (not an Iceberg data/ beside them)
    frame = spark.read.option("basePath", str(root)).parquet(str(root / "year=*" / "month=*"))  # numbers
    padded = {"year": F.format_string("%04d", "year"), "month": F.format_string("%02d", "month")}
    return rows_of(frame.withColumns(padded))


def iceberg_table(spark: SparkSession, lake: Path, dataset: str, as_of: str | None = None) -> DataFrame:
    """An Iceberg analytics-ready table of a local lake."""
    return open_iceberg(spark, open_storage(str(lake)).uri).read(dataset, as_of)


def iceberg_rows(spark: SparkSession, lake: Path, dataset: str, as_of: str | None = None) -> list[str]:
    """Rows of an Iceberg analytics-ready table, columns in the Parquet table's order."""
    return rows_of(iceberg_table(spark, lake, dataset, as_of))
