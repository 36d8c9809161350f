"""Data quality: the spec's batch-level expectations with Great Expectations' semantics on Spark:
counted during a file's write when their arguments are plain (``in_pass``), else run by it; each
file's results kept as a Great Expectations validation result (``validations``) and rendered as
its Data Docs, offline (``data_docs``, with the files of ``docs_assets``)."""

from __future__ import annotations

from etl_lib.quality.expectations import CheckResult, ExpectationError, failed_checks, run_expectations

__all__ = ["CheckResult", "ExpectationError", "failed_checks", "run_expectations"]
