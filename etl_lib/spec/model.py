"""The dataset spec as a typed, immutable model.

One model per YAML section. Unknown keys are rejected (``extra="forbid"``) so a
typo such as ``requried: true`` is an error, not a silently ignored rule.
Cross-field rules (keys exist, partition column is temporal...) live in
``DatasetSpec``'s validators so they run before any data is read.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from etl_lib.sinks.base import SinkSpec, sink_problems
from etl_lib.spec.types import ColumnType, parse_type
from etl_lib.transform.clean import CLEANERS

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
RESERVED_NAMES = frozenset({"year", "month"})
METADATA_COLUMNS = ("_source_file", "_ingested_at", "_run_id", "_delivered_at", "_rescued_data")

DEFAULT_FORMATS: dict[str, list[str]] = {
    "date": ["yyyy-MM-dd"],
    "timestamp": ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSS"],
}


class SpecModel(BaseModel):
    """Base for every spec section: immutable, unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceSpec(SpecModel):
    """How the delivered files are read."""

    format: Literal["csv"] = Field("csv", description="File format; only csv today.")
    header: bool = Field(
        True,
        description="First record is a header; columns are then matched by header name. "
        "With false, columns are taken by position in spec order.",
    )
    delimiter: str = Field(",", description="Field separator: one character (use \\t for tab).")
    quote: str = Field('"', description="Quote character (RFC 4180: a doubled quote escapes).")
    encoding: str = Field("utf-8", description="Character set of the file; a UTF-8 BOM is ignored.")
    extra_columns: Literal["rescue", "ignore", "reject_file"] = Field(
        "rescue",
        description="Headers the spec does not name: keep them in _rescued_data (rescue), "
        "drop them (ignore) or fail the whole file (reject_file).",
    )
    null_values: list[str] = Field(
        default_factory=list,
        description="Raw values read as null in every column (e.g. ['NULL', 'N/A']).",
    )
    quoted_line_breaks: bool = Field(
        True,
        description="Values may hold line breaks inside quotes (RFC 4180): each file is then read by one "
        "core. With false, a large uncompressed file is read in parallel splits, and a record that "
        "continues on the next line (an unbalanced quote) fails the file with its line number.",
    )

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, value: str) -> str:
        value = value.replace("\\t", "\t")
        if len(value) != 1:
            raise ValueError(f"must be exactly one character, got {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. utf-8, latin-1, cp1252, utf-16") from None
        return value


Scalar = str | int | float | bool


class ColumnSpec(SpecModel):
    """One output column: where it comes from, how it is cleaned, typed and checked."""

    name: str = Field(description="Output name, lower-case snake_case.")
    type: str = Field("string", description="string|int|bigint|double|boolean|date|timestamp|decimal(p,s)")
    source: str | list[str] | None = Field(
        None, description="Header(s) in the file when they differ from name; the first present wins."
    )
    required: bool = Field(False, description="A missing (null or empty) value rejects the row.")
    clean: list[str] = Field(
        default_factory=list,
        description="Built-in cleaning rules, in order.",
        json_schema_extra={"items": {"type": "string", "enum": list(CLEANERS)}},
    )
    format: str | list[str] | None = Field(
        None, description="date/timestamp patterns (Spark datetime patterns), tried in order."
    )
    allowed: list[Scalar] | None = Field(None, description="The only values accepted.")
    min: Scalar | None = Field(None, description="Smallest accepted value (inclusive).")
    max: Scalar | None = Field(None, description="Largest accepted value (inclusive).")
    pattern: str | None = Field(
        None, description="Regular expression (Java's syntax: Spark runs it) the cleaned value must match."
    )
    pii: bool = Field(False, description="Hashed with sha256 in analytics-ready.")
    description: str | None = Field(None, description="Free text for people and the catalog.")

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not re.match(NAME_PATTERN, value):
            raise ValueError(f"column name {value!r} must be lower-case snake_case ([a-z][a-z0-9_]*)")
        if value in RESERVED_NAMES:
            raise ValueError(f"column name {value!r} is reserved for the partition folders")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return parse_type(value).text

    @field_validator("clean")
    @classmethod
    def _known_cleaners(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in CLEANERS]
        if unknown:
            raise ValueError(f"unknown clean rule(s) {unknown}; allowed: {', '.join(CLEANERS)}")
        return value

    @model_validator(mode="after")
    def _rules_fit_type(self) -> ColumnSpec:
        ctype = self.column_type
        if self.format is not None and not ctype.is_temporal:
            raise ValueError(f"'format' applies to date/timestamp columns, not {ctype.text}")
        if (self.min is not None or self.max is not None) and not (ctype.is_numeric or ctype.is_temporal):
            raise ValueError(f"'min'/'max' apply to numeric, date and timestamp columns, not {ctype.text}")
        if ctype.is_numeric:
            for bound in ("min", "max"):
                value = getattr(self, bound)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ValueError(f"'{bound}' of a {ctype.text} column must be a number, got {value!r}")
        return self

    @property
    def column_type(self) -> ColumnType:
        """The parsed type."""
        return parse_type(self.type)

    @property
    def sources(self) -> list[str]:
        """Header names this column is read from, in order of preference."""
        if self.source is None:
            return [self.name]
        return [self.source] if isinstance(self.source, str) else list(self.source)

    @property
    def formats(self) -> list[str]:
        """The date/timestamp patterns to try, defaults included."""
        if self.format is None:
            return DEFAULT_FORMATS.get(self.column_type.text, [])
        return [self.format] if isinstance(self.format, str) else list(self.format)


