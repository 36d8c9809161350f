"""Batch checks with Great Expectations on real (local) Spark, tiny DataFrames built inline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from etl_lib.errors import ConfigError
from etl_lib.quality import CheckResult, ExpectationError, failed_checks, run_expectations
from etl_lib.quality import expectations as quality
from etl_lib.quality.expectations import check_available
from etl_lib.spec.model import EXPECTATION_TYPES, ExpectationSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "zz_secret_value"


@dataclass(frozen=True)
class Case:
    """One expectation type with a batch that meets it and one that does not."""

    type: str
    kwargs: dict[str, Any]
    schema: str
    good: list[Any]
    bad: list[Any]
    observed_when_bad: str
    data_texts: tuple[str, ...] = (SECRET,)


CASES = [
    Case(
        "expect_column_values_to_not_be_null",
        {"column": "v"},
        "v string",
        ["a", "b"],
        [SECRET, None],
        "1 unexpected value of 2 (50%)",
    ),
    Case(
        "expect_column_values_to_be_unique",
        {"column": "v"},
        "v string",
        ["a", "b"],
        [SECRET, SECRET, "c"],
        "2 unexpected values of 3 (66.7%)",
    ),
    Case(
        "expect_column_values_to_be_between",
        {"column": "v", "min_value": 0, "max_value": 100},
        "v double",
        [0.0, 100.0],
        [1.0, 4242.5],
        "1 unexpected value of 2 (50%)",
        ("4242",),
    ),
    Case(
        "expect_column_values_to_be_in_set",
        {"column": "v", "value_set": ["EUR", "USD"]},
        "v string",
        ["EUR", "USD"],
        ["EUR", SECRET],
        "1 unexpected value of 2 (50%)",
    ),
    Case(
        "expect_column_values_to_match_regex",
        {"column": "v", "regex": "^[A-Z]{3}$"},
        "v string",
        ["EUR", "USD"],
        ["EUR", SECRET],
        "1 unexpected value of 2 (50%)",
    ),
    Case(
        "expect_table_row_count_to_be_between",
        {"min_value": 1, "max_value": 2},
        "v string",
        ["a", "b"],
        ["a", "b", SECRET],
        "table row count 3, expected 1 to 2",
    ),
    Case(
        "expect_column_mean_to_be_between",
        {"column": "v", "min_value": 0, "max_value": 100},
        "v double",
        [10.0, 20.0],
        [10.0, 4242.5],
        "column mean outside the expected range (0 to 100)",
        ("4242", "2126"),  # a value, and the mean itself
    ),
    Case(
        "expect_column_distinct_values_to_be_in_set",
        {"column": "v", "value_set": ["EUR", "USD"]},
        "v string",
        ["EUR", "EUR", "USD"],
        ["EUR", SECRET],
        "1 distinct value outside the allowed set",
    ),
]


def frame(spark: SparkSession, schema: str, values: list[Any]) -> DataFrame:
    """A one-column DataFrame."""
    return spark.createDataFrame([(value,) for value in values], schema)


def spec(type_: str, on_failure: str = "fail", **kwargs: Any) -> ExpectationSpec:
    """An ExpectationSpec as the YAML loader would build it."""
    return ExpectationSpec(type=type_, kwargs=kwargs, on_failure=on_failure)  # type: ignore[arg-type]


def test_every_spec_expectation_type_has_a_case() -> None:
    assert sorted(case.type for case in CASES) == sorted(EXPECTATION_TYPES)


@pytest.mark.parametrize("case", CASES, ids=[case.type for case in CASES])
def test_expectation_passes_on_good_data_and_fails_on_bad(spark: SparkSession, case: Case) -> None:
    check = spec(case.type, **case.kwargs)

    [good] = run_expectations(frame(spark, case.schema, case.good), [check])
    [bad] = run_expectations(frame(spark, case.schema, case.bad), [check])

    assert good == CheckResult(case.type, case.kwargs, True, "fail", good.observed)
    assert bad.success is False
    assert bad.observed == case.observed_when_bad
    for text in case.data_texts:
        assert text not in good.observed
        assert text not in bad.observed


def test_results_come_one_per_spec_in_spec_order(spark: SparkSession) -> None:
    df = frame(spark, "v string", ["EUR", None, "EUR"])
    checks = [
        spec("expect_column_values_to_be_unique", column="v"),
        spec("expect_column_values_to_not_be_null", column="v"),
        spec("expect_table_row_count_to_be_between", min_value=1, max_value=5),
        spec("expect_column_values_to_not_be_null", on_failure="warn", column="v"),
    ]

    results = run_expectations(df, checks)

    assert [(r.expectation, r.on_failure, r.success) for r in results] == [
        ("expect_column_values_to_be_unique", "fail", False),
        ("expect_column_values_to_not_be_null", "fail", False),
        ("expect_table_row_count_to_be_between", "fail", True),
        ("expect_column_values_to_not_be_null", "warn", False),
    ]
    assert results[2].observed == "table row count 3"


def test_observed_counts_nulls_apart_and_shows_mostly(spark: SparkSession) -> None:
    df = frame(spark, "v string", ["EUR", "EUR", "EUR", SECRET, None])
    check = spec("expect_column_values_to_be_in_set", column="v", value_set=["EUR"], mostly=0.7)

    [result] = run_expectations(df, [check])

    assert result.success is True
    assert result.observed == "1 unexpected value of 4 (25%); 1 null not checked; up to 30% allowed"


def test_empty_list_returns_nothing_quickly(spark: SparkSession) -> None:
    started = time.perf_counter()
    assert run_expectations(frame(spark, "v string", ["a"]), []) == []
    assert time.perf_counter() - started < 0.05


def test_empty_list_does_not_import_great_expectations() -> None:
    code = (
        "import sys\n"
        "from etl_lib.quality import run_expectations\n"
        "assert run_expectations(None, []) == []\n"
        "assert 'great_expectations' not in sys.modules, 'imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, env=env)


def test_failed_checks_keeps_only_failures_that_fail_the_file() -> None:
    failing = CheckResult("expect_column_values_to_be_unique", {"column": "id"}, False, "fail", "2 unexpected")
    warning = CheckResult("expect_column_values_to_not_be_null", {"column": "a"}, False, "warn", "1 unexpected")
    passing = CheckResult("expect_column_values_to_not_be_null", {"column": "b"}, True, "fail", "0 unexpected")

    assert failed_checks([passing, failing, warning]) == [failing]
    assert failed_checks([passing, warning]) == []
    assert failed_checks([]) == []


def test_failed_checks_on_real_results(spark: SparkSession) -> None:
    df = frame(spark, "v string", ["a", "a", None])
    results = run_expectations(
        df,
        [
            spec("expect_column_values_to_be_unique", column="v"),
            spec("expect_column_values_to_not_be_null", on_failure="warn", column="v"),
            spec("expect_table_row_count_to_be_between", min_value=1),
        ],
    )

    assert [r.expectation for r in failed_checks(results)] == ["expect_column_values_to_be_unique"]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            spec("expect_column_values_to_not_be_null", column="amout"),
            r"^expectations\[0\] expect_column_values_to_not_be_null: unknown column 'amout'; columns: amount$",
        ),
        (
            spec("expect_column_values_to_not_be_null", colum="amount"),
            (
                r"^expectations\[0\] expect_column_values_to_not_be_null: unknown argument\(s\) \['colum'\]; "
                r"allowed: column, mostly"
            ),
        ),
        (
            spec("expect_column_values_to_be_in_set", column="amount"),
            r"^expectations\[0\] expect_column_values_to_be_in_set: missing argument\(s\) \['value_set'\]$",
        ),
        (
            spec("expect_column_values_to_be_between", column="amount", min_value="low"),
            r"^expectations\[0\] expect_column_values_to_be_between: min_value: ",
        ),
    ],
    ids=["unknown-column", "unknown-argument", "missing-argument", "bad-argument-value"],
)
def test_bad_spec_is_a_one_line_error(spark: SparkSession, check: ExpectationSpec, message: str) -> None:
    df = frame(spark, "amount double", [1.0])

    with pytest.raises(ValueError, match=message) as raised:
        run_expectations(df, [check])

    assert isinstance(raised.value, ExpectationError)
    assert "\n" not in str(raised.value)


def test_error_names_the_position_of_the_bad_expectation(spark: SparkSession) -> None:
    df = frame(spark, "amount double", [1.0])
    checks = [spec("expect_column_values_to_not_be_null", column="amount")] * 2
    checks.append(spec("expect_column_values_to_be_unique", column="id"))

    with pytest.raises(ExpectationError, match=r"^expectations\[2\] expect_column_values_to_be_unique: unknown column"):
        run_expectations(df, checks)


def test_wrong_column_type_is_a_one_line_error(spark: SparkSession) -> None:
    df = frame(spark, "v string", ["a"])
    check = spec("expect_column_mean_to_be_between", column="v", min_value=0)

    with pytest.raises(ExpectationError, match=r"^expectations\[0\] expect_column_mean_to_be_between: .*numeric"):
        run_expectations(df, [check])


def test_missing_great_expectations_says_how_to_install(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "great_expectations", None)
    monkeypatch.setitem(sys.modules, "great_expectations.expectations", None)
    check = spec("expect_column_values_to_not_be_null", column="v")

    with pytest.raises(ConfigError, match=r"great_expectations is not installed: .*etl_lib\[local\].*make glue-bundle"):
        run_expectations(frame(spark, "v string", ["a"]), [check])
    with pytest.raises(ConfigError, match=r"great_expectations is not installed"):
        check_available()


def test_cache_is_released_unless_the_caller_cached(spark: SparkSession) -> None:
    check = spec("expect_column_values_to_not_be_null", column="v")
    uncached = frame(spark, "v string", ["a"])
    cached = frame(spark, "v string", ["a"]).cache()

    run_expectations(uncached, [check])
    run_expectations(cached, [check])

    assert uncached.is_cached is False
    assert cached.is_cached is True
    cached.unpersist()


def test_context_is_built_once_per_process(spark: SparkSession) -> None:
    run_expectations(frame(spark, "v string", ["a"]), [spec("expect_column_values_to_not_be_null", column="v")])

    assert quality._batch_definition() is quality._batch_definition()


def test_concurrent_calls_each_check_their_own_dataframe(spark: SparkSession) -> None:
    check = [spec("expect_column_values_to_not_be_null", column="v")]
    frames = [frame(spark, "v string", ["a"] * 3), frame(spark, "v string", ["a", None, None])] * 2

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda df: run_expectations(df, check)[0], frames))

    assert [r.observed for r in results] == ["0 unexpected values of 3 (0%)", "2 unexpected values of 3 (66.7%)"] * 2


def test_nothing_is_written_to_the_working_directory(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(quality, "_cached_batch_definition", None)  # build a fresh context here

    run_expectations(frame(spark, "v string", ["a"]), [spec("expect_column_values_to_be_unique", column="v")])

    assert list(tmp_path.iterdir()) == []
