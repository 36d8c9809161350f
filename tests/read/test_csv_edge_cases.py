"""Real CSV edge cases through the public pipeline entry (one file -> processed/rejected)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context

SPEC = """
dataset: people
source: {delimiter: ",", encoding: utf-8}
columns:
  - {name: person_id, source: "Person ID", required: true, clean: [trim]}
  - {name: full_name, clean: [trim]}
  - {name: note}
  - {name: age, type: int}
keys: [person_id]
"""


def processed_rows(lake: Path, dataset: str = "people") -> list[dict]:
    rows = []
    for path in sorted((lake / "processed" / dataset).rglob("*.json")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return sorted(rows, key=lambda r: (r["_source_file"], r["_source_row"]))


def rejected_rows(lake: Path, dataset: str = "people") -> list[dict]:
    rows = []
    for path in sorted((lake / "rejected" / dataset).glob("*.json")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return sorted(rows, key=lambda r: r["_source_row"])


def run(spark, lake: Path, spec: str = SPEC):
    return run_dataset(make_context(spark, spec, lake), stage="raw-to-processed")


def test_rfc4180_quotes_newlines_crlf_and_bom(spark, lake: Path) -> None:
    content = (
        "\ufeffPerson ID,full_name,note,age\r\n"
        '1,"Doe, Jane","she said ""hi""",30\r\n'
        '2,Bob,"line one\r\nline two",41\r\n'
        "3,Ann,,\r\n"
    )
    deliver(lake, "people", "p.csv", content)
    summary = run(spark, lake)
    assert summary.status == "succeeded"
    rows = processed_rows(lake)
    assert [(r["person_id"], r["full_name"], r["note"], r["age"]) for r in rows] == [
        ("1", "Doe, Jane", 'she said "hi"', 30),
        # A line break inside quotes comes out as \n (Spark's parser normalises it).
        ("2", "Bob", "line one\nline two", 41),
        ("3", "Ann", None, None),
    ]
    assert [r["_source_row"] for r in rows] == [1, 2, 3]


def test_reordered_and_extra_columns_are_matched_by_name_and_rescued(spark, lake: Path) -> None:
    deliver(lake, "people", "p.csv", "age,Loyalty Tier,NOTE,person id,full_name\n5,gold,n,1,Al\n6,,m,2,Bo\n")
    run(spark, lake)
    rows = processed_rows(lake)
    assert [(r["person_id"], r["full_name"], r["note"], r["age"]) for r in rows] == [
        ("1", "Al", "n", 5),
        ("2", "Bo", "m", 6),
    ]
    assert json.loads(rows[0]["_rescued_data"]) == {"Loyalty Tier": "gold"}
    assert rows[1]["_rescued_data"] is None


def test_wrong_field_counts_are_rejected_with_raw_values(spark, lake: Path) -> None:
    deliver(lake, "people", "p.csv", "Person ID,full_name,note,age\n1,A,x,1\n2,B\n3,C,y,3,extra\n")
    summary = run(spark, lake)
    assert (summary.report.run.rows_valid, summary.report.run.rows_rejected) == (1, 2)
    rejected = rejected_rows(lake)
    assert [r["_source_row"] for r in rejected] == [2, 3]
    assert all("row: wrong number of fields" in r["_reasons"] for r in rejected)
    assert rejected[0]["_raw"]["Person ID"] == "2"
    assert rejected[1]["_corrupt_record"] == "3,C,y,3,extra"


def test_gzip_latin1_and_semicolons(spark, lake: Path) -> None:
    spec = SPEC.replace('delimiter: ","', 'delimiter: ";"').replace("encoding: utf-8", "encoding: latin-1")
    deliver(
        lake,
        "people",
        "p.csv.gz",
        gzip.compress("Person ID;full_name;note;age\n1;Zoë Müller;ça va;7\n".encode("latin-1")),
    )
    run(spark, lake, spec)
    assert [(r["full_name"], r["note"]) for r in processed_rows(lake)] == [("Zoë Müller", "ça va")]


def test_header_false_takes_columns_by_position(spark, lake: Path) -> None:
    spec = SPEC.replace("source: {", "source: {header: false, ")
    deliver(lake, "people", "p.csv", "1,Al,n,5\n2,Bo,m,6\n")
    run(spark, lake, spec)
    assert [(r["person_id"], r["age"]) for r in processed_rows(lake)] == [("1", 5), ("2", 6)]


def test_missing_required_column_fails_the_file_naming_it(spark, lake: Path) -> None:
    deliver(lake, "people", "p.csv", "full_name,age\nA,1\n")
    summary = run(spark, lake)
    [record] = summary.report.files
    assert record.status == "failed"
    assert record.error == (
        "raw/people/p.csv: missing required column(s) 'person_id' (header 'Person ID'); the file has: full_name, age"
    )


def test_extra_columns_reject_file_policy(spark, lake: Path) -> None:
    spec = SPEC.replace("source: {", "source: {extra_columns: reject_file, ")
    deliver(lake, "people", "p.csv", "Person ID,full_name,note,age,surprise\n1,A,x,1,?\n")
    [record] = run(spark, lake, spec).report.files
    assert record.status == "failed" and "unexpected column(s) surprise" in (record.error or "")


def test_header_only_file_is_processed_with_zero_rows(spark, lake: Path) -> None:
    deliver(lake, "people", "p.csv", "Person ID,full_name,note,age\n")
    [record] = run(spark, lake).report.files
    assert (record.status, record.rows_in) == ("processed", 0)


def test_upper_case_gz_suffix_fails_with_a_clear_reason(spark, lake: Path) -> None:
    deliver(lake, "people", "P.CSV.GZ", gzip.compress(b"Person ID,full_name,note,age\n1,A,x,1\n"))
    [record] = run(spark, lake).report.files
    assert record.status == "failed"
    assert record.error == (
        "raw/people/P.CSV.GZ: gzip files must end in lower-case .gz (Spark would read the bytes as text)"
    )