class DerivedSpec(SpecModel):
    """A column computed by a Spark SQL expression over the typed columns."""

    name: str = Field(description="Output name, lower-case snake_case.")
    expr: str = Field(description='Spark SQL expression, e.g. "amount * 100".')
    type: str | None = Field(None, description="Optional type the result is cast to.")
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        return ColumnSpec._snake_case(value)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        return None if value is None else parse_type(value).text


EXPECTATION_TYPES = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_table_row_count_to_be_between",
    "expect_column_mean_to_be_between",
    "expect_column_distinct_values_to_be_in_set",
)


class ExpectationSpec(SpecModel):
    """A batch-level data-quality check, run with Great Expectations on each file's valid rows."""

    type: str = Field(
        description="A Great Expectations expectation name (snake_case).",
        json_schema_extra={"enum": list(EXPECTATION_TYPES)},
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Its arguments (column, min_value...).")
    on_failure: Literal["fail", "warn"] = Field(
        "fail", description="fail: the file fails whole, nothing is written; warn: recorded only."
    )

    @field_validator("type")
    @classmethod
    def _known_expectation(cls, value: str) -> str:
        if value not in EXPECTATION_TYPES:
            raise ValueError(f"unknown expectation {value!r}; allowed: {', '.join(EXPECTATION_TYPES)}")
        return value


class DatasetSpec(SpecModel):
    """A dataset: one customer file kind, from raw CSV to analytics-ready Parquet."""

    dataset: str = Field(description="[a-z][a-z0-9_]*; also the Athena table name.")
    description: str | None = None
    source: SourceSpec = Field(default_factory=SourceSpec)  # type: ignore[arg-type]
    columns: list[ColumnSpec] = Field(min_length=1, description="Output columns, in order.")
    derived: list[DerivedSpec] = Field(default_factory=list)
    keys: list[str] = Field(default_factory=list, description="One row per key in analytics-ready.")
    latest_by: str | None = Field(None, description="Column deciding which row of a key wins.")
    partition_by: str | None = Field(None, description="date/timestamp column -> year=/month= folders.")
    expectations: list[ExpectationSpec] = Field(default_factory=list)
    partition_years: tuple[int, int] = Field(
        (2000, 2099),
        description="[first, last]: the years Athena's partition projection covers. Rows in a year outside it "
        "are written but Athena does not see them; the run warns about each such file.",
    )
    expected_every: str | None = Field(
        None,
        description="How often the partner delivers, e.g. 1d or 12h: on AWS an alarm is raised when no file has "
        "arrived for longer (the freshness alarm). None: no such alarm.",
    )
    max_rejected_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="The share of a run's rows that may be rejected before the rejected-share alarm is raised "
        "(0.05: 5%).",
    )
    sinks: list[SinkSpec] = Field(
        default_factory=list,
        description="Databases analytics-ready's rows are loaded into after each analytics run (docs/sinks.md).",
    )
    table_format: Literal["parquet", "iceberg"] = Field(
        "parquet",
        description="How analytics-ready is stored: parquet (year=/month= folders, read by every tool) or iceberg "
        "(an Iceberg format-version 2 table: one atomic commit per run, MERGE by keys, time travel; docs/iceberg.md).",
    )
    snapshot_retention_days: int = Field(
        7,
        ge=1,
        description="Iceberg only: etl-lib compact expires snapshots older than this many days (the newest is "
        "always kept); query --as-of can read back this far.",
    )
    receipts: bool = Field(
        True,
        description="Write a receipt per delivered file under receipts/{dataset}/: its counts, and each rejected "
        "row's line, text and reasons, for the partner. false: none (and a file's earlier receipt is removed "
        "when it is processed again).",
    )

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not re.match(NAME_PATTERN, value):
            raise ValueError(f"dataset name {value!r} must match [a-z][a-z0-9_]*")
        return value

    @field_validator("expected_every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[1-9][0-9]*(h|d)$", value):
            raise ValueError(f"{value!r}: a number of hours or days, e.g. 12h or 1d")
        return value

    @property
    def expected_every_s(self) -> int | None:
        """``expected_every`` in seconds (None when not set)."""
        if self.expected_every is None:
            return None
        return int(self.expected_every[:-1]) * (3600 if self.expected_every.endswith("h") else 86400)

    @field_validator("partition_years")
    @classmethod
    def _years(cls, value: tuple[int, int]) -> tuple[int, int]:
        first, last = value
        if not 1000 <= first <= last <= 9999:
            raise ValueError(f"partition_years {list(value)}: expected [first, last], years of 4 digits, first <= last")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> DatasetSpec:
        problems = self._cross_problems()
        if problems:  # every one, a line each (``load`` splits them)
            raise ValueError("\n".join(problems))
        return self

    def _cross_problems(self) -> list[str]:
        names = [c.name for c in self.columns] + [d.name for d in self.derived]
        problems: list[str] = []
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"duplicate column name(s) {duplicates}; every column and derived name must be unique")
        known = ", ".join(names)
        for key in self.keys:
            if key not in names:
                problems.append(f"keys: unknown column {key!r}{_nearest(key, names)}; known columns: {known}")
        if self.latest_by is not None and self.latest_by not in names:
            problems.append(
                f"latest_by: unknown column {self.latest_by!r}{_nearest(self.latest_by, names)}; known columns: {known}"
            )
        partition_columns = ["year", "month"]
        for sink in self.sinks:
            problems += sink_problems(sink, [*names, *partition_columns], self.keys, partition_columns)
        if self.latest_by is not None and not self.keys:
            problems.append("latest_by needs keys: it decides which row of a key wins")
        if self.partition_by is not None:
            if self.partition_by not in names:
                problems.append(
                    f"partition_by: unknown column {self.partition_by!r}{_nearest(self.partition_by, names)}; "
                    f"known columns: {known}"
                )
            else:
                ptype = self.type_of(self.partition_by)
                if ptype not in ("date", "timestamp"):
                    temporal = [n for n in names if self.type_of(n) in ("date", "timestamp")]
                    problems.append(
                        f"partition_by: column {self.partition_by!r} is {ptype or 'untyped'}, "
                        f"it must be a date or timestamp column; candidates: {temporal or 'none'}"
                    )
        return problems

    def type_of(self, name: str) -> str | None:
        """The declared type of a column or derived column (None when a derived one is untyped)."""
        for col in self.columns:
            if col.name == name:
                return col.type
        for der in self.derived:
            if der.name == name:
                return der.type
        return None

    @property
    def column_names(self) -> list[str]:
        """Spec and derived column names, in output order."""
        return [c.name for c in self.columns] + [d.name for d in self.derived]

    @property
    def pii_columns(self) -> list[str]:
        """Columns hashed in analytics-ready."""
        return [c.name for c in self.columns if c.pii]


def _nearest(word: str, choices: list[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``choices``, or nothing."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
