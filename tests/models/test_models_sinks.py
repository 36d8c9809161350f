"""Models loaded into a real PostgreSQL: whole when a sink is behind, the rebuilt months when it
had the last build, nothing when nothing changed; equal to the models' tables every time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from etl_lib.models.run import run_models
from etl_lib.runner.build import sink_factory
from etl_lib.sinks.connections import Connection, StaticConnections
from tests.conftest import deliver
from tests.models.test_models import ACCOUNTS_1, JAN_FEB, MARCH, MONTHLY, TOTALS, context, ingest, models, table

SINKS = {
    "monthly": "sinks: [{type: postgres, table: gold_m.monthly, mode: upsert, connection: warehouse}]\n",
    "totals": "sinks: [{type: postgres, table: gold_m.totals, mode: replace, connection: warehouse}]\n",
}


def in_postgres(postgres, name: str) -> list[tuple]:
    columns = (
        "client_id, month_start::text, total::text, n::text"
        if name == "monthly"
        else "client_id, total::text, months::text"
    )
    return sorted(postgres.sql(f"SELECT {columns} FROM gold_m.{name}"))


def in_lake(spark, lake: Path, name: str) -> list[tuple]:
    return sorted(tuple(None if v is None else str(v) for v in row) for row in table(spark, lake, name))


def test_models_load_their_sinks_with_what_each_lacks(spark, lake: Path, postgres) -> None:
    chosen = models(MONTHLY + SINKS["monthly"], TOTALS + SINKS["totals"])
    warehouse = StaticConnections({"warehouse": Connection.from_url("warehouse", postgres.url)})

    def with_sinks():
        return replace(context(spark, lake, chosen), sinks=sink_factory(warehouse))

    deliver(lake, "tx", "janfeb.csv", JAN_FEB)
    deliver(lake, "accounts", "a.csv", ACCOUNTS_1)
    ingest(spark, lake)
    skipped = run_models(context(spark, lake, chosen))  # no sinks given: built, loaded nowhere
    assert [(o.status, o.sinks) for o in skipped.outcomes] == [("built", ()), ("built", ())]
    assert postgres.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'gold_m'") == [("0",)]

    behind = run_models(with_sinks()).outcomes  # nothing rebuilt; both sinks behind: loaded whole
    assert [(o.status, o.sinks) for o in behind] == [
        ("unchanged", (("postgres:warehouse:gold_m.monthly", 3),)),
        ("unchanged", (("postgres:warehouse:gold_m.totals", 2),)),
    ]
    for name in ("monthly", "totals"):
        assert in_postgres(postgres, name) == in_lake(spark, lake, name)

    deliver(lake, "tx", "march.csv", MARCH)
    ingest(spark, lake)
    monthly, totals = run_models(with_sinks()).outcomes
    assert (monthly.partitions, monthly.sinks) == (("year=2024/month=03",), (("postgres:warehouse:gold_m.monthly", 2),))
    assert totals.sinks == (("postgres:warehouse:gold_m.totals", 2),)
    for name in ("monthly", "totals"):
        assert in_postgres(postgres, name) == in_lake(spark, lake, name)

    again = run_models(with_sinks()).outcomes
    assert [(o.status, o.sinks) for o in again] == [("unchanged", ()), ("unchanged", ())]
