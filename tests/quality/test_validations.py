"""Each file's expectation results are kept in the lake as a Great Expectations validation result.

One run over a spec whose expectations are both counted in the write pass and run by Great
Expectations: ``a.csv`` is processed with a failed ``warn`` expectation, ``b.csv`` fails on
a ``fail`` one. The stored results hold what the run found, read back as small records and
as Great Expectations objects, and the latest outcome of a file replaces them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from etl_lib.errors import TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.quality.validations import (
    load_validation_results,
    load_validations,
    validation_key,
    validations_prefix,
)
from etl_lib.runner.run import RunSummary, run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context

SPEC = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: amount, type: "decimal(10,2)"}
  - {name: currency}
expectations:
  - {type: expect_column_values_to_be_between, kwargs: {column: amount, min_value: 0, max_value: 2}, on_failure: warn}
  - {type: expect_column_values_to_not_be_null, kwargs: {column: currency, mostly: 0.5}}
  - {type: expect_column_values_to_be_unique, kwargs: {column: tx_id}}
  - type: expect_column_distinct_values_to_be_in_set
    kwargs: {column: currency, value_set: [EUR, USD]}
    on_failure: warn
  - {type: expect_table_row_count_to_be_between, kwargs: {min_value: 1}}
"""
TYPES = [
    "expect_column_values_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_distinct_values_to_be_in_set",
    "expect_table_row_count_to_be_between",
]
# Counted while the file is written (in_pass) or run by Great Expectations on the valid rows.
COUNTED_IN_WRITE = [True, True, False, False, True]
# B-2 amount 3.00 is above 2 (the warn check); one currency is null (half may be).
A_CSV = "tx_id,amount,currency\nA-1,1.00,EUR\nB-2,3.00,USD\nC-3,1.50,\nD-4,1.00,EUR\n"
# E-5 twice: not unique, a fail check.
B_CSV = "tx_id,amount,currency\nE-5,1.00,EUR\nE-5,1.00,EUR\nF-6,0.50,USD\n"


def run(spark: SparkSession, lake: Path, spec: str = SPEC, faults: Faults | None = None) -> RunSummary:
    ctx = make_context(spark, spec, lake)
    if faults is not None:
        ctx = replace(ctx, storage=LocalStorage(str(lake), faults=faults))
    return run_dataset(ctx, stage="raw-to-processed")


def stored(lake: Path, source_key: str) -> dict[str, Any]:
    return json.loads((lake / validation_key("tx", source_key)).read_text())


@pytest.fixture(scope="module")
def first_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSummary]:
    lake = tmp_path_factory.mktemp("validations") / "lake"
    deliver(lake, "tx", "a.csv", A_CSV)
    deliver(lake, "tx", "b.csv", B_CSV)
    return lake, run(spark, lake)


def test_a_run_keeps_each_files_results_with_the_counts_it_found(first_run: tuple[Path, RunSummary]) -> None:
    lake, summary = first_run
    records = {r.source_key: r for r in summary.report.files}
    assert (records["raw/tx/a.csv"].status, records["raw/tx/b.csv"].status) == ("processed", "failed")

    a, b = load_validations(LocalStorage(str(lake)), "tx")

    assert (a.file, a.dataset, a.run_id, a.success) == ("raw/tx/a.csv", "tx", summary.report.run.run_id, False)
    assert a.spec_fingerprint == records["raw/tx/a.csv"].spec_fingerprint
    assert a.evaluated_at.tzinfo is not None
    assert [e.type for e in a.expectations] == TYPES
    assert [(e.success, e.on_failure, e.unexpected_count) for e in a.expectations] == [
        (False, "warn", 1),
        (True, "fail", 1),
        (True, "fail", 0),
        (True, "warn", 0),
        (True, "fail", None),
    ]
    assert a.expectations[0].kwargs == {"column": "amount", "min_value": 0, "max_value": 2}
    # The same words the run's warnings use.
    assert (
        list(records["raw/tx/a.csv"].warnings)
        == [f"{a.expectations[0].type}: {a.expectations[0].observed}"]
        == ["expect_column_values_to_be_between: 1 unexpected value of 4 (25%)"]
    )

    assert (b.file, b.success) == ("raw/tx/b.csv", False)
    assert [(e.success, e.unexpected_count) for e in b.expectations][2] == (False, 2)
    assert b.expectations[2].observed in (records["raw/tx/b.csv"].error or "")


