"""Cleaning and typing: raw strings -> cleaned strings -> the spec's types.

Spark built-ins and SQL only. Every parser returns null when a value does not
parse, so the validator can tell "missing" (blank after cleaning) from
"invalid" (not blank, but null once typed). The cleaned strings are kept in the
``_cleaned`` struct for the validator and dropped before writing.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.spec.model import ColumnSpec, DatasetSpec
from etl_lib.transform.clean import apply_cleaners

CLEANED = "_cleaned"
TRUE_VALUES = ("true", "t", "yes", "y", "1")
FALSE_VALUES = ("false", "f", "no", "n", "0")


def is_blank(col: Column) -> Column:
    """True when a string is null, empty or only whitespace."""
    return col.isNull() | (F.regexp_replace(col, r"[\s\u00a0]", "") == "")


def cleaned(name: str) -> Column:
    """The cleaned string value of a spec column (after ``with_cleaned_values``)."""
    return F.col(f"{CLEANED}.`{name}`")


def with_cleaned_values(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Add ``_cleaned``: a struct of every spec column after its ``clean:`` rules."""
    value = F.struct(*[apply_cleaners(F.col(f"`{c.name}`"), c.clean).alias(c.name) for c in spec.columns])

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(CLEANED, value)

    return transform


def parse_value(column: ColumnSpec) -> Column:
    """The typed value of ``column`` parsed from its cleaned string; null if it does not parse.

    Numbers use ``try_cast`` (ANSI rules: ``1.5`` is not an int, overflow is
    null); a decimal with more non-zero fractional digits than its scale is
    refused rather than silently rounded; booleans accept true/false, t/f,
    yes/no, y/n, 1/0 in any case; dates and timestamps try each format in order
    (strictly: ``2024-1-5`` does not match ``yyyy-MM-dd``).
    """
    ctype = column.column_type
    value = cleaned(column.name)
    if ctype.text == "string":
        return value
    stripped = F.trim(value)
    blank = is_blank(value)
    if ctype.text == "boolean":
        lowered = F.lower(stripped)
        parsed = F.when(lowered.isin(*TRUE_VALUES), F.lit(True)).when(lowered.isin(*FALSE_VALUES), F.lit(False))
    elif ctype.is_temporal:
        tries = [F.try_to_timestamp(stripped, F.lit(fmt)) for fmt in column.formats]
        parsed = tries[0] if len(tries) == 1 else F.coalesce(*tries)
        if ctype.text == "date":
            parsed = parsed.cast("date")
    else:
        parsed = F.expr(f"try_cast(trim({CLEANED}.`{column.name}`) AS {ctype.text})")
        if ctype.text.startswith("decimal"):
            scale = int(ctype.text.split(",")[1].rstrip(")"))
            too_precise = stripped.rlike(rf"\.\d{{{scale}}}\d*[1-9]\d*$")
            parsed = F.when(~too_precise, parsed)
    return F.when(~blank, parsed).cast(ctype.spark)


def with_typed_columns(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Replace every spec column by its typed value (needs ``_cleaned``)."""
    values = {c.name: parse_value(c) for c in spec.columns}

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(values)

    return transform
