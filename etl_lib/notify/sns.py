"""The AWS notifier: one SNS message per run that failed or warned (or per run, if configured).

A message names the customer, dataset, run, status, counts, each failed file
with its one-line reason and each failed ``warn`` expectation with its file. It
never carries data values: reasons name columns and rules, and file errors name
files and headers.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from etl_lib.aws.clients import client
from etl_lib.aws.errors import translated
from etl_lib.errors import EtlError, NotifierError, NotifierUnavailable
from etl_lib.notify.base import Notifier, RunReport

NotifyOn = Literal["failures", "all"]
_SUBJECT_LIMIT = 100  # SNS rejects longer subjects
_MESSAGE_LIMIT = 200_000  # SNS allows 256 KB; keep a margin for the JSON envelope


class SnsNotifier(Notifier):
    """Publishes run outcomes to an SNS topic."""

    def __init__(self, topic_arn: str, customer: str, notify_on: NotifyOn = "failures", sns: Any | None = None):
        if notify_on not in ("failures", "all"):
            raise EtlError(f"notify_on must be 'failures' or 'all', got {notify_on!r}")
        self.topic_arn = topic_arn
        self.customer = customer
        self.notify_on = notify_on
        self.sns = sns or client("sns")

    def message(self, report: RunReport) -> dict[str, Any]:
        """The message body: counts and failures, no data values."""
        data = report.as_dict()
        fields = ("dataset", "run_id", "stage", "status", "error", "files", "files_failed")
        counts = ("rows_in", "rows_valid", "rows_rejected", "rows_analytics")
        return {
            "customer": self.customer,
            **{k: data[k] for k in (*fields, *counts)},
            "failed_files": [{"file": f.source_key, "reason": f.error} for f in report.failed_files],
            "warnings": [{"file": file, "warning": text} for file, text in report.warnings],
        }

    def subject(self, report: RunReport) -> str:
        """``[etl_lib] acme/transactions: partial (2 of 9 files failed)``, within SNS's 100 characters."""
        run = report.run
        detail = f" ({run.files_failed} of {run.files} files failed)" if run.files_failed else ""
        if run.warning_count:
            detail += f" ({run.warning_count} warning{'s' if run.warning_count > 1 else ''})"
        text = f"[etl_lib] {self.customer}/{run.dataset}: {run.status}{detail}"
        return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 1] + "…"

    def notify(self, report: RunReport) -> None:
        """Publish when the run did not succeed or a ``warn`` expectation failed, or always with
        ``notify_on='all'``."""
        if report.run.status == "succeeded" and not report.warnings and self.notify_on == "failures":
            return
        body = self.message(report)
        text = json.dumps(body, indent=2)
        if len(text) > _MESSAGE_LIMIT:
            body["failed_files"] = [*body["failed_files"][:50], {"file": "…", "reason": "list truncated"}]
            body["warnings"] = [*body["warnings"][:50], {"file": "…", "warning": "list truncated"}]
            text = json.dumps(body, indent=2)
        with translated(f"cannot publish to {self.topic_arn}", NotifierUnavailable, NotifierError):
            self._publish(report, text)

    def _publish(self, report: RunReport, text: str) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=self.subject(report),
            Message=text,
            MessageAttributes={
                "customer": {"DataType": "String", "StringValue": self.customer},
                "dataset": {"DataType": "String", "StringValue": report.run.dataset},
                "status": {"DataType": "String", "StringValue": report.run.status},
            },
        )


class FanOutNotifier(Notifier):
    """Several notifiers in turn (e.g. the run report in the lake, then SNS); all are tried."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def notify(self, report: RunReport) -> None:
        """Call every notifier; re-raise the first failure after trying them all."""
        first: Exception | None = None
        for notifier in self.notifiers:
            try:
                notifier.notify(report)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first
