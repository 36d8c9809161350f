"""Expectations counted while a file is written: no extra pass, no Great Expectations call.

Most expectations a spec holds ask a question of each row (is ``amount`` between 0 and
100000?) or of the batch as a whole (how many rows, what mean). Their answer is a few
counts, which Spark's ``Observation`` collects during the one write of the file, just
like the file's row counts. ``plan_in_pass`` picks those expectations and builds their
aggregate expressions; ``InPassChecks.results`` turns the observed counts into the same
``CheckResult`` Great Expectations would give.

Same answers as Great Expectations, by construction and by test: the row conditions
are the Spark expressions Great Expectations (1.x, ``SparkDFExecutionEngine``) builds,
nulls are set aside the same way, and success follows its rules (``mostly`` over the
non-null values, an empty batch passes a row check, bounds with ``strict_min`` and
``strict_max``). ``tests/quality/test_in_pass.py`` compares the two on the same batches.

Only plain arguments qualify: a column of the batch with a suitable type, numbers as
numbers, a list as ``value_set``, a regex Java accepts. Anything else (a string where a
number belongs, a row condition, an unknown argument, a misspelt column) is left to
Great Expectations, which checks it and reports the problem as it always has.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.quality.expectations import CheckResult, Outcome, describe
from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec, ExpectationSpec
from etl_lib.spec.schema import processed_schema

__all__ = ["InPassChecks", "in_pass_checks", "plan_in_pass"]

_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
# Great Expectations' own list for a column mean (it refuses any other type).
_MEAN_TYPES = (T.DecimalType, T.IntegerType, T.DoubleType, T.FloatType, T.LongType)
_SCALARS = (str, int, float, bool)

# The arguments each expectation may have here, beyond ``column``; required ones first.
_ARGUMENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "expect_column_values_to_not_be_null": (frozenset(), frozenset({"mostly"})),
    "expect_column_values_to_be_between": (
        frozenset(),
        frozenset({"mostly", "min_value", "max_value", "strict_min", "strict_max"}),
    ),
    "expect_column_values_to_be_in_set": (frozenset({"value_set"}), frozenset({"mostly"})),
    "expect_column_values_to_match_regex": (frozenset({"regex"}), frozenset({"mostly"})),
    "expect_table_row_count_to_be_between": (
        frozenset(),
        frozenset({"min_value", "max_value", "strict_min", "strict_max"}),
    ),
    "expect_column_mean_to_be_between": (
        frozenset(),
        frozenset({"min_value", "max_value", "strict_min", "strict_max"}),
    ),
}
_TABLE_LEVEL = frozenset({"expect_table_row_count_to_be_between"})


@dataclass(frozen=True)
class _Check:
    """One expectation counted in the pass: its position in the spec and its metrics' prefix."""

    index: int
    spec: ExpectationSpec

    @property
    def prefix(self) -> str:
        return f"_check{self.index}_"


@dataclass(frozen=True)
class InPassChecks:
    """The expectations of a spec that are counted while a file is written, and the rest."""

    checks: tuple[_Check, ...]
    rest: tuple[int, ...]
    """Positions of the expectations Great Expectations runs (on a narrow copy of the rows)."""

    def metrics(self, valid: Column) -> list[Column]:
        """Aggregate expressions over a file's rows, ``valid`` true for the rows that count
        (the batch Great Expectations would see): to observe during the write."""
        found: list[Column] = []
        for check in self.checks:
            found += [expr.alias(check.prefix + name) for name, expr in _metrics(check.spec, valid).items()]
        return found

    def results(self, observed: Mapping[str, Any]) -> dict[int, CheckResult]:
        """The ``CheckResult`` of each counted expectation, by its position in the spec."""
        return {index: outcome.check for index, outcome in self.outcomes(observed).items()}

    def outcomes(self, observed: Mapping[str, Any]) -> dict[int, Outcome]:
        """The ``Outcome`` of each counted expectation (its ``CheckResult`` and the result
        fields Great Expectations would give), by its position in the spec."""
        found: dict[int, Outcome] = {}
        for check in self.checks:
            values = {k.removeprefix(check.prefix): v for k, v in observed.items() if k.startswith(check.prefix)}
            success, result = _judge(check.spec, values)
            observed_text = describe(check.spec.type, check.spec.kwargs, result, success)
            result_check = CheckResult(
                expectation=check.spec.type,
                kwargs=dict(check.spec.kwargs),
                success=success,
                on_failure=check.spec.on_failure,
                observed=observed_text,
            )
            found[check.index] = Outcome(result_check, result)
        return found


