"""``etl-lib compact`` and ``etl-lib query --as-of`` on an Iceberg dataset, through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl_lib.cli.main import main
from etl_lib.config import open_ledger, open_storage
from etl_lib.runner.compact_iceberg import compact_iceberg
from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context
from tests.iceberg.helpers import iceberg_rows, iceberg_spec, iceberg_table
from tests.runner.test_faults import second_delivery
from tests.runner.test_pipeline import FEB, JAN, SPEC

KEYED = iceberg_spec(SPEC)


@pytest.fixture
def lake_with_history(spark, lake: Path, tmp_path: Path) -> tuple[Path, Path, list[int]]:
    """A lake whose Iceberg table had three runs (and so merge-on-read delete files), its spec
    file, and the snapshot each run published."""
    spec = tmp_path / "tx.yaml"
    spec.write_text(KEYED)
    snapshots = []
    for deliveries in ([("jan.csv", JAN)], [("feb.csv", FEB)], None):
        if deliveries is None:
            second_delivery(lake)
        else:
            for name, text in deliveries:
                deliver(lake, "tx", name, text)
        summary = run_dataset(make_context(spark, KEYED, lake))
        assert summary.status == "succeeded"
        snapshots.append(summary.report.run.snapshot_id)
    return lake, spec, snapshots


def query(capsys, lake: Path, spec: Path, sql: str, *more: str) -> list[dict]:
    capsys.readouterr()
    assert main(["query", "--lake", str(lake), "--spec", str(spec), "--json", *more, sql]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_query_as_of_a_snapshot_or_a_time_reads_the_table_then(spark, lake_with_history, capsys) -> None:
    lake, spec, snapshots = lake_with_history
    first = query(capsys, lake, spec, "SELECT tx_id, cents FROM tx ORDER BY tx_id", "--as-of", str(snapshots[0]))
    assert first == [{"tx_id": "A", "cents": 100}, {"tx_id": "B", "cents": 200}, {"tx_id": "C", "cents": 300}]
    now = query(capsys, lake, spec, "SELECT tx_id, cents FROM tx ORDER BY tx_id")
    assert [r["tx_id"] for r in now] == ["A", "B", "C", "D", "E", "F"] and now[2]["cents"] == 3000
    history = iceberg_table(spark, lake, "tx").sparkSession.sql(
        "SELECT 1"  # the session; the snapshots' times come from the ledger's runs
    )
    assert history is not None
    runs = {r.snapshot_id: r for r in open_ledger(None, open_storage(str(lake))).runs(dataset="tx")}
    second_done = runs[snapshots[1]].finished_at
    assert second_done is not None
    at = (second_done + timedelta(milliseconds=1)).astimezone(UTC).isoformat()
    second = query(capsys, lake, spec, "SELECT count(*) AS n FROM tx", "--as-of", at)
    assert second == [{"n": 4}]  # A, B, C and D: after February, before the second delivery


def test_as_of_before_the_table_or_on_parquet_is_a_clear_error(spark, lake_with_history, tmp_path, capsys) -> None:
    lake, spec, _ = lake_with_history
    capsys.readouterr()
    code = main(["query", "--lake", str(lake), "--spec", str(spec), "--as-of", "2001-01-01T00:00:00Z", "SELECT 1"])
    assert code == 2 and "--as-of 2001-01-01T00:00:00Z" in capsys.readouterr().err
    parquet = tmp_path / "parquet.yaml"
    parquet.write_text(SPEC)
    code = main(["query", "--lake", str(lake), "--spec", str(parquet), "--as-of", "1", "SELECT 1"])
    assert code == 2 and "--as-of reads Iceberg tables only; tx is parquet" in capsys.readouterr().err


def test_compact_rewrites_files_and_expires_old_snapshots_rows_unchanged(spark, lake_with_history, capsys) -> None:
    lake, spec, snapshots = lake_with_history
    before = iceberg_rows(spark, lake, "tx")
    session = iceberg_table(spark, lake, "tx").sparkSession
    files = "SELECT content, count(*) AS n FROM {t}.files GROUP BY content"
    from etl_lib.iceberg.tables import open_iceberg

    tables = open_iceberg(spark, open_storage(str(lake)).uri)
    counts = dict(session.sql(files.format(t=tables.ident("tx"))).collect())
    assert counts.get(1, 0) >= 1  # position delete files of the merges
    capsys.readouterr()
    assert main(["compact", "--lake", str(lake), "--spec", str(spec), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["table_format"] == "iceberg" and result["rewritten_data_files"] > result["added_data_files"]
    assert result["expired_snapshots"] == 0  # every snapshot is younger than the 7-day default
    assert iceberg_rows(spark, lake, "tx") == before
    after = dict(session.sql(files.format(t=tables.ident("tx"))).collect())
    assert after[0] < counts[0] and after.get(1, 0) < counts[1]  # fewer data files; deletes folded in
    # Ten days on, the default retention expires every snapshot but the current one.
    ctx = make_context(spark, KEYED, lake)
    later = compact_iceberg(ctx, 128 * 2**20, now=datetime.now(UTC) + timedelta(days=10))
    assert later.expired_snapshots >= len(snapshots)
    assert [s for s, _, _ in tables.snapshots("tx")] == [tables.current_snapshot("tx")]
    assert iceberg_rows(spark, lake, "tx") == before
    code = main(["query", "--lake", str(lake), "--spec", str(spec), "--as-of", str(snapshots[0]), "SELECT 1"])
    assert code == 2  # that snapshot is gone
    runs = open_ledger(None, open_storage(str(lake))).runs(dataset="tx")
    assert runs[0].stage == "compact" and runs[0].snapshot_id == tables.current_snapshot("tx")
