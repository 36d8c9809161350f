"""A gold model: one Spark SQL query over analytics-ready tables, as a typed, immutable object.

A model is a small YAML file beside the dataset specs (``sample_csv/models/``)::

    model: client_monthly_deposits
    description: Deposits and withdrawals per client, month and currency.
    reads: [transactions, accounts]
    sql: |
      SELECT a.client_id, ... FROM transactions t JOIN accounts a ON ...
    keys: [client_id, month_start, currency]
    partition_by: month_start
    partitions_from: [transactions]
    columns:
      - {name: client_id, description: The client., checks: [not_null]}
      - {name: currency, checks: [{accepted_values: [EUR, USD, GBP]}]}

Tables are named by their dataset or model name. ``partition_by`` (a date or timestamp column
of the result) makes ``year=YYYY/month=MM`` folders as datasets have. ``partitions_from``
names the inputs whose month ``m`` only feeds the model's month ``m``: a change in those
rebuilds only the months that changed; a change in any other input rebuilds the whole table.
What a query may do is checked against the inputs' schemas before anything runs
(``models.check``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from etl_lib.sinks.base import SinkSpec
from etl_lib.spec.model import NAME_PATTERN, RESERVED_NAMES, SpecModel, _nearest


class AcceptedValues(SpecModel):
    """``{accepted_values: [A, B]}``: every non-null value is one of these."""

    accepted_values: list[str | int | float | bool] = Field(min_length=1)


Check = Literal["not_null", "unique"] | AcceptedValues


class ModelColumn(SpecModel):
    """A column of the model's result: what it means, and what must hold of it."""

    name: str
    description: str | None = None
    checks: list[Check] = Field(
        default_factory=list,
        description="not_null, unique, or {accepted_values: [...]}: a build whose result breaks one fails "
        "and publishes nothing.",
    )


class ModelSpec(SpecModel):
    """One gold model."""

    model: str = Field(description="[a-z][a-z0-9_]*: the table's name in analytics-ready, the catalog and SQL.")
    description: str | None = None
    reads: list[str] = Field(min_length=1, description="The datasets and models the query reads, by name.")
    sql: str = Field(min_length=1, description="One Spark SQL SELECT over the tables in reads.")
    keys: list[str] = Field(default_factory=list, description="Columns unique together in the result (checked).")
    partition_by: str | None = Field(None, description="date/timestamp column of the result -> year=/month= folders.")
    partitions_from: list[str] = Field(
        default_factory=list,
        description="Inputs (partitioned, among reads) whose month m feeds only the model's month m: a change in "
        "them rebuilds only the changed months. Empty: any change rebuilds the whole table.",
    )
    columns: list[ModelColumn] = Field(default_factory=list, description="Descriptions and checks of result columns.")
    sinks: list[SinkSpec] = Field(default_factory=list, description="Databases the rows are loaded into after a build.")
    partition_years: tuple[int, int] = Field((2000, 2099), description="[first, last]: Athena's projection range.")
    table_format: Literal["parquet", "iceberg"] = Field(
        "parquet", description="parquet (year=/month= folders) or iceberg (an Iceberg table, docs/iceberg.md)."
    )
    snapshot_retention_days: int = Field(7, ge=1, description="Iceberg only: etl-lib compact expires older snapshots.")

    @field_validator("model")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(NAME_PATTERN, value) or value in RESERVED_NAMES:
            raise ValueError(f"model name {value!r} must match [a-z][a-z0-9_]* (and not be year or month)")
        return value

    @field_validator("sql")
    @classmethod
    def _one_statement(cls, value: str) -> str:
        body = value.strip().rstrip(";").strip()
        if ";" in _without_strings(body):
            raise ValueError("sql: one SELECT statement, no ';' between statements")
        return body

    @model_validator(mode="after")
    def _cross_checks(self) -> ModelSpec:
        problems: list[str] = []
        if self.model in self.reads:
            problems.append(f"reads: a model cannot read itself ({self.model!r})")
        duplicates = sorted({r for r in self.reads if self.reads.count(r) > 1})
        if duplicates:
            problems.append(f"reads: {duplicates} named twice")
        for name in self.partitions_from:
            if name not in self.reads:
                problems.append(f"partitions_from: {name!r} is not in reads{_nearest(name, self.reads)}")
        if self.partitions_from and self.partition_by is None:
            problems.append("partitions_from needs partition_by: it maps the inputs' months to the model's")
        if any(s.mode == "upsert" for s in self.sinks) and not self.keys:
            problems.append("sinks: mode upsert needs keys (the conflict target); give keys or use mode replace")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            problems.append(f"columns: {sorted({n for n in names if names.count(n) > 1})} described twice")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def fingerprint(self) -> str:
        """What the model computes and how it is laid out: a change rebuilds the whole table
        (descriptions and sinks are not part of it)."""
        significant = {
            "sql": " ".join(self.sql.split()),
            "reads": sorted(self.reads),
            "keys": self.keys,
            "partition_by": self.partition_by,
            "partitions_from": sorted(self.partitions_from),
            "table_format": self.table_format,
            "checks": [[c.name, [str(k) for k in c.checks]] for c in self.columns],
        }
        return hashlib.sha256(json.dumps(significant, sort_keys=True).encode()).hexdigest()[:16]

    def checks_of(self) -> list[tuple[str, Any]]:
        """(column, check) of every declared check, keys' uniqueness first."""
        found: list[tuple[str, Any]] = []
        for column in self.columns:
            found += [(column.name, check) for check in column.checks]
        return found


def _without_strings(sql: str) -> str:
    """The SQL with its quoted strings and comments blanked (a ';' in them is no separator)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", "''", sql)
