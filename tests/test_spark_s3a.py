"""A laptop's SparkSession reaches an s3:// lake through S3A: at the endpoint the AWS
variables name (path-style, plain HTTP on loopback), with boto3's credentials kept out of
Spark's configuration."""

from __future__ import annotations

from etl_lib.spark import S3A, configure_s3a, s3a_settings


def test_the_s3_endpoint_variable_wins_and_is_used_path_style() -> None:
    settings = s3a_settings(
        {"AWS_ENDPOINT_URL": "https://generic.example", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}
    )
    assert settings["fs.s3.impl"] == settings["fs.s3a.impl"] == S3A
    assert settings["fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert settings["fs.s3a.path.style.access"] == "true"
    assert settings["fs.s3a.connection.ssl.enabled"] == "false"
    assert s3a_settings({"AWS_ENDPOINT_URL": "https://minio.example"})["fs.s3a.connection.ssl.enabled"] == "true"


def test_without_an_endpoint_s3a_talks_to_aws() -> None:
    settings = s3a_settings({"AWS_REGION": "eu-west-1"})
    assert "fs.s3a.endpoint" not in settings and "fs.s3a.path.style.access" not in settings
    assert settings["fs.s3a.endpoint.region"] == "eu-west-1"


def test_retries_follow_aws_max_attempts() -> None:
    settings = s3a_settings({"AWS_MAX_ATTEMPTS": "4"})
    assert (settings["fs.s3a.attempts.maximum"], settings["fs.s3a.retry.limit"]) == ("4", "3")


def test_credentials_go_to_hadoop_not_to_the_spark_conf(spark, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    keys = ("fs.s3a.secret.key", "fs.s3a.access.key", "fs.s3a.endpoint", "fs.s3a.aws.credentials.provider")
    saved = {key: hadoop.get(key) for key in keys}
    try:
        configure_s3a(spark)
        assert hadoop.get("fs.s3a.secret.key") == "very-secret-value"
        assert hadoop.get("fs.s3a.endpoint") == "http://127.0.0.1:1"
        assert "very-secret-value" not in str(spark.sparkContext.getConf().getAll())
    finally:  # the session is shared: leave its Hadoop settings as they were
        for key, value in saved.items():
            hadoop.unset(key) if value is None else hadoop.set(key, value)
