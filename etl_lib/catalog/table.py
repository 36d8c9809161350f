"""What a catalog registers: a table's name, columns and layout, from a dataset or a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import analytics_schema
from etl_lib.transform.partition import PARTITION_COLUMNS


@dataclass(frozen=True)
class TableDef:
    """A table over Parquet in analytics-ready: ``columns`` without the partition columns;
    ``partitioned``: ``year=YYYY/month=MM`` folders (string partition keys ``year``, ``month``)."""

    name: str
    description: str
    columns: T.StructType
    partitioned: bool = True
    years: tuple[int, int] = (2000, 2099)
    """The years Athena's partition projection covers."""
    comments: Mapping[str, str] = field(default_factory=dict)
    """Column descriptions, by column name."""
    table_format: str = "parquet"
    """``parquet`` (folders) or ``iceberg`` (an Iceberg table, ``etl_lib.iceberg``)."""
    partition_source: str | None = None
    """Iceberg: the column partitioned by month (``months(…)``); None: unpartitioned."""

    @property
    def schema(self) -> T.StructType:
        """Every column as Spark reads the folder: the partition columns last, as strings."""
        if not self.partitioned:
            return self.columns
        return T.StructType([*self.columns.fields, *(T.StructField(c, T.StringType()) for c in PARTITION_COLUMNS)])


def dataset_table(spark: SparkSession, spec: DatasetSpec) -> TableDef:
    """The analytics-ready table of a dataset."""
    columns = [f for f in analytics_schema(spark, spec).fields if f.name not in PARTITION_COLUMNS]
    return TableDef(
        name=spec.dataset,
        description=spec.description or f"etl_lib dataset {spec.dataset}",
        columns=T.StructType(columns),
        years=spec.partition_years,
        comments={c.name: c.description for c in spec.columns if c.description},
        table_format=spec.table_format,
        partition_source=spec.partition_by or "_ingested_at",
    )
