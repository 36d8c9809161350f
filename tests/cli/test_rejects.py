"""``etl-lib rejects``: rejected rows by reason per file, with examples, read without Spark."""

from __future__ import annotations

import json
from pathlib import Path

from etl_lib.cli.main import main
from tests.conftest import deliver
from tests.runner.test_pipeline import FEB, JAN, SPEC

MORE_BAD = "tx_id,ts,amount,email\nE,2024-01-07 10:00:00,x1,e@x\nF,nope,x2,f@x\nG,nope,3,g@x\nH,nope,4,h@x\n"


def test_rejects_by_reason_with_examples(spark, lake: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    common = ["--spec", str(spec), "--lake", str(lake)]
    deliver(lake, "tx", "jan.csv", JAN)
    deliver(lake, "tx", "feb.csv", FEB)
    deliver(lake, "tx", "mar.csv", MORE_BAD)
    deliver(lake, "tx", "broken.csv.gz", b"not gzip")
    assert main(["run", *common, "--json"]) == 3
    capsys.readouterr()

    assert main(["rejects", *common, "--json"]) == 0
    found = {f["file"]: f for f in json.loads(capsys.readouterr().out)}
    assert set(found) == {"raw/tx/jan.csv", "raw/tx/mar.csv", "raw/tx/broken.csv.gz"}  # feb has none
    mar = found["raw/tx/mar.csv"]
    assert (mar["rows_in"], mar["rows_rejected"]) == (4, 4)
    by_reason = {r["reason"]: r for r in mar["reasons"]}
    [ts] = [r for reason, r in by_reason.items() if reason.startswith("ts:")]
    [amount] = [r for reason, r in by_reason.items() if reason.startswith("amount:")]
    assert (ts["rows"], amount["rows"]) == (3, 2)  # a row counts under every rule it failed
    assert [e["row"] for e in ts["examples"]] == [2, 3, 4]  # at most three, in file order
    assert ts["examples"][0]["values"]["tx_id"] == "F"
    assert mar["reasons"][0] is not None and mar["reasons"][0]["rows"] == 3  # most frequent first
    [whole] = found["raw/tx/broken.csv.gz"]["reasons"]
    assert whole["reason"].startswith("file failed: raw/tx/broken.csv.gz")

    assert main(["rejects", *common, "--file", "feb.csv", "--json"]) == 0
    [feb] = json.loads(capsys.readouterr().out)
    assert (feb["file"], feb["rows_rejected"], feb["reasons"]) == ("raw/tx/feb.csv", 0, [])
    assert main(["rejects", *common, "--file", "jan.csv"]) == 0
    text = capsys.readouterr().out
    assert "raw/tx/jan.csv (published): 1 of 4 rows rejected" in text and '"tx_id": "BAD"' in text
    assert main(["rejects", *common, "--file", "nope.csv"]) == 2
    assert "raw/tx/nope.csv: not in the ledger of tx" in capsys.readouterr().err
