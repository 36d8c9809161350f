"""The run ledger interface: one record per source file, one per run.

The ledger is what makes runs incremental (only new or changed files),
idempotent (a file is done once per content), safe under concurrency (a file
is *claimed* before it is processed) and auditable (``etl-lib runs``).

A file goes through these states::

    (new) --claim--> claimed --processed--> processed --analytics--> published
                        \\--error--> failed

An operator can mark a file (``etl-lib files skip|unskip|force``): ``skip`` keeps it from
ever being processed, ``force`` has the next run redo it. A mark of a file the ledger has
never seen creates its record with status ``new``. Every mark is a state of the file's
history, with who made it and why.

A file is picked up again when its content (checksum) changes, when its claim
is stale (the run holding it died), or when it is named explicitly.

Every write of a file record after the claim is conditional on the record being
as this run last saw it (``expected``; its ``updated_at`` is the version), and
a claim is conditional on the record being as the run *planned* it. So a run
never takes a file another run finished after this one planned it, never
overwrites a claim taken over from it, and the analytics stage never marks
``published`` a file that was re-delivered and processed meanwhile: each of
those raises ``ClaimConflict`` and the file is left to whoever holds it, or to
the next run.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from etl_lib.errors import ClaimConflict, LeaseHeld, MarkRefused

log = logging.getLogger("etl_lib.ledger")

FileStatus = Literal["new", "claimed", "processed", "published", "failed"]
FileMark = Literal["skip", "force"]
MANUAL_RUN = "manual-"
"""Run ids of operators' changes start with this; such a "run" is never live."""
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
    delivered_at: float | None = None
    """The raw object's last-modified time (epoch seconds) when this content was first seen:
    the delivery order that decides winners, never the time a run processed the file."""
    spec_fingerprint: str | None = None
    """The fingerprint of the spec the file was last processed with (``spec.fingerprint``)."""
    mark: FileMark | None = None
    """An operator's instruction: ``skip`` (never process) or ``force`` (redo on the next run)."""
    receipt_owed: bool = False
    """True while the rows of the file's receipt are still to be written (``runner.receipts``)."""
    read_in_splits: bool = False
    """True when the file was read in parallel splits (line-based), else whole (``multiLine``)."""
    changed_by: str | None = None
    why: str | None = None
    """Who made this state by hand (a mark), and why; None for a run's own states."""
    duration_s: float | None = None
    """Seconds the run took over this file, from its claim to its outcome (None: not processed)."""

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
    warning_count: int = 0
    """Failed ``warn`` expectations over the run's files (their texts are in the files' records)."""
    snapshot_id: int | None = None
    """The Iceberg snapshot analytics-ready was at after the run (``table_format: iceberg``)."""

    def evolve(self, **changes: object) -> RunRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelBuild:
    """What a model's last successful build read and made (``etl_lib.models``): the next build
    rebuilds only what changed since."""

    model: str
    run_id: str
    definition: str
    """The fingerprint of the model's definition (SQL, columns, keys, partitioning)."""
    inputs: dict[str, dict[str, str]] = field(hash=False)
    """Per input table, the digest of each of its partitions (``""``: the table's root) as read."""
    rows: int = 0
    built_at: datetime = field(default_factory=utcnow)
    loaded: dict[str, str] = field(default_factory=dict, hash=False)
    """Per sink, the run id of the build it last received in full: a sink whose entry is not
    this build's run id is behind, and the next run loads it whole."""


class _Unchecked:
    """``planned`` not given: claim whatever the record is now (tests and tools only)."""


UNCHECKED: Any = _Unchecked()


