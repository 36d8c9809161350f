"""The PostgreSQL sink against a real server: create, upsert, rerun, replace, schema changes, failures, readers."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from etl_lib.faults import Fault, Faults
from etl_lib.sinks import SinkError, SinkSpec, SinkUnavailable
from etl_lib.sinks.connections import Connection
from etl_lib.sinks.postgres import PostgresSink
from tests.postgres import PostgresServer

ROWS = "id int, name string, amount decimal(18,2), year int, month int"


def sink(
    spark: SparkSession, connection: Connection, table: str, mode: str = "upsert", faults: Faults | None = None
) -> PostgresSink:
    return PostgresSink(SinkSpec(table=table, mode=mode, connection="test"), spark, connection, faults=faults)


def frame(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str = ROWS) -> DataFrame:
    return spark.createDataFrame(rows, schema)


def content(postgres: PostgresServer, table: str, order: str = "id") -> list[tuple[str | None, ...]]:
    """Every row, as text, in key order."""
    return postgres.sql(f"SELECT * FROM {table} ORDER BY {order}")


def versions(postgres: PostgresServer, table: str) -> dict[str | None, str | None]:
    """Each row's ``xmin`` (the transaction that last wrote it), by id: unchanged means not rewritten."""
    return dict(postgres.sql(f"SELECT id, xmin::text FROM {table}"))  # type: ignore[arg-type]


def exists(postgres: PostgresServer, table: str) -> bool:
    return postgres.value(f"SELECT to_regclass('{table}') IS NOT NULL") == "t"


NTZ_BIN = ("2024-03-01 12:00:00", "\\x0102")
THREE = [(1, "a", Decimal("1.50"), 2024, 1), (2, "b", Decimal("2.50"), 2024, 2), (3, "c", Decimal("3.50"), 2024, 3)]


def test_a_missing_table_is_created_with_the_models_types_and_its_keys_as_primary_key(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    df = frame(
        spark,
        [
            ("k1", 1, 10, 2, 3, 1.5, 2.25, Decimal("1.50"), True, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 12)),
            ("k2", None, None, None, None, None, None, None, None, None, None),
        ],
        "s string, i int, b bigint, sm smallint, ti tinyint, f float, dbl double, dec decimal(18,2), flag boolean, "
        "d date, ts timestamp",
    ).selectExpr(
        "*",
        "CAST(IF(s = 'k1', '2024-03-01 12:00:00', NULL) AS timestamp_ntz) AS ntz",
        "IF(s = 'k1', X'0102', NULL) AS bin",
    )
    table = f"{schema}.everything"

    result = sink(spark, pg_connection, table).load(df, keys=["s"])

    assert result.created and result.rows == 2 and result.rows_written == 2 and result.table == table
    types = postgres.sql(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        f"WHERE a.attrelid = '{table}'::regclass AND a.attnum > 0 ORDER BY a.attnum"
    )
    assert types == [
        ("s", "text", "t"),
        ("i", "integer", "f"),
        ("b", "bigint", "f"),
        ("sm", "smallint", "f"),
        ("ti", "smallint", "f"),
        ("f", "real", "f"),
        ("dbl", "double precision", "f"),
        ("dec", "numeric(18,2)", "f"),
        ("flag", "boolean", "f"),
        ("d", "date", "f"),
        ("ts", "timestamp with time zone", "f"),
        ("ntz", "timestamp without time zone", "f"),
        ("bin", "bytea", "f"),
    ]
    primary_key = postgres.sql(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        f"WHERE i.indrelid = '{table}'::regclass AND i.indisprimary"
    )
    assert primary_key == [("s",)]
    # Spark's session time zone is UTC: 12:00 there is 12:00+00, whatever the JVM's own time zone.
    assert content(postgres, table, "s") == [
        ("k1", "1", "10", "2", "3", "1.5", "2.25", "1.50", "t", "2024-03-01", "2024-03-01 12:00:00+00", *NTZ_BIN),
        ("k2", *[None] * 12),
    ]
    assert not exists(postgres, f"{schema}.everything__etl_stage")


