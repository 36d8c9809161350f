"""Draft a dataset spec from a sample file (``etl-lib init --sample``).

Plan, then write: ``draft_spec`` reads the start of the sample (plain Python, no Spark)
and decides everything into a ``Draft``; ``Draft.yaml`` is the text. What it works out:

- the encoding (a BOM, else UTF-8 if the bytes decode, else cp1252, else latin-1), the
  delimiter and quote (``csv.Sniffer`` over the first lines, checked against the field
  counts), and whether the first row is a header (its values look like names, not data);
- a snake_case name per column, with ``source:`` for the header as delivered;
- a type per column from its values, as etl_lib's typing reads them, so the draft accepts
  its own sample: ``int``/``bigint`` (no leading zeros: a code like ``007`` stays a string),
  ``decimal(p,s)`` (the sample's scale, its integer digits plus headroom), ``double`` (more
  decimals, exponents), ``boolean`` (true/false, yes/no...), dates and timestamps with the
  formats that cover every value (up to three, tried in order);
- null tokens (``NULL``, ``N/A``...) when reading them as null lets a column have a type;
- ``required`` where the sample has no empty value, and ``partition_by`` from a date or
  timestamp column the sample always fills (a row without one would be rejected).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from etl_lib.spec.model import NAME_PATTERN, RESERVED_NAMES
from etl_lib.transform.types import FALSE_VALUES, TRUE_VALUES

SAMPLE_BYTES = 8 * 2**20
"""How much of the sample is read at most."""
SAMPLE_ROWS = 20_000
"""Rows of the sample looked at, at most."""
NULL_TOKENS = ("NULL", "null", "Null", "N/A", "n/a", "NA", "None", "none", "-", "nan", "NaN")
"""Values read as null when that lets a column have a type other than string."""
DECIMAL_HEADROOM = 4
"""Integer digits a drafted decimal allows beyond the sample's largest."""

