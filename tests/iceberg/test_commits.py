"""One published snapshot per run: faults before and after the publish, a concurrent commit, readers.

Each case starts from a lake with a published first delivery and sends a second one that
re-delivers January with new content and adds March (``tests.runner.test_faults``). A run hit
by the fault, then a plain rerun, must give the rows a clean run gives; and a reader never sees
the table between two snapshots.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.errors import TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.iceberg.tables import open_iceberg
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.iceberg.helpers import iceberg_rows, iceberg_spec
from tests.runner.test_faults import second_delivery
from tests.runner.test_pipeline import FEB, JAN, SPEC

KEYED = iceberg_spec(SPEC)
KEYLESS = iceberg_spec(SPEC.replace("keys: [tx_id]\n", ""))


def run(spark, lake: Path, spec: str, faults: Faults | None = None):  # type: ignore[no-untyped-def]
    faults = faults or Faults()
    storage = LocalStorage(str(lake), faults=faults)
    ledger = SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults)
    ctx = make_context(spark, spec, lake, ledger=ledger)
    tables = open_iceberg(spark, storage.uri)
    return run_dataset(replace(ctx, storage=storage, iceberg=replace(tables, faults=faults)))


@pytest.fixture(scope="module", params=["keyed", "keyless"])
def case(request, spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, list[str]]:
    """(spec, a lake with the first delivery published, the rows a clean second run gives)."""
    spec = KEYED if request.param == "keyed" else KEYLESS
    first = tmp_path_factory.mktemp(request.param) / "lake"
    deliver(first, "tx", "jan.csv", JAN)
    deliver(first, "tx", "feb.csv", FEB)
    assert run(spark, first, spec).status == "succeeded"
    clean = tmp_path_factory.mktemp(request.param + "-clean") / "lake"
    shutil.copytree(first, clean)
    second_delivery(clean)
    assert run(spark, clean, spec).status == "succeeded"
    expected = iceberg_rows(spark, clean, "tx")
    assert len(expected) == 6  # keyed: A..F once each; without keys: jan.csv's new A, E and every other row
    return spec, first, expected


def copy(first: Path, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(first, lake)
    second_delivery(lake)
    return lake


def test_a_failed_publish_leaves_the_table_as_it_was_and_a_rerun_completes(spark, case, tmp_path: Path) -> None:
    spec, first, expected = case
    lake = copy(first, tmp_path)
    before = iceberg_rows(spark, lake, "tx")
    with pytest.raises(TransientError):
        run(spark, lake, spec, Faults(Fault("iceberg.publish", "tx")))
    assert iceberg_rows(spark, lake, "tx") == before  # the staged snapshot was never published
    assert run(spark, lake, spec).status == "succeeded"
    assert iceberg_rows(spark, lake, "tx") == expected


def test_a_run_that_dies_after_publishing_is_not_applied_twice(spark, case, tmp_path: Path) -> None:
    spec, first, expected = case
    lake = copy(first, tmp_path)
    # Published, then the ledger could not record it: the files stay pending.
    with pytest.raises(TransientError):
        run(spark, lake, spec, Faults(Fault("ledger.save_file", "published raw/tx/")))
    assert iceberg_rows(spark, lake, "tx") == expected
    assert run(spark, lake, spec).status == "succeeded"  # the same files again
    assert iceberg_rows(spark, lake, "tx") == expected  # no row twice


def test_a_commit_conflict_is_written_again_and_loses_nothing(spark, case, tmp_path: Path) -> None:
    spec, first, expected = case
    lake = copy(first, tmp_path)
    tables = open_iceberg(spark, LocalStorage(str(lake)).uri)
    seen: list[list[str]] = []

    def concurrent_writer(subject: str) -> bool:
        """Before the first publish: a reader, then another writer (a compaction) commits."""
        if not seen:
            seen.append(iceberg_rows(spark, lake, "tx"))
            spark.sql(
                f"CALL {tables.catalog}.system.rewrite_data_files(table => '{tables.path('tx')}', "
                "options => map('rewrite-all', 'true'))"
            ).collect()
        return False

    before = iceberg_rows(spark, lake, "tx")
    faults = Faults(Fault("iceberg.publish", "tx", when=concurrent_writer))
    summary = run(spark, lake, spec, faults)
    assert summary.status == "succeeded"
    assert seen == [before]  # while the run's snapshot was staged, a reader saw the table as before
    assert faults.calls["iceberg.publish"] == 2  # the first publish conflicted: the MERGE was planned and written again
    assert iceberg_rows(spark, lake, "tx") == expected
    assert summary.report.run.snapshot_id == tables.current_snapshot("tx")
