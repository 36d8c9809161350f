"""Build one model as its plan says: run its query over its inputs, stage the result, check it,
then swap the rebuilt partitions (or the whole table) into ``analytics-ready/{model}/``.

The query runs in a Spark session of its own whose temporary views are the inputs: an input in
``partitions_from`` is read only in the months rebuilt, every other input whole. Nothing is
published unless every check holds over the table as it will be (the staged partitions and the
untouched ones). Before the first file is swapped, what is swapped is recorded
(``models.state.intent_key``); a build that dies mid-swap leaves it, and the next build redoes
those partitions (or the whole table) from the inputs, whatever the ledger says.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Iterable, Mapping

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl_lib.catalog.table import TableDef
from etl_lib.errors import EtlError
from etl_lib.models.checks import check_failures
from etl_lib.models.context import ModelsContext
from etl_lib.models.spec import ModelSpec
from etl_lib.models.state import WHOLE, ModelPlan, intent_key, table_prefix
from etl_lib.read.analytics import read_rows
from etl_lib.spark import observed
from etl_lib.transform.partition import PARTITION_COLUMNS
from etl_lib.write.staging import staged_files

log = logging.getLogger("etl_lib.models")

MAX_RECORDS_PER_FILE = 5_000_000


class ModelError(EtlError):
    """A model's build failed as written (its checks, its partitioning): terminal until fixed."""


def read_table(
    session: SparkSession, ctx: ModelsContext, table: TableDef, partitions: tuple[str, ...] | None = None
) -> DataFrame:
    """A table of analytics-ready (``partitions``: only those months); ``read.analytics.read_rows``."""
    return read_rows(session, ctx.storage, table, partitions)


def result_of(ctx: ModelsContext, model: ModelSpec, plan: ModelPlan, tables: Mapping[str, TableDef]) -> DataFrame:
    """The model's rows as written (with ``year``/``month`` when partitioned), from a session of
    its own whose views are the inputs."""
    session = ctx.spark.newSession()
    for name in model.reads:
        months = plan.partitions if plan.action == "partitions" and name in model.partitions_from else None
        read_table(session, ctx, tables[name], months).createOrReplaceTempView(name)
    rows = session.sql(model.sql)
    if model.partition_by:
        source = F.col(model.partition_by)
        rows = rows.withColumns({"year": F.date_format(source, "yyyy"), "month": F.date_format(source, "MM")})
    return rows


def check_months(model: ModelSpec, plan: ModelPlan, months: Iterable[str]) -> None:
    """A rebuild of some months must give rows of those months only (``partitions_from``'s promise)."""
    stray = sorted(set(months) - set(plan.partitions))
    if stray:
        raise ModelError(
            f"model {model.model}: rebuilding {', '.join(plan.partitions)} gave rows for {', '.join(stray)}: "
            f"its months do not come only from the same months of {', '.join(model.partitions_from)}; "
            "remove partitions_from (every change then rebuilds the whole table)"
        )


def build_model(ctx: ModelsContext, model: ModelSpec, plan: ModelPlan, tables: Mapping[str, TableDef]) -> int:
    """Build ``model`` as ``plan`` says; return the rows written. ``tables``: every input's and
    this model's table definition."""
    table = tables[model.model]
    if table.table_format == "iceberg":
        from etl_lib.models.build_iceberg import build_iceberg_model

        rows = build_iceberg_model(ctx, model, plan, tables, result_of(ctx, model, plan, tables))
        log.info("%s: %d rows", plan.describe(), rows)
        return rows
    stage = ctx.staging_prefix(model.model)
    try:
        rows = _stage(ctx, model, plan, tables, stage)
        staged = staged_files(ctx.storage, stage, ".parquet")
        if plan.action == "partitions":
            check_months(model, plan, staged)
        failures = check_failures(model, _table_after(ctx, table, plan, stage))
        if failures:
            shown = "; ".join(str(f) for f in failures)
            raise ModelError(f"model {model.model}: checks failed, nothing published: {shown}")
        _swap(ctx, table, plan, staged)
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run's sweep removes; the original error matters
            log.warning("could not clean %s: %s", stage, exc)
    log.info("%s: %d rows", plan.describe(), rows)
    return rows


def _stage(ctx: ModelsContext, model: ModelSpec, plan: ModelPlan, tables: Mapping[str, TableDef], stage: str) -> int:
    counted = Observation()
    rows = result_of(ctx, model, plan, tables).observe(counted, F.count(F.lit(1)).alias("rows"))
    frame = rows.repartition(*PARTITION_COLUMNS) if model.partition_by else rows
    writer = frame.write.mode("overwrite").option("compression", "snappy")
    writer = writer.option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
    if model.partition_by:
        writer = writer.partitionBy(*PARTITION_COLUMNS)
    writer.parquet(ctx.storage.uri(stage))
    metrics = observed(ctx.spark, counted)
    if metrics:
        return int(metrics["rows"])
    staged = [k for keys in staged_files(ctx.storage, stage, ".parquet").values() for k in keys]
    return ctx.spark.read.parquet(*[ctx.storage.uri(k) for k in staged]).count() if staged else 0


def _table_after(ctx: ModelsContext, table: TableDef, plan: ModelPlan, stage: str) -> DataFrame:
    """The table as it will be once swapped: the staged rows, plus the partitions not rebuilt."""
    session = ctx.spark.newSession()
    staged = [k for keys in staged_files(ctx.storage, stage, ".parquet").values() for k in keys]
    reader = session.read.schema(table.schema)
    if table.partitioned:
        reader = reader.option("basePath", ctx.storage.uri(stage))
    new = reader.parquet(*[ctx.storage.uri(k) for k in staged]) if staged else session.createDataFrame([], table.schema)
    if plan.action != "partitions":
        return new
    kept = sorted(p for p in _partitions(ctx, table.name) if p not in plan.partitions)
    return new.unionByName(read_table(session, ctx, table, tuple(kept))) if kept else new


def _partitions(ctx: ModelsContext, name: str) -> set[str]:
    root = table_prefix(name)
    found = set()
    for obj in ctx.storage.list(root + "/"):
        folder = posixpath.dirname(obj.key[len(root) + 1 :])
        if folder.startswith("year=") and "/month=" in folder:
            found.add(folder)
    return found


def _swap(ctx: ModelsContext, table: TableDef, plan: ModelPlan, staged: dict[str, list[str]]) -> None:
    """Replace the rebuilt partitions (or the whole table) with the staged files, intent first."""
    root = table_prefix(table.name)
    if plan.action == "partitions":
        targets = set(plan.partitions)
    elif table.partitioned:
        targets = _partitions(ctx, table.name) | set(staged)
    else:
        targets = {""}
    ctx.storage.write_text(
        intent_key(table.name), json.dumps(list(plan.partitions) if plan.action == "partitions" else [WHOLE])
    )
    for partition in sorted(targets):
        folder = f"{root}/{partition}" if partition else root
        old = [o.key for o in ctx.storage.list(folder + "/") if posixpath.dirname(o.key) == folder]
        ctx.storage.delete(old)
        for n, key in enumerate(sorted(staged.get(partition, []))):
            ctx.storage.move(key, f"{folder}/part-{n:05d}.snappy.parquet")
