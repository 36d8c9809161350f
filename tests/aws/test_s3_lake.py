"""The whole pipeline on an s3:// lake in moto (Spark through S3A, the ledger in DynamoDB),
compared row for row with the same deliveries run on a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml

from etl_lib.cli.main import main
from etl_lib.runner.build import build_context
from etl_lib.runner.run import run_dataset
from etl_lib.spec.load import parse_spec
from etl_lib.storage.local import LocalStorage
from etl_lib.storage.s3 import S3Storage
from tests.aws.test_dynamodb_ledger import create_table
from tests.lake import lake_files, lake_rows
from tests.runner.test_delivered_names import NAMES, SPEC, assert_each_read_as_itself, body

BUCKET = "acme-c1-dev-datalake"
DELIVERIES = [
    ["01/transactions/transactions_2024_01.csv", "01/transactions/transactions_2024_03.csv"],
    # A corrected re-delivery of March, and a gzip file.
    ["02/transactions/transactions_2024_03.csv", "02/transactions/transactions_2024_06.csv.gz"],
]


def make_bucket(name: str = BUCKET) -> str:
    boto3.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


def put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["run", *args, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_pipeline_on_s3_equals_the_same_on_a_folder(spark, aws: str, repo: Path, tmp_path: Path, capsys) -> None:
    spec = str(repo / "sample_csv" / "specs" / "transactions.yaml")
    bucket = make_bucket()
    table = create_table("ledger")
    s3_args = ["--spec", spec, "--lake", f"s3://{bucket}", "--ledger", f"dynamodb://{table}", "--customer", "c1"]
    local = tmp_path / "lake"
    for delivery in DELIVERIES:
        for name in delivery:
            body = (repo / "sample_csv" / "deliveries" / name).read_bytes()
            key = f"raw/transactions/{Path(name).name}"
            put(bucket, key, body)
            (local / key).parent.mkdir(parents=True, exist_ok=True)
            (local / key).write_bytes(body)
        code, summary = cli_run(capsys, *s3_args)
        assert (code, summary["status"], summary["files"]) == (0, "succeeded", 2), summary
        local_summary = run_dataset(build_context(spark, spec, str(local)))
        assert local_summary.status == "succeeded"
        assert (summary["rows_in"], summary["rows_rejected"]) == (
            local_summary.report.run.rows_in,
            local_summary.report.run.rows_rejected,
        )
    s3, folder = S3Storage(f"s3://{bucket}"), LocalStorage(str(local))
    on_s3 = lake_rows(spark, s3, "transactions")
    assert len(on_s3["processed"]) > 1000 and on_s3["rejected"] and on_s3["analytics-ready"]
    assert on_s3 == lake_rows(spark, folder, "transactions")
    assert lake_files(s3, "transactions") == lake_files(folder, "transactions")
    # The re-delivered March replaced its rows: exactly the second version's valid rows are there.
    march = "raw/transactions/transactions_2024_03.csv"
    [redelivered] = [f for f in summary["file_results"] if f["source"] == march]
    assert sum(json.loads(r)["_source_file"] == march for r in on_s3["processed"]) == redelivered["rows_valid"]

    # A rerun over the same objects changes nothing.
    before = {o.key: o.modified for o in s3.list("")}
    code, summary = cli_run(capsys, *s3_args)
    assert (code, summary["files"], summary["rows_in"], summary["rows_analytics"]) == (0, 0, 0, 0)
    after = {o.key: o.modified for o in s3.list("") if not o.key.startswith("_meta/reports/")}
    assert after == {k: v for k, v in before.items() if not k.startswith("_meta/reports/")}


def test_every_delivered_object_is_read_as_delivered_on_s3(spark, aws: str, tmp_path: Path) -> None:
    bucket = make_bucket()
    for n, name in enumerate(NAMES):
        put(bucket, f"raw/tx/{name}", body(n))
    # Keys S3 takes but a lake cannot use: they fail alone, with the reason.
    unusable = {"raw/tx/../escape.csv": "'..' segment", "raw/tx//double.csv": "empty segment"}
    for key in unusable:
        put(bucket, key, body(0))
    ctx = build_context(spark, parse_spec(yaml.safe_load(SPEC), "tx.yaml"), f"s3://{bucket}", str(tmp_path / "l.db"))
    summary = run_dataset(ctx)
    assert (summary.status, summary.exit_code) == ("partial", 3)
    failed = {f.source_key: f.error for f in summary.report.files if f.status == "failed"}
    assert set(failed) == set(unusable)
    for key, reason in unusable.items():
        assert reason in (failed[key] or "") and key in (failed[key] or "")
    assert_each_read_as_itself(spark, summary, ctx.storage)
    # raw/ is untouched: exactly the delivered objects are there.
    listed = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]}
    assert listed == {f"raw/tx/{n}" for n in NAMES} | set(unusable)
    # The failures are recorded once: the next run plans nothing.
    assert run_dataset(build_context(spark, ctx.spec, f"s3://{bucket}", str(tmp_path / "l.db"))).report.run.files == 0