def test_upsert_inserts_new_keys_and_updates_only_the_rows_that_changed(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table)
    target.load(frame(spark, THREE), keys=["id"])
    before = versions(postgres, table)

    result = target.load(
        frame(spark, [(2, "B", Decimal("2.75"), 2024, 2), (3, "c", Decimal("3.50"), 2024, 3), (4, "d", None, 2024, 4)]),
        keys=["id"],
    )

    assert (result.rows, result.rows_written, result.created) == (3, 2, False)
    assert content(postgres, table) == [
        ("1", "a", "1.50", "2024", "1"),
        ("2", "B", "2.75", "2024", "2"),
        ("3", "c", "3.50", "2024", "3"),
        ("4", "d", None, "2024", "4"),
    ]
    after = versions(postgres, table)
    assert after["1"] == before["1"] and after["3"] == before["3"]  # rows 1 and 3 were not rewritten
    assert after["2"] != before["2"]


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_loading_the_same_rows_again_changes_nothing(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str, mode: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table, mode)
    df = frame(spark, THREE)
    target.load(df, keys=["id"], partitions=[(2024, 1), (2024, 2), (2024, 3)])
    before, written = content(postgres, table), versions(postgres, table)

    again = target.load(df, keys=["id"], partitions=[(2024, 1), (2024, 2), (2024, 3)])

    assert content(postgres, table) == before
    assert again.rows == 3 and not again.created and again.columns_added == ()
    if mode == "upsert":  # not even rewritten
        assert again.rows_written == 0 and versions(postgres, table) == written


def test_replacing_partitions_leaves_the_other_partitions_untouched(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table, "replace")
    target.load(frame(spark, [*THREE, (4, "d", Decimal("4.50"), 2024, 2)]))
    january = versions(postgres, table)["1"]

    # February rebuilt with other rows, March rebuilt empty; January not rebuilt.
    result = target.load(frame(spark, [(5, "e", Decimal("5.50"), 2024, 2)]), partitions=[(2024, 2), (2024, 3)])

    assert (result.rows, result.rows_written, result.rows_deleted) == (1, 1, 3)
    assert content(postgres, table) == [("1", "a", "1.50", "2024", "1"), ("5", "e", "5.50", "2024", "2")]
    assert versions(postgres, table)["1"] == january


def test_rows_outside_the_replaced_partitions_are_refused_and_nothing_changes(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table, "replace")
    target.load(frame(spark, THREE))
    before = content(postgres, table)

    with pytest.raises(
        SinkError, match=r"1 rows lie outside the partitions being replaced \(e.g. year, month = 2024, 3\)"
    ):
        target.load(frame(spark, [(5, "e", None, 2024, 2), (6, "f", None, 2024, 3)]), partitions=[(2024, 2)])
    with pytest.raises(SinkError, match=r"1 rows lie outside the partitions being replaced"):
        target.load(frame(spark, [(5, "e", None, 2024, 2)]), partitions=[])

    assert content(postgres, table) == before
    assert target.load(frame(spark, [], ROWS), partitions=[]).rows_deleted == 0  # nothing rebuilt, nothing to do
    assert content(postgres, table) == before


def test_a_whole_table_replace_leaves_exactly_the_new_rows(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table, "replace")
    target.load(frame(spark, THREE))

    result = target.load(frame(spark, [(3, "C", Decimal("3.00"), 2023, 12), (7, "g", Decimal("7.00"), 2025, 1)]))

    assert (result.rows, result.rows_written, result.rows_deleted) == (2, 2, 3)
    assert content(postgres, table) == [("3", "C", "3.00", "2023", "12"), ("7", "g", "7.00", "2025", "1")]


