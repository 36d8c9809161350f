"""AWS faults over real HTTP: the fault proxy in front of moto fails one step of publishing
(Spark's staged write through S3A, boto3's deletes and copies, a DynamoDB ledger write, the
analytics swap) every time it is tried. The run leaves the file claimable and fails; a plain
rerun then ends exactly where a clean run ends. A fault that passes is retried with backoff."""

from __future__ import annotations

import json

import pytest
import yaml

from etl_lib.errors import TransientError
from etl_lib.runner.build import build_context
from etl_lib.runner.run import run_dataset
from etl_lib.spec.load import parse_spec
from etl_lib.storage.local import LocalStorage
from etl_lib.storage.s3 import S3Storage
from tests.aws.fault_proxy import FaultProxy, Rule
from tests.aws.test_dynamodb_ledger import create_table
from tests.aws.test_s3_lake import make_bucket, put
from tests.conftest import deliver
from tests.lake import lake_files, lake_rows
from tests.runner.test_faults import JAN_AGAIN, MAR
from tests.runner.test_pipeline import FEB, JAN, SPEC

FIRST = {"jan.csv": JAN, "feb.csv": FEB}
SECOND = {"jan.csv": JAN_AGAIN, "mar.csv": MAR}


def dynamo_status(status: str):  # type: ignore[no-untyped-def]
    """A request predicate: a DynamoDB write of a file record with this status."""

    def matches(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        if "PutItem" not in headers.get("X-Amz-Target", ""):
            return False
        item = json.loads(body).get("Item", {})
        return item.get("status", {}).get("S") == status and item.get("sk", {}).get("S", "").startswith("file#")

    return matches


def is_copy_into(prefix: str):  # type: ignore[no-untyped-def]
    def matches(method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        copy = any(k.lower() == "x-amz-copy-source" for k in headers)
        return method == "PUT" and copy and f"/{prefix}" in path

    return matches


# One step of publishing each, as it looks on the wire.
STEPS = {
    "staged write (S3A)": Rule(method="PUT", path=r"/_meta/staging/tx/.*/kind(=|%3D)processed/"),
    "delete old outputs": Rule(method="POST", path=r"\?delete", body="processed/tx/"),
    "move staged rows in": Rule(when=is_copy_into("processed/tx/")),
    "ledger outcome": Rule(action="500", when=dynamo_status("processed")),
    "analytics swap": Rule(when=is_copy_into("analytics-ready/tx/")),
}


def run_on_s3(spark, bucket: str, table: str):  # type: ignore[no-untyped-def]
    spec = parse_spec(yaml.safe_load(SPEC), "tx.yaml")
    return run_dataset(build_context(spark, spec, f"s3://{bucket}", f"dynamodb://{table}", customer="c1"))


def deliver_s3(bucket: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        put(bucket, f"raw/tx/{name}", text.encode())


@pytest.fixture(scope="module")
def clean(spark, tmp_path_factory: pytest.TempPathFactory) -> LocalStorage:
    """The same two deliveries on a folder lake, without faults (S3 and folders agree: test_s3_lake)."""
    from tests.runner.test_faults import run as run_local

    lake = tmp_path_factory.mktemp("clean") / "lake"
    for delivery in (FIRST, SECOND):
        for name, text in delivery.items():
            deliver(lake, "tx", name, text)
        assert run_local(spark, lake).status == "succeeded"
    return LocalStorage(str(lake))


@pytest.mark.parametrize("step", sorted(STEPS))
def test_an_aws_fault_then_a_rerun_ends_as_a_clean_run(
    spark, aws: str, fault_proxy: FaultProxy, clean: LocalStorage, step: str
) -> None:
    bucket, table = make_bucket(), create_table("ledger")
    deliver_s3(bucket, FIRST)
    assert run_on_s3(spark, bucket, table).status == "succeeded"
    deliver_s3(bucket, SECOND)
    rule = fault_proxy.add(STEPS[step])
    with pytest.raises(TransientError, match=r"left for the next run|cannot|did not answer"):
        run_on_s3(spark, bucket, table)
    assert rule.fired >= 1, f"the fault at {step!r} never fired"
    fault_proxy.clear()

    assert run_on_s3(spark, bucket, table).status == "succeeded"
    s3 = S3Storage(f"s3://{bucket}")
    assert lake_rows(spark, s3, "tx") == lake_rows(spark, clean, "tx")
    assert lake_files(s3, "tx") == lake_files(clean, "tx")


def test_a_fault_that_passes_is_retried_with_backoff(spark, aws: str, fault_proxy: FaultProxy) -> None:
    bucket, table = make_bucket(), create_table("ledger")
    deliver_s3(bucket, FIRST)
    # Two throttled answers to the first copy into processed/ (botocore's retries), and one to
    # Spark's first staged upload (S3A's retries), then S3 answers again.
    copy = fault_proxy.add(Rule(when=is_copy_into("processed/tx/"), times=2))
    upload = fault_proxy.add(Rule(method="PUT", path=r"/_meta/staging/tx/.*/kind(=|%3D)processed/.*\.txt", times=1))
    summary = run_on_s3(spark, bucket, table)
    assert summary.status == "succeeded"
    assert copy.fired == 2 and copy.matched >= 3
    assert upload.fired == 1 and upload.matched >= 2
    assert fault_proxy.count(lambda r: r.failed) == 3


def test_a_refusal_is_terminal_and_names_the_resource(spark, aws: str, fault_proxy: FaultProxy) -> None:
    bucket, table = make_bucket(), create_table("ledger")
    deliver_s3(bucket, {"jan.csv": JAN})
    fault_proxy.add(Rule(action="denied", method="GET", path=r"/raw/tx/jan\.csv"))
    summary = run_on_s3(spark, bucket, table)
    [record] = summary.report.files
    assert (summary.status, record.status) == ("partial", "failed")
    assert f"s3://{bucket}/raw/tx/jan.csv" in (record.error or "") and "AccessDenied" in (record.error or "")


def test_no_such_table_or_bucket_fails_the_run_in_one_line(spark, aws: str, capsys, tmp_path) -> None:
    from etl_lib.cli.main import main

    bucket = make_bucket()
    deliver_s3(bucket, {"jan.csv": JAN})
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    args = ["run", "--spec", str(spec), "--customer", "c1"]
    capsys.readouterr()
    assert main([*args, "--lake", f"s3://{bucket}", "--ledger", "dynamodb://no-such-table"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("etl-lib: dynamodb ledger no-such-table: ")
    assert "ResourceNotFoundException" in err[0]

    table = create_table("ledger")
    assert main([*args, "--lake", "s3://no-such-bucket-here", "--ledger", f"dynamodb://{table}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "cannot list s3://no-such-bucket-here/raw/tx/: NoSuchBucket" in err[0]


def test_a_catalog_update_that_failed_is_retried_when_nothing_new_arrived(spark, aws: str, fault_proxy) -> None:
    import boto3

    bucket, table = make_bucket(), create_table("ledger")
    boto3.client("glue").create_database(DatabaseInput={"Name": "acme_dev"})
    deliver_s3(bucket, {"jan.csv": JAN})
    spec = parse_spec(yaml.safe_load(SPEC), "tx.yaml")

    def run():  # type: ignore[no-untyped-def]
        ctx = build_context(
            spark, spec, f"s3://{bucket}", f"dynamodb://{table}", customer="c1", catalog_database="acme_dev"
        )
        return run_dataset(ctx)

    fault_proxy.add(Rule(action="500", target="AWSGlue.UpdateTable"))
    fault_proxy.add(Rule(action="500", target="AWSGlue.CreateTable"))
    with pytest.raises(TransientError, match=r"cannot register table acme_dev\.tx in the Glue Data Catalog"):
        run()
    fault_proxy.clear()
    summary = run()
    assert (summary.status, summary.report.run.files) == ("succeeded", 0)
    assert boto3.client("glue").get_table(DatabaseName="acme_dev", Name="tx")["Table"]["Name"] == "tx"
