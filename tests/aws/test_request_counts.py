"""An incremental run costs the same requests whatever the lake already holds.

Two lakes on S3 (moto, through the counting proxy) with a DynamoDB ledger: one holds one
earlier daily file, the other a hundred. The same new daily file (new keys, and one key
re-sent from the latest earlier file, in the same month) is delivered to each and run.
Every S3 and DynamoDB request of that run is counted, by kind: the counts are equal.

The hundred earlier files are processed on a local folder first (fast), then the lake is
uploaded as it is and the ledger's records are written to DynamoDB with the objects' ETags:
the state a run on S3 would have left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import boto3

from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.build import build_context
from etl_lib.runner.run import run_dataset
from tests.aws.fault_proxy import FaultProxy, Seen
from tests.aws.test_dynamodb_ledger import create_table
from tests.aws.test_s3_lake import make_bucket
from tests.conftest import deliver, make_context

SPEC = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: ts, type: timestamp, required: true}
  - {name: amount, type: "decimal(10,2)", required: true}
keys: [tx_id]
partition_by: ts
"""
FIRST_DAY = date(2024, 1, 1)


def daily(n: int, resend: int | None = None) -> str:
    """Day ``n``'s file: three new transactions, and one of day ``resend``'s again."""
    day = FIRST_DAY + timedelta(days=n)
    rows = [f"D{n}-{i},{day} 0{i}:00:00,{n}.{i}0" for i in range(3)]
    if resend is not None:
        rows.append(f"D{resend}-0,{day} 09:00:00,99.00")
    return "tx_id,ts,amount\n" + "\n".join(rows) + "\n"


def name(n: int) -> str:
    return f"tx_{FIRST_DAY + timedelta(days=n)}.csv"


def s3_lake(spark, tmp_path: Path, spec: Path, earlier: range, bucket: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """An S3 lake and DynamoDB ledger holding ``earlier`` daily files, processed and published."""
    local = tmp_path / bucket
    for n in earlier:
        deliver(local, "tx", name(n), daily(n))
    assert run_dataset(make_context(spark, SPEC, local)).status == "succeeded"
    make_bucket(bucket)
    s3 = boto3.client("s3")
    etags = {}
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = path.relative_to(local).as_posix()
        if key.startswith(("_meta/ledger", "_meta/reports/")) or path.name.endswith(".crc"):
            continue
        etags[key] = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())["ETag"].strip('"')
    table = create_table(f"ledger-{bucket}")
    ctx = build_context(spark, str(spec), f"s3://{bucket}", f"dynamodb://{table}", customer="c1")
    for record in SqliteLedger(str(local / "_meta" / "ledger.sqlite")).files(dataset="tx"):
        ctx.ledger.save_file(record.evolve(checksum="s3etag:" + etags[record.source_key]))
    return bucket, table


def incremental_requests(spark, proxy: FaultProxy, spec: Path, bucket: str, table: str, last: int) -> Counter:  # type: ignore[no-untyped-def]
    """Deliver the next daily file, run both stages, and count the run's requests by kind."""
    boto3.client("s3").put_object(Bucket=bucket, Key=f"raw/tx/{name(last + 1)}", Body=daily(last + 1, resend=last))
    ctx = build_context(spark, str(spec), f"s3://{bucket}", f"dynamodb://{table}", customer="c1")
    # On AWS the table is registered in Glue's catalog (the same calls every run); the local
    # twin, a Spark view over the whole table, is not part of what a run on AWS requests.
    ctx = replace(ctx, catalog=None)
    proxy.clear()
    summary = run_dataset(ctx)
    assert (summary.status, summary.report.run.files, summary.report.run.rows_valid) == ("succeeded", 1, 4)
    return Counter(kind(r) for r in proxy.requests)


def kind(request: Seen) -> str:
    """``DynamoDB PutItem``, ``S3 GET``, ``S3 GET list``... (what the request does, not on what)."""
    if request.target:
        return f"DynamoDB {request.target.rsplit('.', 1)[-1]}"
    listing = "list-type=2" in request.path or "?prefix=" in request.path or "&prefix=" in request.path
    return f"S3 {request.method}{' list' if listing else ''}{' delete' if '?delete' in request.path else ''}"


def test_an_incremental_run_makes_the_same_requests_after_1_and_after_100_files(
    spark, aws: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    few = s3_lake(spark, tmp_path, spec, range(99, 100), "acme-few-dev-datalake")
    many = s3_lake(spark, tmp_path, spec, range(0, 100), "acme-many-dev-datalake")

    after_one = incremental_requests(spark, fault_proxy, spec, *few, last=99)
    after_hundred = incremental_requests(spark, fault_proxy, spec, *many, last=99)

    assert after_one == after_hundred, f"after 1 file: {dict(after_one)}; after 100: {dict(after_hundred)}"
    assert sum(after_one.values()) > 0
