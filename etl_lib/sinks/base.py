"""What a sink is: its spec (``sinks:`` in a model or dataset), its checks, and the interface.

A spec declares where its rows are loaded after each build::

    sinks:
      - type: postgres
        table: reporting.client_monthly_deposits   # [schema.]table, lower-case snake_case
        mode: upsert                               # upsert (by keys) | replace (rebuilt partitions)
        connection: analytics                      # a name: env variables locally, a Glue connection on AWS

``SinkSpec`` is the section's model (frozen, unknown keys rejected) for the spec loaders to
nest (``sinks: tuple[SinkSpec, ...] = ()``) or to call through ``parse_sinks``.
``sink_problems`` is what the spec checker asks before anything runs; ``Sink.load`` is what
the runner calls after a build.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from etl_lib.errors import SpecError

IDENTIFIER = r"[a-z_][a-z0-9_]*"
"""A PostgreSQL name used unquoted and unchanged: lower-case, so it never needs quoting by readers."""
MAX_IDENTIFIER = 63
"""PostgreSQL cuts longer names silently (NAMEDATALEN - 1), which would make two names one."""
_TABLE = re.compile(rf"^({IDENTIFIER})(?:\.({IDENTIFIER}))?$")
_NAME = re.compile(rf"^{IDENTIFIER}$")
_CONNECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class SinkSpec(BaseModel):
    """One ``sinks:`` entry: where and how a spec's rows are loaded into a database."""

    # Its own base, with the spec models' settings: the spec packages import this module.
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["postgres"] = Field("postgres", description="The database: postgres (Aurora PostgreSQL on AWS).")
    table: str = Field(
        description="Target table, optionally schema-qualified (schema.table); lower-case snake_case, "
        "at most 63 characters a part. Created from the spec's types when missing."
    )
    mode: Literal["upsert", "replace"] = Field(
        "upsert",
        description="upsert: insert new keys, update changed rows (needs keys; the table's primary key). "
        "replace: the rebuilt partitions' rows (the whole table when everything was rebuilt) replace theirs.",
    )
    connection: str = Field(
        description="The connection's name: ETL_LIB_PG_{NAME}_URL (or PG* variables) locally, "
        "a Glue connection of that name on AWS."
    )

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        match = _TABLE.match(value)
        if not match or any(part and len(part) > MAX_IDENTIFIER for part in match.groups()):
            raise ValueError(
                f"table {value!r} must be [schema.]table, each part [a-z_][a-z0-9_]* of at most "
                f"{MAX_IDENTIFIER} characters (e.g. reporting.client_deposits)"
            )
        return value

    @field_validator("connection")
    @classmethod
    def _connection(cls, value: str) -> str:
        if not _CONNECTION.match(value) or len(value) > 255:
            raise ValueError(
                f"connection {value!r} must be a name: a letter, then letters, digits, '_', '-' or '.' "
                "(e.g. analytics; locally ETL_LIB_PG_ANALYTICS_URL)"
            )
        return value

    @property
    def schema_name(self) -> str:
        """The table's schema (``public`` when the table is not qualified)."""
        return self.table.split(".")[0] if "." in self.table else "public"

    @property
    def table_name(self) -> str:
        """The table's name without its schema."""
        return self.table.rsplit(".", 1)[-1]

    @property
    def qualified(self) -> str:
        """``schema.table``, the schema spelt out."""
        return f"{self.schema_name}.{self.table_name}"


