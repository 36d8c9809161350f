"""Runs that overlap or retry reach the state a clean run reaches: analytics never marks newer
news published, a failed re-delivery keeps its earlier version pending, winners follow the
delivery order, dead runs' staging is swept, and sources are one task however they are spelled."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.errors import SourceFileError
from etl_lib.faults import Fault, Faults
from etl_lib.ledger.base import RunRecord
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.context import new_run_id
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.runner.test_pipeline import SPEC, analytics


def ctx_for(spark, lake: Path, faults: Faults | None = None):  # type: ignore[no-untyped-def]
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults)
    ctx = make_context(spark, SPEC, lake, ledger=ledger)
    return replace(ctx, storage=LocalStorage(str(lake), faults=faults)) if faults else ctx


def deliver_at(lake: Path, name: str, text: str, when: float) -> None:
    os.utime(deliver(lake, "tx", name, text), (when, when))


def test_the_winner_is_the_latest_delivery_not_the_latest_processing(spark, lake: Path) -> None:
    deliver_at(lake, "a.csv", "tx_id,ts,amount,email\nK,2024-01-01 00:00:00,1.00,x\n", 1_700_000_100)
    deliver_at(lake, "b.csv", "tx_id,ts,amount,email\nK,2024-01-01 00:00:00,2.00,x\n", 1_700_000_200)
    # b.csv (delivered later) is processed first; a.csv fails transiently and is redone later.
    faults = Faults(Fault("storage.move", match="processed/tx/", when=lambda key: "/a.csv-" in key))
    with pytest.raises(Exception, match="left for the next run"):
        run_dataset(ctx_for(spark, lake, faults))
    assert run_dataset(ctx_for(spark, lake)).status == "succeeded"
    assert str(analytics(spark, lake)["K"]["amount"]) == "2.00"
    # --source of the earlier delivery, processed once more, changes nothing either.
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ledger.save_file(ledger.get_file("tx", "raw/tx/a.csv").evolve(status="failed"))
    assert run_dataset(ctx_for(spark, lake), sources=["raw/tx/a.csv"]).status == "succeeded"
    assert str(analytics(spark, lake)["K"]["amount"]) == "2.00"


def test_a_file_reprocessed_during_analytics_stays_pending(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,1.00,a@x\n")
    assert run_dataset(ctx_for(spark, lake), stage="raw-to-processed").status == "succeeded"
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))

    def another_run_reprocesses_jan(_: str) -> bool:  # while analytics rewrites its partitions
        current = ledger.get_file("tx", "raw/tx/jan.csv")
        ledger.save_file(current.evolve(run_id="other-run", checksum="new-content"))
        return False

    faults = Faults(Fault("storage.write_text", match="_meta/analytics/", when=another_run_reprocesses_jan))
    assert run_dataset(ctx_for(spark, lake, faults), stage="processed-to-analytics").status == "succeeded"
    after = ledger.get_file("tx", "raw/tx/jan.csv")
    assert (after.status, after.run_id) == ("processed", "other-run"), "newer news was marked published"


def test_a_winner_from_a_file_in_flight_gives_way_to_the_next_best_row(spark, lake: Path) -> None:
    row = "tx_id,ts,amount,email\nK,2024-01-01 00:00:00,{},x\n"
    deliver_at(lake, "g.csv", row.format("1.00"), 1_700_000_100)
    deliver_at(lake, "c.csv", row.format("3.00"), 1_700_000_300)
    assert run_dataset(ctx_for(spark, lake)).status == "succeeded"
    assert str(analytics(spark, lake)["K"]["amount"]) == "3.00"
    # Another live run is processing c.csv again; meanwhile n.csv (delivered earliest) re-sends K.
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ledger.save_file(ledger.get_file("tx", "raw/tx/c.csv").evolve(status="claimed", run_id="other-run"))
    deliver_at(lake, "n.csv", row.format("2.00"), 1_700_000_000)
    assert run_dataset(ctx_for(spark, lake)).status == "succeeded"
    # c.csv's rows do not count while it is in flight: K is decided from its other rows, and
    # g.csv's (a processed file this run did not deliver) beats n.csv's.
    assert str(analytics(spark, lake)["K"]["amount"]) == "1.00"


def test_a_failed_redelivery_keeps_the_earlier_version_pending(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,1.00,a@x\n")
    assert run_dataset(ctx_for(spark, lake), stage="raw-to-processed").status == "succeeded"
    deliver(lake, "tx", "jan.csv", "no_such_columns\n1\n")  # the correction is broken
    summary = run_dataset(ctx_for(spark, lake))
    assert summary.status == "partial"
    assert set(analytics(spark, lake)) == {"A"}, "the first version's rows must still be published"
    record = SqliteLedger(str(lake / "_meta" / "ledger.sqlite")).get_file("tx", "raw/tx/jan.csv")
    assert (record.status, record.dirty_partitions) == ("failed", ())


def test_staging_of_runs_that_are_gone_is_swept(spark, lake: Path) -> None:
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ledger.save_run(RunRecord(run_id="dead", dataset="tx", stage="all", status="failed"))
    ledger.save_run(RunRecord(run_id="alive", dataset="tx", stage="all", owner="another-host:1"))
    for run_id in ("dead", "alive"):
        staged = lake / "_meta" / "staging" / "tx" / run_id / "jan.csv-1" / "processed" / "part-0.json"
        staged.parent.mkdir(parents=True)
        staged.write_text('{"email": "not hashed yet"}\n')
    assert run_dataset(ctx_for(spark, lake)).status == "succeeded"
    assert sorted(p.name for p in (lake / "_meta" / "staging" / "tx").iterdir()) == ["alive"]


def test_a_source_is_one_task_however_it_is_spelled(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,1.00,a@x\n")
    spellings = ["raw/tx/jan.csv", "jan.csv", str(lake / "raw" / "tx" / "jan.csv"), str(lake / "raw/tx/./jan.csv")]
    summary = run_dataset(ctx_for(spark, lake), sources=spellings)
    assert [f.source_key for f in summary.report.files] == ["raw/tx/jan.csv"]
    deliver(lake.parent / "elsewhere", "tx", "x.csv", "tx_id\n1\n")
    outside = [str(lake / "raw" / "tx" / ".." / ".." / ".." / "elsewhere" / "raw" / "tx" / "x.csv"), "raw/tx/../x.csv"]
    for source in outside:
        with pytest.raises(SourceFileError, match="sources must lie under raw/tx/"):
            run_dataset(replace(ctx_for(spark, lake), run_id=new_run_id()), sources=[source])


def test_text_that_is_not_the_declared_encoding_fails_in_one_line(spark, lake: Path) -> None:
    deliver(lake, "tx", "latin.csv", "tx_id,ts,amount,email\nCaf\xe9,2024-01-05 00:00:00,1.00,a@x\n".encode("latin-1"))
    [record] = run_dataset(ctx_for(spark, lake)).report.files
    assert record.status == "failed"
    assert record.error == "raw/tx/latin.csv: not valid utf-8 at byte 25: check source.encoding in the spec"


def test_every_reason_is_one_short_line(spark, lake: Path) -> None:
    long_name = "x" * 200
    deliver(lake, "tx", f"{long_name}.csv", "wrong,header\n1,2\n" * 3)
    [record] = run_dataset(ctx_for(spark, lake)).report.files
    assert record.status == "failed" and "\n" not in record.error and len(record.error) <= 300


def test_a_redelivery_that_lands_mid_run_is_processed_by_the_next_run(spark, lake: Path) -> None:
    deliver_at(lake, "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,1.00,a@x\n", 1_700_000_100)
    landed: list[bool] = []

    def partner_sends_a_correction(_: str) -> bool:  # while this run publishes the old content
        if not landed:
            deliver_at(lake, "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,9.00,a@x\n", 1_700_000_900)
            landed.append(True)
        return False

    faults = Faults(Fault("storage.move", match="processed/tx/", when=partner_sends_a_correction))
    assert run_dataset(ctx_for(spark, lake, faults)).status == "succeeded" and landed
    second = run_dataset(ctx_for(spark, lake))
    assert [(f.source_key, f.status) for f in second.report.files] == [("raw/tx/jan.csv", "processed")]
    assert str(analytics(spark, lake)["A"]["amount"]) == "9.00"


def test_the_cli_takes_the_stale_claim_limit(spark, lake: Path, tmp_path: Path, capsys) -> None:
    import json

    from etl_lib.cli.main import main

    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    deliver(lake, "tx", "jan.csv", "tx_id,ts,amount,email\nA,2024-01-05 00:00:00,1.00,a@x\n")
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    ledger.save_run(RunRecord(run_id="elsewhere", dataset="tx", stage="all", owner="another-host:1"))
    from etl_lib.ledger.base import FileRecord

    checksum = LocalStorage(str(lake)).checksum("raw/tx/jan.csv")
    ledger.claim_file(FileRecord("tx", "raw/tx/jan.csv", checksum, 1, "claimed", "elsewhere"), stale_after_s=3600)
    args = ["run", "--spec", str(spec), "--lake", str(lake), "--json"]
    capsys.readouterr()
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["files"] == 0  # a live claim: skipped
    assert main([*args, "--claim-timeout-minutes", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 1  # taken over at once


def test_bytes_past_the_first_megabyte_that_do_not_decode_fail_the_file(spark, lake: Path) -> None:
    rows = "".join(f"T{n},2024-01-05 00:00:00,1.00,a@x\n" for n in range(40_000))  # over 1 MB
    body = ("tx_id,ts,amount,email\n" + rows).encode() + b"Caf\xe9,2024-01-05 00:00:00,1.00,a@x\n"
    deliver(lake, "tx", "big.csv", body)
    [record] = run_dataset(ctx_for(spark, lake)).report.files
    assert (record.status, record.error) == (
        "failed",
        "raw/tx/big.csv: not valid utf-8 in record 40001: check source.encoding in the spec",
    )
    assert not (lake / "processed").exists()
