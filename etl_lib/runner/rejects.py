"""``etl-lib rejects``: rejected rows summarised by reason, per file, with a few examples.

Read-only and without Spark: the ledger names each file's rejected output (found by name,
never by listing the dataset), and those JSON Lines are streamed once. Memory holds only
the counts per reason and ``EXAMPLES`` rows per reason, however many rows were rejected.
A row counts once under each rule it failed, so a file's reason counts may add up to more
than its rejected rows.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from etl_lib.ledger.base import FileRecord, Ledger
from etl_lib.storage.base import Storage

EXAMPLES = 3
"""Examples kept per reason and file."""


@dataclass
class ReasonSummary:
    """One rule's failures in one file."""

    reason: str
    rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FileRejects:
    """A file's rejected rows by reason."""

    file: str
    status: str
    rows_in: int
    rows_rejected: int
    reasons: dict[str, ReasonSummary] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, reasons by count (then text)."""
        ordered = sorted(self.reasons.values(), key=lambda r: (-r.rows, r.reason))
        return {
            "file": self.file,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_rejected": self.rows_rejected,
            "reasons": [{"reason": r.reason, "rows": r.rows, "examples": r.examples} for r in ordered],
        }


def _example(row: dict[str, Any]) -> dict[str, Any]:
    """Where a rejected row is and what it held: its record number (header not counted) and
    its values by header, or the line as delivered when it could not be split into fields."""
    values = row.get("_raw") or {}
    shown: dict[str, Any] = {"row": row.get("_source_row")}
    if row.get("_corrupt_record") is not None:
        shown["line"] = row["_corrupt_record"]
    else:
        shown["values"] = values
    return shown


def file_rejects(storage: Storage, record: FileRecord, dataset: str) -> FileRejects:
    """The rejected rows of one file, summarised (its rejected outputs streamed once)."""
    summary = FileRejects(record.source_key, record.status, record.rows_in, record.rows_rejected)
    for key in sorted(o for o in record.outputs if o.startswith(f"rejected/{dataset}/")):
        with storage.open(key) as raw:
            for line in io.TextIOWrapper(raw, encoding="utf-8"):
                if not line.strip():
                    continue
                row = json.loads(line)
                for reason in row.get("_reasons") or ["(no reason recorded)"]:
                    found = summary.reasons.setdefault(reason, ReasonSummary(reason))
                    found.rows += 1
                    if len(found.examples) < EXAMPLES:
                        found.examples.append(_example(row))
    for found in summary.reasons.values():
        found.examples.sort(key=lambda e: e.get("row") or 0)
    return summary


def rejects(storage: Storage, ledger: Ledger, dataset: str, files: tuple[str, ...] = ()) -> list[FileRejects]:
    """Every file with rejected rows (or only ``files``, rejected rows or not), oldest first;
    a file that failed whole is listed with its reason."""
    chosen = set(files)
    found = []
    for record in ledger.files(dataset=dataset):
        if chosen and record.source_key not in chosen:
            continue
        if not chosen and not record.rows_rejected and record.status != "failed":
            continue
        summary = file_rejects(storage, record, dataset)
        if record.status == "failed" and record.error:
            whole = f"file failed: {record.error}"
            summary.reasons.setdefault(whole, ReasonSummary(whole))
        found.append(summary)
    return found
