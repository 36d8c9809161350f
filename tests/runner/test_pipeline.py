"""The pipeline's guarantees, end to end on a small local lake."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from etl_lib.faults import Fault, Faults
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.run import FilesDeferred, run_dataset
from tests.conftest import deliver, make_context

SPEC = """
dataset: tx
columns:
  - {name: tx_id, required: true, clean: [trim]}
  - {name: ts, type: timestamp, required: true}
  - {name: amount, type: "decimal(10,2)", required: true}
  - {name: email, pii: true}
derived:
  - {name: cents, expr: "CAST(amount * 100 AS BIGINT)"}
keys: [tx_id]
partition_by: ts
"""

JAN = (
    "tx_id,ts,amount,email\n"
    "A,2024-01-05 10:00:00,1.00,a@x\nB,2024-01-06 10:00:00,2.00,b@x\nC,2024-02-01 00:00:00,3.00,c@x\nBAD,nope,1,z\n"
)
FEB = "tx_id,ts,amount,email\nC,2024-02-01 00:00:00,30.00,c@x\nD,2024-02-10 00:00:00,4.00,d@x\n"


def analytics(spark, lake: Path) -> dict[str, dict]:
    path = lake / "analytics-ready" / "tx"
    if not path.exists():
        return {}
    return {r["tx_id"]: r.asDict() for r in spark.read.parquet(str(path)).collect()}


def tree(lake: Path, *folders: str) -> dict[str, str]:
    """Relative path -> sha256 of every data file below the given folders."""
    out = {}
    for folder in folders:
        for path in sorted((lake / folder).rglob("*")):
            if path.is_file() and not path.name.startswith((".", "_")):
                out[str(path.relative_to(lake))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(spark, lake: Path, **kwargs):
    return run_dataset(make_context(spark, SPEC, lake, **{k: v for k, v in kwargs.items() if k == "ledger"}))


def test_partitions_metadata_and_reconciliation(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    summary = run(spark, lake)
    assert summary.as_json()["status"] == "succeeded"
    assert (summary.report.run.rows_in, summary.report.run.rows_valid, summary.report.run.rows_rejected) == (4, 3, 1)
    assert sorted(p.name for p in (lake / "processed" / "tx").glob("year=*/month=*")) == ["month=01", "month=02"]
    assert sorted(
        str(p.relative_to(lake / "analytics-ready" / "tx"))
        for p in (lake / "analytics-ready" / "tx").rglob("*.parquet")
    ) == [
        "year=2024/month=01/part-00000.snappy.parquet",
        "year=2024/month=02/part-00000.snappy.parquet",
    ]
    rows = analytics(spark, lake)
    assert set(rows) == {"A", "B", "C"}
    a = rows["A"]
    assert a["_source_file"] == "raw/tx/jan.csv" and a["_run_id"] == summary.report.run.run_id
    assert a["_ingested_at"] is not None and a["cents"] == 100
    assert a["email"] == hashlib.sha256(b"a@x").hexdigest()
    processed_line = json.loads(
        next((lake / "processed/tx/year=2024/month=01").glob("*.json")).read_text().splitlines()[0]
    )
    assert processed_line["email"] == "a@x"  # pii is hashed only in analytics-ready
    [record] = summary.report.files
    assert record.rows_in == record.rows_valid + record.rows_rejected


def test_rerun_is_idempotent_and_incremental(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    run(spark, lake)
    before = tree(lake, "processed", "analytics-ready", "rejected")
    again = run(spark, lake)
    assert again.report.run.files == 0 and again.report.run.rows_analytics == 0
    assert tree(lake, "processed", "analytics-ready", "rejected") == before
    deliver(lake, "tx", "feb.csv", FEB)
    third = run(spark, lake)
    assert [f.source_key for f in third.report.files] == ["raw/tx/feb.csv"]
    rows = analytics(spark, lake)
    assert str(rows["C"]["amount"]) == "30.00" and rows["C"]["_source_file"] == "raw/tx/feb.csv"
    assert set(rows) == {"A", "B", "C", "D"}
    # January was not touched by the February file: same bytes.
    jan = "analytics-ready/tx/year=2024/month=01/part-00000.snappy.parquet"
    assert tree(lake, "analytics-ready")[jan] == before[jan]


def test_redelivered_file_replaces_its_earlier_rows(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    run(spark, lake)
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 10:00:00,9.99,a@x\n")
    summary = run(spark, lake)
    assert [(f.source_key, f.rows_in) for f in summary.report.files] == [("raw/tx/jan.csv", 1)]
    assert {k: str(v["amount"]) for k, v in analytics(spark, lake).items()} == {"A": "9.99"}
    assert not list((lake / "rejected" / "tx").glob("*.json"))  # the old rejected row went too
    assert not list((lake / "processed/tx/year=2024/month=02").glob("*.json"))


def test_key_moving_to_another_month_keeps_one_row(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    run(spark, lake)
    deliver(lake, "tx", "fix.csv", "tx_id,ts,amount,email\nA,2024-03-01 00:00:00,5.00,a@x\n")
    run(spark, lake)
    rows = analytics(spark, lake)
    assert sorted(rows) == ["A", "B", "C"]
    assert (rows["A"]["year"], rows["A"]["month"]) == (2024, 3)


def test_one_unreadable_file_never_stops_the_others(spark, lake: Path) -> None:
    deliver(lake, "tx", "a_good.csv", JAN)
    deliver(lake, "tx", "b_corrupt.csv.gz", b"\x1f\x8b\x08\x00garbage")
    deliver(lake, "tx", "c_empty.csv", "")
    # Truncated mid-stream: the header reads fine, Spark fails half-way through the file.
    body = "tx_id,ts,amount,email\n" + "".join(f"T{i},2024-01-05 10:00:00,1.00,e\n" for i in range(200_000))
    packed = gzip.compress(body.encode())
    deliver(lake, "tx", "c_truncated.csv.gz", packed[: len(packed) // 2])
    deliver(lake, "tx", "d_good.csv", FEB)
    summary = run(spark, lake)
    assert summary.status == "partial" and summary.exit_code == 3
    outcome = {f.source_key: f.status for f in summary.report.files}
    assert outcome == {
        "raw/tx/a_good.csv": "processed",
        "raw/tx/b_corrupt.csv.gz": "failed",
        "raw/tx/c_empty.csv": "failed",
        "raw/tx/c_truncated.csv.gz": "failed",
        "raw/tx/d_good.csv": "processed",
    }
    errors = {f.source_key: f.error for f in summary.report.files if f.error}
    assert all("\n" not in e and e.startswith(k) for k, e in errors.items())
    assert set(analytics(spark, lake)) == {"A", "B", "C", "D"}
    assert sorted(p.name for p in (lake / "raw" / "tx").iterdir()) == [
        "a_good.csv",
        "b_corrupt.csv.gz",
        "c_empty.csv",
        "c_truncated.csv.gz",
        "d_good.csv",
    ]
    assert "EOFException" in (errors["raw/tx/c_truncated.csv.gz"] or "")
    assert not list((lake / "processed").rglob("c_truncated*"))
    # Failed files are not retried until their content changes.
    assert run(spark, lake).report.run.files == 0


def test_a_run_killed_half_way_is_finished_by_the_next(spark, lake: Path, tmp_path: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    ledger_path = str(lake / "_meta" / "ledger.sqlite")
    # Fail after the files were published but before the outcome was recorded.
    crashing = SqliteLedger(ledger_path, faults=Faults(Fault("ledger.save_file", match="processed ")))
    with pytest.raises(FilesDeferred, match=r"1 file\(s\) left for the next run: .*ledger.save_file processed"):
        run(spark, lake, ledger=crashing)
    assert crashing.get_file("tx", "raw/tx/jan.csv").status == "claimed"
    second = run(spark, lake)
    assert second.status == "succeeded"
    clean = tmp_path / "clean"
    deliver(clean, "tx", "jan.csv", JAN)
    run(spark, clean)

    def names(root):
        return sorted(os.path.relpath(p, root) for p in tree(root, "processed", "analytics-ready", "rejected"))

    assert names(lake) == names(clean)
    assert set(analytics(spark, lake)) == {"A", "B", "C"}
    assert spark.read.json(str(lake / "processed" / "tx")).count() == 3


def test_a_file_claimed_by_another_live_run_is_skipped_not_failed(spark, lake: Path) -> None:
    from etl_lib.ledger.base import FileRecord, RunRecord

    deliver(lake, "tx", "jan.csv", JAN)
    deliver(lake, "tx", "feb.csv", FEB)
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ledger.save_run(RunRecord(run_id="other", dataset="tx", stage="all", owner="another-host:42"))
    ledger.claim_file(
        FileRecord(dataset="tx", source_key="raw/tx/jan.csv", checksum="x", size=1, status="claimed", run_id="other"),
        stale_after_s=3600,
    )
    summary = run(spark, lake)
    assert summary.status == "succeeded"
    assert [f.source_key for f in summary.report.files] == ["raw/tx/feb.csv"]
    still = ledger.get_file("tx", "raw/tx/jan.csv")
    assert still is not None and (still.status, still.run_id) == ("claimed", "other")
