"""The PostgreSQL sink: a DataFrame into a table, all at once and idempotently.

One load, for target ``schema.table``:

1. a session lock on the target (``pg_advisory_lock``), so two loads of one table take turns;
2. the staging table ``schema.table__etl_stage`` dropped and created again (unlogged, the
   model's types), and Spark's JDBC writer writes the DataFrame into it. A load that died
   earlier left at most this table, which is replaced here: a rerun trips on nothing;
3. one transaction: the target created if missing (primary key on the keys for upsert) or
   checked (a column whose type changed is refused, a new column added), the staged rows
   checked (keys unique and not NULL for upsert; inside the listed partitions for a partition
   replace), then ``INSERT ... ON CONFLICT (keys) DO UPDATE ... WHERE (a value differs)``
   (upsert) or ``DELETE`` of the partitions (or of every row) and ``INSERT`` (replace), the
   stage dropped, ``COMMIT``.

Readers in other sessions see the table as it was until the commit, and then the new rows,
never a mix: ``DELETE``, not ``TRUNCATE``, so they are not even blocked (``ALTER TABLE ADD
COLUMN`` alone locks the table, for the few statements left before the commit). A load that
fails anywhere leaves the target as it was; its error is ``SinkUnavailable`` (transient) or
``SinkError``, one line without the password.

A column the table has and the model no longer has is left alone: the rows a load inserts
hold NULL (or the column's default) in it, the rows an upsert updates keep their value.

``faults`` fail the load at a named step, as other edges' twins do (``etl_lib.faults``):
``sink.connect`` (before connecting), ``sink.stage`` (before the staging write),
``sink.staged`` (after it, before the transaction) and ``sink.commit`` (in the transaction,
every statement done, before ``COMMIT``); the subject is the target, ``schema.table``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from etl_lib.faults import Fault, Faults
from etl_lib.sinks import postgres_sql as sql
from etl_lib.sinks.base import LoadResult, Sink, SinkSpec, sink_problems
from etl_lib.sinks.connections import Connection
from etl_lib.sinks.errors import SinkError, SinkUnavailable
from etl_lib.sinks.jdbc import DRIVER, JdbcSession, credentials_unlogged, translate_jdbc_error

log = logging.getLogger(__name__)


class PostgresSink(Sink):
    """Loads DataFrames into one PostgreSQL table through JDBC (see the module's docstring)."""

    def __init__(
        self,
        spec: SinkSpec,
        spark: Any,
        connection: Connection,
        *,
        faults: Faults | None = None,
        fail_on: Iterable[str] = (),
        batch_size: int = 5000,
    ) -> None:
        self.spec = spec
        self.spark = spark
        self.connection = connection
        self.faults = faults or Faults()
        for step in fail_on:
            self.faults.add(Fault(f"sink.{step}"))
        self.batch_size = batch_size
        self.target = sql.qualified(spec.schema_name, spec.table_name)
        self.stage = sql.qualified(spec.schema_name, sql.stage_name(spec.table_name))

    def _check(self, step: str) -> None:
        self.faults.check(f"sink.{step}", self.spec.qualified, SinkUnavailable, SinkError)

    def _where(self, step: str) -> str:
        return f"postgres sink {self.spec.qualified} (connection {self.connection.name}): {step}"

    def load(
        self,
        df: Any,
        *,
        keys: Sequence[str] = (),
        partition_columns: Sequence[str] = ("year", "month"),
        partitions: Sequence[tuple[Any, ...]] | None = None,
    ) -> LoadResult:
        """Load ``df`` in one transaction (``Sink.load``); the target is unchanged when it fails."""
        keys = tuple(keys)
        parts = None if partitions is None else [tuple(p) for p in partitions]
        replaced = tuple(partition_columns) if parts is not None and self.spec.mode == "replace" else None
        columns = self._columns(df, keys, replaced, parts if replaced is not None else None)
        self._check("connect")
        step = "connect"
        try:
            db = JdbcSession(self.spark, self.connection, f"etl_lib sink {self.spec.qualified}")
        except Exception as exc:
            raise translate_jdbc_error(exc, self._where(step), self.connection) from None
        try:
            step = "lock"
            db.query("SELECT pg_advisory_lock(hashtext(?))", ["etl_lib.sinks " + self.spec.qualified])
            step = "stage"
            self._stage(db, df, columns)
            step = "transaction"
            result = self._apply(db, columns, keys, tuple(partition_columns), parts)
        except Exception as exc:
            error = translate_jdbc_error(exc, self._where(step), self.connection)
            self._discard(db)
            raise error from None
        finally:
            _quietly(db.close)
        log.info(
            "%s: %s of %d rows: %d written, %d deleted%s%s",
            self._where("loaded"),
            result.mode,
            result.rows,
            result.rows_written,
            result.rows_deleted,
            ", table created" if result.created else "",
            f", columns added: {', '.join(result.columns_added)}" if result.columns_added else "",
        )
        return result

    def _columns(
        self,
        df: Any,
        keys: tuple[str, ...],
        partition_columns: tuple[str, ...] | None,
        partitions: list[tuple[Any, ...]] | None,
    ) -> list[tuple[str, str]]:
        """(name, PostgreSQL type) of ``df``'s columns; ``SinkError`` for whatever cannot load."""
        problems = sink_problems(self.spec, df.columns, keys, partition_columns)
        fields = df.schema.fields
        for f in fields:
            if sql.postgres_type(f.dataType) is None:
                problems.append(
                    f"sinks ({self.spec.table}): column {f.name} is {f.dataType.simpleString()}, which has no "
                    "PostgreSQL column type here: turn it into text in the model (to_json)"
                )
        for partition in partitions or ():
            if len(partition) != len(partition_columns or ()) or any(v is None for v in partition):
                problems.append(
                    f"sinks ({self.spec.table}): partition {partition!r} must give a value for each of "
                    f"{list(partition_columns or ())}, none of them null"
                )
        if problems:
            raise SinkError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        return [(f.name, sql.postgres_type(f.dataType) or "") for f in fields]

    def _stage(self, db: JdbcSession, df: Any, columns: list[tuple[str, str]]) -> None:
        """The DataFrame into a fresh staging table, by Spark's JDBC writer (committed as it goes)."""
        schema = self.spec.schema_name
        if not db.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", [schema]):
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {sql.quote(schema)}")
        db.execute(f"DROP TABLE IF EXISTS {self.stage}")
        db.execute(sql.create_table(self.stage, columns, unlogged=True))
        self._check("stage")
        properties = {
            **self.connection.properties(),
            "driver": DRIVER,
            "batchsize": str(self.batch_size),
            "reWriteBatchedInserts": "true",
            "ApplicationName": f"etl_lib stage {self.spec.qualified}"[:63],
        }
        with credentials_unlogged():
            df.select(*[name for name, _ in columns]).write.jdbc(
                self.connection.url, self.stage, mode="append", properties=properties
            )
        self._check("staged")

    def _apply(
        self,
        db: JdbcSession,
        columns: list[tuple[str, str]],
        keys: tuple[str, ...],
        partition_columns: tuple[str, ...],
        partitions: list[tuple[Any, ...]] | None,
    ) -> LoadResult:
        """The one transaction: the table made ready, the staged rows checked and applied, the stage dropped."""
        names = [name for name, _ in columns]
        upsert = self.spec.mode == "upsert"
        db.begin()
        existing = {str(row[0]): str(row[1]) for row in db.query(sql.COLUMNS, [self.target])}
        created = not existing
        added: list[str] = []
        if created:
            db.execute(sql.create_table(self.target, columns, keys if upsert else ()))
            if not upsert and partition_columns and set(partition_columns) <= set(names):
                db.execute(f"CREATE INDEX ON {self.target} ({', '.join(sql.quote(c) for c in partition_columns)})")
        else:
            self._check_types(existing, columns)
            for name, pgtype in columns:
                if name not in existing:
                    db.execute(sql.add_column(self.target, name, pgtype))
                    added.append(name)
            if upsert:
                self._check_unique(db, keys)
        rows = int(db.query(f"SELECT count(*) FROM {self.stage}")[0][0] or 0)
        deleted = 0
        if upsert:
            bad = db.query(sql.bad_keys(self.stage, keys))
            if bad:
                value, count, null = bad[0]
                problem = "has no value (NULL)" if null == "t" else "is not unique"
                raise SinkError(
                    f"{self._where('keys')}: key ({', '.join(keys)}) = ({value}) {problem} in {count} rows: the "
                    "rows must have one row per key, with a value; nothing was loaded"
                )
            written = db.execute(sql.upsert(self.target, self.stage, names, keys))
        else:
            if partitions is None:
                deleted = db.execute(f"DELETE FROM {self.target}")
            else:
                self._check_inside(db, columns, partition_columns, partitions, rows)
                if partitions:
                    types = [dict(columns)[c] for c in partition_columns]
                    values, params = sql.partition_values(partition_columns, types, partitions)
                    deleted = db.execute(sql.delete_partitions(self.target, values, partition_columns), params)
            written = db.execute(sql.insert(self.target, self.stage, names))
        self._check("commit")
        db.execute(f"DROP TABLE {self.stage}")
        db.commit()
        return LoadResult(
            table=self.spec.qualified,
            mode=self.spec.mode,
            rows=rows,
            rows_written=written,
            rows_deleted=deleted,
            created=created,
            columns_added=tuple(added),
        )

    def _check_inside(
        self,
        db: JdbcSession,
        columns: list[tuple[str, str]],
        partition_columns: tuple[str, ...],
        partitions: list[tuple[Any, ...]],
        rows: int,
    ) -> None:
        """``SinkError`` when a staged row lies in none of the partitions being replaced: a rerun would
        insert it again."""
        outside: list[tuple[str | None, ...]] = []
        if not partitions:
            outside = [(str(rows), "any")] if rows else []
        else:
            types = [dict(columns)[c] for c in partition_columns]
            values, params = sql.partition_values(partition_columns, types, partitions)
            outside = db.query(sql.outside_partitions(self.stage, values, partition_columns), params)
        if outside and int(outside[0][0] or 0):
            raise SinkError(
                f"{self._where('partitions')}: {outside[0][0]} rows lie outside the partitions being replaced "
                f"(e.g. {', '.join(partition_columns)} = {outside[0][1]}): list every rebuilt partition; "
                "nothing was loaded"
            )

    def _check_types(self, existing: dict[str, str], columns: list[tuple[str, str]]) -> None:
        """``SinkError`` naming every column whose type in the table is not the model's."""
        changed = [
            f"{name} is {existing[name]} in the table, {pgtype} in the model"
            for name, pgtype in columns
            if name in existing and existing[name] != pgtype
        ]
        if changed:
            raise SinkError(
                f"{self._where('schema')}: incompatible column types: {'; '.join(changed)}. The table is "
                "unchanged: alter it yourself (ALTER TABLE ... ALTER COLUMN ... TYPE ...), or load a new table"
            )

    def _check_unique(self, db: JdbcSession, keys: tuple[str, ...]) -> None:
        """``SinkError`` unless the table has a primary key or unique index on exactly ``keys``."""
        wanted = ",".join(sorted(keys))
        if not any(row[0] == wanted for row in db.query(sql.UNIQUE_KEYS, [self.target])):
            raise SinkError(
                f"{self._where('schema')}: upsert needs a primary key or unique index on ({', '.join(keys)}) and "
                f"the table has none: add one (ALTER TABLE {self.spec.qualified} ADD PRIMARY KEY "
                f"({', '.join(keys)})), or use mode: replace"
            )

    def _discard(self, db: JdbcSession) -> None:
        """After a failure: the transaction rolled back and the stage dropped, as far as the connection allows."""
        _quietly(db.rollback)
        _quietly(lambda: db.execute(f"DROP TABLE IF EXISTS {self.stage}"))


def _quietly(action: Any) -> None:
    """Cleanup after a failure: the first error is the one to report, not a second one here."""
    try:
        action()
    except Exception as exc:
        log.debug("cleanup after a failed load: %s", type(exc).__name__)
