"""Derived columns: Spark SQL expressions over the typed columns."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.spec.model import DatasetSpec


def with_derived_columns(spec: DatasetSpec) -> Callable[[DataFrame], DataFrame]:
    """Add each ``derived`` column, in order (later ones may use earlier ones),
    cast to its declared type when it has one."""
    values = derived_values(spec)

    def transform(df: DataFrame) -> DataFrame:
        for name, value in values:
            df = df.withColumn(name, value)
        return df

    return transform


def derived_values(spec: DatasetSpec) -> list[tuple[str, Column]]:
    """Each ``derived`` column's name and value, in spec order."""
    values: list[tuple[str, Column]] = []
    for derived in spec.derived:
        value = F.expr(derived.expr)
        if derived.type is not None:
            value = value.cast(derived.type)  # spec type names are Spark SQL type names
        values.append((derived.name, value))
    return values