def parse_sinks(raw: Any, path: str = "<spec>") -> tuple[SinkSpec, ...]:
    """The ``sinks:`` section (a list of mappings, or None) as specs; every problem in one ``SpecError``.

    Two entries loading the same table through the same connection are refused: they would
    overwrite each other.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(path, f"sinks: must be a list of {{type, table, mode, connection}}, got {type(raw).__name__}")
    sinks: list[tuple[int, SinkSpec]] = []
    problems: list[str] = []
    for n, item in enumerate(raw):
        try:
            sinks.append((n, SinkSpec.model_validate(item)))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = f"unknown key; allowed: {', '.join(SinkSpec.model_fields)}"
                elif error["type"] == "missing":
                    message = "required field is missing"
                elif error["type"] == "literal_error":
                    allowed = error.get("ctx", {}).get("expected", "")
                    message = f"got {error.get('input')!r}; allowed: {allowed.replace(' or ', ', ')}"
                problems.append(f"sinks[{n}]" + (f".{field}" if field else "") + f": {message}")
    seen: set[tuple[str, str]] = set()
    for n, sink in sinks:
        target = (sink.connection, sink.qualified)
        if target in seen:
            problems.append(f"sinks[{n}]: table {sink.qualified} of connection {sink.connection} is named twice")
        seen.add(target)
    if problems:
        raise SpecError(path, problems[0], problems=tuple(problems))
    return tuple(sink for _, sink in sinks)


def sink_problems(
    sink: SinkSpec,
    columns: Iterable[str],
    keys: Sequence[str] = (),
    partition_columns: Sequence[str] | None = None,
) -> list[str]:
    """What stops ``sink`` from loading rows with these columns and keys: a line each, empty when fine.

    The spec checker calls it before anything runs; ``Sink.load`` calls it again on the
    DataFrame it gets. ``partition_columns``, when given, must be columns too (a partition
    replace deletes by them).
    """
    names = list(columns)
    where = f"sinks ({sink.table})"
    problems: list[str] = []
    if sink.mode == "upsert" and not keys:
        problems.append(
            f"{where}: mode upsert needs keys (the table's primary key, the conflict target): "
            "declare keys, or use mode: replace"
        )
    for key in keys:
        if key not in names:
            problems.append(f"{where}: key {key!r} is not a column; columns: {', '.join(names)}")
    for column in partition_columns or ():
        if column not in names:
            problems.append(f"{where}: partition column {column!r} is not a column: a partition replace deletes by it")
    for column in names:
        if not _NAME.match(column) or len(column) > MAX_IDENTIFIER:
            problems.append(
                f"{where}: column {column!r} cannot be a PostgreSQL column as is: names are [a-z_][a-z0-9_]* "
                f"of at most {MAX_IDENTIFIER} characters; rename it in the spec"
            )
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        problems.append(f"{where}: columns {duplicates} appear twice")
    return problems


@dataclass(frozen=True)
class LoadResult:
    """What one load did."""

    table: str
    """The target, ``schema.table``."""
    mode: str
    """``upsert`` or ``replace``."""
    rows: int
    """Rows of the DataFrame loaded (all of them, whether they changed anything or not)."""
    rows_written: int
    """Rows inserted or updated in the target: 0 when a rerun finds everything as it was (upsert)."""
    rows_deleted: int = 0
    """Rows a replace deleted first (the replaced partitions' rows, or the whole table's)."""
    created: bool = False
    """The table did not exist and was created."""
    columns_added: tuple[str, ...] = ()
    """Columns the table gained (``ALTER TABLE ... ADD COLUMN``): earlier rows hold NULL there."""


class Sink(ABC):
    """Loads a DataFrame into one target table, idempotently and all at once."""

    spec: SinkSpec

    @abstractmethod
    def load(
        self,
        df: Any,
        *,
        keys: Sequence[str] = (),
        partition_columns: Sequence[str] = ("year", "month"),
        partitions: Sequence[tuple[Any, ...]] | None = None,
    ) -> LoadResult:
        """Load ``df`` (a Spark DataFrame) into the target in one transaction.

        ``partitions=None``: ``df`` is the whole new content (replace: the table's rows become
        ``df``'s; upsert: every row is upserted). Otherwise only these partitions (tuples of
        ``partition_columns`` values, e.g. ``(2024, 3)``) were rebuilt: replace deletes their
        rows and inserts ``df``'s (which must all lie in them); upsert upserts ``df``'s rows.
        Loading the same rows again changes nothing. Raises ``SinkUnavailable`` (transient) or
        ``SinkError``; the target is then as it was.
        """
