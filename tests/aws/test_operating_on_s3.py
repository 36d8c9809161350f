"""plan, files (marks, history), reprocess and rejects on an s3:// lake in moto with the
DynamoDB ledger, as on AWS: the same answers as on a folder."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from etl_lib.cli.main import main
from etl_lib.write.staging import file_id
from tests.aws.test_dynamodb_ledger import create_table
from tests.aws.test_s3_lake import make_bucket, put

FILES = ["01/transactions/transactions_2024_01.csv", "01/transactions/transactions_2024_03.csv"]


def keys(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_operating_an_s3_lake(spark, aws: str, repo: Path, tmp_path: Path, capsys) -> None:
    bucket = make_bucket("acme-ops-dev-datalake")
    table = create_table("ops-ledger")
    spec = tmp_path / "transactions.yaml"
    spec.write_text((repo / "sample_csv" / "specs" / "transactions.yaml").read_text())
    common = ["--spec", str(spec), "--lake", f"s3://{bucket}", "--ledger", f"dynamodb://{table}", "--customer", "c1"]
    for name in FILES:
        put(bucket, f"raw/transactions/{Path(name).name}", (repo / "sample_csv" / "deliveries" / name).read_bytes())

    def out(*args: str) -> object:
        capsys.readouterr()
        assert main([*args, *common, "--json"]) in (0, 3)
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    before = keys(bucket)
    plan = out("plan")
    assert [(f["file"], f["reason"]) for f in plan["files"]] == [  # type: ignore[index]
        ("raw/transactions/transactions_2024_01.csv", "new"),
        ("raw/transactions/transactions_2024_03.csv", "new"),
    ]
    assert keys(bucket) == before  # plan writes nothing

    marked = out("files", "skip", "transactions_2024_03.csv", "--why", "partner re-sends it", "--who", "ana")
    assert (marked["status"], marked["mark"]) == ("new", "skip")  # type: ignore[index]
    run = out("run")
    assert [f["source"] for f in run["file_results"]] == ["raw/transactions/transactions_2024_01.csv"]  # type: ignore[index]
    listed = {f["source_key"]: (f["status"], f["mark"]) for f in out("files")}  # type: ignore[attr-defined]
    assert listed == {
        "raw/transactions/transactions_2024_01.csv": ("published", None),
        "raw/transactions/transactions_2024_03.csv": ("new", "skip"),
    }

    # A spec fix (a cap on amounts) redone on S3: the file's rejected rows change.
    spec.write_text(spec.read_text().replace("    min: 0\n", "    min: 0\n    max: 1000\n", 1))
    assert [(f["file"], f["reason"]) for f in out("plan")["files"]] == [  # type: ignore[index]
        ("raw/transactions/transactions_2024_01.csv", "spec changed"),
        ("raw/transactions/transactions_2024_03.csv", "skipped"),
    ]
    redone = out("reprocess", "--changed-spec")
    assert [f["source"] for f in redone["file_results"]] == ["raw/transactions/transactions_2024_01.csv"]  # type: ignore[index]
    [jan] = out("rejects", "--file", "transactions_2024_01.csv")  # type: ignore[misc]
    assert any(r["reason"].startswith("amount: above max 1000") for r in jan["reasons"])
    # The partner's receipt, on S3 too: rows with the new reasons, in the receipt's own prefix.
    base = "receipts/transactions/" + file_id("raw/transactions/transactions_2024_01.csv")
    assert {f"{base}.json", f"{base}.rejected.csv", f"{base}.rejected.json"} <= set(keys(bucket))
    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"{base}.rejected.json")["Body"].read().decode()
    assert "is above the maximum 1000" in body
    history = out("files", "history", "transactions_2024_03.csv")
    assert [(h["mark"], h["changed_by"], h["why"]) for h in history] == [("skip", "ana", "partner re-sends it")]  # type: ignore[index]
