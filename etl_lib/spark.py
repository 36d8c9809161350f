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
    _quiet_jvm_logs()
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
        .config("spark.ui.showConsoleProgress", "false")
    )
    spark = builder.getOrCreate()
    default_level = "WARN" if os.environ.get("ETL_LIB_VERBOSE") else "OFF"
    spark.sparkContext.setLogLevel(os.environ.get("ETL_LIB_SPARK_LOG_LEVEL", default_level))
    return configure_session(spark)


def _quiet_jvm_logs() -> None:
    """Point a not-yet-started JVM at our log4j2 file (silent), unless the
    user configured logging or runs under spark-submit, which owns the JVM."""
    if os.environ.get("ETL_LIB_VERBOSE") or "PYSPARK_SUBMIT_ARGS" in os.environ or "SPARK_SUBMIT" in os.environ:
        return
    if SparkSession.getActiveSession() is not None:
        return
    config = os.path.join(os.path.dirname(__file__), "log4j2.properties")
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f'--driver-java-options "-Dlog4j2.configurationFile=file:{config}" pyspark-shell'
    )
