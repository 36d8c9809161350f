"""Column types a spec may declare, and their Spark equivalents.

The spec speaks a small type language (``string``, ``int``, ``decimal(18,2)``...);
this module is the one place that turns it into Spark types, so the reader, the
typer, the analytics writer and the Athena DDL agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import types as T

SIMPLE_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}

ALLOWED_TYPES_TEXT = (
    "string, int, bigint, double, boolean, date, timestamp, decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p"
)

_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


@dataclass(frozen=True)
class ColumnType:
    """A parsed spec type: its canonical text and its Spark type."""

    text: str
    spark: T.DataType

    @property
    def is_temporal(self) -> bool:
        """True for ``date`` and ``timestamp``: the types that take ``format``."""
        return self.text in ("date", "timestamp")

    @property
    def is_numeric(self) -> bool:
        """True for the types whose ``min``/``max`` compare as numbers."""
        return self.text in ("int", "bigint", "double") or self.text.startswith("decimal")

    @property
    def athena(self) -> str:
        """The Athena / Hive DDL name of this type."""
        return {"int": "int", "bigint": "bigint", "double": "double", "boolean": "boolean"}.get(self.text, self.text)


def parse_type(text: str) -> ColumnType:
    """Parse a spec type such as ``decimal(18, 2)``; raise ``ValueError`` naming what is allowed."""
    canonical = text.strip().lower()
    if canonical in SIMPLE_TYPES:
        return ColumnType(canonical, SIMPLE_TYPES[canonical])
    match = _DECIMAL.match(canonical)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"bad decimal '{text}': precision must be 1..38 and scale 0..precision")
        return ColumnType(f"decimal({precision},{scale})", T.DecimalType(precision, scale))
    raise ValueError(f"unknown type '{text}'; allowed: {ALLOWED_TYPES_TEXT}")