def manual_run_id() -> str:
    """A run id for an operator's change (``MANUAL_RUN`` + time + random)."""
    import uuid

    return f"{MANUAL_RUN}{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def marked(
    current: FileRecord | None, dataset: str, source_key: str, mark: FileMark | None, who: str, why: str
) -> FileRecord:
    """The record an operator's mark stores over ``current``; the rule every ledger applies.

    Raises ``MarkRefused`` when there is nothing to unmark. A file the ledger has never seen
    gets a record with status ``new`` (its checksum is learnt when a run takes it)."""
    if not why.strip():
        raise MarkRefused(f"{source_key}: say why (--why TEXT): it is kept in the file's history")
    if mark is None and (current is None or current.mark is None):
        raise MarkRefused(f"{source_key}: not marked; nothing to undo")
    run_id = manual_run_id()
    if current is None:
        return FileRecord(dataset, source_key, "", 0, "new", run_id, mark=mark, changed_by=who, why=why.strip())
    return current.evolve(mark=mark, run_id=run_id, changed_by=who, why=why.strip())


def same_version(current: FileRecord | None, seen: FileRecord | None) -> bool:
    """True when ``current`` is the record as ``seen`` (both absent, or the same write)."""
    if current is None or seen is None:
        return current is None and seen is None
    return current.updated_at == seen.updated_at and current.checksum == seen.checksum


def check_expected(current: FileRecord | None, expected: FileRecord | None, key: str) -> None:
    """Raise ``ClaimConflict`` unless the stored record is still the one this run last wrote."""
    if expected is not None and not same_version(current, expected):
        holder = f"run {current.run_id} ({current.status})" if current else "nobody (the record is gone)"
        raise ClaimConflict(f"{key}: the ledger record changed under this run; it now belongs to {holder}")


def claimed_record(
    current: FileRecord | None,
    record: FileRecord,
    stale_after_s: float,
    run_is_live: Callable[[str], bool],
    planned: FileRecord | None = UNCHECKED,
) -> FileRecord:
    """What a claim of ``record`` stores over ``current``; the rule every ledger applies.

    Raises ``ClaimConflict`` when the record changed since the run planned the
    file (``planned``: the record the plan saw, None for a new file), and while
    another run holds a fresh claim and is still live. The claim keeps the
    earlier outputs and partitions, which the new outputs replace, and the
    delivery time first seen for this content.
    """
    if planned is not UNCHECKED and not same_version(current, planned):
        now = f"{current.status} by run {current.run_id}" if current else "gone"
        raise ClaimConflict(f"{record.source_key}: changed since this run planned it (now {now}); left to that run")
    if current is not None and current.status == "claimed" and current.run_id != record.run_id:
        age = (utcnow() - current.updated_at).total_seconds()
        if age < stale_after_s and run_is_live(current.run_id):
            raise ClaimConflict(
                f"{record.source_key}: claimed by run {current.run_id} {age:.0f}s ago; "
                f"it is taken over after {stale_after_s:.0f}s if that run died"
            )
    same_content = current is not None and current.checksum == record.checksum and current.delivered_at
    return record.evolve(
        status="claimed",
        outputs=current.outputs if current else (),
        partitions=current.partitions if current else (),
        dirty_partitions=current.dirty_partitions if current else (),
        delivered_at=current.delivered_at if same_content and current else record.delivered_at,
    )


def check_lease(
    dataset: str, name: str, holder: str, current: tuple[str, float] | None, run_is_live: Callable[[str], bool]
) -> None:
    """Raise ``LeaseHeld`` while another live run holds an unexpired lease (``current``: holder, expiry)."""
    if current is None:
        return
    other, expires_at = current
    if other != holder and expires_at > time.time() and run_is_live(other):
        raise LeaseHeld(f"{dataset}: the {name} lease is held by run {other} for {expires_at - time.time():.0f}s more")