# (Spark pattern, Python strptime pattern, shape of the text): the shape keeps the check as
# strict as Spark's (strptime takes "1" for %m; Spark's MM does not).
DATE_FORMATS = (
    ("yyyy-MM-dd", "%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    ("dd/MM/yyyy", "%d/%m/%Y", r"\d{2}/\d{2}/\d{4}"),
    ("MM/dd/yyyy", "%m/%d/%Y", r"\d{2}/\d{2}/\d{4}"),
    ("dd.MM.yyyy", "%d.%m.%Y", r"\d{2}\.\d{2}\.\d{4}"),
    ("yyyy/MM/dd", "%Y/%m/%d", r"\d{4}/\d{2}/\d{2}"),
    ("dd-MM-yyyy", "%d-%m-%Y", r"\d{2}-\d{2}-\d{4}"),
    ("d-MMM-yyyy", "%d-%b-%Y", r"\d{1,2}-[A-Z][a-z]{2}-\d{4}"),
    ("d-MMM-yy", "%d-%b-%y", r"\d{1,2}-[A-Z][a-z]{2}-\d{2}"),
    ("d/M/yyyy", "%d/%m/%Y", r"\d{1,2}/\d{1,2}/\d{4}"),
    ("M/d/yyyy", "%m/%d/%Y", r"\d{1,2}/\d{1,2}/\d{4}"),
)
TIMESTAMP_FORMATS = (
    ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"),
    ("yyyy-MM-dd'T'HH:mm:ss", "%Y-%m-%dT%H:%M:%S", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"),
    ("yyyy-MM-dd HH:mm:ss.SSS", "%Y-%m-%d %H:%M:%S.%f", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "%Y-%m-%dT%H:%M:%S.%f", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}"),
    ("yyyy-MM-dd'T'HH:mm:ssXXX", "%Y-%m-%dT%H:%M:%S%z", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})"),
    ("yyyy-MM-dd HH:mm", "%Y-%m-%d %H:%M", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"),
    ("dd/MM/yyyy HH:mm:ss", "%d/%m/%Y %H:%M:%S", r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"),
    ("MM/dd/yyyy HH:mm:ss", "%m/%d/%Y %H:%M:%S", r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"),
    ("dd/MM/yyyy HH:mm", "%d/%m/%Y %H:%M", r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"),
)
_INT = re.compile(r"-?(0|[1-9]\d*)")
_LEADING_ZERO = re.compile(r"-?0\d+(\.\d*)?")
_DECIMAL = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")
_DOUBLE = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_TIME_WORDS = ("date", "time", "_at", "_ts", "day", "booked", "created", "updated")


@dataclass(frozen=True)
class DraftColumn:
    """One column of the draft."""

    name: str
    header: str | None
    type: str = "string"
    formats: tuple[str, ...] = ()
    required: bool = False

    def as_spec(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name}
        if self.type != "string":
            found["type"] = self.type
        if self.header is not None and self.header != self.name:
            found["source"] = self.header
        if self.formats:
            found["format"] = list(self.formats) if len(self.formats) > 1 else self.formats[0]
        if self.required:
            found["required"] = True
        return found


@dataclass(frozen=True)
class Draft:
    """A drafted spec: what ``draft_spec`` decided, before any text is written."""

    dataset: str
    sample: str
    rows: int
    encoding: str
    delimiter: str
    quote: str
    header: bool
    columns: tuple[DraftColumn, ...]
    null_values: tuple[str, ...] = ()
    partition_by: str | None = None
    notes: tuple[str, ...] = field(default=())
    ragged: int = 0
    """Sample rows without the header's number of fields (rejected whatever the spec)."""

    def as_spec(self) -> dict[str, Any]:
        """The spec as a plain document (defaults left out)."""
        source: dict[str, Any] = {}
        if self.encoding != "utf-8":
            source["encoding"] = self.encoding
        if self.delimiter != ",":
            source["delimiter"] = "\\t" if self.delimiter == "\t" else self.delimiter
        if self.quote != '"':
            source["quote"] = self.quote
        if not self.header:
            source["header"] = False
        if self.null_values:
            source["null_values"] = list(self.null_values)
        spec: dict[str, Any] = {"dataset": self.dataset}
        if source:
            spec["source"] = source
        spec["columns"] = [c.as_spec() for c in self.columns]
        if self.partition_by:
            spec["partition_by"] = self.partition_by
        return spec

    def yaml(self) -> str:
        """The spec's text, with a note of where it came from and what to check."""
        lines = [
            f"# Drafted by etl-lib init from {Path(self.sample).name} ({self.rows:,} rows read).",
            "# Check the types, required and partition_by, then: etl-lib validate-spec THIS_FILE",
            *[f"# {note}" for note in self.notes],
        ]
        body = yaml.safe_dump(self.as_spec(), sort_keys=False, allow_unicode=True, width=120)
        return "\n".join(lines) + "\n" + body


def draft_spec(sample: str | Path, dataset: str | None = None) -> Draft:
    """Read the start of ``sample`` and draft its spec (``ValueError`` when it holds no rows)."""
    path = Path(sample)
    data = _head(path)
    encoding, text = _decode(data)
    if len(data) == SAMPLE_BYTES:  # cut mid-line: drop the partial last line
        text = text[: text.rfind("\n") + 1] or text
    delimiter, quote = _dialect(text)
    rows = list(_rows(text, delimiter, quote))
    if not rows:
        raise ValueError(f"{path}: no rows to draft a spec from")
    header = _has_header(rows)
    headers = rows[0] if header else [f"column_{n + 1}" for n in range(len(rows[0]))]
    data_rows = rows[1:] if header else rows
    width = len(headers)
    names = _names(headers)
    nulls: set[str] = set()
    columns: list[DraftColumn] = []
    notes = []
    whole = [row for row in data_rows if len(row) == width]  # the others are rejected whatever the types
    for index, name in enumerate(names):
        values = [row[index] for row in whole]
        column, used = _column(name, headers[index] if header else None, values)
        columns.append(column)
        nulls |= used
        note = _almost(name, values) if column.type == "string" else None
        if note:
            notes.append(note)
    ragged = len(data_rows) - len(whole)
    if ragged:
        notes.append(f"{ragged} sample row(s) do not have {width} fields: they will be rejected")
    return Draft(
        dataset=dataset or _dataset_name(path),
        sample=str(path),
        rows=len(data_rows),
        encoding=encoding,
        delimiter=delimiter,
        quote=quote,
        header=header,
        columns=tuple(columns),
        null_values=tuple(sorted(nulls)),
        partition_by=_partition_column(columns),
        notes=tuple(notes),
        ragged=ragged,
    )


def _head(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
        return bytes(handle.read(SAMPLE_BYTES))


def _decode(data: bytes) -> tuple[str, str]:
    """(encoding for the spec, text)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8", data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", data.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return encoding, data.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(data) - 3:  # a character cut at the end
                return encoding, data[: exc.start].decode(encoding)
    return "latin-1", data.decode("latin-1")


def _dialect(text: str) -> tuple[str, str]:
    """(delimiter, quote): the sniffer's guess when every line has as many fields, else the
    candidate that splits the first lines into the same number of fields most often."""
    head = "\n".join(text.splitlines()[:200])
    candidates = [",", ";", "\t", "|"]
    try:
        sniffed = csv.Sniffer().sniff(head, delimiters="".join(candidates))
        delimiter, quote = sniffed.delimiter, sniffed.quotechar or '"'
    except csv.Error:
        delimiter, quote = "", '"'

    def steady(sep: str) -> int:
        widths = [len(r) for r in csv.reader(io.StringIO(head), delimiter=sep, quotechar=quote)][:50]
        return sum(1 for w in widths if w == widths[0] and w > 1) if widths else 0

    best = max(candidates, key=steady)
    if delimiter not in candidates or steady(delimiter) < steady(best):
        delimiter = best
    return delimiter, quote if quote in ('"', "'") else '"'


def _rows(text: str, delimiter: str, quote: str) -> Iterable[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote, doublequote=True)
    count = 0
    for row in reader:
        if not row or all(not v.strip() for v in row):
            continue  # blank lines: skipped by the reader too
        yield row
        count += 1
        if count > SAMPLE_ROWS:
            return


def _has_header(rows: list[list[str]]) -> bool:
    """The first row is a header when none of its values is a number or a date, and either a
    column below it holds numbers or dates, or none of its values appears again in its column."""
    first, below = rows[0], rows[1:200]
    if any(_kind(v) not in ("string", "boolean") for v in first if v.strip()):
        return False
    if not below:
        return True
    for index in range(len(first)):
        kinds = [_kind(row[index]) for row in below if index < len(row) and row[index].strip()]
        if kinds and sum(k in ("number", "date") for k in kinds) > len(kinds) / 2:
            return True
    return all(first[i] not in {row[i] for row in below if i < len(row)} for i in range(len(first)))


def _kind(value: str) -> str:
    text = value.strip()
    if _INT.fullmatch(text) or _DOUBLE.fullmatch(text):
        return "number"
    if any(_matches(text, f) for f in DATE_FORMATS + TIMESTAMP_FORMATS):
        return "date"
    if text.lower() in TRUE_VALUES + FALSE_VALUES:
        return "boolean"
    return "string"


def _names(headers: list[str]) -> list[str]:
    """snake_case names, unique, not reserved."""
    found: list[str] = []
    for header in headers:
        name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", header.strip())
        name = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "column"
        if not re.match(NAME_PATTERN, name):
            name = f"c_{name}"
        if name in RESERVED_NAMES:
            name = f"{name}_value"
        unique, n = name, 2
        while unique in found:
            unique, n = f"{name}_{n}", n + 1
        found.append(unique)
    return found


def _column(name: str, header: str | None, values: list[str]) -> tuple[DraftColumn, set[str]]:
    """The column's type, formats and required flag; the null tokens its type needed."""
    present = [v.strip() for v in values if v.strip()]
    kind, formats = _type_of(present)
    used: set[str] = set()
    if kind == "string":
        tokens = {v for v in present if v in NULL_TOKENS}
        rest = [v for v in present if v not in tokens]
        if tokens and rest:
            kind, formats = _type_of(rest)
            if kind != "string":
                used, present = tokens, rest
    required = bool(values) and len(present) == len(values)
    return DraftColumn(name, header, kind, tuple(formats), required), used


def _almost(name: str, values: list[str]) -> str | None:
    """A note when most of a string column's values (90%, 10 at least) have one kind: the
    others are what kept it a string, and setting the type would reject them."""
    present = [v.strip() for v in values if v.strip() and v.strip() not in NULL_TOKENS]
    if len(present) < 10:
        return None
    families: dict[str, list[str]] = {}
    for value in present:
        kind = _type_of([value])[0]
        family = "number" if kind.startswith(("int", "bigint", "decimal", "double")) else kind
        families.setdefault(family, []).append(value)
    family, members = max(families.items(), key=lambda item: len(item[1]))
    if family == "string" or len(members) < 0.9 * len(present):
        return None
    odd = sorted({v for v in present if v not in set(members)})[:3]
    others = len(present) - len(members)
    return (
        f"{name}: all but {others} of its {len(present)} values are {family}s; kept a string for "
        f"{', '.join(map(repr, odd))} (type it to reject such values)"
    )


def _type_of(values: list[str]) -> tuple[str, list[str]]:
    if not values:
        return "string", []
    codes = any(_LEADING_ZERO.fullmatch(v) for v in values)  # 007: a code, not a number
    if not codes and all(_INT.fullmatch(v) for v in values):
        biggest = max(abs(int(v)) for v in values)
        if biggest < 2**31 - 1:
            return "int", []
        return ("bigint" if biggest < 2**63 - 1 else "string"), []
    lowered = {v.lower() for v in values}
    if lowered <= set(TRUE_VALUES + FALSE_VALUES) and lowered - {"0", "1"}:
        return "boolean", []
    if not codes and all(_DECIMAL.fullmatch(v) for v in values):
        scale = max((len(v.split(".")[1]) if "." in v else 0) for v in values)
        digits = max(len(v.lstrip("-").split(".")[0]) for v in values)
        if scale <= 9 and digits + scale <= 18:
            return f"decimal({min(38, digits + scale + DECIMAL_HEADROOM)},{scale})", []
        return "double", []
    if not codes and all(_DOUBLE.fullmatch(v) for v in values):
        return "double", []
    for kind, formats in (("date", DATE_FORMATS), ("timestamp", TIMESTAMP_FORMATS)):
        cover = _cover(values, formats)
        if cover:
            return kind, cover
    return "string", []


def _cover(values: list[str], formats: tuple[tuple[str, str, str], ...]) -> list[str]:
    """Up to three formats that together match every value, the widest first ([] if none)."""
    matching = {spark: {v for v in set(values) if _matches(v, (spark, py, shape))} for spark, py, shape in formats}
    left, chosen = set(values), list[str]()
    while left and len(chosen) < 3:
        best = max(matching, key=lambda f: len(matching[f] & left))
        if not matching[best] & left:
            return []
        chosen.append(best)
        left -= matching[best]
    return chosen if not left else []


def _matches(value: str, fmt: tuple[str, str, str]) -> bool:
    _, python, shape = fmt
    if not re.fullmatch(shape, value):
        return False
    try:
        datetime.strptime(value.replace("Z", "+00:00"), python)
    except ValueError:
        return False
    return True


def _partition_column(columns: list[DraftColumn]) -> str | None:
    # A row without a partition value is rejected: only columns the sample always fills.
    temporal = [c for c in columns if c.type in ("date", "timestamp") and c.required]
    if not temporal:
        return None
    named = [c for c in temporal if any(word in c.name for word in _TIME_WORDS)]
    stamps = [c for c in temporal if c.type == "timestamp"]  # an event's time, more often than a date is
    return (named or stamps or temporal)[0].name


def _dataset_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".csv", ".txt", ".tsv"):
        stem = stem.removesuffix(suffix).removesuffix(suffix.upper())
    stem = re.sub(r"[_-]?\d{4}([_-]?\d{2}){0,2}$", "", stem)  # a date in the name: one delivery's
    return _names([stem])[0]
