"""The notifier interface: tell people how a run ended.

Local: a log line and a JSON report under ``_meta/reports/``; AWS: SNS.
Reports carry counts, file names and reasons, never data values.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from etl_lib.ledger.base import FileRecord, RunRecord


@dataclass(frozen=True)
class RunReport:
    """A finished run and the outcome of each of its files."""

    run: RunRecord
    files: list[FileRecord] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    """The run's metrics (``etl_lib.metrics``), as published to CloudWatch on AWS."""

    @property
    def failed_files(self) -> list[FileRecord]:
        """Files that failed whole."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """(file, text) of every failed ``warn`` expectation, in file order."""
        return [(f.source_key, w) for f in self.files for w in f.warnings]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (the ``--json`` output's source)."""
        run = self.run
        return {
            "run_id": run.run_id,
            "dataset": run.dataset,
            "stage": run.stage,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "files": run.files,
            "files_failed": run.files_failed,
            "rows_in": run.rows_in,
            "rows_valid": run.rows_valid,
            "rows_rejected": run.rows_rejected,
            "rows_analytics": run.rows_analytics,
            "warnings": run.warning_count,
            "error": run.error,
            "metrics": self.metrics,
            "file_results": [
                {
                    "source": f.source_key,
                    "status": f.status,
                    "rows_in": f.rows_in,
                    "rows_valid": f.rows_valid,
                    "rows_rejected": f.rows_rejected,
                    "error": f.error,
                    "warnings": list(f.warnings),
                }
                for f in self.files
            ],
        }


class Notifier(abc.ABC):
    """Where run outcomes are announced."""

    @abc.abstractmethod
    def notify(self, report: RunReport) -> None:
        """Announce a finished run (failures always; successes if configured)."""
