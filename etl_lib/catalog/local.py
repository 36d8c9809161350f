"""The local catalog: Spark temporary views over analytics-ready Parquet."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl_lib.catalog.base import Catalog
from etl_lib.errors import CatalogError, CatalogUnavailable
from etl_lib.faults import Faults
from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import analytics_schema
from etl_lib.storage.base import Storage


class LocalCatalog(Catalog):
    """Registers each dataset as a temporary view named after it, partitions discovered.

    The local twin of ``GlueCatalog``: ``faults`` (operation ``catalog.register``) make it fail.
    """

    def __init__(self, spark: SparkSession, storage: Storage, faults: Faults | None = None) -> None:
        self.spark = spark
        self.storage = storage
        self.faults = faults or Faults()

    def register(self, spec: DatasetSpec, location: str) -> None:
        """Create or replace the view ``spec.dataset`` over ``location``.

        A dataset with no analytics-ready data yet is an empty view with the
        right columns, so queries over it work and return nothing.
        """
        self.faults.check("catalog.register", spec.dataset, CatalogUnavailable, CatalogError)
        schema = analytics_schema(self.spark, spec)
        if self.storage.exists(location):
            frame = (
                self.spark.read.schema(schema)
                .option("basePath", self.storage.uri(location))
                .parquet(self.storage.uri(location))
            )
        else:
            frame = self.spark.createDataFrame([], schema)
        frame.createOrReplaceTempView(spec.dataset)
