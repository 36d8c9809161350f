"""The schemas a spec implies, and the Spark-side checks of its expressions.

Derived columns may be untyped; their type is what Spark's analyser infers over
an empty DataFrame of the typed columns, so no data is read. The same analysis
catches unparseable expressions and unknown column references before a run.
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from etl_lib.errors import SpecError
from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec

METADATA_FIELDS = [
    T.StructField("_rescued_data", T.StringType()),
    T.StructField("_source_file", T.StringType()),
    T.StructField("_source_row", T.LongType()),
    T.StructField("_ingested_at", T.TimestampType()),
    T.StructField("_run_id", T.StringType()),
    T.StructField("_delivered_at", T.TimestampType()),
]
PARTITION_FIELDS = [T.StructField("year", T.StringType()), T.StructField("month", T.StringType())]


def typed_schema(spec: DatasetSpec) -> T.StructType:
    """The spec columns with their declared types."""
    return T.StructType([T.StructField(c.name, c.column_type.spark) for c in spec.columns])


def derived_fields(spark: SparkSession, spec: DatasetSpec, path: str = "<spec>") -> list[T.StructField]:
    """The derived columns with their (declared or inferred) types; ``SpecError`` on a bad expression.

    Worked out once per session and spec (it is Spark analysis): every file of a run asks again."""
    return list(_derived_fields(spark, SpecKey(spec), path))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _derived_fields(spark: SparkSession, key: SpecKey, path: str) -> tuple[T.StructField, ...]:
    from etl_lib.transform.derive import with_derived_columns

    spec = key.spec
    if not spec.derived:
        return ()
    frame = spark.createDataFrame([], typed_schema(spec))
    for index, derived in enumerate(spec.derived):
        partial = spec.model_copy(update={"derived": [derived]})
        try:
            frame = frame.transform(with_derived_columns(partial))
        except (AnalysisException, PySparkException) as exc:
            first = str(exc).strip().splitlines()[0]
            raise SpecError(path, f"derived[{index}] ({derived.name}).expr: {first}", spec.dataset) from None
    return tuple(frame.schema[d.name] for d in spec.derived)


def processed_schema(spark: SparkSession, spec: DatasetSpec) -> T.StructType:
    """Columns of processed rows, partition columns last."""
    return T.StructType(
        list(typed_schema(spec).fields) + derived_fields(spark, spec) + METADATA_FIELDS + PARTITION_FIELDS
    )


def analytics_schema(spark: SparkSession, spec: DatasetSpec) -> T.StructType:
    """Columns of analytics-ready rows: as processed, with pii columns as sha256 hex strings."""
    pii = set(spec.pii_columns)
    return T.StructType(
        [T.StructField(f.name, T.StringType()) if f.name in pii else f for f in processed_schema(spark, spec).fields]
    )


def check_spec(spark: SparkSession, spec: DatasetSpec, path: str = "<spec>") -> None:
    """Spark-side checks: derived expressions parse and resolve, derived keys and
    partition columns have the right type."""
    fields = {f.name: f for f in derived_fields(spark, spec, path)}
    if spec.partition_by in fields:
        dtype = fields[spec.partition_by].dataType
        if not isinstance(dtype, T.DateType | T.TimestampType):
            raise SpecError(
                path,
                f"partition_by: derived column {spec.partition_by!r} is {dtype.simpleString()}, "
                "it must be a date or timestamp",
                spec.dataset,
            )
