"""Cleaning and typing rules, on tiny inline DataFrames compared with chispa."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.spec.load import parse_spec
from etl_lib.transform.clean import CLEANERS
from etl_lib.transform.types import with_cleaned_values, with_typed_columns


def typed(spark, column: dict, values: list[str | None]):
    spec = parse_spec({"dataset": "d", "columns": [column]})
    df = spark.createDataFrame([(v,) for v in values], T.StructType([T.StructField(column["name"], T.StringType())]))
    return df.transform(with_cleaned_values(spec)).transform(with_typed_columns(spec)).select(column["name"])


@pytest.mark.parametrize(
    ("rule", "raw", "expected"),
    [
        ("trim", "  a b \t", "a b"),
        ("trim", "\u00a0x\u00a0", "x"),
        ("upper", "eur", "EUR"),
        ("lower", "DePoSiT", "deposit"),
        ("title", "jane DOE", "Jane Doe"),
        ("null_if_empty", "   ", None),
        ("collapse_spaces", "a   b\t\tc", "a b c"),
        ("digits_only", "+49 (0) 30-123", "49030123"),
        ("remove_thousands_separator", "1,234,567.50", "1234567.50"),
        ("decimal_comma", "1.234,50", "1234.50"),
        ("trim", None, None),
    ],
)
def test_clean_rule(spark, rule: str, raw: str | None, expected: str | None) -> None:
    df = spark.createDataFrame([(raw,)], "v string")
    actual = df.select(CLEANERS[rule](F.col("v")).alias("v"))
    assert_df_equality(actual, spark.createDataFrame([(expected,)], "v string"))


def test_ints_are_strict(spark) -> None:
    actual = typed(spark, {"name": "n", "type": "int"}, ["42", " 7 ", "1.5", "x", "99999999999", None, ""])
    expected = spark.createDataFrame([(42,), (7,), (None,), (None,), (None,), (None,), (None,)], "n int")
    assert_df_equality(actual, expected)


def test_decimals_refuse_extra_precision_instead_of_rounding(spark) -> None:
    actual = typed(spark, {"name": "a", "type": "decimal(10,2)"}, ["10.5", "-3.25", "1.230", "1.234", "1e3", "abc"])
    expected = spark.createDataFrame(
        [(Decimal("10.50"),), (Decimal("-3.25"),), (Decimal("1.23"),), (None,), (Decimal("1000.00"),), (None,)],
        "a decimal(10,2)",
    )
    assert_df_equality(actual, expected)


def test_booleans(spark) -> None:
    actual = typed(spark, {"name": "b", "type": "boolean"}, ["true", "Y", "0", "No", "maybe"])
    expected = spark.createDataFrame([(True,), (True,), (False,), (False,), (None,)], "b boolean")
    assert_df_equality(actual, expected)


def test_dates_try_each_format_strictly(spark) -> None:
    column = {"name": "d", "type": "date", "format": ["yyyy-MM-dd", "dd/MM/yyyy"]}
    actual = typed(spark, column, ["2024-01-31", "31/01/2024", "2024-1-5", "2024-13-45", "2024-01-31x"])
    day = dt.date(2024, 1, 31)
    expected = spark.createDataFrame([(day,), (day,), (None,), (None,), (None,)], "d date")
    assert_df_equality(actual, expected)


def test_timestamps_are_utc(spark) -> None:
    column = {"name": "t", "type": "timestamp", "format": ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssXXX"]}
    actual = typed(spark, column, ["2024-03-01 10:00:00", "2024-03-01T12:00:00+02:00"])
    rendered = actual.select(F.date_format("t", "yyyy-MM-dd HH:mm:ss").alias("t"))
    expected = spark.createDataFrame([("2024-03-01 10:00:00",), ("2024-03-01 10:00:00",)], "t string")
    assert_df_equality(rendered, expected)


def test_cleaning_runs_before_typing(spark) -> None:
    column = {"name": "a", "type": "decimal(12,2)", "clean": ["trim", "remove_thousands_separator"]}
    actual = typed(spark, column, [" 1,234.50 "])
    assert_df_equality(actual, spark.createDataFrame([(Decimal("1234.50"),)], "a decimal(12,2)"))
