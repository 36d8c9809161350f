"""What both ledgers promise, tested on each: claims hold only what was planned, later writes
are conditional on the record this run wrote last, leases exclude, delivery times are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_lib.errors import ClaimConflict, LeaseHeld
from etl_lib.ledger.base import FileRecord, Ledger, ModelBuild, RunRecord


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        from etl_lib.ledger.sqlite import SqliteLedger

        return SqliteLedger(str(tmp_path / "ledger.sqlite"))
    request.getfixturevalue("aws")
    from etl_lib.ledger.dynamodb import DynamoLedger
    from tests.aws.test_dynamodb_ledger import create_table

    return DynamoLedger(create_table("ledger"), "c1")


def claim(run_id: str, checksum: str = "c1", delivered_at: float = 100.0) -> FileRecord:
    return FileRecord("tx", "raw/tx/a.csv", checksum, 3, "claimed", run_id, delivered_at=delivered_at)


def test_a_file_finished_after_this_run_planned_it_is_not_taken(ledger: Ledger) -> None:
    ledger.save_run(RunRecord(run_id="r1", dataset="tx", stage="all", owner="elsewhere:1"))
    ledger.save_run(RunRecord(run_id="r2", dataset="tx", stage="all", owner="elsewhere:2"))
    planned_by_r2 = ledger.get_file("tx", "raw/tx/a.csv")  # both plan the file as new
    assert planned_by_r2 is None
    ledger.claim_file(claim("r1"), stale_after_s=3600, planned=None)
    claimed = ledger.get_file("tx", "raw/tx/a.csv")
    assert claimed is not None
    ledger.save_file(claimed.evolve(status="processed"), expected=claimed)
    ledger.save_run(RunRecord(run_id="r1", dataset="tx", stage="all", status="succeeded", owner="elsewhere:1"))
    # r1 ended and the file is no longer claimed, but r2 planned it as new: refused, not redone.
    with pytest.raises(ClaimConflict, match=r"raw/tx/a.csv: changed since this run planned it \(now processed"):
        ledger.claim_file(claim("r2"), stale_after_s=3600, planned=planned_by_r2)
    assert ledger.get_file("tx", "raw/tx/a.csv").status == "processed"


def test_writes_after_the_claim_are_conditional(ledger: Ledger) -> None:
    ledger.claim_file(claim("r1"), stale_after_s=3600, planned=None)
    mine = ledger.get_file("tx", "raw/tx/a.csv")
    # Presumed dead, r1's claim is taken over by r2 (stale limit 0).
    ledger.claim_file(claim("r2"), stale_after_s=0, planned=mine)
    with pytest.raises(ClaimConflict, match="the ledger record changed under this run; it now belongs to run r2"):
        ledger.save_file(mine.evolve(status="processed"), expected=mine)
    assert ledger.get_file("tx", "raw/tx/a.csv").run_id == "r2"


def test_the_first_delivery_time_of_a_content_is_kept(ledger: Ledger) -> None:
    ledger.claim_file(claim("r1", delivered_at=100.0), stale_after_s=3600, planned=None)
    first = ledger.get_file("tx", "raw/tx/a.csv")
    assert first.delivered_at == 100.0
    # A retry of the same content keeps it, whatever the object's time says now...
    ledger.claim_file(claim("r2", delivered_at=500.0), stale_after_s=0, planned=first)
    again = ledger.get_file("tx", "raw/tx/a.csv")
    assert again.delivered_at == 100.0
    # ...new content is a new delivery.
    ledger.claim_file(claim("r3", checksum="c2", delivered_at=900.0), stale_after_s=0, planned=again)
    assert ledger.get_file("tx", "raw/tx/a.csv").delivered_at == 900.0


def test_a_lease_excludes_until_released_or_its_run_ended(ledger: Ledger) -> None:
    ledger.save_run(RunRecord(run_id="r1", dataset="tx", stage="all", owner="elsewhere:1"))
    ledger.acquire_lease("tx", "analytics", "r1", ttl_s=600)
    ledger.acquire_lease("tx", "analytics", "r1", ttl_s=600)  # its holder may renew it
    with pytest.raises(LeaseHeld, match="the analytics lease is held by run r1"):
        ledger.acquire_lease("tx", "analytics", "r2", ttl_s=600)
    ledger.acquire_lease("other", "analytics", "r2", ttl_s=600)  # leases are per dataset
    ledger.release_lease("tx", "analytics", "r1")
    ledger.acquire_lease("tx", "analytics", "r2", ttl_s=600)
    # The holder's run ended without releasing it (it failed): taken over at once.
    ledger.save_run(RunRecord(run_id="r2", dataset="tx", stage="all", status="failed", owner="elsewhere:2"))
    ledger.acquire_lease("tx", "analytics", "r3", ttl_s=600)
    # An expired lease is taken over too.
    ledger.save_run(RunRecord(run_id="r3", dataset="tx", stage="all", owner="elsewhere:3"))
    ledger.acquire_lease("tx", "analytics", "r3", ttl_s=-1)
    ledger.acquire_lease("tx", "analytics", "r4", ttl_s=600)


def test_marks_are_conditional_states_of_the_files_history(ledger: Ledger) -> None:
    # A file never seen can be skipped ahead of its processing: its record starts as "new".
    skipped = ledger.mark_file("tx", "raw/tx/b.csv", "skip", "ana", "partner sent the wrong extract")
    assert (skipped.status, skipped.mark, skipped.changed_by) == ("new", "skip", "ana")
    assert not ledger.run_is_live(skipped.run_id)  # an operator's change never holds a file
    ledger.mark_file("tx", "raw/tx/b.csv", None, "ben", "the right extract came")
    # A processed file is forced; the history keeps every state with who and why, in order.
    ledger.claim_file(claim("r1"), stale_after_s=3600, planned=None)
    done = ledger.get_file("tx", "raw/tx/a.csv")
    ledger.save_file(done.evolve(status="processed", spec_fingerprint="f1"), expected=done)
    forced = ledger.mark_file("tx", "raw/tx/a.csv", "force", "ana", "spec fixed")
    assert (forced.status, forced.mark, forced.spec_fingerprint) == ("processed", "force", "f1")
    history = ledger.file_history("tx", "raw/tx/a.csv")
    assert [(s.status, s.mark, s.changed_by, s.why) for s in history] == [
        ("processed", None, None, None),
        ("processed", "force", "ana", "spec fixed"),
    ]
    assert [(s.mark, s.why) for s in ledger.file_history("tx", "raw/tx/b.csv")] == [
        ("skip", "partner sent the wrong extract"),
        (None, "the right extract came"),
    ]
    # A run's claim takes the forced file (the mark is the run's to consume), and clears the mark.
    ledger.claim_file(claim("r2"), stale_after_s=3600, planned=forced)
    assert ledger.get_file("tx", "raw/tx/a.csv").mark is None


def test_a_mark_is_refused_without_a_reason_with_nothing_to_undo_or_under_a_live_claim(ledger: Ledger) -> None:
    from etl_lib.errors import MarkRefused

    with pytest.raises(MarkRefused, match="say why"):
        ledger.mark_file("tx", "raw/tx/a.csv", "skip", "ana", "  ")
    with pytest.raises(MarkRefused, match="not marked; nothing to undo"):
        ledger.mark_file("tx", "raw/tx/a.csv", None, "ana", "oops")
    ledger.save_run(RunRecord(run_id="r1", dataset="tx", stage="all", owner="elsewhere:1"))
    ledger.claim_file(claim("r1"), stale_after_s=3600, planned=None)
    with pytest.raises(MarkRefused, match="run r1 is processing it"):
        ledger.mark_file("tx", "raw/tx/a.csv", "skip", "ana", "bad file")
    assert ledger.get_file("tx", "raw/tx/a.csv").mark is None
    # A mark made while the plan looked is a conflict for a run that planned the file as new.
    ledger.mark_file("tx", "raw/tx/c.csv", "force", "ana", "redo")
    with pytest.raises(ClaimConflict):
        ledger.save_new_file(FileRecord("tx", "raw/tx/c.csv", "x", 1, "new", "r9"))


def test_a_runs_status_is_its_last_recorded_one(ledger: Ledger) -> None:
    assert ledger.run_status("r9") is None
    ledger.save_run(RunRecord(run_id="r9", dataset="tx", stage="all", owner="elsewhere:9"))
    assert ledger.run_status("r9") == "running"
    ledger.save_run(RunRecord(run_id="r9", dataset="tx", stage="all", status="succeeded", owner="elsewhere:9"))
    assert ledger.run_status("r9") == "succeeded"


def test_a_models_last_build_replaces_the_one_before(ledger: Ledger) -> None:
    assert ledger.last_build("monthly") is None
    first = ModelBuild("monthly", "r1", "def1", {"tx": {"year=2024/month=01": "a1"}, "accounts": {"": "b"}}, rows=10)
    ledger.save_build(first)
    assert ledger.last_build("monthly") == first
    second = ModelBuild(
        "monthly", "r2", "def1", {"tx": {"year=2024/month=01": "a2", "year=2024/month=02": "c"}}, loaded={"pg": "r1"}
    )
    ledger.save_build(second)
    assert ledger.last_build("monthly") == second
    assert ledger.last_build("other") is None
