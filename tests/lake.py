"""What a lake holds, in a form two lakes can be compared by (local folder or s3://, any run ids)."""

from __future__ import annotations

import json
import posixpath

from pyspark.sql import SparkSession

from etl_lib.storage.base import Storage

# Differ between two lakes fed the same data by design: when and by which run a row was ingested,
# and when its object landed in that lake (the winners still follow the same delivery order).
RUN_COLUMNS = ("_ingested_at", "_run_id", "_delivered_at")
FOLDERS = ("processed", "rejected", "analytics-ready")


def _jsonl_rows(spark: SparkSession, storage: Storage, folder: str, dataset: str) -> list[str]:
    root = f"{folder}/{dataset}"
    if not storage.exists(root + "/"):
        return []
    rows = []
    # Test code: the lakes compared here hold a few thousand rows.
    for row in spark.read.text(storage.uri(root)).collect():
        record = {k: v for k, v in json.loads(row["value"]).items() if k not in RUN_COLUMNS}
        record.update({k: row[k] for k in row.asDict() if k != "value"})  # year/month from the folders
        rows.append(json.dumps(record, sort_keys=True, default=str))
    return sorted(rows)


def _parquet_rows(spark: SparkSession, storage: Storage, dataset: str) -> list[str]:
    root = f"analytics-ready/{dataset}"
    if not storage.exists(root + "/"):
        return []
    frame = spark.read.parquet(storage.uri(root)).drop(*RUN_COLUMNS)
    return sorted(json.dumps(r.asDict(), sort_keys=True, default=str) for r in frame.collect())


def lake_rows(spark: SparkSession, storage: Storage, dataset: str) -> dict[str, list[str]]:
    """Every processed, rejected and analytics-ready row of ``dataset``, run columns left out, sorted."""
    return {
        "processed": _jsonl_rows(spark, storage, "processed", dataset),
        "rejected": _jsonl_rows(spark, storage, "rejected", dataset),
        "analytics-ready": _parquet_rows(spark, storage, dataset),
    }


def lake_files(storage: Storage, dataset: str) -> list[str]:
    """Names of the data files of ``dataset`` (relative to the lake root), Spark's markers left out."""
    found = []
    for folder in FOLDERS:
        for obj in storage.list(f"{folder}/{dataset}/"):
            name = posixpath.basename(obj.key)
            if not name.startswith((".", "_")):
                found.append(obj.key)
    return sorted(found)


def key_index_rows(spark: SparkSession, storage: Storage, dataset: str) -> list[str]:
    """The distinct rows of the dataset's current key index (every part), sorted (empty when there is none)."""
    pointer = f"_meta/key_index/{dataset}/current.json"
    if not storage.exists(pointer):
        return []
    with storage.open(pointer) as handle:
        parts = json.loads(handle.read().decode("utf-8"))["parts"]
    frame = spark.read.parquet(*[storage.uri(f"_meta/key_index/{dataset}/{part}") for part in parts])
    return sorted({json.dumps(r.asDict(), sort_keys=True) for r in frame.collect()})


def receipts(storage: Storage, dataset: str) -> dict[str, object]:
    """The dataset's receipts by name: summaries without the run's id, rows as text."""
    found: dict[str, object] = {}
    for obj in storage.list(f"receipts/{dataset}/"):
        with storage.open(obj.key) as handle:
            text = handle.read().decode("utf-8")
        name = posixpath.basename(obj.key)
        if name.endswith(".rejected.json") or name.endswith(".rejected.csv"):
            found[name] = text
        else:
            found[name] = {k: v for k, v in json.loads(text).items() if k != "run_id"}
    return found
