"""Two runs started together, as threads and as processes, with each ledger: every file is
processed exactly once, and the lake equals a single run's.

The thread tests make the race certain: both runs plan every file before either claims one
(a barrier in the ledger twins' claim), so each run finds files the other finished after it
planned them. Such a claim must be refused, not taken over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.faults import Fault, Faults
from etl_lib.ledger.base import Ledger
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.context import new_run_id
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.lake import lake_files, lake_rows
from tests.runner.test_pipeline import SPEC

DAYS = 6


def six_daily_files(lake: Path) -> None:
    for day in range(1, DAYS + 1):
        rows = "".join(f"T{day}-{n},2024-01-{day:02d} 10:00:00,{n}.00,x@y\n" for n in range(3))
        path = deliver(lake, "tx", f"day{day:02d}.csv", "tx_id,ts,amount,email\n" + rows)
        os.utime(path, (1_700_000_000 + day, 1_700_000_000 + day))


def sqlite_ledgers(lake: Path, faults: list[Faults]) -> list[Ledger]:
    return [SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=f) for f in faults]


def dynamo_ledgers(lake: Path, faults: list[Faults]) -> list[Ledger]:
    from tests.aws.test_dynamodb_ledger import create_table

    return [FaultyDynamo(create_table("ledger") if n == 0 else "ledger", f) for n, f in enumerate(faults)]


class FaultyDynamo:
    """A DynamoLedger whose claims first pass the same switch as the local twin's."""

    def __new__(cls, table: str, faults: Faults) -> Ledger:  # type: ignore[misc]
        from etl_lib.errors import LedgerError, LedgerUnavailable
        from etl_lib.ledger.base import UNCHECKED
        from etl_lib.ledger.dynamodb import DynamoLedger

        ledger = DynamoLedger(table, "c1")
        claim = ledger.claim_file

        def checked(record, stale_after_s, planned=UNCHECKED):  # type: ignore[no-untyped-def]
            faults.check("ledger.claim_file", record.source_key, LedgerUnavailable, LedgerError)
            return claim(record, stale_after_s, planned=planned)

        ledger.claim_file = checked  # type: ignore[method-assign]
        return ledger


def processed_per_file(ledgers: list[Ledger], run_ids: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for run_id in run_ids:
        counts.update(r.source_key for r in ledgers[0].history(run_id) if r.status == "processed")
    return counts


@pytest.fixture
def single_run_lake(spark, tmp_path: Path) -> LocalStorage:
    lake = tmp_path / "single"
    six_daily_files(lake)
    assert run_dataset(make_context(spark, SPEC, lake)).status == "succeeded"
    return LocalStorage(str(lake))


@pytest.mark.parametrize("ledger_kind", ["sqlite", "dynamodb"])
def test_two_runs_in_threads_process_each_file_once(spark, request, tmp_path, single_run_lake, ledger_kind) -> None:
    if ledger_kind == "dynamodb":
        request.getfixturevalue("aws")
    lake = tmp_path / "lake"
    six_daily_files(lake)
    both_planned = threading.Barrier(2, timeout=120)
    waited: set[int] = set()

    def wait_once(_: str) -> bool:  # both runs hold a full plan before either claims
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_planned.wait()
        return False

    faults = [Faults(Fault("ledger.claim_file", when=wait_once)) for _ in range(2)]
    ledgers = (sqlite_ledgers if ledger_kind == "sqlite" else dynamo_ledgers)(lake, faults)
    contexts = [
        replace(make_context(spark, SPEC, lake, ledger=ledger), run_id=new_run_id(), parallel_files=1)
        for ledger in ledgers
    ]
    summaries: list = [None, None]

    def run(n: int) -> None:
        summaries[n] = run_dataset(contexts[n], stage="raw-to-processed")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(s is not None and s.status == "succeeded" for s in summaries), summaries
    assert sum(s.report.run.files for s in summaries) == DAYS
    assert processed_per_file(ledgers, [c.run_id for c in contexts]) == {
        f"raw/tx/day{d:02d}.csv": 1 for d in range(1, DAYS + 1)
    }
    assert run_dataset(replace(contexts[0], run_id=new_run_id()), stage="processed-to-analytics").status == (
        "succeeded"
    )
    storage = LocalStorage(str(lake))
    assert lake_rows(spark, storage, "tx") == lake_rows(spark, single_run_lake, "tx")
    assert lake_files(storage, "tx") == lake_files(single_run_lake, "tx")


def _start(lake: Path, spec: Path, ledger: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "ETL_LIB_MASTER": "local[1]", "ETL_LIB_SHUFFLE_PARTITIONS": "2"}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    command = [sys.executable, "-m", "etl_lib", "run", "--spec", str(spec), "--lake", str(lake), "--json", *ledger]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("ledger_kind", ["sqlite", "dynamodb"])
def test_two_processes_started_together_process_each_file_once(
    spark, request, tmp_path, single_run_lake, ledger_kind
) -> None:
    ledger: list[str] = []
    if ledger_kind == "dynamodb":
        request.getfixturevalue("aws")
        from tests.aws.test_dynamodb_ledger import create_table

        ledger = ["--ledger", f"dynamodb://{create_table('ledger')}", "--customer", "c1"]
    lake, spec = tmp_path / "lake", tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    six_daily_files(lake)
    runs = [_start(lake, spec, ledger) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    processed = Counter(f["source"] for s in summaries for f in s["file_results"] if f["status"] == "processed")
    assert processed == {f"raw/tx/day{d:02d}.csv": 1 for d in range(1, DAYS + 1)}
    assert sum(s["rows_in"] for s in summaries) == DAYS * 3
    storage = LocalStorage(str(lake))
    assert lake_rows(spark, storage, "tx") == lake_rows(spark, single_run_lake, "tx")
