"""Exceptions per layer, transient and terminal apart.

Every adapter (storage, ledger, notifier, catalog, the Spark engine) turns its
backend's errors into these classes at its own boundary, so the runner decides
from the class alone:

- ``TransientError`` (throttling, 5xx, timeouts, connection resets, a JVM that
  died or ran out of memory): already retried with backoff by the adapter; when
  it persists, the file stays claimable and the next run redoes it. A file is
  never recorded ``failed`` for a transient error.
- everything else is terminal: a bad spec or argument, a bad file (recorded
  ``failed`` with its reason), or a resource that is missing or refused (access
  denied, no such bucket or table), named in one line.

Errors carry the file and run they concern so the CLI and the ledger can print
and record one line.
"""

from __future__ import annotations


class EtlError(Exception):
    """Base of every etl_lib error; ``str()`` is a one-line message for people."""

    retryable = False


class TransientError(EtlError):
    """A failure that a later attempt may not meet (throttling, 5xx, timeout, reset, engine crash)."""

    retryable = True


class SpecError(EtlError):
    """The dataset spec is invalid; reported before any data is read."""

    def __init__(
        self,
        path: str,
        message: str,
        dataset: str | None = None,
        problems: tuple[str, ...] | None = None,
        kind: str = "dataset",
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.kind = kind
        """What the file defines: a ``dataset`` or a ``model``."""
        self.problems = problems or (message,)
        """Every problem found, a line each (``message`` is the first, with how many more)."""
        more = len(self.problems) - 1
        if more and message == self.problems[0]:
            message += f" (and {more} more: etl-lib validate-spec lists them)"
        self.message = message
        where = f"{path}" + (f" ({kind} '{dataset}')" if dataset else "")
        super().__init__(f"{where}: {message}")

    @property
    def where(self) -> str:
        """The spec's path, and its dataset when known."""
        return f"{self.path}" + (f" ({self.kind} '{self.dataset}')" if self.dataset else "")


class SourceFileError(EtlError):
    """One source file cannot be processed (unreadable, missing column...). The
    other files of the run go on; this one is recorded as failed."""

    def __init__(self, source: str, message: str, run_id: str | None = None) -> None:
        self.source = source
        self.message = message
        self.run_id = run_id
        super().__init__(f"{source}: {message}")


class ReconciliationError(SourceFileError):
    """Rows read != rows valid + rows rejected for a file."""


class LedgerError(EtlError):
    """The run ledger refused a read or write (no such table, access denied, bad item)."""


class LedgerUnavailable(LedgerError, TransientError):
    """The run ledger could not be reached or throttled us; retrying later may work."""


class ClaimConflict(LedgerError):
    """Another live run holds the claim on this file."""


class MarkRefused(LedgerError):
    """An operator's mark of a file cannot be applied (nothing to undo, a live run holds it, no reason given)."""


class LeaseHeld(LedgerError, TransientError):
    """Another live run holds a dataset's lease (it is rewriting analytics-ready): try again later."""


class StorageError(EtlError):
    """The lake refused an operation: access denied, no such bucket, a key that cannot be used."""


class StorageUnavailable(StorageError, TransientError):
    """The lake could not be reached or throttled us (5xx, SlowDown, timeout, reset)."""


class NotifierError(EtlError):
    """The notifier refused a message (no such topic, access denied)."""


class NotifierUnavailable(NotifierError, TransientError):
    """The notifier could not be reached or throttled us."""


class CatalogError(EtlError):
    """The data catalog refused an update (no such database, access denied, invalid table)."""


class CatalogUnavailable(CatalogError, TransientError):
    """The data catalog could not be reached or throttled us."""


class EngineError(TransientError):
    """Spark itself failed (the JVM died, ran out of memory, lost an executor): not the file's fault.

    The message says what happened and which setting to change; the file is retried by the next run.
    """


class ConfigError(EtlError):
    """Bad command-line or job arguments (unknown ledger URI, missing path...)."""


class TableCommitConflict(TransientError):
    """Another writer committed to an Iceberg table between a run's write and its publish (a
    compaction, a table optimizer): nothing was published; the run plans and writes again."""
