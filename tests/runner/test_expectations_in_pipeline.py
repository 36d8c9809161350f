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


def spark_jobs(spark) -> int:
    """Spark jobs run so far: the next job id (ids are sequential; the tracker keeps only the
    latest jobs, so counting the jobs it holds would drop once the session has run many)."""
    return max(spark.sparkContext.statusTracker().getJobIdsForGroup(None), default=-1) + 1


COUNTED = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: amount, type: "decimal(10,2)"}
  - {name: currency}
expectations:
  - {type: expect_column_values_to_be_between, kwargs: {column: amount, min_value: 0, max_value: 2}, on_failure: warn}
  - {type: expect_column_values_to_not_be_null, kwargs: {column: currency, mostly: 0.4}}
  - {type: expect_column_values_to_be_in_set, kwargs: {column: currency, value_set: [EUR]}, on_failure: warn}
  - {type: expect_table_row_count_to_be_between, kwargs: {min_value: 1}}
"""
UNIQUE = """
  - {type: expect_column_values_to_be_unique, kwargs: {column: currency}, on_failure: warn}
"""
ROWS = "tx_id,amount,currency\nA,1.00,EUR\nB,3.00,USD\nC,1.50,\nD,1.00,EUR\n"


def test_plain_expectations_cost_no_spark_job_of_their_own(spark, lake: Path, tmp_path: Path) -> None:
    bare = COUNTED.split("expectations:")[0]
    jobs = {}
    for name, spec in {"bare": bare, "counted": COUNTED, "with-unique": COUNTED + UNIQUE}.items():
        root = tmp_path / name
        deliver(root, "tx", "a.csv", ROWS)
        before = spark_jobs(spark)
        summary = run_dataset(make_context(spark, spec, root), stage="raw-to-processed")
        jobs[name] = spark_jobs(spark) - before
        assert summary.report.files[0].status == "processed", name

    assert jobs["counted"] == jobs["bare"] > 0
    assert jobs["with-unique"] > jobs["counted"]  # Great Expectations reads the narrow copy back


def test_results_of_both_kinds_come_in_spec_order(spark, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", ROWS)
    summary = run_dataset(make_context(spark, COUNTED + UNIQUE, lake), stage="raw-to-processed")
    [record] = summary.report.files

    assert record.status == "processed"
    assert list(record.warnings) == [
        "expect_column_values_to_be_between: 1 unexpected value of 4 (25%)",
        "expect_column_values_to_be_in_set: 1 unexpected value of 3 (33.3%); 1 null not checked",
        "expect_column_values_to_be_unique: 2 unexpected values of 3 (66.7%); 1 null not checked",
    ]


def test_a_failing_counted_expectation_fails_the_file(spark, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", ROWS)
    spec = COUNTED.replace("mostly: 0.4", "mostly: 0.9")
    summary = run_dataset(make_context(spark, spec, lake), stage="raw-to-processed")
    [record] = summary.report.files

    assert record.status == "failed"
    assert record.error is not None
    assert "expect_column_values_to_not_be_null" in record.error and "1 unexpected value of 4" in record.error
    assert not list(lake.rglob("processed/**/*.json"))
