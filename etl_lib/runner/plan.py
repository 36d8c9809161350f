"""Plan a run: which delivered files to process and why, decided before anything is done.

``plan_run`` builds one ``RunPlan`` from read-only state: one listing of ``raw/{dataset}/``,
one ledger query, the analytics intent. No data is read, no JVM is needed, and no request
is made per file the lake already holds. ``etl-lib plan`` prints it; ``run`` logs it and
processes exactly its ``tasks``.

Every delivered ``.csv``/``.csv.gz`` object gets a reason when there is something to say:

- ``new``: never seen; ``changed``: its content changed (a re-delivery);
- ``retry``: a run that ended (failed, or died) left it claimed;
- ``requested``: a failed file named with ``--source``; ``forced``: marked ``force``;
- ``skipped``: marked ``skip``; never processed, even when named;
- ``claimed``: another live run is processing it; left to that run;
- ``spec changed``: processed with another version of the spec; ``run`` leaves it,
  ``etl-lib reprocess --changed-spec`` redoes it;
- ``reprocess``: chosen by ``etl-lib reprocess`` (``reprocess_selection``): redone from raw
  with the current spec, though its content did not change.

Failed files are retried only when their content changes, or when named or forced. An
object whose key cannot be used (a ``..`` segment, say) or whose checksum is refused is
planned with a ``problem``: that file alone is recorded as failed, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from etl_lib.errors import ConfigError, SourceFileError, StorageError, TransientError
from etl_lib.ledger.base import FileRecord, Ledger, utcnow
from etl_lib.storage.base import ObjectInfo, Storage, unusable_key_reason

RAW_SUFFIXES = (".csv", ".csv.gz")

REASONS = {
    "new": "never seen",
    "changed": "content changed since it was processed",
    "retry": "retry after failure: a run that ended left it claimed",
    "requested": "named with --source",
    "forced": "marked force",
    "skipped": "marked skip: never processed",
    "claimed": "claimed by another run, which is processing it",
    "spec changed": "processed with another spec version: etl-lib reprocess --changed-spec redoes it",
    "reprocess": "redone from raw with the current spec",
}
"""What each reason means, as ``etl-lib plan`` says it."""
LEFT_ALONE = ("skipped", "claimed", "spec changed")
"""Reasons of files a run lists but does not process."""


@dataclass(frozen=True)
class FileTask:
    """One source file the plan has something to say about."""

    source: ObjectInfo
    checksum: str
    reason: str
    """A key of ``REASONS``."""
    problem: str | None = None
    """Why the file cannot be processed at all (recorded as its failure), or None."""
    planned: FileRecord | None = None
    """The ledger record the plan saw (None: a new file); the claim holds only if it is unchanged."""

    @property
    def process(self) -> bool:
        """True when the run processes the file (else it is listed to say why not)."""
        return self.reason not in LEFT_ALONE


@dataclass(frozen=True)
class RunPlan:
    """What a run would do, decided from read-only state."""

    dataset: str
    spec_fingerprint: str
    files: tuple[FileTask, ...]
    """Every file with a reason, in delivery order."""
    pending: tuple[str, ...] = ()
    """Processed files whose rows analytics-ready has not taken yet."""
    partitions: tuple[str, ...] = ()
    """Analytics-ready partitions known now to be rewritten: those of ``pending`` files and of
    an unfinished earlier run. The rows of the files processed add theirs (and, for a keyed
    dataset, the partitions holding the current rows of their keys)."""
    unfinished: tuple[str, ...] = ()
    """Partitions an earlier analytics run set out to rewrite and may not have finished."""
    receipts_owed: tuple[FileRecord, ...] = ()
    """Files whose receipt rows an earlier run did not write (``runner.receipts``)."""

    @property
    def tasks(self) -> tuple[FileTask, ...]:
        """The files the run processes, in order."""
        return tuple(f for f in self.files if f.process)

    def as_json(self) -> dict[str, Any]:
        """The plan as ``etl-lib plan --json`` prints it."""
        return {
            "dataset": self.dataset,
            "spec_fingerprint": self.spec_fingerprint,
            "files": [
                {
                    "file": f.source.key,
                    "size": f.source.size,
                    "reason": f.reason,
                    "action": "process" if f.process else "leave",
                    "problem": f.problem,
                    "spec_fingerprint": f.planned.spec_fingerprint if f.planned else None,
                }
                for f in self.files
            ],
            "receipts_owed": [r.source_key for r in self.receipts_owed],
            "analytics": {
                "pending_files": list(self.pending),
                "partitions": list(self.partitions),
                "unfinished_partitions": list(self.unfinished),
            },
        }

    def describe(self) -> str:
        """A few lines for people and logs."""
        todo = self.tasks
        lines = [f"plan for {self.dataset} (spec {self.spec_fingerprint}): {len(todo)} file(s) to process"]
        for f in self.files:
            action = "process" if f.process else "leave"
            problem = f" — {f.problem}" if f.problem else ""
            lines.append(f"  {action:7s} {f.source.key} ({f.reason}: {REASONS[f.reason]}){problem}")
        if self.pending or self.partitions or todo:
            parts = ", ".join(self.partitions) or "none yet"
            more = "; plus the partitions of the files processed" if todo else ""
            lines.append(
                f"  analytics-ready: {len(self.pending)} file(s) pending; partitions to rewrite: {parts}{more}"
            )
        if self.unfinished:
            lines.append(f"  analytics-ready: finishing an earlier run's rewrite of {', '.join(self.unfinished)}")
        if self.receipts_owed:
            lines.append(f"  receipts: writing the rows of {len(self.receipts_owed)} an earlier run left owed")
        return "\n".join(lines)


def reprocess_selection(
    ledger: Ledger,
    dataset: str,
    spec_fingerprint: str,
    changed_spec: bool = False,
    files: tuple[str, ...] = (),
    since: float | None = None,
) -> list[str]:
    """The files ``etl-lib reprocess`` redoes (from one ledger query): ``files``; with
    ``changed_spec``, every file processed or failed with another spec version (or before
    versions were recorded) and every file left claimed (a reprocess killed halfway is
    finished by running it again); with ``since`` (epoch seconds), every file delivered
    then or later. Skipped files stay skipped (the plan says so)."""
    chosen = set(files)
    for record in ledger.files(dataset=dataset):
        other_version = record.status != "new" and record.spec_fingerprint != spec_fingerprint
        if changed_spec and (record.status == "claimed" or other_version):
            chosen.add(record.source_key)
        if since is not None and record.status != "new" and (record.delivered_at or 0) >= since:
            chosen.add(record.source_key)
    return sorted(chosen)


def since_epoch(text: str) -> float:
    """A UTC date or date-time (ISO 8601: ``2024-05-01``, ``2024-05-01T06:00``) as epoch seconds."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"since {text!r}: expected a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def reprocess_request(text: str, named: tuple[str, ...]) -> dict[str, Any]:
    """The Glue job argument ``--reprocess`` as ``reprocess_selection``'s keywords:
    ``changed-spec``, ``since=DATE``, or ``files`` (the files of ``--source_keys``)."""
    text = text.strip()
    if text == "changed-spec":
        return {"changed_spec": True, "files": named}
    if text.startswith("since="):
        return {"since": since_epoch(text[len("since=") :]), "files": named}
    if text == "files" and named:
        return {"files": named}
    if text == "files":
        raise ConfigError("--reprocess files: name them with --source_keys KEY,KEY")
    raise ConfigError(f"--reprocess {text!r}: expected changed-spec, since=YYYY-MM-DD or files")


