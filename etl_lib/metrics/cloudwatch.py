"""Run metrics in CloudWatch: one ``PutMetricData`` call per run, errors translated at the edge."""

from __future__ import annotations

from typing import Any

from etl_lib.aws.clients import client
from etl_lib.aws.errors import translated
from etl_lib.errors import EtlError, TransientError
from etl_lib.metrics.base import NAMESPACE, MetricsPublisher, RunMetrics

_UNITS = {"BytesRead": "Bytes", "RejectedShare": "None", "RejectedShareOverLimit": "Count"}


class MetricsError(EtlError):
    """Metrics could not be published (the run's outcome stands)."""


class MetricsUnavailable(MetricsError, TransientError):
    """CloudWatch throttled or failed; the next run publishes its own."""


def _unit(name: str) -> str:
    if name in _UNITS:
        return _UNITS[name]
    if name.endswith("Seconds"):
        return "Seconds"
    return "Count"


class CloudWatchMetrics(MetricsPublisher):
    """``PutMetricData`` into namespace ``etl_lib`` (the Glue role may put nothing else)."""

    def __init__(self, cloudwatch: Any | None = None) -> None:
        self.cloudwatch = cloudwatch or client("cloudwatch")

    def publish(self, metrics: RunMetrics) -> None:
        """Every value with dimensions Customer and Dataset; StageSeconds also by Stage."""
        dims = [{"Name": "Customer", "Value": metrics.customer}, {"Name": "Dataset", "Value": metrics.dataset}]
        stamp = {"Timestamp": metrics.at} if metrics.at else {}
        data = [
            {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": _unit(name), **stamp}
            for name, value in metrics.values.items()
        ]
        data += [
            {
                "MetricName": "StageSeconds",
                "Dimensions": [*dims, {"Name": "Stage", "Value": stage}],
                "Value": float(seconds),
                "Unit": "Seconds",
                **stamp,
            }
            for stage, seconds in metrics.stage_seconds.items()
        ]
        what = f"cannot put the metrics of {metrics.dataset} into CloudWatch"
        with translated(what, MetricsUnavailable, MetricsError):
            for start in range(0, len(data), 1000):  # PutMetricData takes at most 1000 values a call
                self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 1000])
