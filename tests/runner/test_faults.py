"""A fault at any step of publishing, then a plain rerun, ends exactly where a clean run ends.

The local twins (folder storage, SQLite ledger, log notifier, view catalog) are told to fail
one step, every time it is tried, as an AWS service that keeps failing would after botocore
gave up. The lake has a published first delivery; the second delivery re-sends January
with new content (so old outputs are deleted and replaced) and adds March. After the faulty
run and a rerun, processed, rejected and analytics-ready hold the same rows and files as a
lake that never saw the fault, and no file is recorded ``failed``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.catalog.local import LocalCatalog
from etl_lib.errors import TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.lake import key_index_rows, lake_files, lake_rows
from tests.runner.test_pipeline import FEB, JAN, SPEC

JAN_AGAIN = "tx_id,ts,amount,email\nA,2024-01-05 10:00:00,1.50,a@x\nE,2024-01-20 09:00:00,5.00,e@x\nBAD2,x,1,z\n"
MAR = "tx_id,ts,amount,email\nF,2024-03-01 00:00:00,6.00,f@x\nB,2024-03-02 00:00:00,7.00,b@x\n"

# Each step of publishing, as the twins name it (operation, a substring of its subject).
STEPS = {
    "delete old outputs": ("storage.delete", "processed/tx/"),
    "delete old rejected rows": ("storage.delete", "rejected/tx/"),
    "move staged rows in": ("storage.move", "processed/tx/"),
    "key index: point at the new generation": ("storage.write_text", "_meta/key_index/"),
    "ledger intent": ("ledger.save_file", "claimed raw/tx/"),
    "ledger outcome": ("ledger.save_file", "processed raw/tx/"),
    "analytics intent": ("storage.write_text", "_meta/analytics/tx/"),
    "analytics swap: delete": ("storage.delete", "analytics-ready/tx/"),
    "analytics swap: move": ("storage.move", "analytics-ready/tx/"),
    "ledger published": ("ledger.save_file", "published raw/tx/"),
    "claim": ("ledger.claim_file", "raw/tx/"),
    "catalog": ("catalog.register", "tx"),
}


def second_delivery(lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN_AGAIN)
    deliver(lake, "tx", "mar.csv", MAR)


def run(spark, lake: Path, faults: Faults | None = None):  # type: ignore[no-untyped-def]
    faults = faults or Faults()
    ctx = make_context(
        spark,
        SPEC,
        lake,
        ledger=SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults),
    )
    storage = LocalStorage(str(lake), faults=faults)
    ctx = replace(ctx, storage=storage, catalog=LocalCatalog(spark, storage, faults=faults))
    return run_dataset(ctx)


@pytest.fixture(scope="module")
def first_delivery(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("first") / "lake"
    deliver(lake, "tx", "jan.csv", JAN)
    deliver(lake, "tx", "feb.csv", FEB)
    assert run(spark, lake).status == "succeeded"
    return lake


@pytest.fixture(scope="module")
def clean(spark, first_delivery: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("clean") / "lake"
    shutil.copytree(first_delivery, lake)
    second_delivery(lake)
    assert run(spark, lake).status == "succeeded"
    return lake


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_fault_then_a_rerun_ends_as_a_clean_run(spark, first_delivery: Path, clean: Path, tmp_path, step) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(first_delivery, lake)
    second_delivery(lake)
    operation, subject = STEPS[step]
    faults = Faults(Fault(operation, match=subject))
    with pytest.raises(TransientError):
        run(spark, lake, faults)
    assert faults.failed[operation] >= 1, f"the fault at {step!r} never fired"

    rerun = run(spark, lake)
    assert rerun.status == "succeeded"
    storage, reference = LocalStorage(str(lake)), LocalStorage(str(clean))
    assert lake_rows(spark, storage, "tx") == lake_rows(spark, reference, "tx")
    assert lake_files(storage, "tx") == lake_files(reference, "tx")
    assert key_index_rows(spark, storage, "tx") == key_index_rows(spark, reference, "tx")
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"))
    assert {f.source_key: f.status for f in ledger.files(dataset="tx")} == {
        "raw/tx/jan.csv": "published",
        "raw/tx/feb.csv": "published",
        "raw/tx/mar.csv": "published",
    }
    assert not (lake / "_meta" / "analytics" / "tx" / "pending.json").exists()


def test_a_half_swapped_analytics_run_is_finished_whole(spark, tmp_path) -> None:
    """January's re-delivery drops key K, whose next-best row lives in February. The swap
    dies after January was rewritten and before February was: the next run must still
    rewrite February (the recorded intent says so; analytics-ready no longer shows why)."""
    feb = "tx_id,ts,amount,email\nK,2024-02-10 00:00:00,2.00,k@x\nG,2024-02-11 00:00:00,3.00,g@x\n"
    jan = "tx_id,ts,amount,email\nK,2024-01-10 00:00:00,1.00,k@x\nH,2024-01-11 00:00:00,4.00,h@x\n"
    jan_without_k = "tx_id,ts,amount,email\nH,2024-01-11 00:00:00,4.00,h@x\n"

    def deliveries(lake: Path, faults: Faults | None = None) -> None:
        deliver(lake, "tx", "feb.csv", feb)
        assert run(spark, lake).status == "succeeded"
        deliver(lake, "tx", "jan.csv", jan)  # later: its K wins
        assert run(spark, lake).status == "succeeded"
        deliver(lake, "tx", "jan.csv", jan_without_k)
        if faults is None:
            assert run(spark, lake).status == "succeeded"
        else:
            with pytest.raises(TransientError):
                run(spark, lake, faults)
            assert faults.failed["storage.delete"] == 1
            assert run(spark, lake).status == "succeeded"

    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    deliveries(clean)
    deliveries(faulty, Faults(Fault("storage.delete", match="analytics-ready/tx/year=2024/month=02/")))
    rows = lake_rows(spark, LocalStorage(str(faulty)), "tx")
    assert rows == lake_rows(spark, LocalStorage(str(clean)), "tx")
    assert sum('"tx_id": "K"' in r for r in rows["analytics-ready"]) == 1


def test_rows_of_a_half_published_file_never_reach_analytics_ready(spark, tmp_path) -> None:
    lake = tmp_path / "lake"
    deliver(lake, "tx", "jan.csv", JAN)  # A, B in January (and a rejected row)
    faults = Faults(Fault("storage.move", match="rejected/tx/"))
    with pytest.raises(TransientError):
        run_stage(spark, lake, "raw-to-processed", faults)
    assert list((lake / "processed" / "tx").rglob("jan.csv-*.json")), "the valid rows were published first"
    deliver(lake, "tx", "late.csv", "tx_id,ts,amount,email\nL,2024-01-15 00:00:00,9.00,l@x\n")
    assert run_stage(spark, lake, "raw-to-processed", sources=["raw/tx/late.csv"]).status == "succeeded"
    assert run_stage(spark, lake, "processed-to-analytics").status == "succeeded"
    ready = {r["tx_id"] for r in spark.read.parquet(str(lake / "analytics-ready" / "tx")).collect()}
    assert ready == {"L"}, "January is still claimed: none of its rows may count yet"
    assert run(spark, lake).status == "succeeded"  # the next run finishes January
    assert {r["tx_id"] for r in spark.read.parquet(str(lake / "analytics-ready" / "tx")).collect()} == {
        "A",
        "B",
        "C",
        "L",
    }


def run_stage(spark, lake: Path, stage: str, faults: Faults | None = None, sources=None):  # type: ignore[no-untyped-def]
    faults = faults or Faults()
    ctx = make_context(spark, SPEC, lake, ledger=SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults))
    ctx = replace(ctx, storage=LocalStorage(str(lake), faults=faults))
    return run_dataset(ctx, stage=stage, sources=sources)