def plan_in_pass(
    expectations: Sequence[ExpectationSpec], schema: T.StructType, regex_ok: Callable[[str], bool]
) -> InPassChecks:
    """Split ``expectations`` into those counted in the pass and the rest.

    ``schema`` is the batch's schema (the processed columns); ``regex_ok`` says whether
    Java's regex engine, which runs the pattern, accepts it.
    """
    types = {field.name: field.dataType for field in schema.fields}
    checks, rest = [], []
    for index, spec in enumerate(expectations):
        if _qualifies(spec, types, regex_ok):
            checks.append(_Check(index, spec))
        else:
            rest.append(index)
    return InPassChecks(tuple(checks), tuple(rest))


def in_pass_checks(spark: SparkSession, spec: DatasetSpec) -> InPassChecks:
    """``plan_in_pass`` for a spec's expectations on its processed columns, once per spec."""
    return _in_pass_checks(SpecKey(spec), spark)


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _in_pass_checks(key: SpecKey, spark: SparkSession) -> InPassChecks:
    pattern = spark.sparkContext._jvm.java.util.regex.Pattern  # type: ignore[union-attr]

    def regex_ok(regex: str) -> bool:
        try:
            pattern.compile(regex)
        except Exception:  # py4j's error for PatternSyntaxException
            return False
        return True

    return plan_in_pass(key.spec.expectations, processed_schema(spark, key.spec), regex_ok)


# --- Which arguments qualify -------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _qualifies(spec: ExpectationSpec, types: Mapping[str, T.DataType], regex_ok: Callable[[str], bool]) -> bool:
    """True when ``spec`` has plain arguments of the shapes counted here, on a column of a suitable type."""
    if spec.type not in _ARGUMENTS:
        return False
    required, optional = _ARGUMENTS[spec.type]
    kwargs = dict(spec.kwargs)
    column_type = None
    if spec.type not in _TABLE_LEVEL:
        column = kwargs.pop("column", None)
        if not isinstance(column, str) or column not in types:
            return False
        column_type = types[column]
    if not required <= set(kwargs) <= required | optional:
        return False
    if "mostly" in kwargs and not (_number(kwargs["mostly"]) and 0 <= kwargs["mostly"] <= 1):
        return False
    if any(not isinstance(kwargs.get(name, False), bool) for name in ("strict_min", "strict_max")):
        return False
    bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
    if spec.type.endswith("_to_be_between"):
        if not all(b is None or _number(b) for b in bounds):
            return False
        if None not in bounds and bounds[0] > bounds[1]:  # type: ignore[operator]
            return False
    if spec.type == "expect_column_values_to_be_between":
        return bounds != [None, None] and isinstance(column_type, _NUMERIC)
    if spec.type == "expect_column_mean_to_be_between":
        return type(column_type) in _MEAN_TYPES
    if spec.type == "expect_table_row_count_to_be_between":
        return all(b is None or isinstance(b, int) for b in bounds)
    if spec.type == "expect_column_values_to_be_in_set":
        value_set = kwargs["value_set"]
        return isinstance(value_set, list) and all(isinstance(v, _SCALARS) for v in value_set)
    if spec.type == "expect_column_values_to_match_regex":
        regex = kwargs["regex"]
        # Java runs the pattern: one it refuses is left to Great Expectations, which reports it.
        return isinstance(column_type, T.StringType) and isinstance(regex, str) and regex_ok(regex)
    return True


# --- Metrics and verdicts, as Great Expectations computes them ----------------------------


