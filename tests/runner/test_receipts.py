"""Receipts for the partner: physical lines, the record as delivered, rules in the partner's
words; replaced with the file's outputs; owed receipts written by the next run."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

from etl_lib.faults import Fault, Faults
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from etl_lib.write.staging import file_id
from tests.conftest import deliver, make_context
from tests.runner.test_pipeline import SPEC

FILE = (
    "tx_id,ts,amount,email\n"  # line 1
    "A,2024-01-05 10:00:00,1.00,a@x\n"  # 2
    'B,2024-01-06 10:00:00,2.00,"b\n'  # 3: a value over two lines
    '@x"\n'  # 4
    "\n"  # 5: blank
    "C,2024-01-07 10:00:00,n/a,c@x\n"  # 6: amount
    "D,2024-01-08 10:00:00,1.00\n"  # 7: a field too few
    "E,nope,3.00,e@x\n"  # 8: ts
)


def receipt(lake: Path, name: str) -> tuple[dict, list[dict], list[dict]]:
    base = lake / "receipts" / "tx" / file_id(f"raw/tx/{name}")
    summary = json.loads(Path(f"{base}.json").read_text())
    rows_json = Path(f"{base}.rejected.json")
    rows = [json.loads(line) for line in rows_json.read_text().splitlines()] if rows_json.exists() else []
    rows_csv = Path(f"{base}.rejected.csv")
    table = list(csv.DictReader(io.StringIO(rows_csv.read_text()))) if rows_csv.exists() else []
    return summary, rows, table


def test_a_receipt_names_lines_records_and_rules(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", FILE)
    deliver(lake, "tx", "broken.csv", "nothing,useful\n1,2\n")
    assert run_dataset(make_context(spark, SPEC, lake)).status == "partial"

    summary, rows, table = receipt(lake, "jan.csv")
    assert (summary["rows_read"], summary["rows_valid"], summary["rows_rejected"]) == (5, 2, 3)
    assert summary["status"] == "processed" and summary["complete"] and summary["checksum"]
    assert [(r["line"], r["record"]) for r in rows] == [(6, 3), (7, 4), (8, 5)]
    assert [r["delivered"] for r in rows] == [
        "C,2024-01-07 10:00:00,n/a,c@x",
        "D,2024-01-08 10:00:00,1.00",
        "E,nope,3.00,e@x",
    ]
    assert rows[0]["problems"] == ["amount: 'n/a' is not a valid decimal(10,2)"]
    assert rows[2]["problems"][0].startswith("ts: 'nope' is not a valid timestamp")
    assert "row: wrong number of fields" in rows[1]["problems"]
    assert [(t["line"], t["delivered"]) for t in table] == [(str(r["line"]), r["delivered"]) for r in rows]
    assert {r["rule"]: r["rows"] for r in summary["reasons"]}["amount: not a valid decimal(10,2)"] == 1

    failed, failed_rows, _ = receipt(lake, "broken.csv")
    assert failed["status"] == "failed" and "missing required column" in failed["error"]
    assert failed_rows == [] and failed["rejected_rows"] is None

    # A re-delivery replaces the receipt with the file's other outputs.
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 10:00:00,1.00,a@x\n")
    run_dataset(make_context(spark, SPEC, lake))
    again, again_rows, again_table = receipt(lake, "jan.csv")
    assert (again["rows_read"], again["rows_rejected"], again_rows, again_table) == (1, 0, [], [])


def test_receipts_a_run_could_not_write_are_written_by_the_next(spark, tmp_path: Path) -> None:
    lake, clean = tmp_path / "lake", tmp_path / "clean"
    for root in (lake, clean):
        deliver(root, "tx", "jan.csv", FILE)
    run_dataset(make_context(spark, SPEC, clean))

    faults = Faults(Fault("storage.move", match="receipts/tx/"))
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ctx = make_context(spark, SPEC, lake, ledger=ledger)
    summary = run_dataset(replace(ctx, storage=LocalStorage(str(lake), faults=faults)))
    assert summary.status == "succeeded" and faults.failed["storage.move"] >= 1  # the data stands
    [record] = ledger.files(dataset="tx")
    assert record.receipt_owed and not receipt(lake, "jan.csv")[0]["complete"]

    again = run_dataset(make_context(spark, SPEC, lake))  # nothing new to process; the receipt is owed
    assert again.report.run.files == 0
    assert not SqliteLedger(str(lake / "_meta" / "ledger.sqlite")).files(dataset="tx")[0].receipt_owed

    def comparable(root: Path) -> tuple:
        summary, rows, table = receipt(root, "jan.csv")
        return {k: v for k, v in summary.items() if k not in ("run_id", "delivered_at")}, rows, table

    assert comparable(lake) == comparable(clean)


def test_receipts_off_writes_none_and_removes_a_files_earlier_one(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", FILE)
    run_dataset(make_context(spark, SPEC, lake))
    assert receipt(lake, "jan.csv")[1]  # rows

    off = SPEC + "receipts: false\n"
    deliver(lake, "tx", "feb.csv", FILE)
    deliver(lake, "tx", "jan.csv", FILE.replace("n/a", "9.99"))  # re-delivered: processed again
    assert run_dataset(make_context(spark, off, lake)).status == "succeeded"
    assert sorted(p.name for p in (lake / "receipts" / "tx").iterdir()) == []
    [feb, jan] = sorted(
        SqliteLedger(str(lake / "_meta" / "ledger.sqlite")).files(dataset="tx"), key=lambda r: r.source_key
    )
    assert feb.rows_rejected == 3 and not feb.receipt_owed and jan.rows_rejected == 2


def test_a_file_whose_lines_do_not_add_up_gets_rows_without_line_numbers(spark, lake: Path, caplog) -> None:
    # A quote inside an unquoted value: Spark's reader takes it as a character; counted as
    # opening a quoted value, it would shift every line after it. The counts disagree, so
    # the receipt gives its rows without line numbers rather than wrong ones.
    stray = (
        "tx_id,ts,amount,email\n"
        'A,2024-01-05 10:00:00,1.00,a"x\n'
        "B,2024-01-06 10:00:00,n/a,b@x\n"
        "C,2024-01-07 10:00:00,3.00,c@x\n"
    )
    deliver(lake, "tx", "stray.csv", stray)
    run_dataset(make_context(spark, SPEC, lake))
    summary, rows, table = receipt(lake, "stray.csv")
    assert summary["complete"] and summary["rows_read"] == 3 and summary["rows_rejected"] == 1
    assert [(r.get("line"), r["record"], r["delivered"]) for r in rows] == [(None, 2, "B,2024-01-06 10:00:00,n/a,b@x")]
    assert [(t["line"], t["record"]) for t in table] == [("", "2")]
    assert "its rows are given without line numbers" in caplog.text