def test_a_new_model_column_is_added_and_the_rows_before_hold_null(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table)
    target.load(frame(spark, THREE), keys=["id"])

    result = target.load(frame(spark, [(3, "c", Decimal("3.50"), 2024, 3, 0.5)], ROWS + ", score double"), keys=["id"])

    assert result.columns_added == ("score",) and result.rows_written == 1
    assert postgres.sql(f"SELECT id, score FROM {table} ORDER BY id") == [("1", None), ("2", None), ("3", "0.5")]
    assert postgres.value(f"SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                          f"'{table}'::regclass AND attname = 'score'") == "double precision"  # fmt: skip

    # A column the model no longer has stays: new rows hold NULL, updated rows keep their value.
    target.load(frame(spark, [(2, 2024, 2, 0.25), (8, 2024, 8, 0.75)], "id int, year int, month int, score double"),
                keys=["id"])  # fmt: skip
    assert postgres.sql(f"SELECT id, name, score FROM {table} WHERE id IN (2, 8) ORDER BY id") == [
        ("2", "b", "0.25"),
        ("8", None, "0.75"),
    ]


def test_a_changed_column_type_is_a_clear_error_and_the_table_is_unchanged(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table)
    target.load(frame(spark, THREE), keys=["id"])
    before = content(postgres, table)

    changed = frame(
        spark, [(1, "a", 9.5, 2024, 1, "x")], "id int, name string, amount double, year int, month int, z string"
    )
    with pytest.raises(SinkError) as error:
        target.load(changed, keys=["id"])

    assert str(error.value) == (
        f"postgres sink {table} (connection test): schema: incompatible column types: amount is numeric(18,2) in the "
        "table, double precision in the model. The table is unchanged: alter it yourself (ALTER TABLE ... ALTER "
        "COLUMN ... TYPE ...), or load a new table"
    )
    assert not error.value.retryable
    assert content(postgres, table) == before
    assert (
        postgres.value(f"SELECT count(*) FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = 'z'")
        == "0"
    )
    assert not exists(postgres, f"{table}__etl_stage")


LOADS = {  # mode -> (the table's first content, the load that fails and is rerun, its partitions)
    "upsert": (THREE, [(2, "B", Decimal("2.75"), 2024, 2, True), (9, "i", None, 2024, 9, False)], None),
    "replace": (
        THREE,
        [(2, "B", Decimal("2.75"), 2024, 2, True), (9, "i", None, 2024, 3, False)],
        [(2024, 2), (2024, 3)],
    ),
}


@pytest.mark.parametrize("mode", ["upsert", "replace"])
@pytest.mark.parametrize("step", ["stage", "staged", "commit"])
def test_a_load_that_fails_halfway_leaves_the_table_as_it_was_and_a_rerun_gives_a_clean_runs_table(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str, step: str, mode: str
) -> None:
    first, second, partitions = LOADS[mode]
    # The load also adds a column: the ALTER TABLE is undone with the rest.
    second_df = frame(spark, second, ROWS + ", flag boolean")
    clean, broken = f"{schema}.clean", f"{schema}.broken"
    sink(spark, pg_connection, clean, mode).load(frame(spark, first), keys=["id"])
    sink(spark, pg_connection, clean, mode).load(second_df, keys=["id"], partitions=partitions)
    target = sink(spark, pg_connection, broken, mode, Faults())
    target.load(frame(spark, first), keys=["id"])
    before = content(postgres, broken)
    target.faults.add(Fault(f"sink.{step}", times=1))

    with pytest.raises(SinkUnavailable, match=rf"sink.{step} {broken}: injected transient fault"):
        target.load(second_df, keys=["id"], partitions=partitions)

    assert content(postgres, broken) == before
    assert (
        postgres.value(f"SELECT count(*) FROM pg_attribute WHERE attrelid = '{broken}'::regclass AND attname = 'flag'")
        == "0"
    )
    assert not exists(postgres, f"{broken}__etl_stage")
    rerun = target.load(second_df, keys=["id"], partitions=partitions)
    assert content(postgres, broken) == content(postgres, clean)
    assert rerun.columns_added == ("flag",)


def test_a_stage_left_by_a_load_that_died_does_not_trip_the_next_one(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    postgres.sql(f"CREATE TABLE {table}__etl_stage (junk text NOT NULL); INSERT INTO {table}__etl_stage VALUES ('x')")

    result = sink(spark, pg_connection, table).load(frame(spark, THREE), keys=["id"])

    assert result.rows == 3 and len(content(postgres, table)) == 3
    assert not exists(postgres, f"{table}__etl_stage")


@pytest.mark.parametrize("mode", ["upsert", "replace"])
def test_a_reader_in_another_session_sees_the_old_rows_until_the_commit(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str, mode: str
) -> None:
    table = f"{schema}.t"
    old = [(i, "old", None, 2024, 1) for i in range(3)]
    new = [(i, "new", None, 2024, 1) for i in range(5)]
    seen: list[tuple[str | None, ...]] = []

    def read(subject: str) -> bool:
        # psql is another session; lock_timeout (5 s) makes a blocked read fail instead of waiting for us.
        seen.extend(postgres.sql(f"SELECT count(*), min(name), max(name) FROM {table}"))
        return False  # look, never fail

    target = sink(spark, pg_connection, table, mode, Faults())
    target.load(frame(spark, old), keys=["id"])
    target.faults.add(Fault("sink.staged", when=read))
    target.faults.add(Fault("sink.commit", when=read))

    target.load(frame(spark, new), keys=["id"])

    assert seen == [("3", "old", "old"), ("3", "old", "old")]  # after staging, and in the transaction before COMMIT
    assert postgres.sql(f"SELECT count(*), min(name), max(name) FROM {table}") == [("5", "new", "new")]


def test_a_connection_lost_before_the_commit_is_transient_and_changes_nothing(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table)
    target.load(frame(spark, THREE), keys=["id"])
    before = content(postgres, table)

    def kill_the_sinks_session(subject: str) -> bool:
        postgres.sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'etl_lib sink {table}'"
        )
        return False

    target.faults.add(Fault("sink.commit", when=kill_the_sinks_session, times=1))
    with pytest.raises(SinkUnavailable, match=r"\(SQLSTATE (57P01|08\w\w\w)\)"):
        target.load(frame(spark, [(1, "changed", None, 2024, 1)]), keys=["id"])

    assert content(postgres, table) == before
    target.faults.clear()
    target.load(frame(spark, [(1, "changed", None, 2024, 1)]), keys=["id"])
    assert content(postgres, table)[0] == ("1", "changed", None, "2024", "1")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(1, "a", None, 2024, 1), (1, "b", None, 2024, 1)], r"key \(id\) = \(1\) is not unique in 2 rows"),
        ([(None, "a", None, 2024, 1)], r"key \(id\) = \(NULL\) has no value \(NULL\) in 1 rows"),
    ],
)
def test_rows_with_a_key_twice_or_without_one_are_refused_and_nothing_is_written(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str, rows: Any, message: str
) -> None:
    table = f"{schema}.t"
    target = sink(spark, pg_connection, table)
    target.load(frame(spark, THREE), keys=["id"])
    before = content(postgres, table)

    with pytest.raises(SinkError, match=message):
        target.load(frame(spark, rows), keys=["id"])

    assert content(postgres, table) == before


