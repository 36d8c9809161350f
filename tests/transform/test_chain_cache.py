"""What is built once per spec (transforms, read columns, staged lines, schemas) is reused for an
equal spec and never for a changed one; the merged chain gives what the transforms give one by one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.read.csv import CORRUPT, read_csv_strings
from etl_lib.read.header import map_columns
from etl_lib.spec.load import parse_spec
from etl_lib.spec.memo import SpecKey
from etl_lib.spec.model import DatasetSpec
from etl_lib.spec.schema import derived_fields, processed_schema
from etl_lib.transform.chain import with_checked_values, with_file_columns
from etl_lib.transform.derive import with_derived_columns
from etl_lib.transform.metadata import delivered_datetime, json_timestamp, with_metadata
from etl_lib.transform.partition import with_partition_columns
from etl_lib.transform.types import with_cleaned_values, with_typed_columns
from etl_lib.transform.validate import REASONS, with_derived_reasons, with_reasons
from etl_lib.write.lines import staged_lines


def spec_with(clean: list[str], allowed: list[str], derived_type: str = "bigint") -> DatasetSpec:
    return parse_spec(
        {
            "dataset": "t",
            "columns": [
                {"name": "id", "required": True},
                {"name": "code", "clean": clean, "allowed": allowed},
                {"name": "amount", "type": "decimal(10,2)"},
            ],
            "derived": [{"name": "cents", "expr": "amount * 100", "type": derived_type}],
        }
    )


def checked(spark, spec: DatasetSpec) -> list[tuple]:
    schema = T.StructType([T.StructField(n, T.StringType()) for n in ("id", "code", "amount", CORRUPT)])
    df = spark.createDataFrame([("a", " eur ", "1.50", None)], schema)
    out = df.transform(with_checked_values(spec))
    return [(r["code"], r["cents"], r[REASONS]) for r in out.collect()]


def test_an_equal_spec_reuses_the_chain_and_a_changed_one_does_not(spark) -> None:
    upper = spec_with(["trim", "upper"], ["EUR"])
    assert with_checked_values(spec_with(["trim", "upper"], ["EUR"])) is with_checked_values(upper)

    lower = spec_with(["trim", "lower"], ["EUR"])
    assert checked(spark, upper) == [("EUR", 150, [])]
    assert checked(spark, lower) == [("eur", 150, ["code: not one of [EUR]"])]
    assert checked(spark, upper) == [("EUR", 150, [])]


def test_a_spec_changed_by_copy_or_in_place_gets_its_own_chain(spark) -> None:
    spec = spec_with(["trim"], ["EUR"])
    assert checked(spark, spec) == [("eur", 150, ["code: not one of [EUR]"])]

    copied = spec.model_copy(
        update={"columns": [*spec.columns[:1], spec.columns[1].model_copy(update={"allowed": None}), *spec.columns[2:]]}
    )
    assert checked(spark, copied) == [("eur", 150, [])]

    spec.columns[1].clean.append("upper")  # a frozen model still holds mutable lists
    assert checked(spark, spec) == [("EUR", 150, [])]


def test_schemas_follow_the_spec(spark) -> None:
    as_long, as_int = spec_with([], ["EUR"], "bigint"), spec_with([], ["EUR"], "int")
    assert [f.dataType for f in derived_fields(spark, as_long)] == [T.LongType()]
    assert [f.dataType for f in derived_fields(spark, as_int)] == [T.IntegerType()]
    assert processed_schema(spark, as_long)["cents"].dataType == T.LongType()
    assert processed_schema(spark, as_int)["cents"].dataType == T.IntegerType()


def test_read_columns_follow_each_file_s_header(spark, tmp_path: Path) -> None:
    spec = spec_with([], ["EUR"])
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("id,code,amount\na,EUR,1\n")
    two.write_text("amount,extra,id,code\n2,x,b,USD\n")
    for path, headers, expected in [
        (one, ["id", "code", "amount"], ("a", "EUR", "1", None)),
        (two, ["amount", "extra", "id", "code"], ("b", "USD", "2", '{"extra":"x"}')),
        (one, ["id", "code", "amount"], ("a", "EUR", "1", None)),
    ]:
        rows = read_csv_strings(spark, str(path), spec, map_columns(str(path), headers, spec)).collect()
        assert [(r["id"], r["code"], r["amount"], r["_rescued_data"]) for r in rows] == [expected]
        assert rows[0]["_source_row"] == 1


def test_staged_lines_follow_the_spec_and_the_checked_columns(spark) -> None:
    spec = spec_with([], ["EUR"]).model_copy(update={"derived": []})
    rows = spark.createDataFrame(
        [("a", "EUR", 1.5, "2024", "01", [])],
        "id string, code string, amount double, year string, month string, _reasons array<string>",
    ).selectExpr("*", *[f"null AS {c}" for c in OTHER_COLUMNS])
    for check_columns, expected in [(None, []), (["id"], ['{"id":"a"}']), (["code"], ['{"code":"EUR"}'])]:
        lines = staged_lines(spec, rows, check_columns).collect()
        assert [r["value"] for r in lines if r["kind"] == "checks"] == expected
        assert [r["kind"] for r in lines] == ["processed", *(["checks"] if expected else [])]

    without_amount = spec.model_copy(update={"columns": spec.columns[:2]})
    processed = [r["value"] for r in staged_lines(without_amount, rows, None).collect()]
    assert processed[0].startswith('{"id":"a","code":"EUR","_rescued_data":null')


OTHER_COLUMNS = ["_rescued_data", "_source_file", "_source_row", "_ingested_at", "_run_id", "_delivered_at"]
OTHER_COLUMNS += ["_raw", CORRUPT]


def test_the_chain_equals_the_transforms_one_by_one(spark) -> None:
    columns = [{"name": "id"}, {"name": "amount", "type": "decimal(10,2)"}, {"name": "day", "type": "date"}]
    derived = [
        {"name": "cents", "expr": "CAST(amount * 100 AS BIGINT)"},
        {"name": "twice", "expr": "cents * 2"},
        {"name": "key", "expr": "CASE WHEN cents > 100 THEN id END"},
    ]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in ("id", "amount", "day", CORRUPT)])
    df = spark.createDataFrame([("a", "1.50", "2024-02-03", None), ("b", "0.5", "x", None)], schema)
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    for partition_by in ["day", None]:
        spec = parse_spec({"dataset": "t", "columns": columns, "derived": derived, "keys": ["key"]})
        spec = spec.model_copy(update={"partition_by": partition_by})
        one_by_one = (
            df.transform(with_cleaned_values(spec))
            .transform(with_typed_columns(spec))
            .transform(with_reasons(spec))
            .transform(with_derived_columns(spec))
            .transform(with_derived_reasons(spec))
            .transform(with_metadata("raw/t/a.csv", at, "run-1", 1.7e9))
            .transform(with_partition_columns(spec))
        )
        chained = df.transform(with_checked_values(spec)).transform(
            with_file_columns(spec, "raw/t/a.csv", at, "run-1", 1.7e9)
        )
        # The lineage timestamps are the text JSON lines hold: the same lines, column for column.
        assert chained.columns == one_by_one.columns
        assert_df_equality(as_json_lines(chained), as_json_lines(one_by_one))
        assert dict(chained.dtypes)["_delivered_at"] == "string"


def as_json_lines(df):  # type: ignore[no-untyped-def]
    """Each row as the JSON line processed would hold (nulls written too)."""
    return df.select(F.to_json(F.struct(*df.columns), {"ignoreNullFields": "false"}).alias("line"))


@pytest.mark.parametrize(
    "at",
    [
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2000, 1, 1, 0, 0, 0, 1_000, tzinfo=UTC),
        datetime(2026, 11, 29, 22, 12, 46, 947_123, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=2))),  # a non-UTC clock
    ],
)
def test_lineage_text_is_what_spark_writes_for_the_timestamp(spark, at: datetime) -> None:
    [row] = spark.createDataFrame([(at,)], "t timestamp").select(F.to_json(F.struct("t")).alias("j")).collect()

    assert row["j"] == json.dumps({"t": json_timestamp(at)}, separators=(",", ":"))


@pytest.mark.parametrize("delivered", [1.7e9, 1_732_900_000.123456, 1_732_900_000.9999996, 86_400.0005])
def test_delivered_text_is_what_spark_writes_for_the_micros(spark, delivered: float) -> None:
    micros = round(delivered * 1_000_000)
    [row] = spark.sql(f"SELECT to_json(named_struct('t', timestamp_micros({micros}))) AS j").collect()

    assert row["j"] == json.dumps({"t": json_timestamp(delivered_datetime(delivered))}, separators=(",", ":"))


def test_a_spec_key_takes_any_argument_value_and_keeps_numbers_apart() -> None:
    def spec(bound: object, extra: object = None) -> DatasetSpec:
        kwargs = {"column": "a", "min_value": bound, "meta_value": extra}
        check = {"type": "expect_column_values_to_be_between", "kwargs": kwargs}
        return parse_spec({"dataset": "t", "columns": [{"name": "a", "type": "int"}], "expectations": [check]})

    assert SpecKey(spec(1, b"\xff")) == SpecKey(spec(1, b"\xff"))  # bytes JSON cannot write
    assert len({SpecKey(spec(1)), SpecKey(spec(1.0)), SpecKey(spec(True)), SpecKey(spec("1"))}) == 4
