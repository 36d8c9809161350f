"""A rejected record's physical line and text, and its reasons in a partner's words."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.spec.load import parse_spec
from etl_lib.transform.receipt import (
    ANCHOR,
    LineLayout,
    anchors,
    line_stats,
    partner_problems,
    records_counted,
    special_lines,
    whole_records,
    with_line_numbers,
    with_spans,
    with_text,
)

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


def lines_of(spark, paths: list[Path], multiline: bool):  # type: ignore[no-untyped-def]
    """The lines of ``paths`` as the runner reads them (``_file``: the path's index) and their layout."""
    names = F.create_map(*[x for n, p in enumerate(paths) for x in (F.lit(p.resolve().as_uri()), F.lit(n))])
    path = F.regexp_replace(F.col("_metadata.file_path"), "^file:/*", "file:///")
    frame = spark.read.text([str(p) for p in paths]).select(
        F.element_at(names, path).cast("long").alias("_file"),
        F.spark_partition_id().cast("long").alias("_part"),
        F.monotonically_increasing_id().alias("_order"),
        "value",
        F.lit(multiline).alias("_multiline"),
    )
    stats = line_stats(frame, '"')
    layout = LineLayout.of(stats)
    return with_line_numbers(frame, layout), layout, stats


def records_found(spark, paths: list[Path], multiline: bool, asked: list[tuple[int, int]]) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """{(file, record): (first line, text as delivered)} for the records asked, and every
    file's records as the lines count them. The anchors are worked out both on the driver
    and by Spark, and must agree."""
    lines, layout, stats = lines_of(spark, paths, multiline)
    found = None
    counted = {file: count - 1 for file, count in layout.lines.items()}
    if layout.specials:
        in_spark = anchors(special_lines(stats, layout), layout, header=True)
        on_driver = layout.anchors(header=True)
        assert sorted(tuple(r) for r in in_spark.collect()) == sorted(on_driver)
        assert LineLayout.of(stats, on_driver=0).special_lines is None  # too many: Spark's way
        found = spark.createDataFrame(on_driver, ANCHOR)
        counted = {r["_file"]: r["_records"] for r in records_counted(in_spark).collect()}
    rejected = spark.createDataFrame(asked, "_file long, _record long")
    spanned = with_spans(rejected, found, True, range(len(paths)))
    rows = whole_records(with_text(spanned, lines, len(asked)), ["_file", "_record"], []).collect()
    return {(r["_file"], r["_record"]): (r["_line"], r["_raw_line"]) for r in rows}, counted


def csv_ids(spark, path: Path, multiline: bool) -> list[str]:  # type: ignore[no-untyped-def]
    reader = spark.read.option("header", True).option("multiLine", multiline).option("escape", '"')
    return [r["id"] for r in reader.csv(str(path)).collect()]


def test_lines_of_records_follow_the_multiline_reader(spark, tmp_path: Path) -> None:
    path, plain = tmp_path / "f.csv", tmp_path / "plain.csv"
    path.write_text(TEXT)
    plain.write_text("id,amount\na,1\nb,2\nc,3\n")
    # univocity skips the empty line but takes the line of spaces for a record.
    assert csv_ids(spark, path, True) == ["a", "b", "c", "   ", "d"]
    asked = [(0, n) for n in range(1, 6)] + [(1, 3)]
    found, counted = records_found(spark, [path, plain], True, asked)
    assert counted == {0: 5, 1: 3}
    assert found == {
        (0, 1): (2, "a,1,plain"),
        (0, 2): (3, 'b,2,"two\n\nlines"'),
        (0, 3): (7, 'c,3,"say ""hi"""'),
        (0, 4): (8, "   "),
        (0, 5): (9, "d,x,last"),
        (1, 3): (4, "c,3"),
    }


def test_lines_of_records_follow_the_line_based_reader(spark, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,amount\na,1\n\n   \nb,2\n\tc,3\n")
    assert csv_ids(spark, path, False) == ["a", "b", "\tc"]
    found, counted = records_found(spark, [path], False, [(0, 1), (0, 2), (0, 3)])
    assert counted == {0: 3}
    assert found == {
        (0, 1): (2, "a,1"),
        (0, 2): (5, "b,2"),
        (0, 3): (6, "\tc,3"),
    }


def test_records_after_many_multi_line_values(spark, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    rows = [f'r{n},"note\n\n{n}"' if n % 3 == 0 else f"r{n},{n}" for n in range(1, 301)]
    path.write_text("\n\nid,note\n" + "\n".join(rows) + "\n")  # empty lines before the header: skipped
    ids = csv_ids(spark, path, True)
    assert ids[:3] == ["r1", "r2", "r3"] and len(ids) == 300
    asked = [(0, n) for n in (1, 2, 3, 4, 299, 300)]
    found, counted = records_found(spark, [path], True, asked)
    assert counted == {0: 300}
    line = {0: 3}  # the header's line
    for n in range(1, 301):
        line[n] = line[n - 1] + (3 if (n - 1) % 3 == 0 and n > 1 else 1)
    assert found == {(0, n): (line[n], rows[n - 1]) for _, n in asked}


def test_line_numbers_span_the_partitions_of_a_split_file(spark, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = [f"r{n},{n}" for n in range(1, 20001)]
    rows[14999] = 'r15000,"x""y"'  # doubled quotes: plain
    rows[17999] = 'r18000,"two\nlines"'
    path.write_text("id,amount\n" + "\n".join(rows) + "\n\n")  # a blank line at the end
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "40000")
    try:
        layout = lines_of(spark, [path], True)[1]
        found, counted = records_found(spark, [path], True, [(0, n) for n in (1, 9999, 15000, 18000, 18001, 20000)])
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert len(layout.bases) > 3 and layout.specials == 3 and counted == {0: 20000}
    assert found == {
        (0, 1): (2, "r1,1"),
        (0, 9999): (10000, "r9999,9999"),
        (0, 15000): (15001, 'r15000,"x""y"'),
        (0, 18000): (18001, 'r18000,"two\nlines"'),
        (0, 18001): (18003, "r18001,18001"),
        (0, 20000): (20002, "r20000,20000"),
    }


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
