"""Data quality: the spec's batch-level expectations with Great Expectations' semantics on Spark:
counted during a file's write when their arguments are plain (``in_pass``), else run by it."""

from __future__ import annotations

from etl_lib.quality.expectations import CheckResult, ExpectationError, failed_checks, run_expectations

__all__ = ["CheckResult", "ExpectationError", "failed_checks", "run_expectations"]
