"""Read a CSV file's header on the driver and map it onto the spec's columns.

Only the first record is read (a few bytes), so this is metadata work, not a
collect of the data. Decoding honours the spec's encoding and drops a UTF-8 BOM.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass

from etl_lib.errors import SourceFileError
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage

_HEADER_LIMIT = 1 << 20


def normalize_header(name: str) -> str:
    """Header text as snake_case, to match ``Transaction ID`` with ``transaction_id``."""
    name = name.replace("\ufeff", "").strip().lower()
    return re.sub(r"[^0-9a-z]+", "_", name).strip("_")


def read_header(storage: Storage, key: str, spec: DatasetSpec) -> list[str]:
    """The header fields of ``key`` (for ``header: false`` files, the first record's width
    as ``_c0.._cN``). Raises ``SourceFileError`` for empty, undecodable or corrupt files."""
    source = spec.source
    if key.lower().endswith(".gz") and not key.endswith(".gz"):
        # Spark (Hadoop) picks the gzip codec by the exact, lower-case suffix.
        raise SourceFileError(key, "gzip files must end in lower-case .gz (Spark would read the bytes as text)")
    try:
        with storage.open(key) as raw:
            stream = gzip.GzipFile(fileobj=raw) if key.endswith(".gz") else raw
            head = stream.read(_HEADER_LIMIT)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceFileError(key, f"cannot read file: {_short(exc)}") from None
    encoding = "utf-8-sig" if codecs.lookup(source.encoding).name == "utf-8" else source.encoding
    try:
        # Incremental: a character cut at the end of the first megabyte is not an error.
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < _HEADER_LIMIT)
    except UnicodeDecodeError as exc:
        where = " of the decompressed text" if key.endswith(".gz") else ""
        raise SourceFileError(
            key, f"not valid {source.encoding} at byte {exc.start}{where}: check source.encoding in the spec"
        ) from None
    if encoding != "utf-8-sig":
        text = text.lstrip("\ufeff")
    if not text.strip():
        raise SourceFileError(key, "file is empty: no header line")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter, quotechar=source.quote)
    try:
        first = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise SourceFileError(key, f"cannot parse the header: {exc}") from None
    if not source.header:
        return [f"_c{i}" for i in range(len(first))]
    header = [h.strip() for h in first]
    if not any(header):
        raise SourceFileError(key, "the header line is blank")
    return header


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class ColumnMapping:
    """Where each spec column is in a file, and which headers are extra."""

    positions: dict[str, int | None]
    """Spec column name -> field index in the file (None: column absent)."""
    extras: dict[str, int]
    """Unique extra header name -> field index (for ``_rescued_data``)."""
    width: int
    headers: tuple[str, ...]

    def __hash__(self) -> int:
        # By content (the dicts do not hash), so what is built per mapping can be cached.
        return hash((self.width, self.headers, tuple(self.positions.items()), tuple(self.extras.items())))


def map_columns(key: str, headers: list[str], spec: DatasetSpec) -> ColumnMapping:
    """Match the file's headers with the spec's columns by name.

    A header matches a column when it equals one of the column's ``source``
    names (or its ``name``), compared as normalised snake_case. Missing required
    columns, ambiguous headers, or (with ``extra_columns: reject_file``) unknown
    headers fail the file.
    """
    if not spec.source.header:
        positions: dict[str, int | None] = {
            c.name: (i if i < len(headers) else None) for i, c in enumerate(spec.columns)
        }
        by_position = {f"_c{i}": i for i in range(len(spec.columns), len(headers))}
        return _checked(key, ColumnMapping(positions, by_position, len(headers), tuple(headers)), spec)

    by_norm: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        by_norm.setdefault(normalize_header(header), []).append(index)

    positions = {}
    used: set[int] = set()
    for column in spec.columns:
        found: int | None = None
        for wanted in column.sources:
            hits = by_norm.get(normalize_header(wanted), [])
            if len(hits) > 1:
                names = ", ".join(repr(headers[i]) for i in hits)
                raise SourceFileError(key, f"column '{column.name}' is ambiguous: headers {names} all match it")
            if hits:
                found = hits[0]
                break
        positions[column.name] = found
        if found is not None:
            used.add(found)

    extras: dict[str, int] = {}
    for index, header in enumerate(headers):
        if index in used:
            continue
        name = header or f"_c{index}"
        unique, n = name, 2
        while unique in extras:
            unique, n = f"{name}_{n}", n + 1
        extras[unique] = index
    return _checked(key, ColumnMapping(positions, extras, len(headers), tuple(headers)), spec)


def _checked(key: str, mapping: ColumnMapping, spec: DatasetSpec) -> ColumnMapping:
    missing = [c for c in spec.columns if c.required and mapping.positions[c.name] is None]
    if missing:
        wanted = "; ".join(f"'{c.name}' (header {' or '.join(repr(s) for s in c.sources)})" for c in missing)
        raise SourceFileError(key, f"missing required column(s) {wanted}; the file has: {', '.join(mapping.headers)}")
    if mapping.extras and spec.source.extra_columns == "reject_file":
        raise SourceFileError(
            key,
            f"unexpected column(s) {', '.join(mapping.extras)} and source.extra_columns is reject_file",
        )
    return mapping
