"""A file read in parallel splits (``source.quoted_line_breaks: false``) gives the rows a whole read gives.

The splits are forced small (``spark.sql.files.maxPartitionBytes``) so a file of a few
thousand rows is cut in several, with blank lines, CRLF line ends and a bad row in it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context
from tests.lake import lake_rows

SPEC = """
dataset: tx
source: {{quoted_line_breaks: {breaks}}}
columns:
  - {{name: tx_id, required: true}}
  - {{name: n, type: int, required: true}}
  - {{name: note}}
"""
ROWS = 3000


def body(line_end: str = "\n") -> str:
    """Records numbered 1..ROWS (``n`` is the record's number); blank lines and one bad row among them."""
    lines = ["tx_id,n,note"]
    for n in range(1, ROWS + 1):
        if n % 500 == 0:
            lines.append("")  # a blank line is not a record
        note = '"a, quoted ""note"""' if n % 7 == 0 else "plain"
        lines.append(f"T{n},{n},{note}" if n != 1234 else f"T{n},not a number,{note}")
    return line_end.join(lines) + line_end


@pytest.fixture
def small_splits(spark) -> Iterator[None]:
    """Spark cuts files into splits of 16 KiB (the test files are ~70 KiB)."""
    before = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(16 * 1024))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", before)


def run(spark, lake: Path, breaks: bool):  # type: ignore[no-untyped-def]
    ctx = make_context(spark, SPEC.format(breaks=str(breaks).lower()), lake)
    return run_dataset(ctx, stage="raw-to-processed")


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_split_read_numbers_every_record_as_a_whole_read_does(spark, tmp_path: Path, small_splits, line_end) -> None:
    split, whole = tmp_path / "split", tmp_path / "whole"
    for lake in (split, whole):
        deliver(lake, "tx", "big.csv", body(line_end))
    by_splits = run(spark, split, breaks=False)
    by_whole = run(spark, whole, breaks=True)

    [record] = by_splits.report.files
    assert (record.status, record.rows_in, record.rows_valid, record.rows_rejected) == ("processed", ROWS, ROWS - 1, 1)
    assert len([o for o in record.outputs if o.startswith("processed/")]) > 1, "the file was not read in splits"
    [whole_record] = by_whole.report.files
    assert len([o for o in whole_record.outputs if o.startswith("processed/")]) == 1
    processed = lake_rows(spark, _storage(split), "tx")
    assert processed == lake_rows(spark, _storage(whole), "tx")
    numbers = [json.loads(r) for r in processed["processed"]]
    assert all(r["_source_row"] == r["n"] for r in numbers)
    assert sorted(r["n"] for r in numbers) == [n for n in range(1, ROWS + 1) if n != 1234]
    [rejected] = [json.loads(r) for r in processed["rejected"]]
    assert rejected["_source_row"] == 1234


def test_an_unbalanced_quote_fails_a_split_file_with_its_line_number(spark, lake: Path, small_splits) -> None:
    lines = body().splitlines()
    lines[2500] = 'T2500,2500,"a note that goes on'  # the next line continues it
    lines.insert(2501, 'on the next line"')
    deliver(lake, "tx", "big.csv", "\n".join(lines) + "\n")

    summary = run(spark, lake, breaks=False)

    [record] = summary.report.files
    assert record.status == "failed"
    assert "line 2501 has an unbalanced quote" in (record.error or "")
    assert "quoted_line_breaks" in (record.error or "")
    assert not (lake / "processed").exists()


def test_the_same_file_with_the_default_keeps_the_line_break(spark, lake: Path, small_splits) -> None:
    deliver(lake, "tx", "big.csv", 'tx_id,n,note\nT1,1,"two\nlines"\nT2,2,x\n')
    summary = run(spark, lake, breaks=True)
    assert [(f.status, f.rows_valid) for f in summary.report.files] == [("processed", 2)]


def test_a_gzip_file_is_read_whole_whatever_the_spec_says(spark, lake: Path, small_splits) -> None:
    deliver(lake, "tx", "big.csv.gz", gzip.compress(('tx_id,n,note\nT1,1,"two\nlines"\n' + body()[13:]).encode()))
    summary = run(spark, lake, breaks=False)
    [record] = summary.report.files
    assert (record.status, record.rows_in) == ("processed", ROWS + 1)


def _storage(lake: Path):  # type: ignore[no-untyped-def]
    from etl_lib.storage.local import LocalStorage

    return LocalStorage(str(lake))
