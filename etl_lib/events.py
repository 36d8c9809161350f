"""Structured log lines: one JSON object per file and per stage, next to the human lines.

On Glue they go to the job's stderr, which lands in its CloudWatch log group
(``{prefix}/output``), where the stack's Logs Insights queries read them by field
(``filter etl_lib = "file" and outcome = "failed"``). The fields are fixed here, once:

- ``{"etl_lib": "file", run_id, customer, dataset, stage, file, outcome, rows_in, rows_valid,
  rows_rejected, duration_s, error}``
- ``{"etl_lib": "stage", run_id, customer, dataset, stage, status, files, files_failed, rows_in,
  rows_valid, rows_rejected, duration_s}``

Never a data value: counts, names and reasons only.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

FILE_FIELDS = ("run_id", "customer", "dataset", "stage", "file", "outcome", "rows_in", "rows_valid",
               "rows_rejected", "duration_s", "error")  # fmt: skip
STAGE_FIELDS = ("run_id", "customer", "dataset", "stage", "status", "files", "files_failed", "rows_in",
                "rows_valid", "rows_rejected", "duration_s")  # fmt: skip


class EventLog:
    """Writes each event as one JSON line to ``stream`` (default: stderr), whole lines only."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> None:
        """One line ``{"etl_lib": kind, ...}`` with the fields of its kind, in their order."""
        names = FILE_FIELDS if kind == "file" else STAGE_FIELDS
        line = json.dumps({"etl_lib": kind, **{n: fields.get(n) for n in names}}, default=str)
        self.write(line)

    def write(self, line: str) -> None:
        """Write one line (threads never interleave within a line)."""
        with self._lock:
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()


class RecordedEvents(EventLog):
    """The local twin: keeps the events as dicts (tests read ``events``)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def write(self, line: str) -> None:
        """Keep the line's object."""
        with self._lock:
            self.events.append(json.loads(line))
