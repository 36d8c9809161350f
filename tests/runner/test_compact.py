"""Compaction of analytics-ready: fewer, well-sized files, the same rows, and nothing lost to a crash.

The lake is the pipeline's own output over several small deliveries; its January and February
partitions are then split into many small Parquet files (as an older writer, or a partition of
more than 5M rows, leaves them), keeping every row and the schema.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.errors import ConfigError, TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.ledger.sqlite import SqliteLedger
from etl_lib.runner.compact import compact, plan_compaction
from etl_lib.runner.run import run_dataset
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver, make_context
from tests.runner.test_pipeline import SPEC

JAN, FEB = "year=2024/month=01", "year=2024/month=02"
INTENT = Path("_meta/analytics/tx/pending.json")


def delivery(first: int, count: int, month: int) -> str:
    lines = [
        f"T{i:05d},2024-{month:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00,{i % 997}.{i % 100:02d},u{i}@x.org"
        for i in range(first, first + count)
    ]
    return "tx_id,ts,amount,email\n" + "\n".join(lines) + "\n"


def context(spark, lake: Path, faults: Faults | None = None):  # type: ignore[no-untyped-def]
    faults = faults or Faults()
    ctx = make_context(spark, SPEC, lake, ledger=SqliteLedger(str(lake / "_meta" / "ledger.sqlite"), faults=faults))
    return replace(ctx, storage=LocalStorage(str(lake), faults=faults))


def data_files(lake: Path, partition: str) -> list[str]:
    return sorted(p.name for p in (lake / "analytics-ready" / "tx" / partition).glob("*.parquet"))


def partition_bytes(lake: Path, partition: str) -> int:
    return sum(p.stat().st_size for p in (lake / "analytics-ready" / "tx" / partition).glob("*.parquet"))


def rows(spark, lake: Path) -> list[str]:
    """Every analytics-ready row, every column (lineage included), sorted."""
    frame = spark.read.parquet(str(lake / "analytics-ready" / "tx"))
    return sorted(json.dumps(r.asDict(), sort_keys=True, default=str) for r in frame.collect())


def split_into(spark, lake: Path, partition: str, files: int) -> None:
    """Rewrite one partition as ``files`` small Parquet files with the same rows and schema."""
    folder = lake / "analytics-ready" / "tx" / partition
    scratch = lake.parent / f"split-{files}"
    spark.read.parquet(str(folder)).repartition(files).write.parquet(str(scratch))
    for old in folder.glob("*.parquet"):
        old.unlink()
    for n, new in enumerate(sorted(scratch.glob("part-*.parquet"))):
        new.rename(folder / f"part-{n:05d}.snappy.parquet")
    shutil.rmtree(scratch)


def build_fragmented_lake(spark, lake: Path) -> Path:  # type: ignore[no-untyped-def]
    """January: 4,000 rows from four deliveries in 8 files; February: 3 rows in 2 files."""
    for n in range(4):
        deliver(lake, "tx", f"jan{n}.csv", delivery(1000 * n, 1000, 1))
    deliver(lake, "tx", "feb.csv", delivery(90000, 3, 2))
    assert run_dataset(context(spark, lake)).status == "succeeded"
    split_into(spark, lake, JAN, 8)
    split_into(spark, lake, FEB, 2)
    assert (len(data_files(lake, JAN)), len(data_files(lake, FEB))) == (8, 2)
    return lake


@pytest.fixture(scope="module")
def fragmented(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fragmented_lake(spark, tmp_path_factory.mktemp("fragmented") / "lake")


@pytest.fixture
def lake(fragmented: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "lake"
    shutil.copytree(fragmented, copy)
    return copy


def target_for_three(lake: Path) -> int:
    """A target that asks for 3 files in January, with room on both sides for the footers saved."""
    return int(partition_bytes(lake, JAN) / 2.5)


def test_compaction_rewrites_to_the_planned_file_counts_and_keeps_every_row(spark, lake: Path) -> None:
    before = rows(spark, lake)
    schema = spark.read.parquet(str(lake / "analytics-ready" / "tx" / JAN)).schema
    target = target_for_three(lake)
    ctx = context(spark, lake)

    plan = plan_compaction(ctx.storage, ctx.analytics_prefix(), "tx", None, target)
    assert [(p.partition, len(p.keys), p.files_wanted) for p in plan.partitions] == [(JAN, 8, 3), (FEB, 2, 1)]
    assert [p.partition for p in plan.to_rewrite] == [JAN, FEB]

    result = compact(ctx, target_bytes=target)

    assert [(p.partition, p.files_before, p.files_after, p.rewritten) for p in result.partitions] == [
        (JAN, 8, 3, True),
        (FEB, 2, 1, True),
    ]
    assert data_files(lake, JAN) == [f"part-{n:05d}.snappy.parquet" for n in range(3)]
    assert data_files(lake, FEB) == ["part-00000.snappy.parquet"]
    # The compacted partition passes the rule it was planned by, so a rerun leaves it.
    assert math.ceil(partition_bytes(lake, JAN) / target) == 3
    assert result.partitions[0].bytes_after == partition_bytes(lake, JAN)
    assert rows(spark, lake) == before
    assert spark.read.parquet(str(lake / "analytics-ready" / "tx" / JAN)).schema == schema
    assert not (lake / INTENT).exists()
    assert not list((lake / "_meta" / "staging").rglob("*.parquet"))
    [record] = [r for r in ctx.ledger.runs(dataset="tx") if r.stage == "compact"]
    assert (record.run_id, record.status) == (result.run_id, "succeeded")


def test_a_rerun_changes_no_object(spark, lake: Path) -> None:
    target = target_for_three(lake)
    assert compact(context(spark, lake), target_bytes=target).rewritten == 2
    again = context(spark, lake)
    before = {o.key: (o.size, o.modified) for o in again.storage.list("")}

    result = compact(again, target_bytes=target)

    assert result.rewritten == 0
    assert [(p.files_before, p.files_after) for p in result.partitions] == [(3, 3), (1, 1)]
    assert {o.key: (o.size, o.modified) for o in again.storage.list("")} == before


def test_when_fewer_footers_cross_a_multiple_of_the_target_the_output_is_written_again(spark, lake: Path) -> None:
    """Planned at 3 files, January's 3 files would weigh under 2 targets: 3 files would break the rule
    on the next run, so it is staged again in 2 before anything is swapped, and a rerun leaves it."""
    target = int(partition_bytes(lake, JAN) / 2.02)
    plan = plan_compaction(context(spark, lake).storage, "analytics-ready/tx", "tx", [JAN], target)
    assert [p.files_wanted for p in plan.partitions] == [3]
    before = rows(spark, lake)

    result = compact(context(spark, lake), partitions=[JAN], target_bytes=target)

    assert [(p.files_before, p.files_after) for p in result.partitions] == [(8, 2)]
    assert math.ceil(partition_bytes(lake, JAN) / target) == 2
    assert rows(spark, lake) == before
    assert compact(context(spark, lake), partitions=[JAN], target_bytes=target).rewritten == 0


def test_only_the_named_partitions_are_compacted(spark, lake: Path) -> None:
    january = {o.key: o.modified for o in context(spark, lake).storage.list(f"analytics-ready/tx/{JAN}/")}
    result = compact(context(spark, lake), partitions=[FEB + "/"], target_bytes=target_for_three(lake))
    assert [(p.partition, p.files_after, p.rewritten) for p in result.partitions] == [(FEB, 1, True)]
    assert {o.key: o.modified for o in context(spark, lake).storage.list(f"analytics-ready/tx/{JAN}/")} == january


@pytest.mark.parametrize(
    ("partition", "message"),
    [
        ("year=2024/month=13", r"partition 'year=2024/month=13': expected year=YYYY/month=MM"),
        ("month=01", r"partition 'month=01': expected year=YYYY/month=MM"),
        (
            "year=2023/month=01",
            r"partition 'year=2023/month=01': no Parquet files in analytics-ready/tx/year=2023/month=01/ "
            r"\(partitions: year=2024/month=01, year=2024/month=02\)",
        ),
    ],
)
def test_an_invalid_or_unknown_partition_is_a_one_line_error(spark, fragmented: Path, partition, message) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        compact(context(spark, fragmented), partitions=[JAN, partition])
    assert "\n" not in str(caught.value)


def test_a_partition_an_unfinished_analytics_run_listed_is_left_to_its_rebuild(spark, lake: Path) -> None:
    (lake / INTENT).parent.mkdir(parents=True, exist_ok=True)
    (lake / INTENT).write_text(json.dumps([FEB]))
    result = compact(context(spark, lake), target_bytes=target_for_three(lake))
    assert [(p.partition, p.rewritten) for p in result.partitions] == [(JAN, True), (FEB, False)]
    assert "processed-to-analytics" in result.partitions[1].note
    assert len(data_files(lake, FEB)) == 2
    # January came off the intent again; February stays listed for the rebuild that is owed.
    assert json.loads((lake / INTENT).read_text()) == [FEB]


def test_a_compaction_killed_after_deleting_the_old_files_is_restored_by_the_next_analytics_run(
    spark, lake: Path
) -> None:
    before = rows(spark, lake)
    faults = Faults(Fault("storage.move", match=f"analytics-ready/tx/{JAN}/"))
    with pytest.raises(TransientError, match="injected"):
        compact(context(spark, lake, faults), target_bytes=target_for_three(lake))
    assert faults.failed["storage.move"] == 1
    assert data_files(lake, JAN) == [], "the old files were deleted, the new ones never arrived"
    assert json.loads((lake / INTENT).read_text()) == [JAN]
    ctx = context(spark, lake)
    assert [r.status for r in ctx.ledger.runs(dataset="tx") if r.stage == "compact"] == ["failed"]

    summary = run_dataset(ctx, stage="processed-to-analytics")

    assert summary.status == "succeeded"
    assert rows(spark, lake) == before
    assert not (lake / INTENT).exists()


def test_the_analytics_glue_job_compacts_when_asked(spark, lake: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from etl_lib.glue.adapter import run_glue_job

    monkeypatch.setattr("etl_lib.spark.local_session", lambda **_: spark)
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    argv = ["job.py", "--JOB_NAME", "j", "--dataset_spec", str(spec), "--lake", str(lake), "--compact", "true"]
    capsys.readouterr()
    assert run_glue_job(argv, stage="processed-to-analytics") == 0
    run, compacted = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert run["status"] == "succeeded" and compacted["run_id"] != run["run_id"]
    # The default target (128 MB) asks for one file per partition here.
    assert [(p["partition"], p["files_after"]) for p in compacted["partitions"]] == [(JAN, 1), (FEB, 1)]
    assert (data_files(lake, JAN), data_files(lake, FEB)) == (["part-00000.snappy.parquet"],) * 2
    assert run_glue_job([*argv[:-1], "maybe"], stage="processed-to-analytics") == 2


def test_compaction_on_an_s3_lake(spark, aws: str, fragmented: Path, tmp_path: Path, capsys) -> None:
    """The same compaction through S3Storage and S3A on moto: same files planned, same rows, rerun a no-op."""
    import boto3

    from etl_lib.cli.main import main
    from etl_lib.storage.s3 import S3Storage
    from tests.aws.test_s3_lake import make_bucket

    bucket = make_bucket()
    s3 = boto3.client("s3")
    for path in sorted((fragmented / "analytics-ready").rglob("*.parquet")):
        s3.put_object(Bucket=bucket, Key=str(path.relative_to(fragmented)), Body=path.read_bytes())
    spec = tmp_path / "tx.yaml"
    spec.write_text(SPEC)
    target_mb = str(target_for_three(fragmented) / 2**20)
    args = ["compact", "--spec", str(spec), "--lake", f"s3://{bucket}", "--target-mb", target_mb, "--json"]
    args += ["--ledger", f"sqlite:///{tmp_path / 'ledger.sqlite'}"]
    capsys.readouterr()
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(p["partition"], p["files_before"], p["files_after"]) for p in result["partitions"]] == [
        (JAN, 8, 3),
        (FEB, 2, 1),
    ]
    lake = S3Storage(f"s3://{bucket}")
    assert [o.key for o in lake.list(f"analytics-ready/tx/{JAN}/")] == [
        f"analytics-ready/tx/{JAN}/part-{n:05d}.snappy.parquet" for n in range(3)
    ]
    on_s3 = spark.read.parquet(lake.uri("analytics-ready/tx")).collect()
    assert sorted(json.dumps(r.asDict(), sort_keys=True, default=str) for r in on_s3) == rows(spark, fragmented)
    assert not lake.list("_meta/")
    before = {o.key: (o.size, o.modified) for o in lake.list("")}
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["rewritten"] == 0
    assert {o.key: (o.size, o.modified) for o in lake.list("")} == before
