"""Data quality: the spec's batch-level expectations, run with Great Expectations on Spark."""

from __future__ import annotations

from etl_lib.quality.expectations import CheckResult, ExpectationError, failed_checks, run_expectations

__all__ = ["CheckResult", "ExpectationError", "failed_checks", "run_expectations"]
