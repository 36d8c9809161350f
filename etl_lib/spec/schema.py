"""The schemas a spec implies, and the Spark-side checks of its expressions.

Derived columns may be untyped; their type is what Spark's analyser infers over
an empty DataFrame of the typed columns, so no data is read. The same analysis
catches unparseable expressions and unknown column references before a run.
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
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

    spec = key.spec
    if not spec.derived:
        return ()
    frame, problems = _analysed(spark, spec)
    if problems:
        raise SpecError(path, problems[0], spec.dataset, tuple(problems))
    return tuple(frame.schema[d.name] for d in spec.derived)


def _analysed(spark: SparkSession, spec: DatasetSpec) -> tuple[DataFrame, list[str]]:
    """An empty DataFrame of the typed columns with each derived column that Spark's
    analyser accepts, and a problem per one it refuses (``derived[i] (name).expr: ...``)."""
    from etl_lib.transform.derive import with_derived_columns

    frame = spark.createDataFrame([], typed_schema(spec))
    problems: list[str] = []
    for index, derived in enumerate(spec.derived):
        partial = spec.model_copy(update={"derived": [derived]})
        try:
            frame = frame.transform(with_derived_columns(partial))
        except (AnalysisException, PySparkException) as exc:
            first = str(exc).strip().splitlines()[0]
            problems.append(f"derived[{index}] ({derived.name}).expr: {first}")
    return frame, problems


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


def needs_spark(spec: DatasetSpec) -> bool:
    """Whether checking ``spec`` needs Spark: derived expressions (Spark's analyser) or
    regular expressions (Java's engine runs them, so Java's must accept them)."""
    return bool(spec.derived) or bool(regexes(spec))


def regexes(spec: DatasetSpec) -> list[tuple[str, str]]:
    """(where, regex) of every regular expression a run hands to Spark."""
    found = [(f"columns[{n}] ({c.name}).pattern", c.pattern) for n, c in enumerate(spec.columns) if c.pattern]
    for index, check in enumerate(spec.expectations):
        regex = check.kwargs.get("regex")
        if isinstance(regex, str):
            found.append((f"expectations[{index}] {check.type}.regex", regex))
    return found


def spec_problems(spark: SparkSession, spec: DatasetSpec) -> list[str]:
    """Every Spark-side problem, a line each: a regular expression Java's engine refuses, a
    derived expression that does not parse or resolve, a derived partition column that is
    not a date or timestamp."""
    problems = [
        f"{where}: {problem}" for where, regex in regexes(spec) if (problem := java_regex_problem(spark, regex))
    ]
    frame, refused = _analysed(spark, spec)
    problems += refused
    if not problems and spec.partition_by in {d.name for d in spec.derived}:
        dtype = frame.schema[spec.partition_by].dataType
        if not isinstance(dtype, T.DateType | T.TimestampType):
            problems.append(
                f"partition_by: derived column {spec.partition_by!r} is {dtype.simpleString()}, "
                "it must be a date or timestamp"
            )
    return problems


def java_regex_problem(spark: SparkSession, regex: str) -> str | None:
    """Why Java's regular expression engine (the one Spark's ``rlike`` runs) refuses
    ``regex``, or None when it accepts it."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.java.util.regex.Pattern.compile(regex)
    except Exception as exc:  # py4j's error around a PatternSyntaxException
        text = str(exc)
        marker = "PatternSyntaxException: "
        detail = text[text.index(marker) + len(marker) :].splitlines()[0] if marker in text else text.splitlines()[0]
        return f"bad regular expression {regex!r} (Java's syntax, which Spark runs): {detail}"
    return None


def check_spec(spark: SparkSession, spec: DatasetSpec, path: str = "<spec>") -> None:
    """Spark-side checks (``spec_problems``): ``SpecError`` with every problem found."""
    problems = tuple(spec_problems(spark, spec)) if needs_spark(spec) else ()
    if problems:
        raise SpecError(path, problems[0], spec.dataset, problems)