def test_stored_results_are_great_expectations_results_in_spec_order(first_run: tuple[Path, RunSummary]) -> None:
    lake, summary = first_run
    document = stored(lake, "raw/tx/a.csv")

    assert document["suite_name"] == "tx" and document["success"] is False
    assert document["statistics"] == {
        "evaluated_expectations": 5,
        "successful_expectations": 4,
        "unsuccessful_expectations": 1,
        "success_percent": 80.0,
    }
    meta = document["meta"]
    assert (meta["dataset"], meta["source_key"], meta["run_id"]["run_name"]) == (
        "tx",
        "raw/tx/a.csv",
        summary.report.run.run_id,
    )
    assert meta["spec_fingerprint"] and meta["great_expectations_version"]
    results = document["results"]
    assert [r["expectation_config"]["type"] for r in results] == TYPES
    assert [r["meta"]["counted_in_write"] for r in results] == COUNTED_IN_WRITE
    assert [r["meta"]["on_failure"] for r in results] == ["warn", "fail", "fail", "warn", "fail"]
    assert [r["expectation_config"]["severity"] for r in results] == [
        "warning",
        "critical",
        "critical",
        "warning",
        "critical",
    ]
    # Counted in the write: Great Expectations' result fields, from the counts.
    assert results[0]["result"] == {
        "element_count": 4,
        "unexpected_count": 1,
        "unexpected_percent": 25.0,
        "partial_unexpected_list": [],
        "missing_count": 0,
        "missing_percent": 0.0,
        "unexpected_percent_total": 25.0,
        "unexpected_percent_nonmissing": 25.0,
    }
    assert results[1]["result"]["unexpected_count"] == 1 and results[1]["success"] is True
    assert results[4]["result"] == {"observed_value": 4}
    # Run by Great Expectations: its own result, as it returned it (its batch in the arguments).
    assert results[2]["expectation_config"]["kwargs"]["batch_id"]
    assert results[2]["result"]["element_count"] == 4 and results[2]["result"]["unexpected_count"] == 0
    assert stored(lake, "raw/tx/b.csv")["results"][2]["result"]["unexpected_count"] == 2


def test_stored_results_load_as_great_expectations_objects(first_run: tuple[Path, RunSummary]) -> None:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    lake, _ = first_run
    loaded = load_validation_results(LocalStorage(str(lake)), "tx")

    assert [r.meta["source_key"] for r in loaded] == ["raw/tx/a.csv", "raw/tx/b.csv"]
    for result in loaded:
        assert isinstance(result, ExpectationSuiteValidationResult)
        assert all(isinstance(r, ExpectationValidationResult) for r in result.results)
        assert [r.expectation_config.type for r in result.results] == TYPES
        assert result.to_json_dict() == stored(lake, result.meta["source_key"])  # round trip


def test_the_latest_outcome_of_a_file_replaces_its_result(spark: SparkSession, lake: Path) -> None:
    storage = LocalStorage(str(lake))
    deliver(lake, "tx", "a.csv", A_CSV)
    deliver(lake, "tx", "b.csv", B_CSV)
    first = run(spark, lake)

    # a.csv delivered again, corrected; b.csv again, without its tx_id column (fails before any check).
    deliver(lake, "tx", "a.csv", A_CSV.replace("3.00", "2.00"))
    deliver(lake, "tx", "b.csv", B_CSV.replace("tx_id,", "id,"))
    second = run(spark, lake)

    assert {r.source_key: r.status for r in second.report.files} == {
        "raw/tx/a.csv": "processed",
        "raw/tx/b.csv": "failed",
    }
    [a] = load_validations(storage, "tx")
    assert (a.file, a.run_id, a.success) == ("raw/tx/a.csv", second.report.run.run_id, True)
    assert first.report.run.run_id != second.report.run.run_id
    assert [o.key for o in storage.list(validations_prefix("tx"))] == [validation_key("tx", "raw/tx/a.csv")]


def test_a_run_that_dies_writing_a_result_is_redone_whole(spark: SparkSession, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", A_CSV)
    deliver(lake, "tx", "b.csv", B_CSV)
    faults = Faults(Fault("storage.write_text", match="_meta/validations/"))
    with pytest.raises(TransientError):
        run(spark, lake, faults=faults)
    assert faults.failed["storage.write_text"] >= 1
    storage = LocalStorage(str(lake))
    assert load_validations(storage, "tx") == []

    rerun = run(spark, lake)

    assert {r.source_key: r.status for r in rerun.report.files} == {
        "raw/tx/a.csv": "processed",
        "raw/tx/b.csv": "failed",
    }
    assert {(v.file, v.run_id) for v in load_validations(storage, "tx")} == {
        ("raw/tx/a.csv", rerun.report.run.run_id),
        ("raw/tx/b.csv", rerun.report.run.run_id),
    }


def test_a_spec_without_expectations_keeps_no_results(spark: SparkSession, lake: Path) -> None:
    deliver(lake, "tx", "a.csv", A_CSV)

    summary = run(spark, lake, SPEC.split("expectations:")[0])

    assert summary.report.files[0].status == "processed"
    assert not (lake / "_meta" / "validations").exists()
    assert load_validations(LocalStorage(str(lake)), "tx") == []
