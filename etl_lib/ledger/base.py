"""The run ledger interface: one record per source file, one per run.

The ledger is what makes runs incremental (only new or changed files),
idempotent (a file is done once per content), safe under concurrency (a file
is *claimed* before it is processed) and auditable (``etl-lib runs``).

A file goes through these states::

    (new) --claim--> claimed --processed--> processed --analytics--> published
                        \\--error--> failed

A file is picked up again when its content (checksum) changes, when its claim
is stale (the run holding it died), or when it is named explicitly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from etl_lib.errors import ClaimConflict

FileStatus = Literal["claimed", "processed", "published", "failed"]
RunStatus = Literal["running", "succeeded", "partial", "failed"]


def utcnow() -> datetime:
    """Timezone-aware now, the ledger's clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FileRecord:
    """What the ledger knows about one source file of a dataset."""

    dataset: str
    source_key: str
    checksum: str
    size: int
    status: FileStatus
    run_id: str
    updated_at: datetime = field(default_factory=utcnow)
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    outputs: tuple[str, ...] = ()
    """Lake keys of the processed and rejected files holding this source's rows."""
    partitions: tuple[str, ...] = ()
    """``year=YYYY/month=MM`` partitions of processed this source's rows are in."""
    dirty_partitions: tuple[str, ...] = ()
    """Partitions analytics-ready must recompute (new and replaced rows)."""
    replaces_previous: bool = False
    """True when this content replaced an earlier version's rows."""
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def evolve(self, **changes: object) -> FileRecord:
        """A copy with ``changes`` applied and ``updated_at`` refreshed (unless given)."""
        return replace(self, **{"updated_at": utcnow(), **changes})  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunRecord:
    """One run of one stage (or both) over one dataset."""

    run_id: str
    dataset: str
    stage: str
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: RunStatus = "running"
    files: int = 0
    files_failed: int = 0
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rows_analytics: int = 0
    error: str | None = None
    owner: str = ""
    """``host:pid`` of the process running it (lets a local ledger see a dead run)."""

    def evolve(self, **changes: object) -> RunRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


def claimed_record(
    current: FileRecord | None, record: FileRecord, stale_after_s: float, run_is_live: Callable[[str], bool]
) -> FileRecord:
    """What a claim of ``record`` stores over ``current``; the rule every ledger applies.

    Raises ``ClaimConflict`` while another run holds a fresh claim and is still
    live. The claim keeps the earlier outputs and partitions, which the new
    outputs replace.
    """
    if current is not None and current.status == "claimed" and current.run_id != record.run_id:
        age = (utcnow() - current.updated_at).total_seconds()
        if age < stale_after_s and run_is_live(current.run_id):
            raise ClaimConflict(
                f"{record.source_key}: claimed by run {current.run_id} {age:.0f}s ago; "
                f"it is taken over after {stale_after_s:.0f}s if that run died"
            )
    return record.evolve(
        status="claimed",
        outputs=current.outputs if current else (),
        partitions=current.partitions if current else (),
        dirty_partitions=current.dirty_partitions if current else (),
    )


class Ledger(abc.ABC):
    """Where runs and file outcomes are recorded. Local: SQLite; AWS: DynamoDB."""

    @abc.abstractmethod
    def get_file(self, dataset: str, source_key: str) -> FileRecord | None:
        """The current record of a source file, or None if never seen."""

    @abc.abstractmethod
    def claim_file(self, record: FileRecord, stale_after_s: float) -> FileRecord | None:
        """Atomically claim a file for ``record.run_id``.

        Succeeds when the file is unknown, not claimed, claimed by the same run,
        or claimed longer than ``stale_after_s`` ago (its run died). Returns the
        previous record (None for a new file) and raises ``ClaimConflict`` when a
        live claim of another run exists. The stored record keeps the previous
        ``outputs`` and ``partitions`` so the new outputs can replace them.
        """

    @abc.abstractmethod
    def save_file(self, record: FileRecord) -> None:
        """Store the new state of a file (and append it to the file's history)."""

    @abc.abstractmethod
    def files(
        self,
        dataset: str | None = None,
        status: FileStatus | None = None,
        run_id: str | None = None,
    ) -> list[FileRecord]:
        """Current file records, filtered."""

    @abc.abstractmethod
    def history(self, run_id: str) -> list[FileRecord]:
        """Every file state recorded by one run (the audit trail)."""

    @abc.abstractmethod
    def save_run(self, run: RunRecord) -> None:
        """Insert or update a run."""

    @abc.abstractmethod
    def runs(self, dataset: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