def intent_key(dataset: str) -> str:
    """Where an analytics run records the partitions it is about to rewrite."""
    return f"_meta/analytics/{dataset}/pending.json"


def analytics_intent(storage: Storage, dataset: str) -> set[str]:
    """Partitions an earlier analytics run set out to rewrite and may not have finished."""
    key = intent_key(dataset)
    if not storage.exists(key):
        return set()
    with storage.open(key) as handle:
        return set(json.loads(handle.read().decode("utf-8")))


def pending_records(ledger: Ledger, dataset: str) -> list[FileRecord]:
    """Files whose rows analytics-ready has not taken yet: ``processed`` ones, and the earlier
    version kept by a re-delivery that failed (a ``failed`` record that still has dirty partitions)."""
    failed = [f for f in ledger.files(dataset=dataset, status="failed") if f.dirty_partitions]
    return ledger.files(dataset=dataset, status="processed") + failed


def plan_run(
    storage: Storage,
    ledger: Ledger,
    dataset: str,
    spec_fingerprint: str,
    sources: list[str] | None = None,
    stale_after_s: float = float("inf"),
    stage: str = "all",
    redo: bool = False,
) -> RunPlan:
    """The plan of a run of ``stage`` (see the module's docstring). ``redo``: a reprocess of
    ``sources`` (unchanged files are redone; with no sources, no file is)."""
    files: list[FileTask] = []
    owed: list[FileRecord] = []
    if stage in ("raw-to-processed", "all"):
        known = {r.source_key: r for r in ledger.files(dataset=dataset)}  # one query, not one read per file
        owed = [r for r in known.values() if r.receipt_owed and r.status in ("processed", "published")]
        if sources or not redo:
            files = plan_files(storage, ledger, dataset, sources, spec_fingerprint, stale_after_s, redo, known)
    pending: list[FileRecord] = []
    unfinished: set[str] = set()
    if stage in ("processed-to-analytics", "all"):
        pending = pending_records(ledger, dataset)
        unfinished = analytics_intent(storage, dataset)
    partitions = {p for f in pending for p in f.dirty_partitions} | unfinished
    return RunPlan(
        dataset,
        spec_fingerprint,
        tuple(files),
        tuple(f.source_key for f in pending),
        tuple(sorted(partitions)),
        tuple(sorted(unfinished)),
        tuple(owed),
    )


def is_raw_file(key: str) -> bool:
    """True for the file kinds the pipeline reads (``.csv``, ``.csv.gz``, any case)."""
    return key.lower().endswith(RAW_SUFFIXES)


