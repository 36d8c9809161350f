"""Plan a raw -> processed run: which delivered files to process, and why.

Pure decisions over one listing and one ledger query; no data is read, and no
request is made per file the lake already holds. A file is
planned when it is new, its content changed (re-delivery), its claim is stale,
or it is named with ``--source``. Failed files are retried only when their
content changes or when named.

Every delivered ``.csv``/``.csv.gz`` object is planned, hidden names (``_x``,
``.x``) included. An object whose key cannot be used (a ``..`` segment, say) or
whose checksum is refused is planned with a ``problem``: that file alone is
recorded as failed, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl_lib.errors import SourceFileError, StorageError, TransientError
from etl_lib.ledger.base import FileRecord, Ledger
from etl_lib.storage.base import ObjectInfo, Storage, unusable_key_reason

RAW_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class FileTask:
    """One source file to process."""

    source: ObjectInfo
    checksum: str
    reason: str
    """new | changed | retry | requested"""
    problem: str | None = None
    """Why the file cannot be processed at all (recorded as its failure), or None."""
    planned: FileRecord | None = None
    """The ledger record the plan saw (None: a new file); the claim holds only if it is unchanged."""


def is_raw_file(key: str) -> bool:
    """True for the file kinds the pipeline reads (``.csv``, ``.csv.gz``, any case)."""
    return key.lower().endswith(RAW_SUFFIXES)


def plan_files(
    storage: Storage,
    ledger: Ledger,
    dataset: str,
    sources: list[str] | None = None,
) -> list[FileTask]:
    """The files to process, in delivery order (modified time, then key).

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
    known = {r.source_key: r for r in ledger.files(dataset=dataset)}  # one query, not one read per file
    tasks = []
    for obj in sorted(candidates, key=lambda o: (o.modified, o.key)):
        if not is_raw_file(obj.key):
            raise SourceFileError(obj.key, f"not a CSV file: expected one of {', '.join(RAW_SUFFIXES)}")
        record = known.get(obj.key)
        checksum, problem = _checksum(storage, obj, record)
        reason = _reason(record, checksum, requested=bool(sources))
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


def _reason(record: FileRecord | None, checksum: str, requested: bool) -> str | None:
    if record is None:
        return "new"
    if record.checksum != checksum:
        return "changed"
    if record.status == "claimed":
        return "retry"
    if requested and record.status == "failed":
        return "requested"
    return None


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
