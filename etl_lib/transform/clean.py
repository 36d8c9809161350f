"""Built-in cleaning rules: ``Column -> Column`` functions on raw string values.

A spec names them in a column's ``clean:`` list; they run in that order, before
the value is typed. Every rule keeps null as null.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F


def trim(col: Column) -> Column:
    """Remove leading and trailing whitespace (spaces, tabs, non-breaking spaces)."""
    return F.regexp_replace(col, r"^[\s\u00a0]+|[\s\u00a0]+$", "")


def ltrim(col: Column) -> Column:
    """Remove leading whitespace."""
    return F.regexp_replace(col, r"^[\s\u00a0]+", "")


def rtrim(col: Column) -> Column:
    """Remove trailing whitespace."""
    return F.regexp_replace(col, r"[\s\u00a0]+$", "")


def collapse_spaces(col: Column) -> Column:
    """Replace every run of whitespace inside the value by one space."""
    return F.regexp_replace(col, r"[\s\u00a0]+", " ")


def upper(col: Column) -> Column:
    """Upper-case the value."""
    return F.upper(col)


def lower(col: Column) -> Column:
    """Lower-case the value."""
    return F.lower(col)


def title(col: Column) -> Column:
    """Capitalise the first letter of every word (``jane DOE`` -> ``Jane Doe``)."""
    return F.initcap(col)


def null_if_empty(col: Column) -> Column:
    """Turn an empty or all-whitespace value into null."""
    return F.when(F.trim(col) == "", F.lit(None)).otherwise(col)


def digits_only(col: Column) -> Column:
    """Keep only the digits 0-9 (phone numbers, IBAN check digits...)."""
    return F.regexp_replace(col, r"[^0-9]", "")


def remove_thousands_separator(col: Column) -> Column:
    """Drop ``,`` and ``_`` and spaces used as thousands separators in numbers (``1,234.50``)."""
    return F.regexp_replace(col, r"[,_ \u00a0](?=\d{3}(\D|$))", "")


def decimal_comma(col: Column) -> Column:
    """Read ``1.234,50`` (European notation) as ``1234.50``."""
    return F.regexp_replace(F.regexp_replace(col, r"\.", ""), ",", ".")


CLEANERS: dict[str, Callable[[Column], Column]] = {
    "trim": trim,
    "ltrim": ltrim,
    "rtrim": rtrim,
    "collapse_spaces": collapse_spaces,
    "upper": upper,
    "lower": lower,
    "title": title,
    "null_if_empty": null_if_empty,
    "digits_only": digits_only,
    "remove_thousands_separator": remove_thousands_separator,
    "decimal_comma": decimal_comma,
}


def apply_cleaners(col: Column, names: list[str]) -> Column:
    """Apply the named cleaning rules to ``col`` in order."""
    for name in names:
        col = CLEANERS[name](col)
    return col
