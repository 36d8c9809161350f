"""Getting a SparkSession and setting what the pipeline relies on."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

# Settings the transforms depend on; applied to any session, Glue's included.
SESSION_CONF = {
    # Timestamps without an offset are UTC, and year/month folders are UTC.
    "spark.sql.session.timeZone": "UTC",
    # A date that does not match its pattern is invalid, not an upgrade error.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Keep every CSV column in the parse so field-count errors are always seen.
    "spark.sql.csv.parser.columnPruning.enabled": "false",
}


def configure_session(spark: SparkSession) -> SparkSession:
    """Apply ``SESSION_CONF`` to an existing session (runtime settings only)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    return spark


def local_session(app_name: str = "etl_lib", master: str | None = None) -> SparkSession:
    """A local SparkSession sized for a laptop (or the one ``spark-submit`` made)."""
    builder = SparkSession.builder.appName(app_name)
    # spark-submit's --master wins; plain `python` defaults to local[*].
    master = master or os.environ.get("ETL_LIB_MASTER")
    if master:
        builder = builder.master(master)
    builder = (
        builder.config("spark.ui.enabled", os.environ.get("ETL_LIB_SPARK_UI", "false"))
        .config("spark.sql.shuffle.partitions", os.environ.get("ETL_LIB_SHUFFLE_PARTITIONS", "8"))
        .config("spark.driver.memory", os.environ.get("ETL_LIB_DRIVER_MEMORY", "2g"))
        .config("spark.sql.adaptive.enabled", "true")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("ETL_LIB_SPARK_LOG_LEVEL", "ERROR"))
    return configure_session(spark)
