"""Build a model into an Iceberg table: one staged overwrite, audited by the model's checks, then published.

The rows are computed as for Parquet (``build.result_of``). The whole table (or the rebuilt
months: the partition column's range in each) is overwritten in one snapshot that is staged
(write-audit-publish, ``iceberg.tables``); the model's checks run over the staged snapshot, the
table as it will be, and only a snapshot that passes is published. A build that dies leaves the
table at its last published snapshot; the next build redoes it. A model whose columns changed
type or went away replaces its table (one atomic commit; added columns are simply added).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.catalog.table import TableDef
from etl_lib.errors import TableCommitConflict
from etl_lib.iceberg.tables import TABLE_PROPERTIES, IcebergTables, open_iceberg
from etl_lib.models.checks import check_failures
from etl_lib.models.context import ModelsContext
from etl_lib.models.spec import ModelSpec
from etl_lib.models.state import ModelPlan
from etl_lib.transform.partition import partition_name

log = logging.getLogger("etl_lib.models")

COMMIT_ATTEMPTS = 3


def model_tables(ctx: ModelsContext, session: SparkSession) -> IcebergTables:
    """The lake's Iceberg tables (``iceberg.tables.open_iceberg``) in ``session``, in the customer's
    Glue database on Glue."""
    return open_iceberg(session, ctx.storage.uri, getattr(ctx.catalog, "database", None))


def month_range(column: str, partitions: tuple[str, ...], dtype: T.DataType) -> Column:
    """Rows whose ``column`` falls in one of ``partitions`` (``year=YYYY/month=MM``): a range Iceberg
    maps onto its ``months(column)`` partitions, so the overwrite replaces whole files."""
    condition = F.lit(False)
    cast = "date" if isinstance(dtype, T.DateType) else "timestamp"
    for part in partitions:
        year, month = (int(p.split("=")[1]) for p in part.split("/"))
        nxt = (year + month // 12, month % 12 + 1)
        low = F.lit(f"{year:04d}-{month:02d}-01").cast(cast)
        high = F.lit(f"{nxt[0]:04d}-{nxt[1]:02d}-01").cast(cast)
        condition = condition | ((F.col(column) >= low) & (F.col(column) < high))
    return condition


def build_iceberg_model(
    ctx: ModelsContext, model: ModelSpec, plan: ModelPlan, tables: Mapping[str, TableDef], rows: DataFrame
) -> int:
    """Write ``rows`` (the model's result) as ``plan`` says; return the rows written."""
    from etl_lib.models.build import ModelError, check_months

    table = tables[model.model]
    ice = model_tables(ctx, rows.sparkSession)  # the session that writes stages the write
    result = rows.select(*table.schema.names)

    def audit(staged: DataFrame) -> None:
        failures = check_failures(model, staged)
        if failures:
            shown = "; ".join(str(f) for f in failures)
            raise ModelError(f"model {model.model}: checks failed, nothing published: {shown}")

    if ice.exists(model.model) and not _fits(ice.read(model.model).schema, table.schema):
        audit(result)  # the checks over the result itself, before the table is replaced
        _replace(ice, table, result)
        return int(ice.read(model.model).count())
    if not ice.exists(model.model):
        ice.create(table, table.partition_source)
    else:
        _add_columns(ice, table)
    if plan.action == "partitions":
        assert table.partition_source is not None
        months = [r[0] for r in result.select(partition_name()).distinct().collect()]  # months: a few dozen
        check_months(model, plan, months)
        dtype = table.schema[table.partition_source].dataType
        replaced = month_range(table.partition_source, plan.partitions, dtype)
    else:
        replaced = F.lit(True)
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            snapshot = ice.staged_commit(
                model.model,
                lambda: result.writeTo(ice.ident(model.model)).overwrite(replaced),
                f"{ctx.run_id}.{model.model}.{attempt}",
                audit,
            )
            break
        except TableCommitConflict as exc:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s: commit attempt %d conflicted (%s); writing again", model.model, attempt, exc)
    return ice.added_records(model.model, snapshot)


def _fits(current: T.StructType, wanted: T.StructType) -> bool:
    """Every column the table has is still wanted with the same type (new ones may be added)."""
    types = {f.name: f.dataType for f in wanted.fields}
    return all(f.name in types and types[f.name] == f.dataType for f in current.fields)


def _add_columns(ice: IcebergTables, table: TableDef) -> None:
    have = set(ice.read(table.name).schema.names)
    added = [f for f in table.schema.fields if f.name not in have]
    if added:
        listed = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
        ice.spark.sql(f"ALTER TABLE {ice.ident(table.name)} ADD COLUMNS ({listed})")


def _replace(ice: IcebergTables, table: TableDef, rows: DataFrame) -> None:
    """Replace the table's definition and rows in one commit (its history is kept)."""
    writer = rows.writeTo(ice.ident(table.name)).using("iceberg")
    for key, value in TABLE_PROPERTIES.items():
        writer = writer.tableProperty(key, value)
    if not ice.glue:
        writer = writer.tableProperty("write.data.path", ice.table_root(table.name) + "/data")
    if table.partition_source:
        writer = writer.partitionedBy(F.months(table.partition_source))
    writer.createOrReplace()
