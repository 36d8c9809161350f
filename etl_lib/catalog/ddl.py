"""Athena DDL for an analytics-ready table (partition projection on when it is partitioned)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl_lib.catalog.table import TableDef, dataset_table
from etl_lib.spec.model import DatasetSpec


def athena_type(dtype: T.DataType) -> str:
    """The Athena (Hive DDL) name of a Spark type used in analytics-ready."""
    if isinstance(dtype, T.DecimalType):
        return f"decimal({dtype.precision},{dtype.scale})"
    names = {
        T.StringType: "string",
        T.IntegerType: "int",
        T.LongType: "bigint",
        T.DoubleType: "double",
        T.BooleanType: "boolean",
        T.DateType: "date",
        T.TimestampType: "timestamp",
        T.FloatType: "float",
        T.ShortType: "smallint",
        T.ByteType: "tinyint",
    }
    for cls, name in names.items():
        if isinstance(dtype, cls):
            return name
    raise ValueError(f"type {dtype.simpleString()} has no Athena mapping; cast the derived column")


def projection_properties(location: str, years: tuple[int, int] = (2000, 2099)) -> dict[str, str]:
    """Athena partition projection for ``year=YYYY/month=MM`` folders under ``location``,
    for the ``years`` (first, last; the spec's ``partition_years``)."""
    location = location.rstrip("/") + "/"
    return {
        "parquet.compression": "SNAPPY",
        "projection.enabled": "true",
        "projection.year.type": "integer",
        "projection.year.range": f"{years[0]},{years[1]}",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "storage.location.template": location + "year=${year}/month=${month}/",
    }


def athena_ddl(spark: SparkSession, spec: DatasetSpec, location: str, database: str = "default") -> str:
    """``CREATE EXTERNAL TABLE`` for a dataset over ``location`` (an ``s3://`` URI).

    ``year``/``month`` are partition keys with partition projection, so Athena
    needs no ``MSCK REPAIR TABLE`` when a new month appears.
    """
    return table_ddl(dataset_table(spark, spec), location, database)


def iceberg_ddl(table: TableDef, location: str, database: str = "default") -> str:
    """Athena's ``CREATE TABLE`` of an Iceberg table: its columns (``year``/``month`` plain ones),
    ``month(…)`` of its partition column, ``table_type`` ICEBERG (Athena makes format version 2)."""
    location = location.rstrip("/") + "/"
    body = ",\n".join(
        f"  `{f.name}` {athena_type(f.dataType)}"
        + (" COMMENT '" + table.comments[f.name].replace("'", "''") + "'" if f.name in table.comments else "")
        for f in table.schema.fields
    )
    partitioned = f"PARTITIONED BY (month(`{table.partition_source}`))\n" if table.partition_source else ""
    return (
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{table.name}` (\n{body}\n)\n"
        f"{partitioned}"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n  'table_type'='ICEBERG',\n  'format'='parquet',\n  'write_compression'='snappy'\n);"
    )


def table_ddl(table: TableDef, location: str, database: str = "default") -> str:
    """``CREATE EXTERNAL TABLE`` for ``table`` over ``location`` (an ``s3://`` URI); Athena's
    Iceberg ``CREATE TABLE`` for an Iceberg table (``iceberg_ddl``)."""
    if table.table_format == "iceberg":
        return iceberg_ddl(table, location, database)
    location = location.rstrip("/") + "/"
    body = ",\n".join(f"  `{f.name}` {athena_type(f.dataType)}" for f in table.columns.fields)
    comment = table.description.replace("'", "''")
    partitioned = "PARTITIONED BY (`year` string, `month` string)\n" if table.partitioned else ""
    properties = (
        projection_properties(location, table.years) if table.partitioned else {"parquet.compression": "SNAPPY"}
    )
    listed = ",\n".join(f"  '{k}'='{v}'" for k, v in properties.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table.name}` (\n{body}\n)\n"
        f"COMMENT '{comment}'\n"
        f"{partitioned}"
        "STORED AS PARQUET\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n" + listed + "\n);"
    )
