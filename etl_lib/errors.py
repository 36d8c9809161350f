"""Exceptions per layer. Terminal errors (bad spec, bad file) are apart from
retryable ones (a storage or ledger hiccup), and carry the file and run they
concern so the CLI and the ledger can print and record one line."""

from __future__ import annotations


class EtlError(Exception):
    """Base of every etl_lib error; ``str()`` is a one-line message for people."""

    retryable = False


class SpecError(EtlError):
    """The dataset spec is invalid; reported before any data is read."""

    def __init__(self, path: str, message: str, dataset: str | None = None) -> None:
        self.path = path
        self.dataset = dataset
        self.message = message
        where = f"{path}" + (f" (dataset '{dataset}')" if dataset else "")
        super().__init__(f"{where}: {message}")


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
    """The run ledger could not be read or written."""

    retryable = True


class ClaimConflict(LedgerError):
    """Another live run holds the claim on this file."""

    retryable = False


class StorageError(EtlError):
    """Listing, moving or deleting lake objects failed."""

    retryable = True


class ConfigError(EtlError):
    """Bad command-line or job arguments (unknown ledger URI, missing path...)."""
