"""processed -> analytics-ready: rewrite only the partitions a run touched.

The partitions to rewrite are the ones processed files changed in (new rows,
replaced rows) plus, for datasets with ``keys``, every partition holding a row
of a key that must be decided again. Those keys are the keys the pending files
deliver and the keys whose current winner came from an earlier version of a
re-delivered file; the dataset's key index (``write.key_index``) says which
partitions hold their rows, so all of them are candidates and a key moving to
another month keeps one row.

In a rewritten partition, a key that is not decided again keeps its current
analytics-ready row (its winner did not change); the winners of the decided
keys are computed from every processed row of those keys. So a run reads the
processed and analytics-ready partitions it rewrites and the key index, never
the rest of the lake.

Each rewritten partition is staged, then swapped in; the processed files stay
``processed`` in the ledger until every partition is published, so a killed
run recomputes the same partitions from processed and reaches the same state.
The partitions to rewrite are recorded (``_meta/analytics/{dataset}/pending.json``)
before the first one is touched: what a run half-swapped, the next run
rebuilds from processed alone (every key in it is decided again), even where
the half-swapped state no longer shows why. Rows of files still ``claimed``
(in flight, or left half-published by a failed run) are never candidates:
they count once their file is processed.
"""

from __future__ import annotations

import json
import logging
import posixpath
from contextlib import suppress
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from etl_lib.errors import EtlError
from etl_lib.ledger.base import FileRecord
from etl_lib.runner.context import RunContext
from etl_lib.spark import observed
from etl_lib.spec.schema import analytics_schema, processed_schema
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.transform.partition import partition_name
from etl_lib.transform.pii import with_hashed_columns
from etl_lib.write.key_index import KeyIndex
from etl_lib.write.staging import file_id, staged_files

log = logging.getLogger("etl_lib.analytics")

MAX_RECORDS_PER_FILE = 5_000_000


def partition_files(ctx: RunContext, root: str, partitions: set[str], ext: str) -> dict[str, list[str]]:
    """The data files directly in each of ``partitions`` of ``root`` (one listing per partition)."""
    found: dict[str, list[str]] = {}
    for partition in sorted(partitions):
        folder = f"{root}/{partition}"
        keys = [
            o.key
            for o in ctx.storage.list(folder + "/")
            if posixpath.dirname(o.key) == folder and o.key.endswith(ext) and o.size > 0
        ]
        if keys:
            found[partition] = keys
    return found


def all_partitions(ctx: RunContext, root: str) -> set[str]:
    """Every ``year=YYYY/month=MM`` folder under ``root`` (a listing of the whole folder)."""
    found = set()
    for obj in ctx.storage.list(root + "/"):
        parts = obj.key[len(root) + 1 :].split("/")
        if len(parts) == 3 and parts[0].startswith("year=") and parts[1].startswith("month="):
            found.add(f"{parts[0]}/{parts[1]}")
    return found


def read_processed(ctx: RunContext, files: dict[str, list[str]]) -> DataFrame | None:
    """Processed rows of the listed files (JSON Lines), pii columns hashed as in analytics-ready."""
    paths = [ctx.storage.uri(k) for keys in files.values() for k in keys]
    if not paths:
        return None
    reader = ctx.spark.read.schema(processed_schema(ctx.spark, ctx.spec))
    frame = reader.option("basePath", ctx.storage.uri(ctx.processed_prefix())).json(paths)
    return frame.transform(with_hashed_columns(ctx.spec.pii_columns))


def read_analytics(ctx: RunContext, files: dict[str, list[str]]) -> DataFrame | None:
    """Analytics-ready rows of the listed files (Parquet)."""
    paths = [ctx.storage.uri(k) for keys in files.values() for k in keys]
    if not paths:
        return None
    reader = ctx.spark.read.schema(analytics_schema(ctx.spark, ctx.spec))
    return reader.option("basePath", ctx.storage.uri(ctx.analytics_prefix())).parquet(*paths)


def _of_files(sources: list[str]) -> Column:
    return F.col("_source_file").isin(sources) if sources else F.lit(False)


