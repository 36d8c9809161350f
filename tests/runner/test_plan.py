"""``etl-lib plan`` says what ``run`` would do and does nothing; ``run`` does exactly that;
operators' marks (skip, unskip, force) steer it; the spec version is recorded per file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from etl_lib.cli.main import main
from etl_lib.ledger.base import FileRecord, RunRecord
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.plan import plan_run
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver
from tests.runner.test_pipeline import FEB, JAN, SPEC


def delivered(lake: Path, name: str, content: str, at: float) -> None:
    os.utime(deliver(lake, "tx", name, content), (at, at))


def everything(lake: Path) -> dict[str, bytes]:
    return {str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*")) if p.is_file()}


def reasons(lake: Path, ledger: SqliteLedger, fingerprint: str = "f1", **kwargs) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    plan = plan_run(LocalStorage(str(lake)), ledger, "tx", fingerprint, stale_after_s=3600, **kwargs)
    return [(f.source.key.rsplit("/", 1)[-1], f.reason, f.process) for f in plan.files]


def test_every_reason_comes_from_the_listing_and_the_ledger(lake: Path) -> None:
    for n, name in enumerate(["a.csv", "b.csv", "c.csv", "d.csv", "e.csv", "f.csv", "g.csv"]):
        delivered(lake, name, f"tx_id,ts,amount,email\n{name},2024-01-01 00:00:00,1,x\n", 1_700_000_000 + n)
    storage, ledger = LocalStorage(str(lake)), SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))

    def record(name: str, status: str, run_id: str = "r0", **more) -> FileRecord:  # type: ignore[no-untyped-def]
        key = f"raw/tx/{name}"
        obj = next(iter(storage.list(key)))
        return FileRecord("tx", key, storage.checksum(key), obj.size, status, run_id, delivered_at=obj.modified, **more)  # type: ignore[arg-type]

    ledger.save_run(RunRecord(run_id="live", dataset="tx", stage="all", owner="elsewhere:1"))
    ledger.save_run(RunRecord(run_id="dead", dataset="tx", stage="all", status="failed", owner="elsewhere:2"))
    ledger.save_new_file(record("b.csv", "published", spec_fingerprint="f1"))
    ledger.save_new_file(record("c.csv", "published", spec_fingerprint="f0"))  # an older spec
    ledger.save_new_file(record("d.csv", "claimed", "live"))
    ledger.save_new_file(record("e.csv", "claimed", "dead"))
    ledger.save_new_file(record("f.csv", "failed", spec_fingerprint="f1"))
    ledger.save_new_file(record("g.csv", "published", spec_fingerprint="f1"))
    delivered(lake, "g.csv", "tx_id,ts,amount,email\ng2,2024-01-01 00:00:00,2,x\n", 1_700_000_010)  # re-delivered
    ledger.mark_file("tx", "raw/tx/b.csv", "force", "ana", "redo it")
    ledger.mark_file("tx", "raw/tx/a.csv", "skip", "ana", "wrong extract")
    assert reasons(lake, ledger) == [
        ("a.csv", "skipped", False),
        ("b.csv", "forced", True),
        ("c.csv", "spec changed", False),
        ("d.csv", "claimed", False),
        ("e.csv", "retry", True),
        ("g.csv", "changed", True),
    ]
    # Named: a failed file is retried, a skipped one still is not.
    assert reasons(lake, ledger, sources=["f.csv", "a.csv"]) == [
        ("a.csv", "skipped", False),
        ("f.csv", "requested", True),
    ]
    plan = plan_run(storage, ledger, "tx", "f1", stale_after_s=3600)
    assert [t.source.key for t in plan.tasks] == ["raw/tx/b.csv", "raw/tx/e.csv", "raw/tx/g.csv"]
    assert "leave   raw/tx/a.csv (skipped: marked skip" in plan.describe()


def test_plan_then_run_with_marks_and_a_spec_change(spark, lake: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    common = ["--spec", str(spec), "--lake", str(lake)]
    delivered(lake, "jan.csv", JAN, 1_700_000_000)
    delivered(lake, "feb.csv", FEB, 1_700_000_100)

    def plan() -> list[tuple[str, str, str]]:
        capsys.readouterr()
        assert main(["plan", *common, "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        return [(f["file"], f["reason"], f["action"]) for f in found["files"]]

    def run() -> list[str]:
        capsys.readouterr()
        assert main(["run", *common, "--json"]) == 0
        return [f["source"] for f in json.loads(capsys.readouterr().out)["file_results"]]

    before = everything(lake)
    assert plan() == [("raw/tx/jan.csv", "new", "process"), ("raw/tx/feb.csv", "new", "process")]
    assert everything(lake) == before  # nothing written, not even a ledger

    assert main(["files", "skip", "feb.csv", *common, "--why", "wrong extract", "--who", "ana"]) == 0
    assert plan() == [("raw/tx/jan.csv", "new", "process"), ("raw/tx/feb.csv", "skipped", "leave")]
    assert run() == ["raw/tx/jan.csv"]
    assert plan() == [("raw/tx/feb.csv", "skipped", "leave")]

    assert main(["files", "unskip", "feb.csv", *common, "--why", "right extract", "--who", "ana"]) == 0
    assert main(["files", "force", "raw/tx/jan.csv", *common, "--why", "check", "--who", "ben"]) == 0
    assert plan() == [("raw/tx/jan.csv", "forced", "process"), ("raw/tx/feb.csv", "new", "process")]
    assert run() == ["raw/tx/jan.csv", "raw/tx/feb.csv"]
    assert plan() == []

    capsys.readouterr()
    assert main(["files", *common, "--json"]) == 0
    listed = {r["source_key"]: r for r in json.loads(capsys.readouterr().out)}
    assert {k: (r["status"], r["mark"]) for k, r in listed.items()} == {
        "raw/tx/jan.csv": ("published", None),
        "raw/tx/feb.csv": ("published", None),
    }
    assert len({r["spec_fingerprint"] for r in listed.values()}) == 1
    assert main(["files", "history", "jan.csv", *common, "--json"]) == 0
    history = [(s["status"], s["mark"], s["changed_by"]) for s in json.loads(capsys.readouterr().out)]
    assert ("published", "force", "ben") in history
    assert history[-1] == ("published", None, None) and history.count(("published", None, None)) == 2

    # A new spec version: run leaves the files alone, plan says why.
    spec.write_text(SPEC.replace("required: true}", "required: true, clean: [trim]}", 1) + "\n# a comment\n")
    assert plan() == [("raw/tx/jan.csv", "spec changed", "leave"), ("raw/tx/feb.csv", "spec changed", "leave")]
    assert run() == []


def test_marking_a_file_nobody_delivered_is_a_clear_error(lake: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    args = ["files", "skip", "nope.csv", "--spec", str(spec), "--lake", str(lake), "--why", "x"]
    assert main(args) == 2
    assert "raw/tx/nope.csv: no such file in the lake nor in the ledger of tx" in capsys.readouterr().err
    assert main(["plan", "--spec", str(spec), "--lake", str(lake / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_the_glue_reprocess_argument() -> None:
    import pytest

    from etl_lib.errors import ConfigError
    from etl_lib.runner.plan import reprocess_request

    assert reprocess_request("changed-spec", ()) == {"changed_spec": True, "files": ()}
    assert reprocess_request("since=2024-05-01", ("raw/tx/a.csv",)) == {
        "since": 1714521600.0,
        "files": ("raw/tx/a.csv",),
    }
    assert reprocess_request("files", ("raw/tx/a.csv",)) == {"files": ("raw/tx/a.csv",)}
    with pytest.raises(ConfigError, match="--source_keys"):
        reprocess_request("files", ())
    with pytest.raises(ConfigError, match="expected changed-spec, since=YYYY-MM-DD or files"):
        reprocess_request("all", ())
    with pytest.raises(ConfigError, match="expected a date"):
        reprocess_request("since=yesterday", ())
