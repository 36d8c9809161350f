"""The local ledger: claims, takeovers, history and failure switches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etl_lib.errors import ClaimConflict, LedgerUnavailable
from etl_lib.ledger.base import FileRecord, RunRecord
from etl_lib.ledger.sqlite import SqliteLedger


def record(run_id: str, **changes: object) -> FileRecord:
    base = FileRecord(dataset="d", source_key="raw/d/a.csv", checksum="c1", size=3, status="claimed", run_id=run_id)
    return base.evolve(**changes)


def test_new_file_claim_returns_no_previous(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "l.sqlite"))
    assert ledger.claim_file(record("r1"), stale_after_s=60) is None
    assert ledger.get_file("d", "raw/d/a.csv").status == "claimed"


def test_live_claim_of_another_run_conflicts(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "l.sqlite"))
    ledger.save_run(RunRecord(run_id="r1", dataset="d", stage="all", owner="otherhost:1"))
    ledger.claim_file(record("r1"), stale_after_s=60)
    with pytest.raises(ClaimConflict, match=r"raw/d/a.csv: claimed by run r1"):
        ledger.claim_file(record("r2"), stale_after_s=60)
    # ...but a claim older than the staleness limit is taken over.
    previous = ledger.claim_file(record("r2"), stale_after_s=0)
    assert previous is not None and previous.run_id == "r1"


def test_claim_of_an_ended_or_dead_run_is_taken_over(tmp_path: Path) -> None:
    import socket

    ledger = SqliteLedger(str(tmp_path / "l.sqlite"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ledger.save_run(
        RunRecord(run_id="r1", dataset="d", stage="all", owner=f"{socket.gethostname()}:{dead.stdout.strip()}")
    )
    ledger.claim_file(record("r1"), stale_after_s=3600)
    assert ledger.claim_file(record("r2"), stale_after_s=3600) is not None
    ledger.save_run(RunRecord(run_id="r2", dataset="d", stage="all", status="failed", owner="elsewhere:1"))
    assert ledger.claim_file(record("r3"), stale_after_s=3600) is not None


def test_two_connections_never_both_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    first, second = SqliteLedger(path), SqliteLedger(path)
    first.save_run(RunRecord(run_id="r1", dataset="d", stage="all", owner="h:1"))
    second.save_run(RunRecord(run_id="r2", dataset="d", stage="all", owner="h:2"))
    first.claim_file(record("r1"), stale_after_s=600)
    with pytest.raises(ClaimConflict):
        second.claim_file(record("r2"), stale_after_s=600)


def test_claim_keeps_previous_outputs_and_history_is_kept(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "l.sqlite"))
    ledger.claim_file(record("r1"), stale_after_s=60)
    done = record(
        "r1",
        status="processed",
        rows_in=3,
        rows_valid=2,
        rows_rejected=1,
        outputs=("p/x.json",),
        partitions=("year=2024/month=01",),
    )
    ledger.save_file(done)
    ledger.claim_file(record("r2", checksum="c2"), stale_after_s=60)
    current = ledger.get_file("d", "raw/d/a.csv")
    assert (current.status, current.checksum, current.outputs, current.partitions) == (
        "claimed",
        "c2",
        ("p/x.json",),
        ("year=2024/month=01",),
    )
    assert [(h.status, h.rows_in) for h in ledger.history("r1")] == [("processed", 3)]
    assert [f.source_key for f in ledger.files(dataset="d", status="claimed")] == ["raw/d/a.csv"]


def test_runs_newest_first(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "l.sqlite"))
    first = RunRecord(run_id="r1", dataset="d", stage="all")
    ledger.save_run(first)
    ledger.save_run(RunRecord(run_id="r2", dataset="d", stage="all"))
    ledger.save_run(first.evolve(status="succeeded", rows_in=5))
    runs = ledger.runs()
    assert [r.run_id for r in runs] == ["r2", "r1"] and runs[1].rows_in == 5


def test_failure_switch(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "l.sqlite"), fail_on={"save_run"})
    with pytest.raises(LedgerUnavailable, match=r"ledger\.save_run .*injected transient fault"):
        ledger.save_run(RunRecord(run_id="r1", dataset="d", stage="all"))
