"""The catalog interface: make a dataset's analytics-ready folder a queryable table.

Local: Spark temporary views (what ``etl-lib query`` uses); AWS: the Glue Data
Catalog, which Athena reads.
"""

from __future__ import annotations

import abc

from pyspark.sql import SparkSession

from etl_lib.catalog.table import TableDef, dataset_table
from etl_lib.spec.model import DatasetSpec


class Catalog(abc.ABC):
    """Tables over analytics-ready data, named after their dataset or model."""

    spark: SparkSession

    def register(self, spec: DatasetSpec, location: str) -> None:
        """Create or update the table of ``spec`` over ``location`` (year/month partitions)."""
        self.register_table(dataset_table(self.spark, spec), location)

    @abc.abstractmethod
    def register_table(self, table: TableDef, location: str) -> None:
        """Create or update ``table`` over ``location``."""
