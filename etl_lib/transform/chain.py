"""The spec's row transforms as one chain, built once per spec, in as few plan steps as they allow.

Every file of a dataset goes through the same steps with the same ``Column``
expressions: they depend on the spec alone (the file's own values, such as its
key in the metadata columns, are added per file). Building them takes a round
trip to the JVM per function call, so they are built on a spec's first file and
reused for the rest.

Each ``withColumns`` is a plan step Spark analyses again for every file, so
steps that do not read each other's columns share one: ``_reasons`` and the
first derived column (derived expressions read only the typed columns and the
derived columns before them: ``check_spec`` analyses them over just those), and
the metadata and partition columns. The result is the same as
``with_cleaned_values``, ``with_typed_columns``, ``with_reasons``,
``with_derived_columns``, ``with_derived_reasons``, ``with_metadata`` and
``with_partition_columns`` applied in that order, but for the two lineage
timestamps, which are the text the JSON lines hold for them (``with_file_columns``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from pyspark.sql import Column, DataFrame

from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec
from etl_lib.transform.derive import derived_values
from etl_lib.transform.metadata import metadata_as_text
from etl_lib.transform.partition import partition_columns, partition_of
from etl_lib.transform.types import with_cleaned_values, with_typed_columns
from etl_lib.transform.validate import REASONS, row_reasons, with_derived_reasons

Transform = Callable[[DataFrame], DataFrame]


def with_checked_values(spec: DatasetSpec) -> Transform:
    """Raw strings -> ``_cleaned``, typed columns, ``_reasons``, derived columns (and their reasons)."""
    return _checked_values(SpecKey(spec))


def with_file_columns(
    spec: DatasetSpec, source_file: str, ingested_at: datetime, run_id: str, delivered_at: float | None = None
) -> Transform:
    """The metadata columns of one file (see ``with_metadata``), then the partition columns,
    in one plan step. The two lineage timestamps are the text the JSON lines hold for them
    (``metadata_as_text``): Spark then compiles a spec's code once, not once per file.
    Without ``partition_by``, ``year`` and ``month`` are those of ``ingested_at``."""
    metadata = metadata_as_text(source_file, ingested_at, run_id, delivered_at)
    # With partition_by, a spec or derived column: independent of the metadata.
    partition = partition_of(ingested_at) if spec.partition_by is None else _partition_columns(SpecKey(spec))
    return lambda df: df.withColumns({**metadata, **partition})


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _checked_values(key: SpecKey) -> Transform:
    spec = key.spec
    derived = derived_values(spec)
    steps: list[Transform] = [with_cleaned_values(spec), with_typed_columns(spec)]
    steps.append(_adding({REASONS: row_reasons(spec), **dict(derived[:1])}))
    steps += [_adding({name: value}) for name, value in derived[1:]]  # each may read the one before
    steps.append(with_derived_reasons(spec))

    def transform(df: DataFrame) -> DataFrame:
        for step in steps:
            df = df.transform(step)
        return df

    return transform


def _adding(columns: dict[str, Column]) -> Transform:
    return lambda df: df.withColumns(columns)


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _partition_columns(key: SpecKey) -> dict[str, Column]:
    return partition_columns(key.spec)
