"""The PostgreSQL sink's types and statements: plain text from names and types, no I/O.

Types map one to one, spelt as PostgreSQL's ``format_type`` spells them, so a table's column
and the model's compare as text:

=====================  ===============================  =========================================
Spark                  PostgreSQL                       note
=====================  ===============================  =========================================
string (varchar, char) ``text``
tinyint, smallint      ``smallint``                     PostgreSQL has no one-byte integer
int                    ``integer``
bigint                 ``bigint``
float                  ``real``
double                 ``double precision``
decimal(p,s)           ``numeric(p,s)``
boolean                ``boolean``
date                   ``date``
timestamp              ``timestamp with time zone``     Spark's timestamp is an instant (shown in
                                                        UTC by our sessions): timestamptz keeps
                                                        the instant whatever the JVM's time zone
timestamp_ntz          ``timestamp without time zone``  a wall-clock time, kept as such
binary                 ``bytea``
=====================  ===============================  =========================================

Arrays, maps and structs have no column type here: a model turns them into text (``to_json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pyspark.sql import types as T

STAGE_SUFFIX = "__etl_stage"

_SIMPLE: dict[type[T.DataType], str] = {
    T.StringType: "text",
    T.VarcharType: "text",
    T.CharType: "text",
    T.ByteType: "smallint",
    T.ShortType: "smallint",
    T.IntegerType: "integer",
    T.LongType: "bigint",
    T.FloatType: "real",
    T.DoubleType: "double precision",
    T.BooleanType: "boolean",
    T.DateType: "date",
    T.TimestampType: "timestamp with time zone",
    T.TimestampNTZType: "timestamp without time zone",
    T.BinaryType: "bytea",
}


def postgres_type(dtype: T.DataType) -> str | None:
    """The PostgreSQL column type of a Spark type, as ``format_type`` writes it; None when there is none."""
    if isinstance(dtype, T.DecimalType):
        return f"numeric({dtype.precision},{dtype.scale})"
    return _SIMPLE.get(type(dtype))


def quote(name: str) -> str:
    """A quoted identifier (names are validated lower-case ones; quoting keeps keywords usable)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """``"schema"."table"``."""
    return f"{quote(schema)}.{quote(table)}"


def stage_name(table: str) -> str:
    """The staging table's name for target ``table``: one per target, within 63 characters."""
    name = table + STAGE_SUFFIX
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    return f"{table[: 63 - len(STAGE_SUFFIX) - 9]}_{digest}{STAGE_SUFFIX}"


def _names(columns: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def create_table(
    target: str, columns: Sequence[tuple[str, str]], keys: Sequence[str] = (), unlogged: bool = False
) -> str:
    """``CREATE TABLE``, with ``keys`` as its primary key when given."""
    parts = [f"{quote(name)} {pgtype}" for name, pgtype in columns]
    if keys:
        parts.append(f"PRIMARY KEY ({_names(keys)})")
    return f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {target} ({', '.join(parts)})"


def add_column(target: str, name: str, pgtype: str) -> str:
    """``ALTER TABLE ... ADD COLUMN``: nullable, so the rows already there hold NULL."""
    return f"ALTER TABLE {target} ADD COLUMN {quote(name)} {pgtype}"


def insert(target: str, stage: str, columns: Sequence[str]) -> str:
    """Every staged row into the target."""
    return f"INSERT INTO {target} ({_names(columns)}) SELECT {_names(columns)} FROM {stage}"


def upsert(target: str, stage: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """Staged rows inserted, or updated on their key only where a value differs: a rerun rewrites no row."""
    others = [c for c in columns if c not in keys]
    statement = f"INSERT INTO {target} AS tgt ({_names(columns)}) SELECT {_names(columns)} FROM {stage} "
    if not others:
        return statement + f"ON CONFLICT ({_names(keys)}) DO NOTHING"
    sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in others)
    old = ", ".join(f"tgt.{quote(c)}" for c in others)
    new = ", ".join(f"EXCLUDED.{quote(c)}" for c in others)
    return statement + f"ON CONFLICT ({_names(keys)}) DO UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"


def partition_values(
    columns: Sequence[str], types: Sequence[str], partitions: Sequence[tuple[Any, ...]]
) -> tuple[str, list[str]]:
    """``(VALUES (CAST(? AS integer), ...), ...) AS p("year", "month")`` and its parameters (text,
    cast by PostgreSQL to the columns' types)."""
    row = "(" + ", ".join(f"CAST(? AS {t})" for t in types) + ")"
    sql = f"(VALUES {', '.join([row] * len(partitions))}) AS p({_names(columns)})"
    return sql, [_text(v) for partition in partitions for v in partition]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def matches(alias: str, columns: Sequence[str]) -> str:
    """``alias.c = p.c AND ...``: a row of ``alias`` in a partition of ``partition_values``."""
    return " AND ".join(f"{alias}.{quote(c)} = p.{quote(c)}" for c in columns)


def delete_partitions(target: str, values: str, columns: Sequence[str]) -> str:
    """The target's rows in the listed partitions (``values`` from ``partition_values``)."""
    return f"DELETE FROM {target} AS tgt USING {values} WHERE {matches('tgt', columns)}"


def outside_partitions(stage: str, values: str, columns: Sequence[str]) -> str:
    """How many staged rows lie in none of the listed partitions, and one of them."""
    return (
        f"SELECT count(*), min(concat_ws(', ', {', '.join(f's.{quote(c)}::text' for c in columns)})) FROM {stage} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {values} WHERE {matches('s', columns)})"
    )


def bad_keys(stage: str, keys: Sequence[str]) -> str:
    """One key that is NULL or staged twice: its value, its rows, whether it is NULL (no row when all is fine)."""
    nulls = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    shown = ", ".join(f"coalesce({quote(k)}::text, 'NULL')" for k in keys)
    return (
        f"SELECT concat_ws(', ', {shown}), count(*), bool_or({nulls}) FROM {stage} GROUP BY {_names(keys)} "
        f"HAVING count(*) > 1 OR bool_or({nulls}) LIMIT 1"
    )


COLUMNS = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)
"""A table's columns and their types, in order (no row when the table does not exist)."""

UNIQUE_KEYS = (
    "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
    "WHERE i.indrelid = to_regclass(?) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
    "GROUP BY i.indexrelid"
)
"""The column sets of a table's unique indexes (its primary key's among them), sorted, comma-joined."""
