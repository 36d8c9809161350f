"""An engine failure is not a bad file: a JVM that dies or runs out of memory fails the run with
what happened and which setting to change, leaves the file claimable, and the next run redoes it."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from py4j.protocol import Py4JJavaError

from etl_lib.errors import EngineError, SourceFileError, StorageError, StorageUnavailable
from etl_lib.spark_errors import translate_spark_error

SPEC = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: amount, type: "decimal(12,2)", required: true}
  - {name: note}
"""


def test_out_of_memory_is_an_engine_error_with_the_setting_to_change(spark) -> None:
    with pytest.raises(Py4JJavaError) as caught:
        spark.sparkContext._jvm.java.nio.ByteBuffer.allocate(2**31 - 16)  # more than the test JVM's heap
    error = translate_spark_error(caught.value, "raw/tx/big.csv")
    assert isinstance(error, EngineError) and error.retryable
    assert str(error).startswith("raw/tx/big.csv: Spark ran out of memory (OutOfMemoryError: Java heap space)")
    assert "ETL_LIB_DRIVER_MEMORY" in str(error) and "--worker-type" in str(error)


def test_a_corrupt_file_is_the_file_s_problem(spark, tmp_path: Path) -> None:
    truncated = tmp_path / "a.csv.gz"
    truncated.write_bytes(gzip.compress(b"tx_id,amount\n" * 1000)[:60])
    with pytest.raises(Py4JJavaError) as caught:
        spark.read.text(str(truncated)).collect()  # a test file of a few bytes
    error = translate_spark_error(caught.value, "raw/tx/a.csv.gz")
    assert isinstance(error, SourceFileError) and not error.retryable
    assert str(error).startswith("raw/tx/a.csv.gz: EOFException")


@pytest.mark.parametrize(
    ("java", "kind"),
    [
        ("org.apache.hadoop.fs.s3a.AWSServiceThrottledException: PUT 0-part: SlowDown", StorageUnavailable),
        ("java.net.SocketTimeoutException: Read timed out", StorageUnavailable),
        ("java.nio.file.AccessDeniedException: s3a://b/raw/x.csv: getFileStatus: 403 Forbidden", StorageError),
        ("org.apache.spark.SparkException: ExecutorLostFailure (executor 3 exited)", EngineError),
    ],
)
def test_what_spark_says_of_the_lake_and_of_itself(java: str, kind: type) -> None:
    error = translate_spark_error(Exception(f"An error occurred\nCaused by: {java}\n\tat x.y(Z.java:1)"), "raw/x.csv")
    assert type(error) is kind and str(error).startswith("raw/x.csv: ")


def _children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="ignore")
    except OSError:  # gone since it was listed
        return ""


def _etl_lib(lake: Path, spec: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ETL_LIB_MASTER": "local[2]", "ETL_LIB_SHUFFLE_PARTITIONS": "2"}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    command = [sys.executable, "-m", "etl_lib", "run", "--spec", str(spec), "--lake", str(lake), "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_jvm_that_dies_mid_file_fails_the_run_and_the_next_run_redoes_the_file(tmp_path: Path) -> None:
    lake, spec = tmp_path / "lake", tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    raw = lake / "raw" / "tx" / "big.csv"
    raw.parent.mkdir(parents=True)
    with raw.open("w") as handle:
        handle.write("tx_id,amount,note\n")
        for n in range(400_000):
            handle.write(f"T{n},{n % 1000}.25,some words to make the row longer than it needs to be\n")

    first = _etl_lib(lake, spec)
    staging = lake / "_meta" / "staging" / "tx"
    deadline = time.monotonic() + 180
    while not (staging.exists() and any(staging.rglob("kind=processed"))):  # Spark is writing the file's rows
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    java = [pid for pid in _children(first.pid) if "java" in _cmdline(pid)]
    assert java
    for pid in java:
        os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer does to a JVM
    out, err = first.communicate(timeout=120)

    assert first.returncode == 1, err[-2000:]
    message = [line for line in err.splitlines() if line.startswith("etl-lib: ")]
    assert len(message) == 1, err[-2000:]
    assert "raw/tx/big.csv: the Spark JVM is gone" in message[0] and "ETL_LIB_DRIVER_MEMORY" in message[0]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "failed"
    with sqlite3.connect(lake / "_meta" / "ledger.sqlite") as db:
        assert db.execute("SELECT status FROM files WHERE source_key = 'raw/tx/big.csv'").fetchone() == ("claimed",)
    assert not (lake / "processed").exists()

    second = _etl_lib(lake, spec)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["files"], summary["rows_in"], summary["rows_valid"]) == (1, 400_000, 400_000)