def _sum_if(valid: Column, condition: Column) -> Column:
    """Valid rows where ``condition`` holds (null counts as false); null when no row is valid,
    as Great Expectations' sum over an empty batch."""
    return F.sum(F.when(valid, F.when(condition, 1).otherwise(0))).cast("long")


def _metrics(spec: ExpectationSpec, valid: Column) -> dict[str, Column]:
    kwargs = spec.kwargs
    rows = F.count(F.when(valid, 1))
    if spec.type == "expect_table_row_count_to_be_between":
        return {"rows": rows}
    column = F.col(f"`{kwargs['column']}`")
    if spec.type == "expect_column_mean_to_be_between":
        return {"mean": F.avg(F.when(valid, column))}
    if spec.type == "expect_column_values_to_not_be_null":
        return {"rows": rows, "unexpected": _sum_if(valid, column.isNull())}
    expected = _expected(spec.type, kwargs, column)
    return {
        "rows": rows,
        "nulls": _sum_if(valid, column.isNull()),
        "unexpected": _sum_if(valid, column.isNotNull() & ~expected),
    }


def _expected(expectation: str, kwargs: Mapping[str, Any], column: Column) -> Column:
    """The condition a non-null value must meet: Great Expectations' Spark expression."""
    if expectation == "expect_column_values_to_be_in_set":
        return column.isin(list(kwargs["value_set"]))
    if expectation == "expect_column_values_to_match_regex":
        return column.rlike(kwargs["regex"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    above = F.lit(True) if low is None else (column > low if kwargs.get("strict_min") else column >= low)
    below = F.lit(True) if high is None else (column < high if kwargs.get("strict_max") else column <= high)
    return above & below


def _judge(spec: ExpectationSpec, values: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Success and Great Expectations' ``result`` fields (BASIC) from the observed metrics."""
    kwargs = spec.kwargs
    if spec.type == "expect_table_row_count_to_be_between":
        rows = int(values.get("rows") or 0)
        return _between(rows, kwargs), {"observed_value": rows}
    if spec.type == "expect_column_mean_to_be_between":
        mean = values.get("mean")
        return (False if mean is None else _between(mean, kwargs)), {"observed_value": mean}
    rows, unexpected = int(values.get("rows") or 0), values.get("unexpected")
    mostly = float(kwargs.get("mostly", 1.0))
    if spec.type == "expect_column_values_to_not_be_null":
        success = rows == 0 or unexpected is None or (rows - unexpected) / rows >= mostly
        return success, _map_result(rows, unexpected, None)
    nulls = values.get("nulls")
    if nulls is None:  # no valid row: Great Expectations counts nothing at all
        rows = 0
    nonnull = rows - (nulls or 0)
    success = unexpected is None or rows == 0 or nonnull == 0 or (nonnull - unexpected) / nonnull >= mostly
    return success, _map_result(rows, unexpected, nonnull)


def _map_result(rows: int, unexpected: int | None, nonnull: int | None) -> dict[str, Any]:
    """A row check's ``result`` as Great Expectations shapes it (BASIC, no values), with its
    arithmetic (same floats); ``nonnull`` None for a check of nulls themselves, which has no
    missing values."""
    total = None if unexpected is None or rows == 0 else unexpected / rows * 100
    if nonnull is None:
        return {
            "element_count": rows,
            "unexpected_count": unexpected,
            "unexpected_percent": total,
            "partial_unexpected_list": [],
        }
    missing = rows - nonnull
    over_nonnull = None if unexpected is None or not nonnull else unexpected / nonnull * 100
    return {
        "element_count": rows,
        "unexpected_count": unexpected,
        "unexpected_percent": over_nonnull,
        "partial_unexpected_list": [],
        "missing_count": missing,
        "missing_percent": None if total is None else missing / rows * 100,
        "unexpected_percent_total": total,
        "unexpected_percent_nonmissing": over_nonnull,
    }


def _between(value: Any, kwargs: Mapping[str, Any]) -> bool:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    above = low is None or (value > low if kwargs.get("strict_min") else value >= low)
    below = high is None or (value < high if kwargs.get("strict_max") else value <= high)
    return bool(above and below)
