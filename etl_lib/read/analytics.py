"""Read an analytics-ready table (a dataset's or a model's), whole or some of its months."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl_lib.catalog.table import TableDef
from etl_lib.storage.base import Storage
from etl_lib.transform.partition import partition_name

ANALYTICS = "analytics-ready"


def table_prefix(name: str) -> str:
    """Where a dataset's or model's table is."""
    return f"{ANALYTICS}/{name}"


def read_rows(
    session: SparkSession, storage: Storage, table: TableDef, partitions: tuple[str, ...] | None = None
) -> DataFrame:
    """The table's rows (``partitions``: only those ``year=YYYY/month=MM`` folders, or months of
    an Iceberg table), or an empty frame with its columns when there is no data."""
    if table.table_format == "iceberg":
        return _iceberg_rows(session, storage, table, partitions)
    root = table_prefix(table.name)
    if partitions is not None:
        folders = [f"{root}/{p}" for p in partitions if storage.exists(f"{root}/{p}/")]
    else:
        folders = [root] if storage.exists(root + "/") else []
    if not folders:
        return session.createDataFrame([], table.schema)
    reader = session.read.schema(table.schema)
    if table.partitioned:
        reader = reader.option("basePath", storage.uri(root))
    return reader.parquet(*[storage.uri(f) for f in folders])


def _iceberg_rows(
    session: SparkSession, storage: Storage, table: TableDef, partitions: tuple[str, ...] | None
) -> DataFrame:
    from etl_lib.iceberg.tables import open_iceberg

    tables = open_iceberg(session, storage.uri)
    if not tables.exists(table.name):
        return session.createDataFrame([], table.schema)
    rows = tables.read(table.name).select(*table.schema.names)
    if partitions is not None:
        rows = rows.filter(partition_name().isin(list(partitions)))
    return rows
