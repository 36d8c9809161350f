"""Batch expectations decide a file's fate (fail) or are recorded (warn)."""

from __future__ import annotations

from pathlib import Path

from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context

SPEC = """
dataset: tx
columns:
  - {{name: tx_id, required: true}}
  - {{name: amount, type: "decimal(10,2)"}}
expectations:
  - type: expect_column_values_to_be_between
    kwargs: {{column: amount, max_value: 2}}
    on_failure: {on_failure}
"""
DATA = "tx_id,amount\nA,1.00\nB,3.00\n"


def test_failing_expectation_fails_the_file_and_publishes_nothing(spark, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", DATA)
    summary = run_dataset(make_context(spark, SPEC.format(on_failure="fail"), lake), stage="raw-to-processed")
    [record] = summary.report.files
    assert record.status == "failed"
    assert record.error is not None and "data-quality check failed: expect_column_values_to_be_between" in record.error
    assert "3.00" not in record.error
    assert not (lake / "processed").exists() or not list((lake / "processed").rglob("*.json"))


def test_warning_expectation_is_recorded_and_rows_kept(spark, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", DATA)
    summary = run_dataset(make_context(spark, SPEC.format(on_failure="warn"), lake), stage="raw-to-processed")
    [record] = summary.report.files
    assert (record.status, record.rows_valid) == ("processed", 2)
    assert len(record.warnings) == 1 and record.warnings[0].startswith("expect_column_values_to_be_between")