def plan_files(
    storage: Storage,
    ledger: Ledger,
    dataset: str,
    sources: list[str] | None = None,
    spec_fingerprint: str | None = None,
    stale_after_s: float = float("inf"),
    redo: bool = False,
    known: dict[str, FileRecord] | None = None,
) -> list[FileTask]:
    """The files with a reason, in delivery order (modified time, then key).

    Raises ``SourceFileError`` when a requested source is missing or lies
    outside ``raw/{dataset}/`` (a job never reads another dataset's files)."""
    prefix = f"raw/{dataset}/"
    if sources:
        # One task per object, however often or however it was named.
        wanted = list(dict.fromkeys(_as_key(s, storage, prefix) for s in sources))
        outside = [w for w in wanted if not w.startswith(prefix) or unusable_key_reason(w)]
        if outside:
            raise SourceFileError(outside[0], f"not a file of this dataset: sources must lie under {prefix}")
        listing = {o.key: o for w in wanted for o in storage.list(w)}
        problems = [w for w in wanted if w not in listing]
        if problems:
            raise SourceFileError(problems[0], f"no such file under {prefix}")
        candidates = [listing[w] for w in wanted]
    else:
        candidates = [o for o in storage.list(prefix) if is_raw_file(o.key)]
    if known is None:
        known = {r.source_key: r for r in ledger.files(dataset=dataset)}  # one query, not one read per file
    tasks = []
    for obj in sorted(candidates, key=lambda o: (o.modified, o.key)):
        if not is_raw_file(obj.key):
            raise SourceFileError(obj.key, f"not a CSV file: expected one of {', '.join(RAW_SUFFIXES)}")
        record = known.get(obj.key)
        checksum, problem = _checksum(storage, obj, record)
        reason = _reason(record, checksum, bool(sources), spec_fingerprint, redo)
        if reason == "retry" and record is not None and _held_by_live_run(ledger, record, stale_after_s):
            reason = "claimed"
        if reason:
            tasks.append(FileTask(obj, checksum, reason, problem, record))
    return tasks


def _checksum(storage: Storage, obj: ObjectInfo, record: FileRecord | None) -> tuple[str, str | None]:
    """The object's checksum, or a stand-in from its listing and the reason it cannot be used.

    No request when the listing carries it (S3's ETag), nor when the object is the one the
    ledger recorded (same size, and last modified when that content was first seen); otherwise
    the storage computes it (locally: a sha256 of the bytes)."""
    problem = unusable_key_reason(obj.key)
    if problem is None:
        if obj.etag:
            return obj.etag, None
        if record is not None and record.size == obj.size and record.delivered_at == obj.modified:
            return record.checksum, None
        try:
            return storage.checksum(obj.key), None
        except TransientError:
            raise
        except StorageError as exc:
            problem = str(exc)
    else:
        problem = f"{problem}; rename the object (it cannot be read safely under this key)"
    return f"unusable:{obj.size}:{obj.modified:.0f}", problem


def _reason(
    record: FileRecord | None, checksum: str, requested: bool, fingerprint: str | None, redo: bool = False
) -> str | None:
    if record is None:
        return "new"
    if record.mark == "skip":
        return "skipped"
    if record.mark == "force":
        return "forced"
    if record.status == "new":
        return "new"
    if record.checksum != checksum:
        return "changed"
    if record.status == "claimed":
        return "retry"
    if redo:
        return "reprocess"
    if requested and record.status == "failed":
        return "requested"
    if fingerprint and record.spec_fingerprint and record.spec_fingerprint != fingerprint:
        return "spec changed"
    return None


def _held_by_live_run(ledger: Ledger, record: FileRecord, stale_after_s: float) -> bool:
    """True while another run holds a fresh claim on the file and has not ended."""
    age = (utcnow() - record.updated_at).total_seconds()
    return age < stale_after_s and ledger.run_is_live(record.run_id)


def source_key(source: str, storage: Storage, dataset: str) -> str:
    """The lake key of a raw file of ``dataset`` named as ``--source`` takes it (a key, a path
    or URI under the lake, or a bare name); ``SourceFileError`` outside ``raw/{dataset}/``."""
    prefix = f"raw/{dataset}/"
    key = _as_key(source, storage, prefix)
    if not key.startswith(prefix) or unusable_key_reason(key):
        raise SourceFileError(key, f"not a file of this dataset: files must lie under {prefix}")
    return key


def _as_key(source: str, storage: Storage, prefix: str) -> str:
    """Accept a lake key (``raw/ds/f.csv``), a path or URI under the lake, or a bare name.

    Local paths are resolved (``..`` and symlinks), so a path cannot reach outside the lake
    by spelling; what is left outside ``raw/{dataset}/`` is refused by the caller."""
    import os

    root = storage.root.rstrip("/") + "/"
    if source.startswith(root):
        source = source[len(root) :]
    elif "://" not in source and (os.path.isabs(source) or source.startswith(".")):
        real_root = os.path.realpath(storage.root).rstrip("/") + "/"
        absolute = os.path.realpath(source)
        return absolute[len(real_root) :] if absolute.startswith(real_root) else absolute
    elif "/" not in source:
        return prefix + source
    return source