def test_what_cannot_load_is_refused_before_connecting(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    faults = Faults()
    target = sink(spark, pg_connection, f"{schema}.t", faults=faults)
    with pytest.raises(SinkError, match=r"mode upsert needs keys .*: declare keys, or use mode: replace"):
        target.load(frame(spark, THREE))
    with pytest.raises(SinkError, match=r"column tags is array<string>, which has no PostgreSQL column type"):
        target.load(spark.sql("SELECT 1 AS id, array('a') AS tags"), keys=["id"])
    replace = sink(spark, pg_connection, f"{schema}.t", "replace", faults)
    with pytest.raises(SinkError, match=r"partition column 'month' is not a column"):
        replace.load(spark.sql("SELECT 1 AS id, 2024 AS year"), partitions=[(2024, 1)])
    assert faults.calls["sink.connect"] == 0
    assert not exists(postgres, f"{schema}.t")


def test_an_upsert_into_a_table_without_a_key_on_the_keys_is_refused(
    spark: SparkSession, postgres: PostgresServer, pg_connection: Connection, schema: str
) -> None:
    table = f"{schema}.t"
    postgres.sql(f"CREATE TABLE {table} (id integer, name text, amount numeric(18,2), year integer, month integer)")

    with pytest.raises(
        SinkError, match=r"upsert needs a primary key or unique index on \(id\).*ADD PRIMARY KEY \(id\)"
    ):
        sink(spark, pg_connection, table).load(frame(spark, THREE), keys=["id"])

    assert content(postgres, table) == []


def test_errors_and_logs_never_show_the_password(
    spark: SparkSession,
    postgres: PostgresServer,
    pg_connection: Connection,
    schema: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = pg_connection.password
    table = f"{schema}.t"
    df = frame(spark, THREE)
    closed_port = Connection.from_url("test", postgres.url.replace(f":{postgres.port}/", ":1/"))
    wrong_password = Connection("test", pg_connection.url, pg_connection.user, password + "-not")
    errors = []

    with pytest.raises(SinkUnavailable, match=r"connect: Connection to 127.0.0.1:1 refused.*\(SQLSTATE 08001\)") as e1:
        sink(spark, closed_port, table).load(df, keys=["id"])
    errors.append(e1.value)
    with pytest.raises(SinkError, match=r'password authentication failed for user "etl_test" \(SQLSTATE 28P01\)') as e2:
        sink(spark, wrong_password, table).load(df, keys=["id"])
    errors.append(e2.value)
    assert not e2.value.retryable

    def refuse_rows(subject: str) -> bool:  # Spark's writer then fails inside its job
        postgres.sql(f"ALTER TABLE {table}__etl_stage ADD CONSTRAINT no_rows CHECK (false)")
        return False

    failing = sink(spark, pg_connection, table, faults=Faults(Fault("sink.stage", when=refuse_rows)))
    with pytest.raises(SinkError, match=r"stage: ERROR: new row .* violates check constraint \"no_rows\".*23514") as e3:
        failing.load(df, keys=["id"])
    errors.append(e3.value)
    sink(spark, pg_connection, table).load(df, keys=["id"])  # logs what it did

    assert "loaded: upsert of 3 rows" in caplog.text
    for error in errors:
        assert password not in str(error) and password not in repr(error)
        assert "\n" not in str(error)
    assert password not in caplog.text and password not in repr(pg_connection) and password not in str(pg_connection)
