"""A full `etl-lib run` on local files with the DynamoDB ledger, SNS and the Glue catalog in moto."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3

from etl_lib.cli.main import main
from tests.aws.test_dynamodb_ledger import create_table


def test_cli_run_with_dynamodb_ledger(spark, aws: str, repo: Path, tmp_path: Path, capsys) -> None:
    table = create_table("ledger-dev")
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    boto3.client("glue").create_database(DatabaseInput={"Name": "acme_dev"})
    lake = tmp_path / "lake"
    shutil.copytree(repo / "sample_csv" / "deliveries" / "01" / "accounts", lake / "raw" / "accounts")
    (lake / "raw" / "accounts" / "broken.csv").write_text("nothing,useful\n1,2\n")
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    args = ["run", "--spec", spec, "--lake", str(lake), "--ledger", f"dynamodb://{table}", "--customer", "acme"]
    edges = ["--alerts-topic-arn", topic, "--catalog-database", "acme_dev"]
    capsys.readouterr()
    assert main([*args, *edges, "--json"]) == 3
    first = json.loads(capsys.readouterr().out)
    assert (first["status"], first["files"], first["files_failed"], first["rows_in"]) == ("partial", 2, 1, 435)
    assert first["rows_analytics"] == 429
    items = (
        boto3.resource("dynamodb")
        .Table(table)
        .query(KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("acme#accounts"))["Items"]
    )
    assert {i["sk"]: i["status"] for i in items if i["sk"].startswith("file#")} == {
        "file#raw/accounts/accounts.csv": "published",
        "file#raw/accounts/broken.csv": "failed",
    }
    # Each file's history lives beside it, under the customer's own partition key.
    history = [
        (i["status"], i.get("receipt_owed")) for i in items if i["sk"].startswith("history#raw/accounts/accounts.csv#")
    ]
    # processed, its receipt's rows owed; then written; then published
    assert history == [("claimed", False), ("processed", True), ("processed", False), ("published", False)]
    assert boto3.client("glue").get_table(DatabaseName="acme_dev", Name="accounts")["Table"]["Name"] == "accounts"
    # Second run: nothing new, nothing done.
    assert main([*args, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["files"], second["rows_in"]) == (0, 0)
    # `etl-lib runs` reads the same ledger.
    assert main(["runs", "--lake", str(lake), "--ledger", f"dynamodb://{table}", "--customer", "acme"]) == 0
    listing = capsys.readouterr().out
    assert first["run_id"] in listing and second["run_id"] in listing and "partial" in listing
