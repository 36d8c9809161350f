"""A dataset's sinks: analytics-ready loaded into a real PostgreSQL after each analytics run;
a load that fails is owed, and the next run (with no new file) pays it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.errors import EtlError
from etl_lib.runner.build import sink_factory
from etl_lib.runner.run import run_dataset
from etl_lib.sinks.connections import Connection, StaticConnections
from tests.conftest import deliver, make_context
from tests.runner.test_pipeline import FEB, JAN, SPEC

WITH_SINK = SPEC + "sinks: [{type: postgres, table: lake_tx.tx, mode: upsert, connection: warehouse}]\n"


def in_postgres(postgres) -> list[tuple]:
    return sorted(postgres.sql("SELECT tx_id, amount::text, year, month FROM lake_tx.tx"))


def in_lake(spark, lake: Path) -> list[tuple]:
    path = lake / "analytics-ready" / "tx"
    rows = spark.read.option("basePath", str(path)).parquet(str(path)).select("tx_id", "amount", "year", "month")
    return sorted((r.tx_id, str(r.amount), f"{int(r.year):04d}", f"{int(r.month):02d}") for r in rows.collect())


def test_a_datasets_sink_gets_each_runs_partitions_and_a_failed_load_is_paid_later(spark, lake: Path, postgres) -> None:
    good = StaticConnections({"warehouse": Connection.from_url("warehouse", postgres.url)})
    down = StaticConnections(
        {"warehouse": Connection.from_url("warehouse", postgres.url.replace(str(postgres.port), "1"))}
    )

    def context(connections):
        return replace(make_context(spark, WITH_SINK, lake), sinks=sink_factory(connections))

    deliver(lake, "tx", "jan.csv", JAN)
    assert run_dataset(context(good)).status == "succeeded"
    assert in_postgres(postgres) == in_lake(spark, lake) and len(in_lake(spark, lake)) == 3

    deliver(lake, "tx", "feb.csv", FEB)  # C changes, D is new
    with pytest.raises(EtlError, match="connection"):
        run_dataset(context(down))
    assert len(in_lake(spark, lake)) == 4 and len(in_postgres(postgres)) == 3  # published; the sink is owed
    assert "password" not in (lake / "_meta" / "sinks" / "tx.json").read_text()

    summary = run_dataset(context(good))  # nothing new to process: the owed partitions are loaded
    assert summary.report.run.files == 0
    assert in_postgres(postgres) == in_lake(spark, lake)
    assert ("C", "30.00", "2024", "02") in in_postgres(postgres)
