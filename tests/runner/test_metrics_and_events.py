"""Each run's metrics (in its report; in CloudWatch over HTTP against moto) and its structured log
lines equal the run's known counts; a CloudWatch that fails costs the run nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import boto3

from etl_lib.events import RecordedEvents
from etl_lib.metrics.cloudwatch import CloudWatchMetrics
from etl_lib.runner.run import run_dataset
from tests.aws.fault_proxy import FaultProxy, Rule
from tests.conftest import deliver, make_context
from tests.runner.test_pipeline import JAN, SPEC


def report_of(lake: Path, run_id: str) -> dict:
    [path] = (lake / "_meta" / "reports").glob(f"tx-all-{run_id}.json")
    return json.loads(path.read_text())


def test_a_runs_metrics_and_log_lines_are_its_counts(spark, lake: Path) -> None:
    good = deliver(lake, "tx", "jan.csv", JAN)  # 4 rows, 1 rejected
    deliver(lake, "tx", "broken.csv.gz", b"not gzip")
    events = RecordedEvents()
    ctx = replace(make_context(spark, SPEC, lake), customer="acme", events=events)
    summary = run_dataset(ctx)
    assert summary.status == "partial"
    metrics = report_of(lake, ctx.run_id)["metrics"]
    assert {k: metrics[k] for k in ("RowsIn", "RowsValid", "RowsRejected", "FilesProcessed", "FilesFailed")} == {
        "RowsIn": 4,
        "RowsValid": 3,
        "RowsRejected": 1,
        "FilesProcessed": 1,
        "FilesFailed": 1,
    }
    assert (metrics["RejectedShare"], metrics["RejectedShareOverLimit"]) == (0.25, 1.0)  # over the 5% default
    assert metrics["BytesRead"] == good.stat().st_size
    assert set(metrics["StageSeconds"]) == {"raw-to-processed", "processed-to-analytics"}
    assert all(s > 0 for s in metrics["StageSeconds"].values())
    assert 0 <= metrics["NewestDeliveryAgeSeconds"] < 600
    files = {e["file"]: e for e in events.events if e["etl_lib"] == "file"}
    assert set(files) == {"raw/tx/jan.csv", "raw/tx/broken.csv.gz"}
    assert (files["raw/tx/jan.csv"]["outcome"], files["raw/tx/jan.csv"]["rows_rejected"]) == ("processed", 1)
    assert (
        files["raw/tx/broken.csv.gz"]["outcome"] == "failed" and "cannot read" in files["raw/tx/broken.csv.gz"]["error"]
    )
    assert all(e["customer"] == "acme" and e["run_id"] == ctx.run_id and e["duration_s"] > 0 for e in files.values())
    stages = {e["stage"]: e for e in events.events if e["etl_lib"] == "stage"}
    assert (stages["raw-to-processed"]["files"], stages["raw-to-processed"]["files_failed"]) == (2, 1)
    assert stages["raw-to-processed"]["status"] == "partial" and stages["raw-to-processed"]["rows_in"] == 4
    assert stages["processed-to-analytics"]["rows_valid"] == 3  # rows written to analytics-ready
    # A spec that allows a quarter of the rows rejected: not over.
    deliver(lake, "tx", "jan.csv", JAN.replace("A,", "A2,"))
    again = replace(make_context(spark, SPEC + "max_rejected_share: 0.3\n", lake), customer="acme")
    run_dataset(again)
    assert report_of(lake, again.run_id)["metrics"]["RejectedShareOverLimit"] == 0.0


def test_metrics_go_to_cloudwatch_and_a_failing_cloudwatch_costs_the_run_nothing(
    spark, lake: Path, aws: str, fault_proxy: FaultProxy, caplog
) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    ctx = replace(make_context(spark, SPEC, lake), customer="acme", metrics=CloudWatchMetrics())
    assert run_dataset(ctx).status == "succeeded"
    cloudwatch = boto3.client("cloudwatch")
    dims = [{"Name": "Customer", "Value": "acme"}, {"Name": "Dataset", "Value": "tx"}]
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="etl_lib")["Metrics"]}
    assert {"RowsIn", "RowsRejected", "RejectedShare", "FilesFailed", "StageSeconds", "BytesRead"} <= names
    stats = cloudwatch.get_metric_statistics(
        Namespace="etl_lib", MetricName="RowsIn", Dimensions=dims, StartTime=ctx_time(-3600),
        EndTime=ctx_time(3600), Period=3600, Statistics=["Sum"],
    )  # fmt: skip
    assert [p["Sum"] for p in stats["Datapoints"]] == [4.0]
    staged = [m for m in cloudwatch.list_metrics(Namespace="etl_lib", MetricName="StageSeconds")["Metrics"]]
    assert sorted(d["Value"] for m in staged for d in m["Dimensions"] if d["Name"] == "Stage") == [
        "processed-to-analytics",
        "raw-to-processed",
    ]
    fault_proxy.add(Rule(action="500", body="PutMetricData"))
    fault_proxy.add(Rule(action="500", target="PutMetricData"))
    deliver(lake, "tx", "feb.csv", JAN.replace("A,", "Z,"))
    with caplog.at_level(logging.ERROR, logger="etl_lib.run"):
        assert run_dataset(replace(ctx, run_id="r-failing-cw")).status == "succeeded"
    assert "could not publish the metrics of run r-failing-cw" in caplog.text
    assert report_of(lake, "r-failing-cw")["metrics"]["RowsIn"] == 4  # the report keeps them


def ctx_time(offset_s: float):
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=offset_s)
