"""The local ledger: one SQLite file, by default ``{lake}/_meta/ledger.sqlite``.

Claims are conditional updates inside an immediate transaction, so two local
processes never both claim a file. A claim is taken over at once when its run
has ended (recorded as failed) or was a process on this host that no longer
exists, and after ``stale_after_s`` otherwise.

It is the local twin of ``DynamoLedger``: ``faults`` (``etl_lib.faults``) or
``fail_on`` (operation names that always fail) make chosen operations raise
``LedgerUnavailable``, to test the pipeline's error paths without a cloud.
SQLite's own errors are translated here: a locked or busy database is
transient (``LedgerUnavailable``), anything else terminal (``LedgerError``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, TypeVar

from etl_lib.errors import ClaimConflict, LedgerError, LedgerUnavailable
from etl_lib.faults import Fault, Faults
from etl_lib.ledger.base import (
    MANUAL_RUN,
    UNCHECKED,
    FileRecord,
    FileStatus,
    Ledger,
    ModelBuild,
    RunRecord,
    check_expected,
    check_lease,
    claimed_record,
)

_FILE_COLUMNS = [f.name for f in fields(FileRecord)]
_RUN_COLUMNS = [f.name for f in fields(RunRecord)]
_JSON_FIELDS = {"outputs", "partitions", "dirty_partitions", "warnings"}
_TIME_FIELDS = {"updated_at", "started_at", "finished_at"}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files ({", ".join(_FILE_COLUMNS)}, PRIMARY KEY (dataset, source_key));
CREATE TABLE IF NOT EXISTS file_history ({", ".join(_FILE_COLUMNS)});
CREATE INDEX IF NOT EXISTS file_history_run ON file_history (run_id);
CREATE INDEX IF NOT EXISTS file_history_file ON file_history (dataset, source_key);
CREATE TABLE IF NOT EXISTS runs ({", ".join(_RUN_COLUMNS)}, PRIMARY KEY (run_id, dataset, stage));
CREATE TABLE IF NOT EXISTS leases (dataset, name, holder, expires_at, PRIMARY KEY (dataset, name));
CREATE TABLE IF NOT EXISTS model_builds (model PRIMARY KEY, run_id, definition, inputs, rows, built_at, loaded);
"""


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Serialise a method on the ledger's lock: one connection is shared by the run's threads."""

    @functools.wraps(method)
    def wrapper(self: SqliteLedger, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _to_row(obj: FileRecord | RunRecord) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in asdict(obj).items():
        if key in _JSON_FIELDS:
            row[key] = json.dumps(list(value))
        elif isinstance(value, datetime):
            row[key] = value.isoformat()
        else:
            row[key] = value
    return row


def _from_row(row: sqlite3.Row, cls: type[Any]) -> Any:
    values: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row iterates values, not keys
        value = row[key]
        if key in _JSON_FIELDS:
            value = tuple(json.loads(value or "[]"))
        elif key in _TIME_FIELDS and value is not None:
            value = datetime.fromisoformat(value)
        values[key] = value
    return cls(**values)


def _translate(exc: sqlite3.Error, what: str) -> LedgerError:
    """A locked or busy database (after the 30 s busy timeout) is transient; the rest is terminal."""
    text = str(exc).lower()
    transient = isinstance(exc, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "busy", "disk i/o error", "unable to open")
    )
    return (LedgerUnavailable if transient else LedgerError)(f"{what}: {exc}")


class SqliteLedger(Ledger):
    """A ledger in one SQLite file; safe for several local processes."""

    def __init__(self, path: str, fail_on: Iterable[str] = (), faults: Faults | None = None) -> None:
        self.path = path
        self.faults = faults or Faults()
        for operation in fail_on:
            self.faults.add(Fault(f"ledger.{operation}"))
        self._lock = threading.RLock()
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.executescript(_SCHEMA)
            self._add_new_columns()
        except sqlite3.Error as exc:
            raise _translate(exc, f"cannot open ledger {path}") from None

    def _add_new_columns(self) -> None:
        """A ledger written by an earlier version gains the columns added since (they start empty)."""
        for table, columns in (("files", _FILE_COLUMNS), ("file_history", _FILE_COLUMNS), ("runs", _RUN_COLUMNS)):
            have = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    @contextlib.contextmanager
    def _immediate(self, what: str) -> Iterator[None]:
        """One write transaction that holds SQLite's write lock from its start (so reads in it
        cannot be overtaken by another process); rolled back on any error, SQLite's translated."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _translate(exc, f"ledger {self.path}: {what}") from None

    def _check(self, operation: str, subject: str = "") -> None:
        self.faults.check(f"ledger.{operation}", subject, LedgerUnavailable, LedgerError)

    def _upsert(self, table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        self._conn.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", row)

    @_locked
    def get_file(self, dataset: str, source_key: str) -> FileRecord | None:
        """The current record of a source file, or None if never seen."""
        self._check("get_file", source_key)
        row = self._conn.execute(
            "SELECT * FROM files WHERE dataset = ? AND source_key = ?", (dataset, source_key)
        ).fetchone()
        return None if row is None else _from_row(row, FileRecord)

    @_locked
    def claim_file(
        self, record: FileRecord, stale_after_s: float, planned: FileRecord | None = UNCHECKED
    ) -> FileRecord | None:
        """Claim a file in one immediate transaction (see ``Ledger.claim_file``)."""
        self._check("claim_file", record.source_key)
        with self._immediate(f"claim of {record.source_key} failed"):
            current = self.get_file(record.dataset, record.source_key)
            claimed = claimed_record(current, record, stale_after_s, self.run_is_live, planned)
            self._upsert("files", _to_row(claimed))
        return current

    def run_status(self, run_id: str) -> str | None:
        """The status a run last recorded; None: no such run."""
        row = self._conn.execute("SELECT status FROM runs WHERE run_id = ? LIMIT 1", (run_id,)).fetchone()
        return None if row is None else str(row["status"])

    def run_is_live(self, run_id: str) -> bool:
        """False when the claiming run has ended, or was a process on this host that is gone
        (an operator's change is never live)."""
        if run_id.startswith(MANUAL_RUN):
            return False
        row = self._conn.execute("SELECT status, owner FROM runs WHERE run_id = ? LIMIT 1", (run_id,)).fetchone()
        if row is None:
            return True
        if row["status"] != "running":
            return False
        host, _, pid = (row["owner"] or "").rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @_locked
    def save_file(self, record: FileRecord, expected: FileRecord | None = None) -> None:
        """Store the new state of a file (if still ``expected``) and append it to the history."""
        self._check("save_file", f"{record.status} {record.source_key}")
        row = _to_row(record)
        with self._immediate(f"cannot save {record.source_key}"):
            if expected is not None:
                check_expected(self.get_file(record.dataset, record.source_key), expected, record.source_key)
            self._append(row)

    @_locked
    def save_new_file(self, record: FileRecord) -> None:
        """Store a file's first record (``ClaimConflict`` when it has one) and append it to the history."""
        self._check("save_file", f"{record.status} {record.source_key}")
        row = _to_row(record)
        with self._immediate(f"cannot save {record.source_key}"):
            current = self.get_file(record.dataset, record.source_key)
            if current is not None:
                raise ClaimConflict(f"{record.source_key}: recorded meanwhile by run {current.run_id}; try again")
            self._append(row)

    def _append(self, row: dict[str, Any]) -> None:
        """The file's current record and its history entry (inside the caller's transaction)."""
        self._upsert("files", row)
        self._conn.execute(
            f"INSERT INTO file_history ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row
        )

    @_locked
    def file_history(self, dataset: str, source_key: str) -> list[FileRecord]:
        """Every state of one file, oldest first."""
        self._check("file_history", source_key)
        rows = self._conn.execute(
            "SELECT * FROM file_history WHERE dataset = ? AND source_key = ? ORDER BY updated_at",
            (dataset, source_key),
        )
        return [_from_row(r, FileRecord) for r in rows]

    @_locked
    def files(
        self,
        dataset: str | None = None,
        status: FileStatus | None = None,
        run_id: str | None = None,
    ) -> list[FileRecord]:
        """Current file records, filtered, oldest first."""
        self._check("files", status or "")
        where, args = self._where(dataset=dataset, status=status, run_id=run_id)
        rows = self._conn.execute(f"SELECT * FROM files {where} ORDER BY updated_at, source_key", args)
        return [_from_row(r, FileRecord) for r in rows]

    @_locked
    def acquire_lease(self, dataset: str, name: str, holder: str, ttl_s: float) -> None:
        """Hold the lease in one immediate transaction (see ``Ledger.acquire_lease``)."""
        self._check("acquire_lease", f"{dataset} {name}")
        with self._immediate(f"cannot take the {name} lease of {dataset}"):
            row = self._conn.execute(
                "SELECT holder, expires_at FROM leases WHERE dataset = ? AND name = ?", (dataset, name)
            ).fetchone()
            current = None if row is None else (row["holder"], float(row["expires_at"]))
            check_lease(dataset, name, holder, current, self.run_is_live)
            self._conn.execute(
                "INSERT OR REPLACE INTO leases (dataset, name, holder, expires_at) VALUES (?, ?, ?, ?)",
                (dataset, name, holder, time.time() + ttl_s),
            )

    @_locked
    def release_lease(self, dataset: str, name: str, holder: str) -> None:
        """Give the lease up, if this holder still has it."""
        try:
            self._conn.execute(
                "DELETE FROM leases WHERE dataset = ? AND name = ? AND holder = ?", (dataset, name, holder)
            )
        except sqlite3.Error as exc:
            raise _translate(exc, f"ledger {self.path}: cannot release the {name} lease of {dataset}") from None

    @_locked
    def history(self, run_id: str) -> list[FileRecord]:
        """Every file state recorded by one run."""
        rows = self._conn.execute("SELECT * FROM file_history WHERE run_id = ? ORDER BY updated_at", (run_id,))
        return [_from_row(r, FileRecord) for r in rows]

    @_locked
    def save_run(self, run: RunRecord) -> None:
        """Insert or update a run."""
        self._check("save_run", run.status)
        try:
            self._upsert("runs", _to_row(run))
        except sqlite3.Error as exc:
            raise _translate(exc, f"ledger {self.path}: cannot save run {run.run_id}") from None

    @_locked
    def runs(self, dataset: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        where, args = self._where(dataset=dataset)
        rows = self._conn.execute(f"SELECT * FROM runs {where} ORDER BY started_at DESC LIMIT ?", (*args, limit))
        return [_from_row(r, RunRecord) for r in rows]

    @_locked
    def last_build(self, model: str) -> ModelBuild | None:
        """The last successful build of ``model``."""
        self._check("last_build", model)
        row = self._conn.execute("SELECT * FROM model_builds WHERE model = ?", (model,)).fetchone()
        if row is None:
            return None
        return ModelBuild(
            model=row["model"],
            run_id=row["run_id"],
            definition=row["definition"],
            inputs=json.loads(row["inputs"]),
            rows=int(row["rows"]),
            built_at=datetime.fromisoformat(row["built_at"]),
            loaded=json.loads(row["loaded"] or "{}"),
        )

    @_locked
    def save_build(self, build: ModelBuild) -> None:
        """Insert or replace the model's last build."""
        self._check("save_build", build.model)
        row = {
            "model": build.model,
            "run_id": build.run_id,
            "definition": build.definition,
            "inputs": json.dumps(build.inputs, sort_keys=True),
            "rows": build.rows,
            "built_at": build.built_at.isoformat(),
            "loaded": json.dumps(build.loaded, sort_keys=True),
        }
        try:
            self._upsert("model_builds", row)
        except sqlite3.Error as exc:
            raise _translate(exc, f"ledger {self.path}: cannot save the build of {build.model}") from None

    @staticmethod
    def _where(**filters: Any) -> tuple[str, tuple[Any, ...]]:
        used = {k: v for k, v in filters.items() if v is not None}
        if not used:
            return "", ()
        return "WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
