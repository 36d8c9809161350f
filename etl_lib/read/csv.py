"""Read one delivered CSV file with Spark, every value as a string.

The schema is positional (``_c0.._cN``, from the header read on the driver) plus
``_corrupt_record``, so Spark flags records with the wrong number of fields
instead of silently padding or truncating them.

Two ways to read, the same rows either way:

- ``multiLine`` (the default, ``source.quoted_line_breaks: true``) keeps RFC 4180
  quoted newlines intact, and reads the file as one partition, by one core.
  ``_source_row`` (the record's 1-based position in the file) is the row's
  position in that partition.
- Splits (``quoted_line_breaks: false``, an uncompressed file Spark would cut in
  several partitions): every core reads a part. ``_source_row`` is still exact:
  a first, cheap pass over the file's lines (no CSV parsing) counts the records
  of each split, and a record's number is its position in its split plus the
  records of the splits before it. The same pass finds a line whose quotes do
  not balance (a value that continues on the next line, which a split read
  cannot join) and fails the file with its line number. Both reads plan the
  same splits: the same file, the same settings.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import lru_cache

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import SourceFileError
from etl_lib.read.header import ColumnMapping
from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec

CORRUPT = "_corrupt_record"
RAW = "_raw"
# Encodings whose line breaks and quotes are the ASCII bytes: a split can start at any line.
_SPLITTABLE_ENCODINGS = {"utf-8", "ascii"}
_ROW_BITS = 33  # monotonically_increasing_id: the partition index above bit 33, the row below


@dataclass(frozen=True)
class Splits:
    """Records per split of a file read in parallel: where each split's numbering starts."""

    offsets: tuple[int, ...]
    """Records (header excluded) in the splits before each split."""
    records: int
    """Records in the file, header excluded: what the CSV read must return."""


def plan_splits(spark: SparkSession, path: str, key: str, spec: DatasetSpec) -> Splits | None:
    """For a file this spec allows to read in splits, and that Spark would cut in several:
    the records of each split (one pass over the lines, no parsing). None: read it whole.

    Raises ``SourceFileError`` naming the first line whose quotes do not balance."""
    source = spec.source
    if source.quoted_line_breaks or key.lower().endswith(".gz") or not ascii_compatible(source.encoding):
        return None
    lines = spark.read.text(path)
    count = lines.rdd.getNumPartitions()
    if count <= 1:
        return None
    value = F.col("value")
    # Spark's CSV reader skips lines that are blank (all characters <= U+0020) or start with
    # U+0000 (its default comment character); they are not records.
    is_record = value.rlike("[^\\x00-\\x20]") & ~value.startswith("\u0000")
    quotes = F.length(value) - F.length(F.replace(value, F.lit(source.quote), F.lit("")))
    index = F.monotonically_increasing_id() - F.shiftleft(F.spark_partition_id().cast("long"), _ROW_BITS)
    stats = (
        lines.select(
            F.spark_partition_id().alias("split"),
            index.alias("line"),
            is_record.alias("record"),
            quotes.alias("quotes"),
        )
        .groupBy("split")
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.sum(F.col("record").cast("long")).alias("records"),
            F.min(F.when(F.col("quotes") % 2 == 1, F.col("line"))).alias("unbalanced"),
        )
        .collect()  # one row per split
    )
    by_split = {row["split"]: row for row in stats}
    offsets, records, lines_before = [], 0, 0
    for split in range(count):
        row = by_split.get(split)
        if row is not None and row["unbalanced"] is not None:
            raise SourceFileError(
                key,
                f"line {lines_before + row['unbalanced'] + 1} has an unbalanced quote (a value that continues on "
                "the next line?); the spec reads files in parallel splits (source.quoted_line_breaks: false): "
                "set it to true to read this file",
            )
        header = 1 if source.header and split == 0 and row is not None and row["records"] else 0
        offsets.append(records)
        records += (row["records"] - header) if row is not None else 0
        lines_before += row["lines"] if row is not None else 0
    return Splits(tuple(offsets), records)


