"""Incremental analytics runs end where one run over the same deliveries ends.

A key delivered again is decided between its new rows and its current winner in
analytics-ready; a key whose winner came from a re-delivered file is decided from
every processed row of it. Whatever the order of runs, the result must be the rows
a single run over the final raw files gives.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from etl_lib.write import key_index
from tests.conftest import deliver, make_context
from tests.lake import RUN_COLUMNS, key_index_rows

SPEC = """
dataset: acct
columns:
  - {name: id, required: true}
  - {name: opened, type: date, required: true}
  - {name: status}
  - {name: email, pii: true}
  - {name: updated, type: date}
keys: [id]
latest_by: updated
partition_by: opened
"""
HEADER = "id,opened,status,email,updated\n"


def rows(rng: random.Random, tag: str, count: int) -> str:
    """``count`` rows of keys k0..k24 over four months; some without ``updated`` (they lose)."""
    lines = []
    for n in range(count):
        key = f"k{rng.randrange(25)}"
        opened = f"2024-{rng.randrange(1, 5):02d}-{rng.randrange(1, 28):02d}"
        updated = "" if rng.random() < 0.15 else f"2024-05-{rng.randrange(1, 28):02d}"
        lines.append(f"{key},{opened},{tag}-{n},{key}@x,{updated}\n")
    return HEADER + "".join(lines)


def analytics(spark, lake: Path) -> list[tuple]:  # type: ignore[no-untyped-def]
    frame = spark.read.parquet(str(lake / "analytics-ready" / "acct")).drop(*RUN_COLUMNS)
    return sorted(tuple(r) for r in frame.collect())


def put(lake: Path, name: str, content: str, mtime: int) -> None:
    path = deliver(lake, "acct", name, content)
    os.utime(path, (mtime, mtime))


@pytest.mark.parametrize("seed", [1, 2])
def test_runs_after_each_delivery_end_as_one_run_over_all(spark, tmp_path: Path, monkeypatch, seed: int) -> None:
    monkeypatch.setattr(key_index, "MAX_PARTS", 3)  # merges the index parts during the sequence too
    rng = random.Random(seed)
    lake = tmp_path / "incremental"
    deliveries = [(f"d{n}.csv", rows(rng, f"d{n}", 12)) for n in range(6)]
    # d2 comes again, changed: some of its keys' winners must fall back to other files' rows.
    deliveries.insert(4, ("d2.csv", rows(rng, "d2-again", 6)))
    for mtime, (name, content) in enumerate(deliveries, start=1_700_000_000):
        put(lake, name, content, mtime)
        summary = run_dataset(make_context(spark, SPEC, lake))
        assert summary.status == "succeeded", summary.report.run.error

    full = tmp_path / "full"
    (full / "raw").mkdir(parents=True)
    shutil.copytree(lake / "raw" / "acct", full / "raw" / "acct")  # copy2: the same delivery times
    assert run_dataset(make_context(spark, SPEC, full)).status == "succeeded"

    assert analytics(spark, lake) == analytics(spark, full)
    ids = [r[0] for r in analytics(spark, lake)]
    assert len(ids) == len(set(ids))
    # The index holds at least every row analytics-ready took (it may hold leftovers).
    indexed = key_index_rows(spark, LocalStorage(str(lake)), "acct")
    assert len(indexed) >= len(key_index_rows(spark, LocalStorage(str(full)), "acct"))
