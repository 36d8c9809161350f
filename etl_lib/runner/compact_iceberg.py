"""Compact an Iceberg analytics-ready table: Iceberg's rewrite of data files, then expiry of old snapshots.

Under the dataset's analytics lease (one writer at a time, as for Parquet), ``rewrite_data_files``
bin-packs small files and folds merge-on-read delete files into the data (rows unchanged, one
``replace`` snapshot); then ``expire_snapshots`` drops snapshots older than the spec's
``snapshot_retention_days`` (the current one always stays) with the files only they held. A
compaction killed part way leaves the table at its last commit: a rerun does the rest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from etl_lib.errors import EtlError, TableCommitConflict
from etl_lib.ledger.base import RunRecord, utcnow
from etl_lib.runner.context import RunContext, process_owner
from etl_lib.runner.errors import one_line, short_reason
from etl_lib.runner.iceberg import iceberg_tables
from etl_lib.runner.run import analytics_lease

log = logging.getLogger("etl_lib.compact")

ATTEMPTS = 3


@dataclass(frozen=True)
class IcebergCompaction:
    """What a compaction of an Iceberg table did."""

    dataset: str
    run_id: str
    target_bytes: int
    retention_days: int
    snapshot_before: int | None
    snapshot_after: int | None
    rewritten_data_files: int
    added_data_files: int
    removed_delete_files: int
    expired_snapshots: int
    deleted_files: int

    @property
    def rewritten(self) -> int:
        """Data files rewritten."""
        return self.rewritten_data_files

    def as_json(self) -> dict[str, object]:
        """What ``etl-lib compact --json`` prints for an Iceberg table."""
        return {"table_format": "iceberg", "status": "succeeded", **asdict(self)}

    def describe(self) -> str:
        """One line for people."""
        return (
            f"compact {self.dataset} (iceberg): {self.rewritten_data_files} data file(s) rewritten into "
            f"{self.added_data_files}, {self.removed_delete_files} delete file(s) folded in; "
            f"{self.expired_snapshots} snapshot(s) older than {self.retention_days} day(s) expired, "
            f"{self.deleted_files} file(s) deleted; snapshot {self.snapshot_before} -> {self.snapshot_after}"
        )


def compact_iceberg(ctx: RunContext, target_bytes: int, now: datetime | None = None) -> IcebergCompaction:
    """Compact the dataset's Iceberg table and expire its old snapshots (recorded as a ``compact`` run)."""
    tables = iceberg_tables(ctx)
    name = ctx.dataset
    if not tables.exists(name):
        raise EtlError(f"compact {name}: no Iceberg table yet (run processed-to-analytics first)")
    run = RunRecord(run_id=ctx.run_id, dataset=name, stage="compact", owner=process_owner())
    ctx.ledger.save_run(run)
    try:
        with analytics_lease(ctx):
            before = tables.current_snapshot(name)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    rewrite = tables.rewrite_data_files(name, target_bytes)
                    break
                except TableCommitConflict as exc:  # a table optimizer committed meanwhile
                    if attempt == ATTEMPTS:
                        raise
                    log.warning("%s: compaction conflicted (%s); trying again", name, exc)
            expired = tables.expire_snapshots(name, ctx.spec.snapshot_retention_days, now)
            after = tables.current_snapshot(name)
    except Exception as exc:
        error = short_reason(str(exc)) if isinstance(exc, EtlError) else one_line(exc)
        ctx.ledger.save_run(run.evolve(status="failed", error=error, finished_at=utcnow()))
        raise
    ctx.ledger.save_run(run.evolve(status="succeeded", finished_at=utcnow(), snapshot_id=after))
    return IcebergCompaction(
        dataset=name,
        run_id=ctx.run_id,
        target_bytes=target_bytes,
        retention_days=ctx.spec.snapshot_retention_days,
        snapshot_before=before,
        snapshot_after=after,
        rewritten_data_files=rewrite.get("rewritten_data_files_count", 0),
        added_data_files=rewrite.get("added_data_files_count", 0),
        removed_delete_files=rewrite.get("removed_delete_files_count", 0),
        expired_snapshots=_expired_snapshots(expired),
        deleted_files=sum(v for k, v in expired.items() if k.startswith("deleted_") and k.endswith("_count")),
    )


def _expired_snapshots(counts: dict[str, int]) -> int:
    """Iceberg 1.10 reports deleted files, not snapshots: ``deleted_manifest_lists_count`` is one per snapshot."""
    return counts.get("deleted_manifest_lists_count", 0)
