"""On AWS each Glue run rewrites the lake's report in the customer's bucket; a report that cannot
be written costs the run nothing, and the next run writes it (S3 and DynamoDB in moto, over HTTP)."""

from __future__ import annotations

import logging
from pathlib import Path

import boto3

from etl_lib.glue.adapter import run_glue_job
from tests.aws.fault_proxy import FaultProxy, Rule
from tests.aws.test_dynamodb_ledger import create_table
from tests.aws.test_s3_lake import make_bucket, put
from tests.report.test_report import FIRST, SECOND, TX_SPEC

PAGE = "_meta/report/index.html"


def test_each_glue_run_rewrites_the_report_in_the_bucket_and_a_failed_write_costs_nothing(
    spark, aws: str, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr("etl_lib.spark.local_session", lambda **_: spark)
    bucket, table = make_bucket(), create_table("ledger")
    spec = tmp_path / "tx.yaml"
    spec.write_text(TX_SPEC)
    argv = ["job.py", "--JOB_NAME", "j", "--dataset_spec", str(spec), "--lake", f"s3://{bucket}"]
    argv += ["--ledger", f"dynamodb://{table}", "--customer_id", "c1"]
    s3 = boto3.client("s3")

    put(bucket, "raw/tx/first.csv", FIRST.encode())
    fault_proxy.add(Rule(action="500", method="PUT", path=r"/_meta/report/index\.html"))
    with caplog.at_level(logging.WARNING, logger="etl_lib.report"):
        assert run_glue_job(argv, stage="raw-to-processed") == 0
    assert "report was not rewritten" in caplog.text
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=PAGE)
    fault_proxy.clear()

    put(bucket, "raw/tx/second.csv", SECOND.encode())
    assert run_glue_job(argv, stage="raw-to-processed") == 0
    page = s3.get_object(Bucket=bucket, Key=PAGE)
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode()
    assert "raw/tx/first.csv" in html and "raw/tx/second.csv" in html
    assert f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix=receipts/tx/first.csv-" in html
    docs = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="_meta/report/data-docs/")["Contents"]}
    assert "_meta/report/data-docs/index.html" in docs
    assert any(k.startswith("_meta/report/data-docs/validations/tx/first.csv") for k in docs)
    assert any("/static/" in k for k in docs)

    # Nothing new: the page is written again, the Data Docs' unchanged scripts, styles and fonts are not.
    fault_proxy.clear()  # forgets the requests seen

    def puts(part: str) -> int:
        return fault_proxy.count(lambda seen: seen.method == "PUT" and part in seen.path)

    assert run_glue_job(argv, stage="raw-to-processed") == 0
    assert (puts("/_meta/report/index.html"), puts("/_meta/report/data-docs/static/")) == (1, 0)
    assert puts("/_meta/report/data-docs/validations/tx/") == 2
