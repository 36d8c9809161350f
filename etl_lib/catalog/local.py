"""The local catalog: Spark temporary views over analytics-ready Parquet."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl_lib.catalog.base import Catalog
from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import analytics_schema
from etl_lib.storage.base import Storage


class LocalCatalog(Catalog):
    """Registers each dataset as a temporary view named after it, partitions discovered."""

    def __init__(self, spark: SparkSession, storage: Storage) -> None:
        self.spark = spark
        self.storage = storage

    def register(self, spec: DatasetSpec, location: str) -> None:
        """Create or replace the view ``spec.dataset`` over ``location``.

        A dataset with no analytics-ready data yet is an empty view with the
        right columns, so queries over it work and return nothing.
        """
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
