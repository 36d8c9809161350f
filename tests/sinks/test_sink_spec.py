"""The ``sinks:`` section: its model, its problems, and the SQL types and errors it relies on (no database)."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from etl_lib.errors import SpecError
from etl_lib.sinks import SinkSpec, parse_sinks, sink_problems
from etl_lib.sinks.jdbc import is_transient_state
from etl_lib.sinks.postgres_sql import postgres_type, stage_name, upsert


def test_a_sinks_section_parses_into_frozen_specs() -> None:
    (sink,) = parse_sinks([{"type": "postgres", "table": "reporting.deposits", "mode": "replace", "connection": "bi"}])

    assert sink == SinkSpec(table="reporting.deposits", mode="replace", connection="bi")
    assert (sink.schema_name, sink.table_name, sink.qualified) == ("reporting", "deposits", "reporting.deposits")
    assert SinkSpec(table="deposits", connection="bi").qualified == "public.deposits"
    assert SinkSpec(table="deposits", connection="bi").mode == "upsert"
    assert parse_sinks(None) == ()
    with pytest.raises(Exception, match="frozen"):
        sink.table = "other"  # type: ignore[misc]


def test_every_problem_of_a_sinks_section_is_reported_with_its_place() -> None:
    raw = [
        {"type": "mysql", "table": "Reporting.Deposits", "mode": "merge", "connection": "bi"},
        {"table": "a.b.c", "connection": "no spaces please", "keyz": 1},
        {"table": "deposits"},
        {"table": "t", "connection": "bi"},
        {"table": "public.t", "connection": "bi"},
    ]
    with pytest.raises(SpecError) as error:
        parse_sinks(raw, "models/deposits.yaml")

    assert error.value.problems == (
        "sinks[0].type: got 'mysql'; allowed: 'postgres'",
        "sinks[0].table: table 'Reporting.Deposits' must be [schema.]table, each part [a-z_][a-z0-9_]* of at most "
        "63 characters (e.g. reporting.client_deposits)",
        "sinks[0].mode: got 'merge'; allowed: 'upsert', 'replace'",
        "sinks[1].table: table 'a.b.c' must be [schema.]table, each part [a-z_][a-z0-9_]* of at most 63 characters "
        "(e.g. reporting.client_deposits)",
        "sinks[1].connection: connection 'no spaces please' must be a name: a letter, then letters, digits, '_', '-' "
        "or '.' (e.g. analytics; locally ETL_LIB_PG_ANALYTICS_URL)",
        "sinks[1].keyz: unknown key; allowed: type, table, mode, connection",
        "sinks[2].connection: required field is missing",
        "sinks[4]: table public.t of connection bi is named twice",
    )
    assert str(error.value).startswith("models/deposits.yaml: sinks[0].type: got 'mysql'")
    with pytest.raises(SpecError, match="sinks: must be a list"):
        parse_sinks({"table": "t"})


def test_sink_problems_say_what_stops_a_load() -> None:
    upsert_sink = SinkSpec(table="t", connection="bi")

    assert sink_problems(upsert_sink, ["id", "v"], ["id"]) == []
    assert sink_problems(upsert_sink, ["id", "v"]) == [
        "sinks (t): mode upsert needs keys (the table's primary key, the conflict target): declare keys, "
        "or use mode: replace"
    ]
    assert sink_problems(SinkSpec(table="t", mode="replace", connection="bi"), ["id"]) == []
    assert sink_problems(upsert_sink, ["id", "Total Amount", "x" * 64], ["idd"], ["year"]) == [
        "sinks (t): key 'idd' is not a column; columns: id, Total Amount, " + "x" * 64,
        "sinks (t): partition column 'year' is not a column: a partition replace deletes by it",
        "sinks (t): column 'Total Amount' cannot be a PostgreSQL column as is: names are [a-z_][a-z0-9_]* of at "
        "most 63 characters; rename it in the spec",
        f"sinks (t): column '{'x' * 64}' cannot be a PostgreSQL column as is: names are [a-z_][a-z0-9_]* of at "
        "most 63 characters; rename it in the spec",
    ]


def test_spark_types_map_to_postgres_types_and_the_rest_to_none() -> None:
    assert postgres_type(T.DecimalType(18, 2)) == "numeric(18,2)"
    assert postgres_type(T.TimestampType()) == "timestamp with time zone"
    assert postgres_type(T.TimestampNTZType()) == "timestamp without time zone"
    assert postgres_type(T.LongType()) == "bigint"
    assert postgres_type(T.ArrayType(T.StringType())) is None
    assert postgres_type(T.MapType(T.StringType(), T.StringType())) is None


def test_the_stage_name_is_one_per_target_and_fits_postgres() -> None:
    assert stage_name("deposits") == "deposits__etl_stage"
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert len(stage_name(long_a)) == 63 and stage_name(long_a) != stage_name(long_b)


def test_an_upsert_rewrites_only_rows_whose_values_differ() -> None:
    statement = upsert('"s"."t"', '"s"."st"', ["id", "v"], ["id"])
    assert statement.endswith(
        'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE ROW(tgt."v") IS DISTINCT FROM ROW(EXCLUDED."v")'
    )
    assert upsert('"t"', '"st"', ["id"], ["id"]).endswith('ON CONFLICT ("id") DO NOTHING')


@pytest.mark.parametrize(
    ("state", "transient"),
    [
        ("08001", True),  # cannot connect
        ("08006", True),  # connection failure
        ("40001", True),  # serialization failure
        ("40P01", True),  # deadlock
        ("57P01", True),  # admin shutdown
        ("57P03", True),  # cannot connect now (starting up)
        ("53300", True),  # too many connections
        ("28P01", False),  # wrong password
        ("42P01", False),  # no such table
        ("23505", False),  # unique violation
        (None, False),
    ],
)
def test_sqlstates_sort_into_transient_and_terminal(state: str | None, transient: bool) -> None:
    assert is_transient_state(state) is transient
