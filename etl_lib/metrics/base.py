"""What a run measures, and where it is published.

``run_metrics`` computes, from a finished run and its files, the values the customer stack's
alarms and dashboard read (namespace ``etl_lib``, dimensions ``Customer`` and ``Dataset``,
plus ``Stage`` for ``StageSeconds``). The run report keeps them (``_meta/reports/``: the local
twin); ``CloudWatchMetrics`` puts them with one ``PutMetricData`` call per run.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from etl_lib.ledger.base import FileRecord, RunRecord

NAMESPACE = "etl_lib"


@dataclass(frozen=True)
class RunMetrics:
    """One run's measurements, by metric name; ``stage_seconds`` by stage."""

    customer: str
    dataset: str
    values: Mapping[str, float]
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (what the run report keeps)."""
        return {"namespace": NAMESPACE, **dict(self.values), "StageSeconds": dict(self.stage_seconds)}


def run_metrics(
    customer: str,
    run: RunRecord,
    files: Sequence[FileRecord],
    stage_seconds: Mapping[str, float],
    max_rejected_share: float,
    newest_delivery_age_s: float | None,
) -> RunMetrics:
    """The metrics of a finished run over its files."""
    share = run.rows_rejected / run.rows_in if run.rows_in else 0.0
    values: dict[str, float] = {
        "RowsIn": run.rows_in,
        "RowsValid": run.rows_valid,
        "RowsRejected": run.rows_rejected,
        "RejectedShare": round(share, 6),
        "RejectedShareOverLimit": 1.0 if share > max_rejected_share else 0.0,
        "FilesProcessed": sum(1 for f in files if f.status in ("processed", "published")),
        "FilesFailed": sum(1 for f in files if f.status == "failed"),
        "BytesRead": sum(f.size for f in files if f.status in ("processed", "published")),
    }
    if newest_delivery_age_s is not None:
        values["NewestDeliveryAgeSeconds"] = round(max(0.0, newest_delivery_age_s), 3)
    seconds = {stage: round(s, 3) for stage, s in stage_seconds.items()}
    return RunMetrics(customer, run.dataset, values, seconds, run.finished_at)


class MetricsPublisher(abc.ABC):
    """Where run metrics go besides the run report."""

    @abc.abstractmethod
    def publish(self, metrics: RunMetrics) -> None:
        """Publish one run's metrics (raises the publisher's transient or terminal error)."""
