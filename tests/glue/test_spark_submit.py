"""The Glue job scripts run unchanged under spark-submit (plain SparkSession fallback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUBMIT = Path(sys.executable).parent / "spark-submit"


def submit(repo: Path, script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{SUBMIT.parent}{os.pathsep}{os.environ['PATH']}",
        "PYSPARK_PYTHON": sys.executable,
        **(env or {}),
    }
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    command = [
        str(SUBMIT),
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        str(repo / "glue_jobs" / script),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=repo)


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def test_both_jobs_under_spark_submit(repo: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(repo / "sample_csv" / "deliveries" / "01" / "accounts", lake / "raw" / "accounts")
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    first = submit(repo, "raw_to_processed.py", "--JOB_NAME", "local", "--dataset_spec", spec, "--lake", str(lake))
    assert first.returncode == 0, first.stderr[-2000:]
    summary = last_json(first.stdout)
    assert (summary["stage"], summary["rows_in"], summary["rows_rejected"]) == ("raw-to-processed", 435, 6)
    assert not (lake / "analytics-ready").exists()
    second = submit(
        repo, "processed_to_analytics.py", "--JOB_NAME", "local", "--dataset_spec", spec, "--lake", str(lake)
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert last_json(second.stdout)["rows_analytics"] == 429
    assert list((lake / "analytics-ready" / "accounts").rglob("*.snappy.parquet"))
    # A reprocess as a job argument: the named file is redone though it did not change.
    again = submit(
        repo, "raw_to_processed.py", "--JOB_NAME", "local", "--dataset_spec", spec, "--lake", str(lake),
        "--reprocess", "files", "--source_keys", "accounts.csv",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    redone = last_json(again.stdout)
    assert (redone["files"], redone["rows_in"], redone["rows_rejected"]) == (1, 435, 6)
    assert "process raw/accounts/accounts.csv (reprocess: redone from raw with the current spec)" in again.stdout


def test_missing_job_argument_is_one_line(repo: Path) -> None:
    result = submit(repo, "raw_to_processed.py", "--JOB_NAME", "x")
    assert result.returncode == 2
    # spark-submit passes the Python process's stderr through its stdout.
    assert "etl_lib job: missing job argument(s): --dataset_spec, --lake" in result.stdout + result.stderr


def test_on_glue_a_glue_context_that_cannot_be_built_is_an_error(repo: Path, tmp_path: Path) -> None:
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    args = ("--JOB_NAME", "j", "--dataset_spec", spec, "--lake", str(tmp_path / "lake"))
    result = submit(repo, "raw_to_processed.py", *args, env={"GLUE_VERSION": "5.1"})
    assert result.returncode != 0
    assert "running on Glue (GLUE_VERSION=5.1) but the GlueContext could not be built" in result.stdout + result.stderr
    assert not (tmp_path / "lake").exists(), "nothing ran on a plain local session instead"
