"""Athena DDL for a dataset's analytics-ready table (partition projection on)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import analytics_schema


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
    """``CREATE EXTERNAL TABLE`` for ``spec`` over ``location`` (an ``s3://`` URI).

    ``year``/``month`` are partition keys with partition projection, so Athena
    needs no ``MSCK REPAIR TABLE`` when a new month appears.
    """
    location = location.rstrip("/") + "/"
    columns = [f for f in analytics_schema(spark, spec).fields if f.name not in ("year", "month")]
    body = ",\n".join(f"  `{f.name}` {athena_type(f.dataType)}" for f in columns)
    projection = projection_properties(location, spec.partition_years)
    properties = ",\n".join(f"  '{k}'='{v}'" for k, v in projection.items())
    comment = (spec.description or f"etl_lib dataset {spec.dataset}").replace("'", "''")
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{spec.dataset}` (\n{body}\n)\n"
        f"COMMENT '{comment}'\n"
        "PARTITIONED BY (`year` string, `month` string)\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n" + properties + "\n);"
    )
