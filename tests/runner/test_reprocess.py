"""``etl-lib reprocess`` after a spec fix ends where a clean run with the fixed spec ends,
even when it is killed halfway and run again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from etl_lib.cli.main import main
from etl_lib.errors import TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.plan import reprocess_selection
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.lake import lake_rows, receipts
from tests.runner.test_pipeline import FEB, JAN, SPEC

# Version 1 caps amounts at 5: February's C (30.00) is rejected, so January's C wins.
V1 = SPEC.replace('type: "decimal(10,2)", required: true}', 'type: "decimal(10,2)", required: true, max: 5}')
V2 = SPEC  # the fix: no cap


def delivered(lake: Path) -> None:
    for n, (name, text) in enumerate((("jan.csv", JAN), ("feb.csv", FEB))):
        path = deliver(lake, "tx", name, text)
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))


def ledger_of(lake: Path, faults: Faults | None = None) -> SqliteLedger:
    return SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults)


def reprocess(spark, lake: Path, faults: Faults | None = None):  # type: ignore[no-untyped-def]
    ctx = make_context(spark, V2, lake, ledger=ledger_of(lake, faults))
    chosen = reprocess_selection(ctx.ledger, "tx", ctx.spec_fingerprint, changed_spec=True)
    return run_dataset(ctx, sources=chosen, redo=True)


@pytest.fixture(scope="module")
def clean_v2(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("clean") / "lake"
    delivered(lake)
    assert run_dataset(make_context(spark, V2, lake)).status == "succeeded"
    return lake


def test_a_spec_fix_reprocessed_ends_as_a_clean_run_with_the_fix(spark, tmp_path: Path, clean_v2: Path) -> None:
    lake = tmp_path / "lake"
    delivered(lake)
    assert run_dataset(make_context(spark, V1, lake)).status == "succeeded"
    storage = LocalStorage(str(lake))
    assert any("30.00" in row for row in lake_rows(spark, storage, "tx")["rejected"])
    first = {f.source_key: f.spec_fingerprint for f in ledger_of(lake).files(dataset="tx")}

    # Killed halfway: February's outcome cannot be recorded; January is done.
    faults = Faults(Fault("ledger.save_file", match="processed raw/tx/feb.csv"))
    with pytest.raises(TransientError):
        reprocess(spark, lake, faults)
    states = {f.source_key: (f.status, f.spec_fingerprint) for f in ledger_of(lake).files(dataset="tx")}
    assert states["raw/tx/feb.csv"][0] == "claimed"

    summary = reprocess(spark, lake)  # the same command again finishes it
    assert summary.status == "succeeded"
    assert lake_rows(spark, storage, "tx") == lake_rows(spark, LocalStorage(str(clean_v2)), "tx")
    assert receipts(storage, "tx") == receipts(LocalStorage(str(clean_v2)), "tx")  # replaced with the outputs
    now = {f.source_key: (f.status, f.spec_fingerprint) for f in ledger_of(lake).files(dataset="tx")}
    v2 = make_context(spark, V2, lake).spec_fingerprint
    assert now == {"raw/tx/jan.csv": ("published", v2), "raw/tx/feb.csv": ("published", v2)}
    assert set(first.values()) != {v2}
    # Nothing left to redo: a third time selects nothing and changes nothing.
    assert reprocess_selection(ledger_of(lake), "tx", v2, changed_spec=True) == []


def test_reprocess_cli_dry_run_then_by_file(spark, tmp_path: Path, capsys) -> None:
    lake = tmp_path / "lake"
    delivered(lake)
    spec = tmp_path / "tx.yaml"
    spec.write_text(V1)
    common = ["--spec", str(spec), "--lake", str(lake)]
    assert main(["run", *common, "--json"]) == 0
    spec.write_text(V2)
    capsys.readouterr()
    assert main(["reprocess", *common, "--changed-spec", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(f["file"], f["reason"]) for f in plan["files"]] == [
        ("raw/tx/jan.csv", "reprocess"),
        ("raw/tx/feb.csv", "reprocess"),
    ]
    assert main(["reprocess", *common, "--file", "feb.csv", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [(f["source"], f["rows_rejected"]) for f in done["file_results"]] == [("raw/tx/feb.csv", 0)]
    assert main(["reprocess", *common, "--since", "2023-11-14T22:14", "--dry-run", "--json"]) == 0
    since = json.loads(capsys.readouterr().out)  # jan was delivered 22:13:20, feb 22:13:21 UTC
    assert [f["file"] for f in since["files"]] == []
    assert main(["reprocess", *common, "--since", "2023-11-14", "--dry-run", "--json"]) == 0
    assert [f["file"] for f in json.loads(capsys.readouterr().out)["files"]] == ["raw/tx/jan.csv", "raw/tx/feb.csv"]
    assert main(["reprocess", *common]) == 2
    assert "say which files" in capsys.readouterr().err
