"""The AWS catalog: the dataset's table in the Glue Data Catalog, from the spec.

After a successful analytics run the table is created or updated: columns and
types from the spec (the same mapping as ``etl-lib ddl``), Parquet SerDe,
``year``/``month`` partition keys with partition projection, so Athena sees new
months without ``MSCK REPAIR TABLE`` or crawlers.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from etl_lib.aws.clients import client
from etl_lib.aws.errors import error_code, translated
from etl_lib.catalog.base import Catalog
from etl_lib.catalog.ddl import athena_type, projection_properties
from etl_lib.errors import CatalogError, CatalogUnavailable
from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import analytics_schema


def table_input(spark: SparkSession, spec: DatasetSpec, location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of a dataset over ``location`` (``s3://…/analytics-ready/{dataset}/``)."""
    location = location.rstrip("/") + "/"
    comments = {c.name: c.description for c in spec.columns if c.description}
    columns = [
        {
            "Name": f.name,
            "Type": athena_type(f.dataType),
            **({"Comment": comments[f.name]} if f.name in comments else {}),
        }
        for f in analytics_schema(spark, spec).fields
        if f.name not in ("year", "month")
    ]
    return {
        "Name": spec.dataset,
        "Description": spec.description or f"etl_lib dataset {spec.dataset}",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            **projection_properties(location, spec.partition_years),
        },
        "PartitionKeys": [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "Parameters": {"serialization.format": "1"},
            },
            "Compressed": True,
        },
    }


class GlueCatalog(Catalog):
    """Creates or updates tables in one Glue database."""

    def __init__(self, spark: SparkSession, database: str, lake_uri: Any, glue: Any | None = None) -> None:
        self.spark = spark
        self.database = database
        self.lake_uri = lake_uri
        self.glue = glue or client("glue")

    def register(self, spec: DatasetSpec, location: str) -> None:
        """Create the table, or update it when it exists (columns follow the spec)."""
        uri = self.lake_uri(location)
        table = table_input(self.spark, spec, uri)
        what = f"cannot register table {self.database}.{spec.dataset} in the Glue Data Catalog"
        with translated(what, CatalogUnavailable, CatalogError):
            try:
                self.glue.update_table(DatabaseName=self.database, TableInput=table)
            except Exception as exc:
                if error_code(exc) != "EntityNotFoundException":
                    raise
                self.glue.create_table(DatabaseName=self.database, TableInput=table)
