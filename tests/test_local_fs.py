"""The local Spark session's file system: Hadoop's, with permissions set without `chmod` processes.

``make`` builds ``jvm/etl_lib/hadoop/NioLocalFileSystem.java`` into Spark's jars; a local
session (and this suite's) uses it for ``file:`` paths. It must give the files and folders
the permissions Hadoop's own implementation gives, and Spark's writes through it must be
the same files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl_lib.spark import LOCAL_FS_JAR, local_conf

NIO = "etl_lib.hadoop.NioLocalFileSystem"


def hadoop_fs(spark: SparkSession, class_name: str):  # type: ignore[no-untyped-def]
    """A fresh instance of a Hadoop FileSystem class for ``file:``, outside Hadoop's cache."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    view = jvm
    for part in class_name.split("."):
        view = getattr(view, part)
    fs = view()
    fs.initialize(jvm.java.net.URI.create("file:///"), conf)
    return fs


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_make_built_the_jar_and_the_session_uses_it(spark: SparkSession) -> None:
    spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(__import__("pyspark").__file__)
    assert os.path.exists(os.path.join(spark_home, "jars", LOCAL_FS_JAR)), "run make: it builds the jar"
    assert local_conf()["spark.hadoop.fs.file.impl"] == NIO
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    in_use = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI.create("file:///"), conf)
    assert in_use.getClass().getName() == NIO


@pytest.mark.parametrize("octal", [0o644, 0o755, 0o600, 0o751, 0o640, 0o777, 0o000, 0o421])
def test_permissions_are_those_hadoop_sets(spark: SparkSession, tmp_path: Path, octal: int) -> None:
    jvm = spark.sparkContext._jvm
    permission = jvm.org.apache.hadoop.fs.permission.FsPermission(octal)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for folder, class_name in ((ours, NIO), (theirs, "org.apache.hadoop.fs.RawLocalFileSystem")):
        fs = hadoop_fs(spark, class_name)
        folder.mkdir()
        (folder / "file").write_text("x")
        fs.setPermission(jvm.org.apache.hadoop.fs.Path(f"file://{folder / 'file'}"), permission)
        fs.mkdirs(jvm.org.apache.hadoop.fs.Path(f"file://{folder / 'made' / 'deeper'}"), permission)

    assert mode(ours / "file") == mode(theirs / "file") == octal
    assert mode(ours / "made" / "deeper") == mode(theirs / "made" / "deeper")
    assert mode(ours / "made") == mode(theirs / "made")
    os.chmod(ours / "file", 0o600)  # tmp_path must stay removable
    os.chmod(theirs / "file", 0o600)


def test_spark_writes_the_same_files_without_checksum_side_files(spark: SparkSession, tmp_path: Path) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, "a")], "n int, k string")
    df.write.partitionBy("k").json(str(tmp_path / "out"))

    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert [n for n in names if n.endswith(".crc")] == []
    assert {n.split("/")[0] for n in names if n.endswith(".json")} == {"k=a", "k=b"}
    assert sorted(r.n for r in spark.read.json(str(tmp_path / "out")).collect()) == [1, 2, 3]
    umask = os.umask(0)
    os.umask(umask)
    for path in (tmp_path / "out").rglob("*"):
        assert mode(path) == (0o777 if path.is_dir() else 0o666) & ~umask, path
