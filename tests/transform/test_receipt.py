"""A rejected record's physical line and text, and its reasons in a partner's words."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.spec.load import parse_spec
from etl_lib.transform.receipt import numbered_lines, partner_problems, rejected_lines

TEXT = (
    "id,amount,note\n"  # 1: header
    "a,1,plain\n"  # 2: record 1
    'b,2,"two\n'  # 3: record 2 starts
    "\n"  # 4: blank, but inside the quoted value
    'lines"\n'  # 5: record 2 ends
    "\n"  # 6: blank between records: skipped
    'c,3,"say ""hi"""\n'  # 7: record 3 (doubled quotes)
    "   \n"  # 8: blank (spaces)
    "d,x,last\n"  # 9: record 4
)


def lines_of(spark, path: Path, multiline: bool):  # type: ignore[no-untyped-def]
    frame = spark.read.text(str(path))
    return frame.select(
        F.col("_metadata.file_path").alias("_file"),
        F.monotonically_increasing_id().alias("_order"),
        "value",
        F.lit(multiline).alias("_multiline"),
    )


def csv_ids(spark, path: Path, multiline: bool) -> list[str]:  # type: ignore[no-untyped-def]
    reader = spark.read.option("header", True).option("multiLine", multiline).option("escape", '"')
    return [r["id"] for r in reader.csv(str(path)).collect()]


def test_lines_and_records_follow_the_multiline_reader(spark, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(TEXT)
    lines = lines_of(spark, path, True)
    numbered = numbered_lines(lines, '"', header=True)
    got = [(r["_line"], r["_record"]) for r in numbered.orderBy("_line").collect()]
    # univocity skips the empty line but takes the line of spaces for a record.
    assert got == [(1, 0), (2, 1), (3, 2), (4, 2), (5, 2), (6, None), (7, 3), (8, 4), (9, 5)]
    assert csv_ids(spark, path, True) == ["a", "b", "c", "   ", "d"]

    file = str(numbered.first()["_file"])
    rejected = spark.createDataFrame([(file, 2), (file, 5)], "_file string, _source_row long")
    found = {
        r["_source_row"]: (r["_line"], r["_raw_line"]) for r in rejected_lines(numbered, lines, rejected).collect()
    }
    assert found == {2: (3, 'b,2,"two\n\nlines"'), 5: (9, "d,x,last")}


def test_lines_and_records_follow_the_line_based_reader(spark, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,amount\na,1\n\n   \nb,2\n\tc,3\n")
    numbered = numbered_lines(lines_of(spark, path, False), '"', header=True)
    got = [(r["_line"], r["_record"]) for r in numbered.orderBy("_line").collect()]
    assert got == [(1, 0), (2, 1), (3, None), (4, None), (5, 2), (6, 3)]
    assert csv_ids(spark, path, False) == ["a", "b", "\tc"]


def test_reasons_in_a_partners_words(spark) -> None:
    spec = parse_spec(
        {
            "dataset": "tx",
            "columns": [
                {"name": "amount", "type": "decimal(18,2)", "source": "Amount", "min": 0},
                {"name": "currency", "allowed": ["EUR"], "required": True},
            ],
        }
    )
    schema = T.StructType(
        [
            T.StructField("_reasons", T.ArrayType(T.StringType())),
            T.StructField("_raw", T.MapType(T.StringType(), T.StringType())),
        ]
    )
    rows = [
        (["amount: not a valid decimal(18,2)", "currency: not one of [EUR]"], {"Amount": "n/a", "currency": "XYZ"}),
        (["amount: below min 0", "currency: required value is missing"], {"Amount": "-5", "currency": ""}),
        (["row: wrong number of fields"], {"Amount": "1"}),
    ]
    frame = spark.createDataFrame(rows, schema).select(partner_problems(spec, F.col("_raw")).alias("p"))
    assert [r["p"] for r in frame.collect()] == [
        ["amount: 'n/a' is not a valid decimal(18,2)", "currency: 'XYZ' is not one of [EUR]"],
        ["amount: '-5' is below the minimum 0", "currency: a value is required"],
        ["row: wrong number of fields"],
    ]
