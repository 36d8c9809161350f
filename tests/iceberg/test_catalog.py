"""An Iceberg dataset on an s3:// lake (moto, Spark through S3A), its Glue table, and Athena's DDL."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import yaml

from etl_lib.cli.main import main
from etl_lib.runner.build import build_context
from etl_lib.runner.run import run_dataset
from etl_lib.spec.load import parse_spec
from tests.aws.test_s3_lake import DELIVERIES, make_bucket, put
from tests.iceberg.helpers import SAMPLES, iceberg_spec, parquet_rows, rows_of


def test_an_iceberg_dataset_on_s3_is_registered_as_athena_expects(spark, aws: str, tmp_path: Path) -> None:
    spec = parse_spec(yaml.safe_load(iceberg_spec((SAMPLES / "specs" / "transactions.yaml").read_text())), "t.yaml")
    bucket = make_bucket()
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "acme_dev"})
    local = tmp_path / "parquet"
    plain = parse_spec(yaml.safe_load((SAMPLES / "specs" / "transactions.yaml").read_text()), "t.yaml")
    snapshots = []
    for delivery in DELIVERIES:
        for name in delivery:
            put(bucket, f"raw/transactions/{Path(name).name}", (SAMPLES / "deliveries" / name).read_bytes())
            (local / "raw/transactions").mkdir(parents=True, exist_ok=True)
            (local / "raw/transactions" / Path(name).name).write_bytes((SAMPLES / "deliveries" / name).read_bytes())
        ctx = build_context(spark, spec, f"s3://{bucket}", str(tmp_path / "ledger.db"), catalog_database="acme_dev")
        summary = run_dataset(ctx)
        assert summary.status == "succeeded", summary.report.run.error
        snapshots.append(summary.report.run.snapshot_id)
        assert run_dataset(build_context(spark, plain, str(local))).status == "succeeded"
    table = glue.get_table(DatabaseName="acme_dev", Name="transactions")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    metadata = table["Parameters"]["metadata_location"]
    assert metadata.startswith(f"s3://{bucket}/_meta/iceberg/") and metadata.endswith(".metadata.json")
    key = metadata[len(f"s3://{bucket}/") :]
    document = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert document["format-version"] == 2
    assert document["current-snapshot-id"] == snapshots[-1]  # the catalog points at the run's snapshot
    assert [f["transform"] for f in document["partition-specs"][0]["fields"]] == ["month"]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert columns[-2:] == ["year", "month"] and "transaction_id" in columns
    data = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="analytics-ready/transactions/data/")
    assert data["KeyCount"] > 0  # the data where it is on AWS, the metadata under _meta/
    # The same rows as the Parquet table built from the same objects on a folder.
    ctx = build_context(spark, spec, f"s3://{bucket}", str(tmp_path / "ledger.db"))
    from etl_lib.runner.iceberg import iceberg_tables

    assert rows_of(iceberg_tables(ctx).read("transactions")) == parquet_rows(spark, local, "transactions")


def test_athena_ddl_of_an_iceberg_dataset(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(iceberg_spec((SAMPLES / "specs" / "transactions.yaml").read_text()))
    capsys.readouterr()
    location = "s3://acme-c1-dev-datalake/analytics-ready/transactions/"
    assert main(["ddl", "--spec", str(spec), "--location", location, "--database", "acme_dev"]) == 0
    ddl = capsys.readouterr().out
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `acme_dev`.`transactions` (")
    assert "EXTERNAL" not in ddl and "PARTITIONED BY (month(`transaction_ts`))" in ddl
    assert f"LOCATION '{location}'" in ddl and "'table_type'='ICEBERG'" in ddl
    assert "`year` string" in ddl and "`month` string" in ddl and "`amount` decimal(18,2)" in ddl
