"""Expectations counted in the write pass give Great Expectations' answers, on the same batches.

Each case runs one expectation both ways on a batch: ``run_expectations`` (Great
Expectations on Spark) on the valid rows, and the in-pass aggregates over all rows with
the valid ones flagged. Success, the observed text (built from the result counts) and
the result fields kept as a validation result (Great Expectations' own, same floats)
must agree. Edge cases on purpose: nulls, an empty batch, all nulls, ``mostly`` on the
boundary, strict bounds, decimals, values outside a set, a batch where every row is
invalid.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.quality.expectations import Outcome, evaluate_expectations
from etl_lib.quality.in_pass import InPassChecks, plan_in_pass
from etl_lib.spec.model import ExpectationSpec

SCHEMA = T.StructType(
    [
        T.StructField("ok", T.BooleanType()),
        T.StructField("n", T.DoubleType()),
        T.StructField("d", T.DecimalType(10, 2)),
        T.StructField("i", T.LongType()),
        T.StructField("s", T.StringType()),
    ]
)
D = Decimal

BATCHES: dict[str, list[tuple[Any, ...]]] = {
    "mixed": [
        (True, 1.0, D("1.00"), 1, "EUR"),
        (True, 5.0, D("5.50"), 5, "USD"),
        (True, None, None, None, None),
        (True, 10.0, D("10.00"), 10, "eur"),
        (True, -2.0, D("-2.00"), -2, "GBP"),
        (False, 99.0, D("99.00"), 99, "XXX"),  # an invalid row: never counted
        (False, None, None, None, None),
    ],
    "empty": [],
    "all-invalid": [(False, 1.0, D("1.00"), 1, "EUR")],
    "all-null": [(True, None, None, None, None), (True, None, None, None, None)],
    "boundary": [(True, float(v), D(v), v, "EUR" if v < 8 else "USD") for v in range(10)],
}


def check(type_: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(type=type_, kwargs=kwargs, on_failure="fail")


CASES = [
    check("expect_column_values_to_not_be_null", column="n"),
    check("expect_column_values_to_not_be_null", column="s", mostly=0.8),
    check("expect_column_values_to_not_be_null", column="i", mostly=0.75),
    check("expect_column_values_to_be_between", column="n", min_value=0, max_value=10),
    check("expect_column_values_to_be_between", column="n", min_value=0, max_value=10, strict_max=True),
    check("expect_column_values_to_be_between", column="n", min_value=1, strict_min=True, mostly=0.75),
    check("expect_column_values_to_be_between", column="d", max_value=5.5),
    check("expect_column_values_to_be_between", column="i", min_value=-2, max_value=9, mostly=0.9),
    check("expect_column_values_to_be_between", column="d", min_value=0.5, max_value=0.5),
    check("expect_column_values_to_be_in_set", column="s", value_set=["EUR", "USD"]),
    check("expect_column_values_to_be_in_set", column="s", value_set=["EUR"], mostly=0.8),
    check("expect_column_values_to_be_in_set", column="i", value_set=[1, 5, 10]),
    check("expect_column_values_to_be_in_set", column="s", value_set=[]),
    check("expect_column_values_to_match_regex", column="s", regex="^[A-Z]{3}$"),
    check("expect_column_values_to_match_regex", column="s", regex="U", mostly=0.2),
    check("expect_table_row_count_to_be_between", min_value=1, max_value=4),
    check("expect_table_row_count_to_be_between", min_value=4, strict_min=True),
    check("expect_table_row_count_to_be_between", max_value=10, strict_max=True),
    check("expect_table_row_count_to_be_between"),
    check("expect_column_mean_to_be_between", column="n", min_value=0, max_value=4.5),
    check("expect_column_mean_to_be_between", column="d", min_value=3.5, strict_min=True),
    check("expect_column_mean_to_be_between", column="i", max_value=4.5, strict_max=True),
]


def plan(checks: list[ExpectationSpec]) -> InPassChecks:
    return plan_in_pass(checks, SCHEMA, regex_ok=lambda regex: True)


def answer(outcome: Outcome) -> tuple[bool, str, str]:
    """Success, the observed text and the result fields (as JSON: a Decimal mean as a number)."""
    return outcome.check.success, outcome.check.observed, json.dumps(outcome.result, default=float, sort_keys=True)


def in_pass(df: DataFrame, checks: list[ExpectationSpec]) -> list[tuple[bool, str, str]]:
    planned = plan(checks)
    assert planned.rest == (), "every case is counted in the pass"
    # One row of aggregates, exactly what an Observation on the write collects.
    observed = df.agg(*planned.metrics(F.col("ok"))).first()
    outcomes = planned.outcomes(observed.asDict() if observed else {})
    return [answer(outcomes[i]) for i in range(len(checks))]


def by_great_expectations(df: DataFrame, checks: list[ExpectationSpec]) -> list[tuple[bool, str, str]]:
    return [answer(outcome) for outcome in evaluate_expectations(df.filter("ok").drop("ok"), checks)]


@pytest.mark.parametrize("batch", sorted(BATCHES))
def test_counted_in_the_pass_agrees_with_great_expectations(spark: SparkSession, batch: str) -> None:
    df = spark.createDataFrame(BATCHES[batch], SCHEMA)

    mine = in_pass(df, CASES)
    theirs = by_great_expectations(df, CASES)

    assert mine == theirs
    if batch in ("mixed", "boundary"):  # the cases pass and fail there: the comparison means something
        assert {success for success, _, _ in mine} == {True, False}


@pytest.mark.parametrize(
    ("unplain", "why"),
    [
        (check("expect_column_values_to_be_between", column="n", min_value="0"), "a number as text"),
        (check("expect_column_values_to_be_between", column="n"), "no bounds"),
        (check("expect_column_values_to_be_between", column="n", min_value=5, max_value=1), "bounds crossed"),
        (check("expect_column_values_to_be_between", column="s", min_value=1), "a text column"),
        (check("expect_column_values_to_be_between", column="n", min_value=True), "a boolean bound"),
        (check("expect_column_values_to_be_between", column="n", min_value=1, strict_min="yes"), "strict as text"),
        (check("expect_column_values_to_be_between", column="nn", min_value=1), "unknown column"),
        (check("expect_column_values_to_not_be_null", column="n", mostly=1.5), "mostly above 1"),
        (check("expect_column_values_to_not_be_null", column="n", colum="n"), "unknown argument"),
        (check("expect_column_values_to_not_be_null", column="n", row_condition="n > 1"), "a row condition"),
        (check("expect_column_values_to_be_in_set", column="s"), "no value_set"),
        (check("expect_column_values_to_be_in_set", column="s", value_set="EUR"), "value_set as text"),
        (check("expect_column_values_to_match_regex", column="s", regex="("), "a regex Java refuses"),
        (check("expect_column_values_to_match_regex", column="n", regex="1"), "a regex on numbers"),
        (check("expect_column_mean_to_be_between", column="s", min_value=1), "a mean of text"),
        (check("expect_table_row_count_to_be_between", min_value=1.5), "a fractional row count"),
        (check("expect_column_values_to_be_unique", column="s"), "needs a grouping"),
        (check("expect_column_distinct_values_to_be_in_set", column="s", value_set=["EUR"]), "needs a grouping"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_anything_but_plain_arguments_is_left_to_great_expectations(unplain: ExpectationSpec, why: str) -> None:
    plain = check("expect_column_values_to_not_be_null", column="n")

    planned = plan_in_pass([plain, unplain, plain], SCHEMA, regex_ok=lambda regex: regex != "(")

    assert planned.rest == (1,), why
    assert [c.index for c in planned.checks] == [0, 2]


def test_metrics_of_different_checks_do_not_mix(spark: SparkSession) -> None:
    df = spark.createDataFrame(BATCHES["mixed"], SCHEMA)
    checks = [
        check("expect_column_values_to_not_be_null", column="n"),
        check("expect_column_values_to_not_be_null", column="s", mostly=0.5),
    ]

    assert in_pass(df, checks) == by_great_expectations(df, checks)
    assert [success for success, _, _ in in_pass(df, checks)] == [False, True]
