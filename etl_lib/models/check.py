"""Check models before anything runs: names, references, cycles, and each query analysed by
Spark against its inputs' schemas (empty tables of the right columns: no data is read).

The analysis runs in a session of its own (``SparkSession.newSession``): its temporary views
never replace the caller's. Only a query is accepted: a statement Spark would execute when it
is parsed (``DROP``, ``INSERT``, ``SET``...) is refused before it is analysed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl_lib.models.graph import build_order, graph_problems
from etl_lib.models.spec import ModelSpec
from etl_lib.sinks.base import sink_problems
from etl_lib.spec.model import NAME_PATTERN, DatasetSpec, _nearest
from etl_lib.spec.schema import analytics_schema
from etl_lib.transform.partition import PARTITION_COLUMNS

_TEMPORAL = (T.DateType, T.TimestampType, T.TimestampNTZType)


def input_schemas(spark: SparkSession, specs: Sequence[DatasetSpec]) -> dict[str, T.StructType]:
    """The analytics-ready schema of each dataset, by name (``year`` and ``month`` included)."""
    return {spec.dataset: analytics_schema(spark, spec) for spec in specs}


def model_problems(
    spark: SparkSession, models: Sequence[ModelSpec], specs: Sequence[DatasetSpec]
) -> dict[str, list[str]]:
    """Every problem of each model, by model name (``""``: the graph's); empty lists when fine."""
    return analyse_all(spark, models, specs)[0]


def analyse_all(
    spark: SparkSession, models: Sequence[ModelSpec], specs: Sequence[DatasetSpec]
) -> tuple[dict[str, list[str]], dict[str, T.StructType]]:
    """Every problem of each model, by model name (``""``: the graph's), and the schema of
    each model's table that could be analysed."""
    found: dict[str, list[str]] = {m.model: [] for m in models}
    graph = graph_problems(models, [s.dataset for s in specs])
    if graph:
        found[""] = graph
        return found, {}
    schemas: dict[str, T.StructType] = dict(input_schemas(spark, specs))
    partitioned = {s.dataset for s in specs if s.partition_by} | {m.model for m in models if m.partition_by}
    session = spark.newSession()
    built: dict[str, T.StructType] = {}
    for model in build_order(models):
        problems, schema = analyse(session, model, schemas, partitioned)
        found[model.model] = problems
        if schema is not None:
            schemas[model.model] = built[model.model] = schema
    return found, built


def analyse(
    session: SparkSession, model: ModelSpec, schemas: Mapping[str, T.StructType], partitioned: set[str]
) -> tuple[list[str], T.StructType | None]:
    """The problems of one model's query over empty inputs, and its table's schema (None when
    the query cannot be analysed)."""
    problems = [
        f"partitions_from: {name!r} is not partitioned by a column of its own (no partition_by)"
        for name in model.partitions_from
        if name not in partitioned
    ]
    missing = [r for r in model.reads if r not in schemas]
    if missing:  # an input that could not be analysed: its own problem is reported
        return [*problems, f"reads {missing}, which could not be analysed"], None
    for name in model.reads:
        session.createDataFrame([], schemas[name]).createOrReplaceTempView(name)
    try:
        refuse_statements(session, model.sql)
        result = session.sql(model.sql).schema
    except ValueError as exc:
        return [*problems, f"sql: {exc}"], None
    except Exception as exc:  # Spark's parse and analysis errors
        return [*problems, f"sql: {spark_message(exc)}"], None
    finally:
        for name in model.reads:
            session.catalog.dropTempView(name)
    problems += _result_problems(model, result)
    table = table_schema(model, result)
    partition_columns = PARTITION_COLUMNS if model.partition_by else ()
    for sink in model.sinks:
        problems += sink_problems(sink, [f.name for f in table.fields], model.keys, partition_columns)
    return problems, table


def refuse_statements(session: SparkSession, sql: str) -> None:
    """Raise ``ValueError`` unless ``sql`` parses as a query (not a command Spark runs on parsing)."""
    jvm = session.sparkContext._jvm
    assert jvm is not None
    plan = session._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    kind = str(plan.getClass().getSimpleName())
    if command.isInstance(plan) or kind.startswith(("Insert", "Create", "Drop", "Alter", "Set", "Use", "Cache")):
        raise ValueError(f"one SELECT query is expected, not a {kind} statement")


def spark_message(exc: Exception) -> str:
    """The first line of a Spark error, without its plan."""
    text = getattr(exc, "desc", None) or str(exc)
    return str(text).strip().splitlines()[0][:400]


def _result_problems(model: ModelSpec, result: T.StructType) -> list[str]:
    import re

    names = [f.name for f in result.fields]
    problems = []
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"sql: the result has the column(s) {duplicates} twice; alias them apart")
    unnamed = [n for n in names if not re.match(NAME_PATTERN, n)]
    if unnamed:
        problems.append(f"sql: result column(s) {unnamed} need a name like [a-z][a-z0-9_]*: add AS name")
    if model.partition_by and set(PARTITION_COLUMNS) & set(names):
        problems.append("sql: a partitioned model's result must not have year or month: they come from partition_by")
    known = ", ".join(names)
    for key in model.keys:
        if key not in names:
            problems.append(f"keys: {key!r} is not a result column{_nearest(key, names)}; result: {known}")
    if model.partition_by:
        field = next((f for f in result.fields if f.name == model.partition_by), None)
        if field is None:
            problems.append(
                f"partition_by: {model.partition_by!r} is not a result column{_nearest(model.partition_by, names)}"
            )
        elif not isinstance(field.dataType, _TEMPORAL):
            problems.append(
                f"partition_by: {model.partition_by!r} is {field.dataType.simpleString()}; "
                "a date or timestamp is needed"
            )
    for column in model.columns:
        if column.name not in names:
            problems.append(f"columns: {column.name!r} is not a result column{_nearest(column.name, names)}")
    return problems


def table_schema(model: ModelSpec, result: T.StructType) -> T.StructType:
    """The model's table as written: the result, plus ``year`` and ``month`` when partitioned."""
    if not model.partition_by:
        return result
    return T.StructType([*result.fields, *(T.StructField(c, T.StringType()) for c in PARTITION_COLUMNS)])
