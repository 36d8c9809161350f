"""Row rules, derived columns, deduplication and pii hashing."""

from __future__ import annotations

import datetime as dt
import hashlib

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.read.csv import CORRUPT
from etl_lib.spec.load import parse_spec
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.transform.derive import with_derived_columns
from etl_lib.transform.pii import with_hashed_columns
from etl_lib.transform.types import with_cleaned_values, with_typed_columns
from etl_lib.transform.validate import REASONS, with_reasons

SPEC = parse_spec(
    {
        "dataset": "t",
        "columns": [
            {"name": "id", "required": True, "clean": ["trim"]},
            {"name": "amount", "type": "decimal(10,2)", "min": 0, "max": 1000},
            {"name": "currency", "clean": ["trim", "upper"], "allowed": ["EUR", "USD"]},
            {"name": "iban", "pattern": "[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}"},
            {"name": "booked", "type": "date", "min": "2020-01-01"},
        ],
        "derived": [{"name": "cents", "expr": "CAST(amount * 100 AS BIGINT)"}],
        "keys": ["id"],
    }
)


def reasons_of(spark, rows: list[tuple]) -> list[list[str]]:
    schema = T.StructType(
        [T.StructField(n, T.StringType()) for n in ("id", "amount", "currency", "iban", "booked", CORRUPT)]
    )
    df = spark.createDataFrame(rows, schema)
    out = df.transform(with_cleaned_values(SPEC)).transform(with_typed_columns(SPEC)).transform(with_reasons(SPEC))
    return [r[REASONS] for r in out.select(REASONS).collect()]


def test_a_good_row_has_no_reasons(spark) -> None:
    assert reasons_of(spark, [(" a1 ", "10.00", " eur ", "DE89370400440532013000", "2024-01-01", None)]) == [[]]


def test_each_failed_rule_is_one_reason(spark) -> None:
    rows = [
        ("", "-1", "JPY", "nope", "2019-12-31", None),
        ("b", "12x", "EUR", None, "2024-02-30", None),
        ("c", "1000.01", None, None, None, "c,1000.01"),
    ]
    assert reasons_of(spark, rows) == [
        [
            "id: required value is missing",
            "amount: below min 0",
            "currency: not one of [EUR, USD]",
            "iban: does not match pattern [A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}",
            "booked: below min 2020-01-01",
        ],
        ["amount: not a valid decimal(10,2)", "booked: not a valid date (formats: yyyy-MM-dd)"],
        ["row: wrong number of fields", "amount: above max 1000"],
    ]


def test_pattern_must_match_the_whole_value(spark) -> None:
    assert reasons_of(spark, [("a", None, None, "xxDE89370400440532013000", None, None)]) == [
        ["iban: does not match pattern [A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}"]
    ]


def test_derived_columns_use_typed_values(spark) -> None:
    df = spark.createDataFrame(
        [("a", "1.25", None, None, None)], "id string, amount string, currency string, iban string, booked string"
    )
    out = (
        df.transform(with_cleaned_values(SPEC))
        .transform(with_typed_columns(SPEC))
        .transform(with_derived_columns(SPEC))
    )
    assert out.select("cents").first()[0] == 125


def test_latest_row_per_key_wins_with_deterministic_ties(spark) -> None:
    t1, t2, t3 = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1)
    schema = (
        "id string, v string, updated date, _delivered_at timestamp, _ingested_at timestamp, "
        "_source_file string, _source_row long"
    )
    rows = [
        ("k1", "old", dt.date(2024, 1, 1), t2, t2, "raw/b.csv", 1),
        ("k1", "new", dt.date(2024, 3, 1), t1, t1, "raw/a.csv", 1),
        # Delivered first but processed last (a retry): the later delivery still wins.
        ("k2", "first-delivery", None, t1, t3, "raw/a.csv", 5),
        ("k2", "later-delivery", None, t2, t1, "raw/b.csv", 1),
        ("k3", "line-2", None, t1, t1, "raw/a.csv", 2),
        ("k3", "line-9", None, t1, t1, "raw/a.csv", 9),
        # A row written before _delivered_at existed counts by its ingestion time.
        ("k4", "legacy", None, None, t3, "raw/a.csv", 1),
        ("k4", "delivered", None, t2, t2, "raw/c.csv", 1),
    ]
    df = spark.createDataFrame(rows, schema)
    by_updated = df.transform(keep_latest_per_key(["id"], "updated")).select("id", "v")
    expected = spark.createDataFrame(
        [("k1", "new"), ("k2", "later-delivery"), ("k3", "line-9"), ("k4", "legacy")], "id string, v string"
    )
    assert_df_equality(by_updated, expected, ignore_row_order=True)
    # Shuffled input gives the same winners.
    shuffled = df.orderBy(F.rand(7)).transform(keep_latest_per_key(["id"], "updated")).select("id", "v")
    assert_df_equality(shuffled, expected, ignore_row_order=True)


def test_without_keys_every_row_is_kept(spark) -> None:
    df = spark.createDataFrame([("a",), ("a",)], "id string")
    assert df.transform(keep_latest_per_key([], None)).count() == 2


def test_pii_is_sha256_hex(spark) -> None:
    df = spark.createDataFrame([("a@x.com", "keep"), (None, "n")], "email string, other string")
    actual = df.transform(with_hashed_columns(["email", "missing_col"]))
    expected = spark.createDataFrame(
        [(hashlib.sha256(b"a@x.com").hexdigest(), "keep"), (None, "n")], "email string, other string"
    )
    assert_df_equality(actual, expected)