@dataclass(frozen=True)
class AnalyticsPlan:
    """What an analytics run rewrites and reads, decided before anything is written."""

    partitions: frozenset[str]
    """``year=YYYY/month=MM`` partitions to rewrite."""
    fresh: DataFrame | None
    """Rows of the pending files' outputs and of every file of a partition an earlier run may
    have half-swapped (read once: kept by Spark for the keys, the candidates and the index)."""
    others: tuple[str, ...]
    """More processed files whose rows may win: those holding rows of the keys decided again."""
    kept: tuple[str, ...]
    """Current analytics-ready files of the rewritten partitions (not the half-swapped ones):
    their rows stay unless their key is decided again (keyed) or their source is pending."""
    decide: DataFrame | None
    """The (hashed) keys decided again; None for a dataset without keys."""
    pending_sources: tuple[str, ...]
    unfinished_sources: tuple[str, ...]
    """Files still ``claimed``: their processed rows are not candidates."""


def _files(found: dict[str, list[str]]) -> list[str]:
    return [k for keys in found.values() for k in keys]


def plan_analytics(ctx: RunContext, pending: list[FileRecord], unfinished: set[str], index: KeyIndex) -> AnalyticsPlan:
    """The partitions to rewrite for ``pending`` files and an earlier run's ``unfinished`` ones,
    and the files to read for it: found from the ledger (a file's outputs) and the key index,
    by name, never by listing the dataset.

    For a keyed dataset, one small Spark job finds where rows of the keys to decide again
    live (distinct partition and source names only come back to the driver)."""
    spec = ctx.spec
    processed_root, analytics_root = ctx.processed_prefix(), ctx.analytics_prefix()
    sources = tuple(f.source_key for f in pending)
    claimed = tuple(f.source_key for f in ctx.ledger.files(dataset=ctx.dataset, status="claimed"))
    dirty = {p for f in pending for p in f.dirty_partitions}
    outputs = sorted({o for f in pending for o in f.outputs if o.startswith(processed_root + "/")})
    redo = _files(partition_files(ctx, processed_root, unfinished, ".json"))
    affected = dirty | unfinished
    if not spec.keys:
        kept = tuple(_files(partition_files(ctx, analytics_root, affected - unfinished, ".parquet")))
        every = read_processed(ctx, {"": sorted({*outputs, *redo})})
        return AnalyticsPlan(frozenset(affected), every, (), kept, None, sources, claimed)

    keys = spec.keys
    fresh = read_processed(ctx, {"": sorted({*outputs, *redo})})
    decide: DataFrame | None = None
    if fresh is not None:
        fresh = fresh.persist(StorageLevel.MEMORY_AND_DISK)
        # The keys the pending files deliver, and every key of a partition that may be half-swapped.
        in_redo = partition_name().isin(sorted(unfinished)) if unfinished else F.lit(False)
        decide = fresh.filter(_of_files(list(sources)) | in_redo).select(*keys)
    replaced = [f.source_key for f in pending if f.replaces_previous]
    current = read_analytics(ctx, partition_files(ctx, analytics_root, dirty - unfinished, ".parquet"))
    if replaced and current is not None:  # keys whose winner came from an earlier version of a re-delivered file
        old_winners = current.filter(_of_files(replaced)).select(*keys)
        decide = old_winners if decide is None else decide.unionByName(old_winners)
    others: set[str] = set()
    if decide is not None:
        decide = decide.distinct().persist(StorageLevel.MEMORY_AND_DISK)  # keys only; used three times
        for partition, source in index.where_rows_of(decide):
            affected.add(partition)
            if source not in sources:
                found = ctx.storage.list(f"{processed_root}/{partition}/{file_id(source)}-")
                others.update(o.key for o in found if posixpath.dirname(o.key) == f"{processed_root}/{partition}")
    current_files = tuple(_files(partition_files(ctx, analytics_root, affected - unfinished, ".parquet")))
    others -= {*outputs, *redo}
    return AnalyticsPlan(frozenset(affected), fresh, tuple(sorted(others)), current_files, decide, sources, claimed)


