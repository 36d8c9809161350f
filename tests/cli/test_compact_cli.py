"""``etl-lib compact``: the table, the JSON, and a bad partition's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl_lib.cli.main import main
from tests.runner.test_compact import FEB, JAN, build_fragmented_lake, data_files, partition_bytes
from tests.runner.test_pipeline import SPEC


@pytest.fixture
def lake(spark, tmp_path: Path) -> Path:
    return build_fragmented_lake(spark, tmp_path / "lake")


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "tx.yaml"
    path.write_text(SPEC)
    return str(path)


def test_compact_prints_a_table_then_json_on_a_rerun(lake: Path, spec: str, capsys) -> None:
    january_mb = partition_bytes(lake, JAN) / 2**20
    target_mb = round(january_mb / 2.5, 4)  # three files for January
    args = ["compact", "--spec", spec, "--lake", str(lake), "--target-mb", str(target_mb)]
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["partition", "files", "MB", "action"]
    after_mb = partition_bytes(lake, JAN) / 2**20
    assert out[2].split() == [JAN, "8", "->", "3", f"{january_mb:.2f}", "->", f"{after_mb:.2f}", "rewritten"]
    assert out[3].split()[:4] == [FEB, "2", "->", "1"]
    assert out[-1] == f"compact tx: 2 of 2 partition(s) rewritten (target {target_mb:g} MB)"
    assert len(data_files(lake, JAN)) == 3

    assert main([*args, "--partition", JAN, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["dataset"], result["status"], result["rewritten"]) == ("tx", "succeeded", 0)
    [january] = result["partitions"]
    assert {k: january[k] for k in ("partition", "files_before", "files_after", "rewritten")} == {
        "partition": JAN,
        "files_before": 3,
        "files_after": 3,
        "rewritten": False,
    }
    assert january["bytes_before"] == january["bytes_after"] == partition_bytes(lake, JAN)


def test_a_bad_partition_exits_2_with_one_line(spark, tmp_path: Path, spec: str, capsys) -> None:
    lake = str(tmp_path / "lake")
    capsys.readouterr()
    assert main(["compact", "--spec", spec, "--lake", lake, "--partition", "year=2024/month=13", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "etl-lib: partition 'year=2024/month=13': expected year=YYYY/month=MM, e.g. year=2024/month=01\n"
    )
    assert json.loads(captured.out)["status"] == "failed"
    assert main(["compact", "--spec", spec, "--lake", lake, "--partition", "year=2024/month=01"]) == 2
    assert capsys.readouterr().err.endswith(
        "no Parquet files in analytics-ready/tx/year=2024/month=01/ (partitions: none)\n"
    )
    assert main(["compact", "--spec", spec, "--lake", lake, "--target-mb", "0"]) == 2
    assert capsys.readouterr().err == "etl-lib: --target-mb 0: expected a positive size in MB\n"
