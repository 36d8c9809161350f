"""The local notifier: logs the outcome and writes ``_meta/reports/{run_id}.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from etl_lib.errors import NotifierError, NotifierUnavailable
from etl_lib.faults import Fault, Faults
from etl_lib.notify.base import Notifier, RunReport
from etl_lib.storage.base import Storage

log = logging.getLogger("etl_lib.notify")


class LocalNotifier(Notifier):
    """Logs a one-line summary (a warning on failures) and keeps the report as JSON.

    The local twin of ``SnsNotifier``: ``faults`` (operation ``notifier.notify``)
    or ``fail_on`` (``{"notify"}``) make ``notify`` raise, to test that a broken
    notifier never loses a run's results.
    """

    def __init__(self, storage: Storage, fail_on: Iterable[str] = (), faults: Faults | None = None) -> None:
        self.storage = storage
        self.faults = faults or Faults()
        for operation in fail_on:
            self.faults.add(Fault(f"notifier.{operation}"))

    def notify(self, report: RunReport) -> None:
        """Log and store the report."""
        self.faults.check("notifier.notify", report.run.status, NotifierUnavailable, NotifierError)
        run = report.run
        key = f"_meta/reports/{run.dataset}-{run.stage}-{run.run_id}.json"
        self.storage.write_text(key, json.dumps(report.as_dict(), indent=2))
        line = (
            f"run {run.run_id} {run.dataset} {run.stage}: {run.status}; files={run.files} "
            f"failed={run.files_failed} rows_in={run.rows_in} valid={run.rows_valid} "
            f"rejected={run.rows_rejected} analytics={run.rows_analytics}"
        )
        level = logging.INFO if run.status == "succeeded" else logging.WARNING
        log.log(level, line)
        for failed in report.failed_files:
            log.warning("  failed: %s", failed.error)