class Ledger(abc.ABC):
    """Where runs and file outcomes are recorded. Local: SQLite; AWS: DynamoDB."""

    @abc.abstractmethod
    def get_file(self, dataset: str, source_key: str) -> FileRecord | None:
        """The current record of a source file, or None if never seen."""

    @abc.abstractmethod
    def claim_file(
        self, record: FileRecord, stale_after_s: float, planned: FileRecord | None = UNCHECKED
    ) -> FileRecord | None:
        """Atomically claim a file for ``record.run_id`` (see ``claimed_record``).

        Succeeds when the record is still as the run planned it and is not claimed,
        claimed by the same run, or claimed longer than ``stale_after_s`` ago or by a
        run that ended. Returns the previous record (None for a new file) and raises
        ``ClaimConflict`` otherwise. The stored record keeps the previous ``outputs``
        and ``partitions`` so the new outputs can replace them.
        """

    @abc.abstractmethod
    def save_file(self, record: FileRecord, expected: FileRecord | None = None) -> None:
        """Store the new state of a file (and append it to the file's history).

        With ``expected``, only if the stored record is still that one (else ``ClaimConflict``).
        """

    @abc.abstractmethod
    def files(
        self,
        dataset: str | None = None,
        status: FileStatus | None = None,
        run_id: str | None = None,
    ) -> list[FileRecord]:
        """Current file records, filtered."""

    @abc.abstractmethod
    def save_new_file(self, record: FileRecord) -> None:
        """Store the first record of a file (and append it to its history); ``ClaimConflict``
        when the file has a record already."""

    def mark_file(self, dataset: str, source_key: str, mark: FileMark | None, who: str, why: str) -> FileRecord:
        """Mark a file ``skip`` or ``force`` (None: remove the mark) for ``why``; return the new record.

        Conditional on the record as read, like every write after a claim: a run that takes
        the file meanwhile wins, and the mark is refused (``ClaimConflict``: mark it again).
        A file claimed by a live run is refused (``MarkRefused``): mark it once that run ends."""
        current = self.get_file(dataset, source_key)
        if current is not None and current.status == "claimed" and self.run_is_live(current.run_id):
            raise MarkRefused(f"{source_key}: run {current.run_id} is processing it; mark it once that run ends")
        record = marked(current, dataset, source_key, mark, who, why)
        if current is None:
            self.save_new_file(record)
        else:
            self.save_file(record, expected=current)
        return record

    @abc.abstractmethod
    def file_history(self, dataset: str, source_key: str) -> list[FileRecord]:
        """Every state of one file, oldest first: runs' and operators' (the file's audit trail)."""

    @abc.abstractmethod
    def run_status(self, run_id: str) -> str | None:
        """The status a run last recorded (``running``, ``succeeded``...); None: no such run."""

    @abc.abstractmethod
    def run_is_live(self, run_id: str) -> bool:
        """False once the run recorded its end (or, locally, its process is gone)."""

    @abc.abstractmethod
    def acquire_lease(self, dataset: str, name: str, holder: str, ttl_s: float) -> None:
        """Hold the lease ``name`` of ``dataset`` for run ``holder`` for ``ttl_s`` seconds (again: extend it).

        Raises ``LeaseHeld`` while another run holds it, unless that run has ended or the lease expired.
        """

    @abc.abstractmethod
    def release_lease(self, dataset: str, name: str, holder: str) -> None:
        """Give the lease up (nothing happens when ``holder`` no longer has it)."""

    @abc.abstractmethod
    def history(self, run_id: str) -> list[FileRecord]:
        """Every file state recorded by one run (the audit trail)."""

    @abc.abstractmethod
    def save_run(self, run: RunRecord) -> None:
        """Insert or update a run."""

    @abc.abstractmethod
    def runs(self, dataset: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""

    @abc.abstractmethod
    def last_build(self, model: str) -> ModelBuild | None:
        """The last successful build of ``model``; None: never built."""

    @abc.abstractmethod
    def save_build(self, build: ModelBuild) -> None:
        """Record a successful build of a model (replacing the one before)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


LEASE_POLL_S = 2.0
MAX_LEASE_WAIT_S = 900.0


def wait_for_lease(ledger: Ledger, dataset: str, name: str, holder: str, ttl_s: float) -> None:
    """Take the lease ``name`` of ``dataset`` for ``holder``, waiting (at most 15 minutes, or
    ``ttl_s`` if shorter) while another live run holds it; then ``LeaseHeld``."""
    deadline = time.monotonic() + min(ttl_s, MAX_LEASE_WAIT_S)
    while True:
        try:
            ledger.acquire_lease(dataset, name, holder, ttl_s)
            return
        except LeaseHeld as exc:
            if time.monotonic() > deadline:
                raise
            log.info("waiting: %s", exc)
            time.sleep(LEASE_POLL_S)
