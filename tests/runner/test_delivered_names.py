"""Every delivered object is read as delivered, whatever its name (Spark reads paths as globs
and skips names starting with ``_`` or ``.``); a key that cannot be used fails that file alone."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pyspark.sql import SparkSession

from etl_lib.runner.run import RunSummary, run_dataset
from etl_lib.storage.base import Storage
from tests.conftest import deliver, make_context

SPEC = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: amount, type: "decimal(10,2)", required: true}
"""

# Names Spark or Hadoop would read as something else: URI syntax, glob syntax, hidden files.
NAMES = [
    "with space.csv",
    "ünï €.csv",
    "a=b+c%20d.csv",
    "br[1]{x}*?.csv",
    "_under.csv",
    ".dot.csv",
    "colon:x.csv",
    "sub dir/nested.csv",
    "plain.csv.gz",
]


def body(n: int) -> bytes:
    """A file whose ids say which file it is."""
    import gzip

    text = f"tx_id,amount\nf{n}-a,1.00\nf{n}-b,2.00\n".encode()
    return gzip.compress(text) if NAMES[n].endswith(".gz") else text


def ids_by_source(spark: SparkSession, storage: Storage, dataset: str = "tx") -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row in spark.read.text(storage.uri(f"processed/{dataset}")).collect():  # a few test rows
        record = json.loads(row["value"])
        found[record["_source_file"]].add(record["tx_id"])
    return dict(found)


def assert_each_read_as_itself(spark: SparkSession, summary: RunSummary, storage: Storage) -> None:
    by_source = {f.source_key: f for f in summary.report.files}
    for name in NAMES:
        record = by_source[f"raw/tx/{name}"]
        assert (record.status, record.rows_in, record.rows_valid) == ("processed", 2, 2), (name, record.error)
    expected = {f"raw/tx/{name}": {f"f{n}-a", f"f{n}-b"} for n, name in enumerate(NAMES)}
    assert ids_by_source(spark, storage) == expected


def test_every_name_is_read_as_exactly_that_file(spark, lake: Path) -> None:
    for n, name in enumerate(NAMES):
        deliver(lake, "tx", name, body(n))
    ctx = make_context(spark, SPEC, lake)
    summary = run_dataset(ctx)
    assert summary.status == "succeeded"
    assert_each_read_as_itself(spark, summary, ctx.storage)
    # raw/ is never modified, and no alias is left behind.
    assert sorted(str(p.relative_to(lake / "raw" / "tx")) for p in (lake / "raw" / "tx").rglob("*") if p.is_file()) == (
        sorted(NAMES)
    )
    assert not (lake / "_meta" / "staging" / "tx").exists() or not any(
        (lake / "_meta" / "staging" / "tx").rglob("*.csv*")
    )
    assert run_dataset(make_context(spark, SPEC, lake)).report.run.files == 0
