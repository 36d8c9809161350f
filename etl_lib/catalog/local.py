"""The local catalog: Spark temporary views over analytics-ready Parquet."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl_lib.catalog.base import Catalog
from etl_lib.catalog.table import TableDef
from etl_lib.errors import CatalogError, CatalogUnavailable
from etl_lib.faults import Faults
from etl_lib.storage.base import Storage


class LocalCatalog(Catalog):
    """Registers each dataset as a temporary view named after it, partitions discovered (an
    Iceberg table's view reads its current snapshot).

    The local twin of ``GlueCatalog``: ``faults`` (operation ``catalog.register``) make it fail.
    """

    def __init__(self, spark: SparkSession, storage: Storage, faults: Faults | None = None) -> None:
        self.spark = spark
        self.storage = storage
        self.faults = faults or Faults()

    def register_table(self, table: TableDef, location: str) -> None:
        """Create or replace the view ``table.name`` over ``location``.

        A table with no data yet is an empty view with the right columns, so queries over it
        work and return nothing.
        """
        self.faults.check("catalog.register", table.name, CatalogUnavailable, CatalogError)
        if table.table_format == "iceberg":
            from etl_lib.read.analytics import read_rows

            read_rows(self.spark, self.storage, table).createOrReplaceTempView(table.name)
            return
        if self.storage.exists(location + "/"):
            reader = self.spark.read.schema(table.schema)
            if table.partitioned:
                reader = reader.option("basePath", self.storage.uri(location))
            frame = reader.parquet(self.storage.uri(location))
        else:
            frame = self.spark.createDataFrame([], table.schema)
        frame.createOrReplaceTempView(table.name)
