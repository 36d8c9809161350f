"""Row rules: every failed rule adds one reason to ``_reasons``.

A row is valid when ``_reasons`` is empty. Reasons name the column and the rule,
never the value (values stay in the rejected row's ``_raw``), so they are safe
to aggregate and to show in alerts.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.read.csv import CORRUPT
from etl_lib.spec.model import ColumnSpec, DatasetSpec
from etl_lib.transform.types import cleaned, is_blank

REASONS = "_reasons"


def column_reasons(column: ColumnSpec, must_exist: bool = False) -> list[Column]:
    """One ``Column`` per rule of ``column``: the reason text when the rule fails, else null."""
    name = column.name
    ctype = column.column_type
    typed = F.col(f"`{name}`")
    blank = is_blank(cleaned(name))
    present = ~blank
    reasons: list[Column] = []
    if column.required or must_exist:
        why = (
            "required value is missing" if column.required else "value is missing (it is a key or the partition column)"
        )
        reasons.append(F.when(blank, F.lit(f"{name}: {why}")))
    if ctype.text != "string":
        hint = f" (formats: {', '.join(column.formats)})" if ctype.is_temporal else ""
        reasons.append(F.when(present & typed.isNull(), F.lit(f"{name}: not a valid {ctype.text}{hint}")))
    if column.allowed is not None:
        allowed = [F.lit(v).cast(ctype.spark) for v in column.allowed]
        shown = ", ".join(str(v) for v in column.allowed)
        reasons.append(F.when(typed.isNotNull() & ~typed.isin(*allowed), F.lit(f"{name}: not one of [{shown}]")))
    if column.min is not None:
        reasons.append(F.when(typed < F.lit(column.min).cast(ctype.spark), F.lit(f"{name}: below min {column.min}")))
    if column.max is not None:
        reasons.append(F.when(typed > F.lit(column.max).cast(ctype.spark), F.lit(f"{name}: above max {column.max}")))
    if column.pattern is not None:
        regex = f"^(?:{column.pattern})$"
        reasons.append(
            F.when(present & ~cleaned(name).rlike(regex), F.lit(f"{name}: does not match pattern {column.pattern}"))
        )
    return reasons


def with_reasons(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Add ``_reasons``: the array of failed rules of each row (empty when valid).

    Columns in ``keys`` and the ``partition_by`` column must be present even when
    not marked ``required``: a row without them has no place in analytics-ready.
    A record with the wrong number of fields is rejected whatever its values.
    """
    reasons = row_reasons(spec)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(REASONS, reasons)

    return transform


def row_reasons(spec: DatasetSpec) -> Column:
    """The ``_reasons`` of a row (see ``with_reasons``), over its typed and cleaned values."""
    must_exist = set(spec.keys) | ({spec.partition_by} if spec.partition_by else set())
    checks = [F.when(F.col(CORRUPT).isNotNull(), F.lit("row: wrong number of fields"))]
    for column in spec.columns:
        checks += column_reasons(column, must_exist=column.name in must_exist)
    return F.array_compact(F.array(*checks))


def with_derived_reasons(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Reject rows whose derived key or partition column came out null."""
    needed = [d.name for d in spec.derived if d.name in set(spec.keys) | {spec.partition_by}]
    if not needed:
        return lambda df: df
    extra = [
        F.when(F.col(n).isNull(), F.lit(f"{n}: derived value is null (it is a key or the partition column)"))
        for n in needed
    ]
    reasons = F.concat(F.col(REASONS), F.array_compact(F.array(*extra)))

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(REASONS, reasons)

    return transform


def is_valid() -> Column:
    """True for rows without reasons."""
    return F.size(F.col(REASONS)) == 0