def analytics_rows(ctx: RunContext, plan: AnalyticsPlan) -> DataFrame | None:
    """The rows of the plan's partitions after this run: deduplicated and pii-hashed."""
    spec = ctx.spec
    columns = [f.name for f in analytics_schema(ctx.spark, spec).fields]
    more = read_processed(ctx, {"": list(plan.others)})
    kept = read_analytics(ctx, {"": list(plan.kept)})
    if spec.keys and plan.decide is not None:
        # Every key of the fresh rows is decided again; other files count for those keys only.
        more = None if more is None else more.join(plan.decide, spec.keys, "left_semi")
        if kept is not None:
            kept = kept.join(plan.decide, spec.keys, "left_anti")
    elif kept is not None:  # no keys: every row stays but the pending files' earlier rows
        kept = kept.filter(~_of_files(list(plan.pending_sources)))
    candidates = plan.fresh if more is None else more if plan.fresh is None else plan.fresh.unionByName(more)
    if candidates is not None and plan.unfinished_sources:
        candidates = candidates.filter(~_of_files(list(plan.unfinished_sources)))
    if candidates is not None and spec.keys:
        candidates = candidates.transform(keep_latest_per_key(spec.keys, spec.latest_by))
    parts = [p.select(*columns) for p in (candidates, kept) if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])


def _count_staged(ctx: RunContext, stage: str) -> int:
    files = [ctx.storage.uri(k) for keys in staged_files(ctx.storage, stage, ".parquet").values() for k in keys]
    return ctx.spark.read.parquet(*files).count() if files else 0


def intent_key(ctx: RunContext) -> str:
    """Where a run records the partitions it is about to rewrite."""
    return f"_meta/analytics/{ctx.dataset}/pending.json"


def earlier_intent(ctx: RunContext) -> set[str]:
    """Partitions an earlier run set out to rewrite and may not have finished."""
    if not ctx.storage.exists(intent_key(ctx)):
        return set()
    with ctx.storage.open(intent_key(ctx)) as handle:
        return set(json.loads(handle.read().decode("utf-8")))


def publish_analytics(ctx: RunContext, pending: list[FileRecord], unfinished: set[str]) -> int:
    """Rewrite the affected partitions of analytics-ready, and ``unfinished`` (an earlier run's
    intent), then the key index; return the rows written.

    The caller removes the intent (``intent_key``) once the pending files are recorded as published.
    """
    index = KeyIndex.load(ctx)
    if ctx.spec.keys and index.generation is None and ctx.storage.exists(ctx.analytics_prefix() + "/"):
        # A lake from before the index: built once from all of processed. (Without analytics-ready,
        # no processed row was taken yet: the pending files' own rows make the first index.)
        everything = partition_files(ctx, ctx.processed_prefix(), all_partitions(ctx, ctx.processed_prefix()), ".json")
        index = index.with_entries_of(read_processed(ctx, everything))
    plan = plan_analytics(ctx, pending, unfinished, index)
    try:
        return _publish(ctx, plan, index, frozenset(unfinished))
    finally:
        for kept in (plan.fresh, plan.decide):
            if kept is not None:
                with suppress(Exception):  # a JVM that died cannot unpersist; the original error matters
                    kept.unpersist()


def _publish(ctx: RunContext, plan: AnalyticsPlan, index: KeyIndex, unfinished: frozenset[str]) -> int:
    if not plan.partitions:
        return 0
    ctx.storage.write_text(intent_key(ctx), json.dumps(sorted(plan.partitions)))
    stage = ctx.staging_prefix("analytics")
    rows = analytics_rows(ctx, plan)
    written = 0
    try:
        if rows is not None:
            counted = Observation()
            (
                rows.observe(counted, F.count(F.lit(1)).alias("rows"))
                .repartition("year", "month")
                .write.mode("overwrite")
                .partitionBy("year", "month")
                .option("compression", "snappy")
                .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
                .parquet(ctx.storage.uri(stage))
            )
            metrics = observed(ctx.spark, counted)
            # None: Spark proved the rows empty and skipped the count; a footer count says for sure.
            written = int(metrics["rows"]) if metrics else _count_staged(ctx, stage)
        staged = staged_files(ctx.storage, stage, ".parquet")
        root = ctx.analytics_prefix()
        for partition in sorted(plan.partitions):
            folder = f"{root}/{partition}"
            old = [o.key for o in ctx.storage.list(folder + "/") if posixpath.dirname(o.key) == folder]
            ctx.storage.delete(old)
            for n, key in enumerate(sorted(staged.get(partition, []))):
                ctx.storage.move(key, f"{folder}/part-{n:05d}.snappy.parquet")
        if ctx.spec.keys:
            index.replace(plan.pending_sources, unfinished, plan.fresh)
        log.info("analytics-ready %s: rewrote %d partition(s), %d rows", ctx.dataset, len(plan.partitions), written)
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes; the original error matters
            log.warning("could not clean %s: %s", stage, exc)
    return written
