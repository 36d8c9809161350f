"""Getting a SparkSession and setting what the pipeline relies on."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Mapping
from typing import Any

import pyspark
from pyspark.sql import Observation, SparkSession

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


LOCAL_FS_JAR = "etl-lib-local-fs.jar"
"""Built by ``make`` from ``jvm/`` into Spark's jars: ``etl_lib.hadoop.NioLocalFileSystem``."""


ICEBERG_RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-*.jar"
"""Fetched by ``make`` into Spark's jars: ``table_format: iceberg`` (its SQL extensions load with the session)."""


def local_conf() -> dict[str, str]:
    """Settings of a local session (a laptop's cores, a local disk): none of them on Glue.

    - ``file:`` paths through ``etl_lib.hadoop.NioLocalFileSystem`` when ``make`` built it:
      Hadoop's local file system without ``.crc`` side files, setting permissions through
      java.nio. Without Hadoop's native library (pyspark ships none) Hadoop starts a
      `chmod` process for every folder and file Spark creates, about twenty per small
      delivered file.
    - Iceberg's SQL extensions when ``make`` fetched its runtime (``etl_lib.iceberg``).
    - The files of a read are looked up on the driver: a listing job (Spark's default
      beyond 32 paths) pays off with a cluster's cores, not with two, and an analytics run
      reads one path per processed file.
    """
    conf = {"spark.sql.sources.parallelPartitionDiscovery.threshold": "100000"}
    spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__)
    if os.path.exists(os.path.join(spark_home, "jars", LOCAL_FS_JAR)):
        conf["spark.hadoop.fs.file.impl"] = "etl_lib.hadoop.NioLocalFileSystem"
    if glob.glob(os.path.join(spark_home, "jars", ICEBERG_RUNTIME_JAR)):
        conf["spark.sql.extensions"] = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    return conf


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
    for key, value in local_conf().items():
        builder = builder.config(key, value)
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


S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def s3a_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hadoop settings that send ``s3://`` and ``s3a://`` paths through S3A (a laptop; Glue has its own S3).

    With ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` set (moto, MinIO, LocalStack) the
    endpoint is used path-style, over plain HTTP when it says ``http://``. ``AWS_MAX_ATTEMPTS``
    bounds S3A's retries as it bounds botocore's.
    """
    env = os.environ if environ is None else environ
    settings = {
        "fs.s3.impl": S3A,
        "fs.s3a.impl": S3A,
        # Staged output is private to the run and reconciled row for row before it is
        # published, so one rename per task (not two) is safe, and half the S3 copies.
        "mapreduce.fileoutputcommitter.algorithm.version": "2",
        # Folder markers are never read by the pipeline; not deleting them saves requests.
        "fs.s3a.directory.marker.retention": "keep",
    }
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        settings["fs.s3a.endpoint"] = endpoint
        settings["fs.s3a.path.style.access"] = "true"
        settings["fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        settings["fs.s3a.endpoint.region"] = region
    attempts = env.get("AWS_MAX_ATTEMPTS")
    if attempts:
        retries = str(max(0, int(attempts) - 1))
        settings.update(
            {
                "fs.s3a.attempts.maximum": attempts,
                "fs.s3a.retry.limit": retries,
                "fs.s3a.retry.throttle.limit": retries,
                "fs.s3a.retry.interval": "200ms",
                "fs.s3a.retry.throttle.interval": "100ms",
            }
        )
    return settings


def configure_s3a(spark: SparkSession) -> None:
    """Point this session's S3A at the current endpoint and credentials (a laptop only).

    Credentials are resolved by boto3 (environment, profiles, SSO, instance roles) and set in
    the Hadoop configuration at run time, never in the Spark conf that UIs and event logs show.
    Raises ``ConfigError`` when Spark has no S3A connector on its classpath.
    """
    from etl_lib.errors import ConfigError

    jvm: Any = spark.sparkContext._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(S3A, False, loader)
    except Exception:
        raise ConfigError(
            "Spark has no S3 connector (hadoop-aws 3.3.4 and the AWS SDK bundle): run `make jars`, "
            "which puts them into the venv's pyspark/jars"
        ) from None
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    for key, value in {**s3a_settings(), **_s3a_credentials()}.items():
        hadoop.set(key, value)


def open_s3a(spark: SparkSession, uri: str) -> None:
    """Make S3A load the lake bucket's credentials now, on this thread, with one request.

    hadoop-aws 3.3.4 loads session credentials lazily, and not thread-safely: when Spark's
    first use of the bucket is a read of several paths, which it checks on parallel threads,
    all but one thread find no credentials yet (``TemporaryAWSCredentialsProvider has no
    credentials``). Spark then reuses this filesystem. An error here is left for the real
    access to report."""
    jvm: Any = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    root = jvm.org.apache.hadoop.fs.Path(uri)
    with contextlib.suppress(Exception):
        # Not the root itself: S3A answers for a bucket's root without asking S3.
        root.getFileSystem(hadoop).exists(jvm.org.apache.hadoop.fs.Path(root, "_meta"))


def _s3a_credentials() -> dict[str, str]:
    import boto3

    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        return {}  # S3A's own chain (environment, instance profile) decides
    frozen = credentials.get_frozen_credentials()
    settings = {"fs.s3a.access.key": frozen.access_key, "fs.s3a.secret.key": frozen.secret_key}
    if frozen.token:
        settings["fs.s3a.session.token"] = frozen.token
        settings["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
    else:
        settings["fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    return settings


def observed(spark: SparkSession, observation: Observation, timeout_s: float = 60.0) -> dict[str, Any] | None:
    """The metrics ``observation`` collected during the action that just ran, or None when
    Spark never delivers them.

    ``Observation.get`` waits forever in that case, which happens when the optimiser proves
    the observed rows empty and drops the observation. So: wait until Spark's listeners have
    seen the action's end (where metrics are delivered), then look without waiting.
    """
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(int(timeout_s * 1000))
    jo = observation._jo
    if jo is None:
        return None
    field = jo.getClass().getDeclaredField("metrics")
    field.setAccessible(True)
    if not field.get(jo).isDefined():
        return None
    return dict(observation.get)
