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
from etl_lib.catalog.table import TableDef
from etl_lib.errors import CatalogError, CatalogUnavailable


def table_input(table: TableDef, location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``table`` over ``location`` (``s3://…/analytics-ready/{name}/``)."""
    location = location.rstrip("/") + "/"
    columns = [
        {
            "Name": f.name,
            "Type": athena_type(f.dataType),
            **({"Comment": table.comments[f.name]} if f.name in table.comments else {}),
        }
        for f in table.columns.fields
    ]
    parameters = {"classification": "parquet", "EXTERNAL": "TRUE"}
    parameters |= (
        projection_properties(location, table.years) if table.partitioned else {"parquet.compression": "SNAPPY"}
    )
    partition_keys = [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "string"}]
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": partition_keys if table.partitioned else [],
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


def iceberg_table_input(table: TableDef, location: str, metadata_location: str) -> dict[str, Any]:
    """The Glue ``TableInput`` of an Iceberg table (what Iceberg's Glue catalog writes and Athena
    reads): type ICEBERG, its current metadata file, its columns (``year``/``month`` are plain ones)."""
    columns = [
        {
            "Name": f.name,
            "Type": athena_type(f.dataType),
            **({"Comment": table.comments[f.name]} if f.name in table.comments else {}),
        }
        for f in table.schema.fields
    ]
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"table_type": "ICEBERG", "metadata_location": metadata_location, "EXTERNAL": "TRUE"},
        "StorageDescriptor": {"Columns": columns, "Location": location.rstrip("/") + "/"},
    }


class GlueCatalog(Catalog):
    """Creates or updates tables in one Glue database."""

    def __init__(self, spark: SparkSession, database: str, lake_uri: Any, glue: Any | None = None) -> None:
        self.spark = spark
        self.database = database
        self.lake_uri = lake_uri
        self.glue = glue or client("glue")

    def register_table(self, table: TableDef, location: str) -> None:
        """Create the table, or update it when it exists (columns follow the definition). An
        Iceberg table is Iceberg's Glue catalog's own on Glue; a lake kept in a local Iceberg
        catalog gets a Glue table of type ICEBERG at its current metadata file."""
        uri = self.lake_uri(location)
        described = table_input(table, uri)
        if table.table_format == "iceberg":
            from etl_lib.iceberg.tables import open_iceberg

            tables = open_iceberg(self.spark, self.lake_uri, self.database)
            if tables.glue:  # Iceberg's Glue catalog updates the table with every commit
                return
            metadata = tables.metadata_location(table.name) if tables.exists(table.name) else None
            if metadata is None:
                return
            described = iceberg_table_input(table, uri, metadata)
        what = f"cannot register table {self.database}.{table.name} in the Glue Data Catalog"
        with translated(what, CatalogUnavailable, CatalogError):
            try:
                self.glue.update_table(DatabaseName=self.database, TableInput=described)
            except Exception as exc:
                if error_code(exc) != "EntityNotFoundException":
                    raise
                self.glue.create_table(DatabaseName=self.database, TableInput=described)
