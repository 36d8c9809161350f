"""The DynamoDB ledger over HTTP against moto: claims under concurrency, takeover, records."""

from __future__ import annotations

import threading
from datetime import timedelta

import boto3
import pytest

from etl_lib.errors import ClaimConflict
from etl_lib.ledger.base import FileRecord, RunRecord, utcnow
from etl_lib.ledger.dynamodb import DynamoLedger


def create_table(name: str = "etl-ledger") -> str:
    boto3.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def ledger(aws: str) -> DynamoLedger:
    return DynamoLedger(create_table(), "acme")


def record(run_id: str, **changes: object) -> FileRecord:
    base = FileRecord(dataset="tx", source_key="raw/tx/a.csv", checksum="c1", size=3, status="claimed", run_id=run_id)
    return base.evolve(**changes)


def test_items_are_keyed_by_customer(ledger: DynamoLedger) -> None:
    ledger.claim_file(record("r1"), stale_after_s=60)
    item = boto3.resource("dynamodb").Table("etl-ledger").get_item(Key={"pk": "acme#tx", "sk": "file#raw/tx/a.csv"})
    assert item["Item"]["status"] == "claimed" and item["Item"]["run_id"] == "r1"
    other = DynamoLedger("etl-ledger", "globex")
    assert other.get_file("tx", "raw/tx/a.csv") is None


def test_live_claim_conflicts_and_stale_claim_is_taken_over(ledger: DynamoLedger) -> None:
    assert ledger.claim_file(record("r1"), stale_after_s=3600) is None
    with pytest.raises(ClaimConflict, match="claimed by run r1"):
        ledger.claim_file(record("r2"), stale_after_s=3600)
    old = ledger.get_file("tx", "raw/tx/a.csv")
    assert old is not None
    # The run holding the claim died three hours ago.
    ledger.save_file(old.evolve(updated_at=utcnow() - timedelta(hours=3)))
    previous = ledger.claim_file(record("r2"), stale_after_s=3600)
    assert previous is not None and previous.run_id == "r1"
    assert ledger.get_file("tx", "raw/tx/a.csv").run_id == "r2"  # type: ignore[union-attr]


def test_two_concurrent_claims_never_both_win(ledger: DynamoLedger) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def claim(run_id: str) -> None:
        mine = DynamoLedger("etl-ledger", "acme")
        barrier.wait()
        try:
            mine.claim_file(record(run_id), stale_after_s=3600)
            outcomes.append("won")
        except ClaimConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=claim, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_records_history_and_runs(ledger: DynamoLedger) -> None:
    ledger.claim_file(record("r1"), stale_after_s=60)
    done = record(
        "r1",
        status="processed",
        rows_in=10,
        rows_valid=9,
        rows_rejected=1,
        outputs=("p/a.json",),
        partitions=("year=2024/month=01",),
    )
    ledger.save_file(done)
    got = ledger.get_file("tx", "raw/tx/a.csv")
    assert got is not None and (got.rows_in, got.outputs, got.partitions) == (
        10,
        ("p/a.json",),
        ("year=2024/month=01",),
    )
    assert [f.source_key for f in ledger.files(dataset="tx", status="processed")] == ["raw/tx/a.csv"]
    assert [(h.status, h.rows_valid) for h in ledger.history("r1")] == [("processed", 9)]
    first = RunRecord(run_id="r1", dataset="tx", stage="all")
    ledger.save_run(first)
    ledger.save_run(RunRecord(run_id="r2", dataset="cl", stage="all"))
    ledger.save_run(first.evolve(status="succeeded", rows_in=10, snapshot_id=2**62 + 5))
    runs = ledger.runs()
    assert [r.run_id for r in runs] == ["r2", "r1"] and runs[1].status == "succeeded" and runs[1].rows_in == 10
    assert runs[1].snapshot_id == 2**62 + 5 and runs[0].snapshot_id is None  # an Iceberg snapshot id: 64 bits
    assert [r.run_id for r in ledger.runs(dataset="tx")] == ["r1"]


def test_claims_of_a_run_that_recorded_its_failure_are_taken_over_at_once(ledger: DynamoLedger) -> None:
    run = RunRecord(run_id="r1", dataset="tx", stage="all")
    ledger.save_run(run)
    ledger.claim_file(record("r1"), stale_after_s=3600)
    with pytest.raises(ClaimConflict):
        ledger.claim_file(record("r2"), stale_after_s=3600)
    ledger.save_run(run.evolve(status="failed", error="ledger unreachable"))
    assert ledger.claim_file(record("r2"), stale_after_s=3600) is not None
    assert ledger.history("r1") == []  # the run's end marker is not a file state
