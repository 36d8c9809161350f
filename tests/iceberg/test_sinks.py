"""An Iceberg dataset's sink: PostgreSQL holds the table's rows after each run, a re-delivery included."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from etl_lib.runner.build import sink_factory
from etl_lib.runner.run import run_dataset
from etl_lib.sinks.connections import Connection, StaticConnections
from tests.conftest import deliver, make_context
from tests.iceberg.helpers import iceberg_spec, iceberg_table
from tests.runner.test_dataset_sinks import WITH_SINK
from tests.runner.test_faults import second_delivery
from tests.runner.test_pipeline import FEB, JAN

# A table of its own: the session's PostgreSQL server is shared with tests/runner/test_dataset_sinks.py.
SPEC = iceberg_spec(WITH_SINK.replace("table: lake_tx.tx", "table: lake_iceberg.tx"))


def in_postgres(postgres) -> list[tuple]:
    return sorted(postgres.sql("SELECT tx_id, amount::text, year, month FROM lake_iceberg.tx"))


def in_table(spark, lake: Path) -> list[tuple]:
    rows = iceberg_table(spark, lake, "tx").select("tx_id", "amount", "year", "month").collect()
    return sorted((r.tx_id, str(r.amount), r.year, r.month) for r in rows)


def test_an_iceberg_datasets_sink_follows_its_table(spark, lake: Path, postgres) -> None:
    postgres.sql("DROP SCHEMA IF EXISTS lake_iceberg CASCADE")
    good = StaticConnections({"warehouse": Connection.from_url("warehouse", postgres.url)})

    def run() -> None:
        ctx = replace(make_context(spark, SPEC, lake), sinks=sink_factory(good))
        assert run_dataset(ctx).status == "succeeded"

    deliver(lake, "tx", "jan.csv", JAN)
    deliver(lake, "tx", "feb.csv", FEB)
    run()
    assert in_postgres(postgres) == in_table(spark, lake) and len(in_table(spark, lake)) == 4
    second_delivery(lake)  # jan.csv again without B and C: B moves to March, E is new
    run()
    assert in_postgres(postgres) == in_table(spark, lake) and len(in_table(spark, lake)) == 6
