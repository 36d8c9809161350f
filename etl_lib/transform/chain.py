"""The spec's row transforms as one chain, built once per spec.

Every file of a dataset goes through the same steps with the same ``Column``
expressions: they depend on the spec alone (the file's own values, such as its
key in ``with_metadata``, are added per file). Building them takes a round trip
to the JVM per function call, so they are built on a spec's first file and
reused for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from pyspark.sql import DataFrame

from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec
from etl_lib.transform.derive import with_derived_columns
from etl_lib.transform.partition import with_partition_columns
from etl_lib.transform.types import with_cleaned_values, with_typed_columns
from etl_lib.transform.validate import with_derived_reasons, with_reasons

Transform = Callable[[DataFrame], DataFrame]


def with_checked_values(spec: DatasetSpec) -> Transform:
    """Raw strings -> ``_cleaned``, typed columns, ``_reasons``, derived columns (and their reasons)."""
    return _checked_values(SpecKey(spec))


def with_spec_partition_columns(spec: DatasetSpec) -> Transform:
    """``with_partition_columns`` of the spec, built once per spec."""
    return _partition_columns(SpecKey(spec))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _checked_values(key: SpecKey) -> Transform:
    steps = [
        with_cleaned_values(key.spec),
        with_typed_columns(key.spec),
        with_reasons(key.spec),
        with_derived_columns(key.spec),
        with_derived_reasons(key.spec),
    ]

    def transform(df: DataFrame) -> DataFrame:
        for step in steps:
            df = df.transform(step)
        return df

    return transform


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _partition_columns(key: SpecKey) -> Transform:
    return with_partition_columns(key.spec)
