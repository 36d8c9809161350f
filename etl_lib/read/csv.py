"""Read one delivered CSV file with Spark, every value as a string.

The schema is positional (``_c0.._cN``, from the header read on the driver) plus
``_corrupt_record``, so Spark flags records with the wrong number of fields
instead of silently padding or truncating them. ``multiLine`` keeps RFC 4180
quoted newlines intact; it also reads each file as one partition, which makes
``_source_row`` (the record's 1-based position in the file) exact.
"""

from __future__ import annotations

import codecs

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.read.header import ColumnMapping
from etl_lib.spec.model import DatasetSpec

CORRUPT = "_corrupt_record"
RAW = "_raw"


def read_csv_strings(spark: SparkSession, path: str, spec: DatasetSpec, mapping: ColumnMapping) -> DataFrame:
    """One row per CSV record: spec columns as raw strings, ``_rescued_data``,
    ``_raw`` (the record's values by header), ``_corrupt_record`` and ``_source_row``."""
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
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .option("enforceSchema", True)
        .csv(path)
    )
    frame = frame.withColumn("_source_row", F.monotonically_increasing_id() + 1)
    nulls = set(source.null_values)
    columns: list[Column] = []
    for column in spec.columns:
        index = mapping.positions[column.name]
        value = F.col(f"_c{index}") if index is not None else F.lit(None).cast("string")
        if nulls:
            value = F.when(value.isin(*nulls), F.lit(None)).otherwise(value)
        columns.append(value.alias(column.name))
    return frame.select(
        *columns,
        _rescued(mapping, spec).alias("_rescued_data"),
        F.struct(*[F.col(f"_c{i}").alias(h or f"_c{i}") for i, h in enumerate(_unique(mapping.headers))]).alias(RAW),
        F.col(CORRUPT),
        F.col("_source_row"),
    )


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