def ascii_compatible(encoding: str) -> bool:
    """True when the encoding writes line breaks and quotes as single ASCII bytes."""
    name = codecs.lookup(encoding).name
    return name in _SPLITTABLE_ENCODINGS or name.startswith(("iso8859-", "cp125", "latin"))


def read_csv_strings(
    spark: SparkSession, path: str, spec: DatasetSpec, mapping: ColumnMapping, splits: Splits | None = None
) -> DataFrame:
    """One row per CSV record: spec columns as raw strings, ``_rescued_data``,
    ``_raw`` (the record's values by header), ``_corrupt_record`` and ``_source_row``.

    ``splits`` (from ``plan_splits``): read the file in parallel splits, numbered by it."""
    source = spec.source
    schema = T.StructType(
        [T.StructField(f"_c{i}", T.StringType()) for i in range(mapping.width)]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    frame = (
        spark.read.schema(schema)
        .option("header", source.header)
        .option("sep", source.delimiter)
        .option("quote", source.quote)
        .option("escape", source.quote)
        .option("encoding", java_charset(source.encoding))
        .option("multiLine", splits is None)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .option("enforceSchema", True)
        .csv(path)
    )
    return frame.select(*_projection(SpecKey(spec), mapping), _row_number(splits).alias("_source_row"))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _projection(key: SpecKey, mapping: ColumnMapping) -> tuple[Column, ...]:
    """The columns ``read_csv_strings`` selects: the same for every file with the same header,
    so built once (each ``Column`` is a round trip to the JVM)."""
    spec = key.spec
    nulls = set(spec.source.null_values)
    columns: list[Column] = []
    for column in spec.columns:
        index = mapping.positions[column.name]
        value = F.col(f"_c{index}") if index is not None else F.lit(None).cast("string")
        if nulls:
            value = F.when(value.isin(*nulls), F.lit(None)).otherwise(value)
        columns.append(value.alias(column.name))
    return (
        *columns,
        _rescued(mapping, spec).alias("_rescued_data"),
        F.struct(*[F.col(f"_c{i}").alias(h or f"_c{i}") for i, h in enumerate(_unique(mapping.headers))]).alias(RAW),
        F.col(CORRUPT),
    )


def _row_number(splits: Splits | None) -> Column:
    """The record's 1-based position in the file."""
    if splits is None:  # one partition
        return _position_in_partition()
    row = F.monotonically_increasing_id()
    split = F.spark_partition_id()
    first = F.element_at(F.array(*[F.lit(o) for o in splits.offsets]), split + 1)
    return first + (row - F.shiftleft(split.cast("long"), _ROW_BITS)) + 1


@lru_cache(maxsize=1)
def _position_in_partition() -> Column:
    return F.monotonically_increasing_id() + 1


def java_charset(encoding: str) -> str:
    """The JVM's name for a Python codec name (``latin-1`` -> ``ISO-8859-1``)."""
    name = codecs.lookup(encoding).name  # canonical: utf-8, iso8859-1, cp1252, utf-16-le...
    if name.startswith("iso8859-"):
        return "ISO-8859-" + name.split("-", 1)[1]
    if name.startswith("cp125"):
        return "windows-" + name[2:]
    return {"utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "mac-roman": "x-MacRoman"}.get(name, name.upper())


def _rescued(mapping: ColumnMapping, spec: DatasetSpec) -> Column:
    """A JSON object of extra header -> value; null when the file has no extras or they are all empty."""
    if not mapping.extras or spec.source.extra_columns != "rescue":
        return F.lit(None).cast("string")
    pairs: list[Column] = []
    for name, index in mapping.extras.items():
        pairs += [F.lit(name), F.col(f"_c{index}")]
    any_value = F.coalesce(*[F.col(f"_c{i}") for i in mapping.extras.values()]).isNotNull()
    return F.when(any_value, F.to_json(F.create_map(*pairs)))


def _unique(headers: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for header in headers:
        name = header
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[header]}"
        else:
            seen[name] = 1
        out.append(name)
    return out
