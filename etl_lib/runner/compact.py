"""Compact analytics-ready: rewrite a partition's Parquet into files near a target size, rows unchanged.

Plan, then run. ``plan_compaction`` decides from one listing (read-only) which
``year=YYYY/month=MM`` partitions need it: those whose number of data files is not
``max(1, ceil(bytes / target_bytes))``. ``compact`` then takes the dataset's analytics
lease (one writer of analytics-ready at a time), plans again under it (the first
listing may be stale by then) and rewrites each planned partition: read its files,
repartition, write snappy Parquet to the run's staging folder, check the row count,
swap it in.

A rewritten partition must itself pass the rule, or every later run would rewrite it
again; fewer files carry fewer footers, so the bytes shrink and may cross a multiple of
the target. The staged output is therefore measured and, when it does not pass, written
again with the count it asks for (at most ``MAX_ATTEMPTS`` times), before anything is
swapped.

Crash safety rests on the analytics intent (``intent_key``): a partition is added to it
before its old files are deleted and removed once its new files are in. A run killed
between the two leaves the partition listed, and the next processed-to-analytics run
rebuilds it whole from processed. A partition an earlier analytics run left listed is
not compacted: that run's rebuild is still owed, and this run must not take it off the list.
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import re
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame

from etl_lib.errors import ConfigError, EtlError
from etl_lib.ledger.base import RunRecord, utcnow
from etl_lib.runner.analytics import earlier_intent, intent_key
from etl_lib.runner.context import RunContext, process_owner
from etl_lib.runner.errors import one_line, short_reason
from etl_lib.runner.run import analytics_lease
from etl_lib.spark_errors import spark_errors
from etl_lib.storage.base import ObjectInfo, Storage
from etl_lib.write.staging import staged_files

log = logging.getLogger("etl_lib.compact")

DEFAULT_TARGET_BYTES = 128 * 2**20
MAX_ATTEMPTS = 3
PARTITION = re.compile(r"year=\d{4}/month=(0[1-9]|1[0-2])")


def files_wanted(total_bytes: int, target_bytes: int) -> int:
    """How many files a partition of ``total_bytes`` should have: ``max(1, ceil(total / target))``."""
    return max(1, math.ceil(total_bytes / target_bytes))


@dataclass(frozen=True)
class PartitionPlan:
    """One partition as listed: its data files, their bytes, and how many files it should have."""

    partition: str
    keys: tuple[str, ...]
    bytes: int
    files_wanted: int
    pending_rebuild: bool = False
    """An earlier analytics run listed it in its intent: it is left to that rebuild."""

    @property
    def needs_rewrite(self) -> bool:
        """True when the file count is off and no analytics rebuild is owed."""
        return not self.pending_rebuild and len(self.keys) != self.files_wanted


@dataclass(frozen=True)
class CompactPlan:
    """What a compaction would do, decided from a listing alone."""

    dataset: str
    target_bytes: int
    partitions: tuple[PartitionPlan, ...]

    @property
    def to_rewrite(self) -> tuple[PartitionPlan, ...]:
        """The partitions that need rewriting."""
        return tuple(p for p in self.partitions if p.needs_rewrite)


@dataclass(frozen=True)
class PartitionOutcome:
    """Files and bytes of one partition before and after, and whether it was rewritten."""

    partition: str
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    rewritten: bool
    note: str = ""


@dataclass(frozen=True)
class CompactResult:
    """What ``compact`` did, per partition."""

    dataset: str
    run_id: str
    target_bytes: int
    partitions: tuple[PartitionOutcome, ...]

    @property
    def rewritten(self) -> int:
        """How many partitions were rewritten."""
        return sum(p.rewritten for p in self.partitions)

    def as_json(self) -> dict[str, object]:
        """What ``etl-lib compact --json`` prints."""
        return {
            "dataset": self.dataset,
            "run_id": self.run_id,
            "target_bytes": self.target_bytes,
            "rewritten": self.rewritten,
            "status": "succeeded",
            "partitions": [asdict(p) for p in self.partitions],
        }


def is_data_file(name: str) -> bool:
    """A name Spark reads as data in a partition folder: anything but ``_x`` and ``.x``."""
    return not name.startswith(("_", "."))


def list_partition_files(storage: Storage, root: str) -> dict[str, list[ObjectInfo]]:
    """The data files directly in each ``year=YYYY/month=MM`` folder under ``root`` (one listing)."""
    found: dict[str, list[ObjectInfo]] = {}
    for obj in storage.list(root + "/"):
        folder, name = posixpath.split(obj.key[len(root) + 1 :])
        if PARTITION.fullmatch(folder) and is_data_file(name):
            found.setdefault(folder, []).append(obj)
    return found


def plan_compaction(
    storage: Storage,
    root: str,
    dataset: str,
    partitions: list[str] | None,
    target_bytes: int,
    pending: set[str] | frozenset[str] = frozenset(),
) -> CompactPlan:
    """Decide from a listing of ``root`` which partitions need rewriting (no data is read).

    ``partitions``: only these (every partition when None); one that is not
    ``year=YYYY/month=MM``, or holds no data file, is a ``ConfigError`` naming it.
    ``pending``: partitions an unfinished analytics run will rebuild (left alone).
    """
    if target_bytes <= 0:
        raise ConfigError(f"target size {target_bytes} bytes: expected a positive size")
    listed = list_partition_files(storage, root)
    chosen = sorted(listed) if partitions is None else _checked(partitions, listed, root)
    return CompactPlan(
        dataset=dataset,
        target_bytes=target_bytes,
        partitions=tuple(
            PartitionPlan(
                partition=p,
                keys=tuple(o.key for o in listed[p]),
                bytes=sum(o.size for o in listed[p]),
                files_wanted=files_wanted(sum(o.size for o in listed[p]), target_bytes),
                pending_rebuild=p in pending,
            )
            for p in chosen
        ),
    )


def _checked(partitions: list[str], listed: dict[str, list[ObjectInfo]], root: str) -> list[str]:
    chosen = []
    for given in partitions:
        partition = given.strip("/")
        if not PARTITION.fullmatch(partition):
            raise ConfigError(f"partition {given!r}: expected year=YYYY/month=MM, e.g. year=2024/month=01")
        if partition not in listed:
            known = ", ".join(sorted(listed)[:6]) + (", …" if len(listed) > 6 else "") if listed else "none"
            raise ConfigError(f"partition {given!r}: no Parquet files in {root}/{partition}/ (partitions: {known})")
        chosen.append(partition)
    return sorted(set(chosen))


def compact(
    ctx: RunContext, partitions: list[str] | None = None, target_bytes: int = DEFAULT_TARGET_BYTES
) -> CompactResult:
    """Rewrite the analytics-ready partitions of ``ctx``'s dataset whose file count is off, rows unchanged.

    ``partitions``: ``year=YYYY/month=MM`` names (every partition when None). A rerun
    rewrites nothing. Nothing is written, and no run recorded, when no partition needs it.
    ``ctx.run_id`` names this compaction (its lease, staging and ledger record): a run id
    no other run used, or another run could take this one for ended.
    """
    root = ctx.analytics_prefix()
    if ctx.spec.table_format == "iceberg":
        raise ConfigError(f"{ctx.dataset} is an Iceberg table: compact it with compact_iceberg (etl-lib compact does)")
    plan = plan_compaction(ctx.storage, root, ctx.dataset, partitions, target_bytes, earlier_intent(ctx))
    if not plan.to_rewrite:
        return _unchanged(ctx, plan)
    run = RunRecord(run_id=ctx.run_id, dataset=ctx.dataset, stage="compact", owner=process_owner())
    ctx.ledger.save_run(run)
    try:
        with analytics_lease(ctx):
            # Planned again under the lease: an analytics run may have rewritten a partition since.
            plan = plan_compaction(ctx.storage, root, ctx.dataset, partitions, target_bytes, earlier_intent(ctx))
            outcomes = tuple(_rewrite(ctx, p, target_bytes) if p.needs_rewrite else _as_is(p) for p in plan.partitions)
    except Exception as exc:
        error = short_reason(str(exc)) if isinstance(exc, EtlError) else one_line(exc)
        _save_run(ctx, run.evolve(status="failed", error=error, finished_at=utcnow()))
        raise
    _save_run(ctx, run.evolve(status="succeeded", finished_at=utcnow()))
    return CompactResult(ctx.dataset, ctx.run_id, target_bytes, outcomes)


def _unchanged(ctx: RunContext, plan: CompactPlan) -> CompactResult:
    return CompactResult(ctx.dataset, ctx.run_id, plan.target_bytes, tuple(_as_is(p) for p in plan.partitions))


def _as_is(plan: PartitionPlan) -> PartitionOutcome:
    note = "left to the next processed-to-analytics run, which rebuilds it" if plan.pending_rebuild else ""
    files = len(plan.keys)
    return PartitionOutcome(plan.partition, files, plan.bytes, files, plan.bytes, rewritten=False, note=note)


def _save_run(ctx: RunContext, run: RunRecord) -> None:
    try:
        ctx.ledger.save_run(run)
    except EtlError as exc:  # the lake is as the outcome says; the record is only the audit trail
        log.error("could not record run %s: %s", run.run_id, exc)


def _rewrite(ctx: RunContext, plan: PartitionPlan, target_bytes: int) -> PartitionOutcome:
    """Stage the partition in ``files_wanted`` files, check its rows, swap it in."""
    folder = f"{ctx.analytics_prefix()}/{plan.partition}"
    staging = ctx.staging_prefix("compact", plan.partition)
    try:
        with spark_errors(folder):
            # The folder, not a list of its files: one listing instead of a glob per file (and S3A, on a
            # laptop, fails when its first use is several paths at once). Under the lease the folder
            # holds exactly the planned files. Counts need no column, so Spark takes them from the
            # row counts in the Parquet footers: exact, and no data is read to get them.
            frame = ctx.spark.read.option("mergeSchema", "true").parquet(ctx.storage.uri(folder))
            rows = frame.count()
            staged = _stage(ctx, frame, plan.files_wanted, staging, target_bytes, rows)
            staged_folder = posixpath.dirname(staged[0].key) if staged else ""
            staged_rows = ctx.spark.read.parquet(ctx.storage.uri(staged_folder)).count() if staged else 0
        if staged_rows != rows:
            raise EtlError(f"{folder}: the compacted files hold {staged_rows} rows, the partition {rows}; not swapped")
        _swap(ctx, plan, folder, staged)
    finally:
        try:
            ctx.storage.delete_prefix(staging + "/")
        except EtlError as exc:  # garbage a later run's sweep removes; the original error matters
            log.warning("could not clean %s: %s", staging, exc)
    after = sum(o.size for o in staged)
    log.info("compacted %s: %d -> %d file(s), %d rows", folder, len(plan.keys), len(staged), rows)
    return PartitionOutcome(plan.partition, len(plan.keys), plan.bytes, len(staged), after, rewritten=True)


def _stage(
    ctx: RunContext, frame: DataFrame, files: int, staging: str, target_bytes: int, rows: int
) -> list[ObjectInfo]:
    """Write ``frame`` in ``files`` files; when the output's bytes ask for another count, write it again
    with that count (no more files than rows), so the partition passes the rule once swapped in."""
    files = max(1, min(files, rows))
    staged: list[ObjectInfo] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        target = f"{staging}/{attempt}"
        out = frame.coalesce(1) if files == 1 else frame.repartition(files)  # one file: no shuffle needed
        out.write.mode("overwrite").option("compression", "snappy").parquet(ctx.storage.uri(target))
        keys = set(staged_files(ctx.storage, target, ".parquet").get("", []))
        staged = [o for o in ctx.storage.list(target + "/") if o.key in keys]
        wanted = files_wanted(sum(o.size for o in staged), target_bytes)
        again = max(1, min(wanted, rows))
        if len(staged) == wanted or again == files:  # agreed, or the same count would give the same files
            break
        files = again
    if len(staged) != files_wanted(sum(o.size for o in staged), target_bytes):
        log.warning(
            "%s: %d file(s) staged; the rule asks for another count, so a later run rewrites it", staging, len(staged)
        )
    return staged


def _swap(ctx: RunContext, plan: PartitionPlan, folder: str, staged: list[ObjectInfo]) -> None:
    """Old files out, staged files in, with the partition listed in the analytics intent meanwhile."""
    _set_intent(ctx, earlier_intent(ctx) | {plan.partition})
    ctx.storage.delete(plan.keys)
    for n, obj in enumerate(sorted(staged, key=lambda o: o.key)):
        ctx.storage.move(obj.key, f"{folder}/part-{n:05d}.snappy.parquet")
    _set_intent(ctx, earlier_intent(ctx) - {plan.partition})


def _set_intent(ctx: RunContext, partitions: set[str]) -> None:
    if partitions:
        ctx.storage.write_text(intent_key(ctx), json.dumps(sorted(partitions)))
    else:
        ctx.storage.delete([intent_key(ctx)])
