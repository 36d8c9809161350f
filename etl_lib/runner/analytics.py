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
from etl_lib.runner.plan import analytics_intent
from etl_lib.runner.plan import intent_key as dataset_intent_key
from etl_lib.runner.sinks import owe
from etl_lib.spark import observed
from etl_lib.spec.schema import analytics_schema, processed_schema
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.transform.partition import partition_name
from etl_lib.transform.pii import with_hashed_columns
from etl_lib.write.key_index import KeyIndex, key_index_columns
from etl_lib.write.staging import file_id, staged_files

log = logging.getLogger("etl_lib.analytics")

MAX_RECORDS_PER_FILE = 5_000_000
INDEX_BYTES_PER_FILE = 64 * 1024 * 1024


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
    have half-swapped: every one is a candidate."""
    others: tuple[str, ...]
    """More processed files whose rows may win: those holding rows of the keys decided from
    processed alone (``from_processed``)."""
    kept: tuple[str, ...]
    """Current analytics-ready files of the rewritten partitions (not the half-swapped ones):
    a row stays unless its key is decided again (keyed) or its source is pending; the current
    winner of a key decided again is a candidate."""
    decide: DataFrame | None
    """The (hashed) keys decided again; None for a dataset without keys."""
    from_processed: DataFrame | None
    """The keys among them whose winner is decided from processed alone: those of half-swapped
    partitions, and those whose current winner came from a file being replaced or in flight."""
    entries: DataFrame | None
    """The key index entries of ``fresh`` (cached when the index was searched with them)."""
    pending_sources: tuple[str, ...]
    unfinished_sources: tuple[str, ...]
    """Files still ``claimed``: their rows are not candidates."""
    index_files: int = 1
    """Files to write the new key index entries as: one when they are cached (one task reads
    them cheaply), else one per ``INDEX_BYTES_PER_FILE`` of source data (the processed rows are
    parsed again, in parallel)."""


def _files(found: dict[str, list[str]]) -> list[str]:
    return [k for keys in found.values() for k in keys]


def _union(frames: list[DataFrame | None]) -> DataFrame | None:
    present = [f for f in frames if f is not None]
    if not present:
        return None
    merged = present[0]
    for more in present[1:]:
        merged = merged.unionByName(more)
    return merged


def plan_analytics(ctx: RunContext, pending: list[FileRecord], unfinished: set[str], index: KeyIndex) -> AnalyticsPlan:
    """The partitions to rewrite for ``pending`` files and an earlier run's ``unfinished`` ones,
    and the files to read for it: found from the ledger (a file's outputs) and the key index,
    by name, never by listing the dataset.

    For a keyed dataset, a key the pending files deliver is decided between its new rows
    and its current winner in analytics-ready (the key index says which partition holds it),
    so earlier processed files are not read. Only a key of a half-swapped partition, or one
    whose current winner came from a file being replaced or still in flight, is decided from
    all its processed rows (the key index says which files hold them). Each search of the
    index is one small Spark job; distinct partition and source names come back to the driver.
    """
    spec = ctx.spec
    processed_root, analytics_root = ctx.processed_prefix(), ctx.analytics_prefix()
    sources = tuple(f.source_key for f in pending)
    claimed = tuple(f.source_key for f in ctx.ledger.files(dataset=ctx.dataset, status="claimed"))
    dirty = {p for f in pending for p in f.dirty_partitions}
    outputs = sorted({o for f in pending for o in f.outputs if o.startswith(processed_root + "/")})
    redo = _files(partition_files(ctx, processed_root, unfinished, ".json"))
    affected = dirty | unfinished
    fresh = read_processed(ctx, {"": sorted({*outputs, *redo})})
    if not spec.keys:
        kept = tuple(_files(partition_files(ctx, analytics_root, affected - unfinished, ".parquet")))
        return AnalyticsPlan(frozenset(affected), fresh, (), kept, None, None, None, sources, claimed)

    keys = spec.keys
    entries = None if fresh is None else fresh.select(*key_index_columns(keys))
    if entries is not None and index.entries is not None:
        entries = entries.persist(StorageLevel.MEMORY_AND_DISK)  # narrow; searched with, then appended
    in_redo = partition_name().isin(sorted(unfinished)) if unfinished else F.lit(False)
    delivered = None if entries is None else entries.filter(_of_files(list(sources)) | in_redo).select(*keys)
    if delivered is not None:  # the partitions holding the current rows of the delivered keys
        affected |= {partition for partition, _ in index.where_rows_of(delivered)}
    listed = affected - unfinished
    current = partition_files(ctx, analytics_root, listed, ".parquet")

    replaced = [f.source_key for f in pending if f.replaces_previous]
    suspects: list[DataFrame | None] = []
    if unfinished and entries is not None:
        suspects.append(entries.filter(in_redo).select(*keys))
    winners = read_analytics(ctx, current) if (replaced or claimed) else None
    if winners is not None and replaced:  # winners that came from an earlier version of a re-delivered file
        suspects.append(winners.filter(_of_files(replaced)).select(*keys))
    if winners is not None and claimed and delivered is not None:  # winners from files in flight
        suspects.append(winners.filter(_of_files(list(claimed))).join(delivered, keys, "left_semi").select(*keys))
    from_processed = _union(suspects)
    others: set[str] = set()
    if from_processed is not None:
        for partition, source in index.where_rows_of(from_processed):
            affected.add(partition)
            if source not in sources:
                found = ctx.storage.list(f"{processed_root}/{partition}/{file_id(source)}-")
                others.update(o.key for o in found if posixpath.dirname(o.key) == f"{processed_root}/{partition}")
        current.update(partition_files(ctx, analytics_root, affected - unfinished - listed, ".parquet"))
    others -= {*outputs, *redo}
    decide = _union([delivered, from_processed])
    source_bytes = sum(f.size or 0 for f in pending)
    index_files = 1 if entries is None or entries.is_cached else 1 + source_bytes // INDEX_BYTES_PER_FILE
    return AnalyticsPlan(
        frozenset(affected),
        fresh,
        tuple(sorted(others)),
        tuple(_files(current)),
        decide,
        from_processed,
        entries,
        sources,
        claimed,
        index_files,
    )


def analytics_rows(ctx: RunContext, plan: AnalyticsPlan) -> DataFrame | None:
    """The rows of the plan's partitions after this run: deduplicated and pii-hashed."""
    spec = ctx.spec
    columns = [f.name for f in analytics_schema(ctx.spark, spec).fields]
    more = read_processed(ctx, {"": list(plan.others)})
    kept = read_analytics(ctx, {"": list(plan.kept)})
    if kept is not None:  # a pending file's earlier rows never stay
        kept = kept.filter(~_of_files(list(plan.pending_sources)))
    if spec.keys and plan.decide is not None:
        if more is not None and plan.from_processed is not None:
            more = more.join(plan.from_processed, spec.keys, "left_semi")
        if kept is not None:  # a decided key's current winner competes with its new rows
            more = _union([more, kept.join(plan.decide, spec.keys, "left_semi").select(*columns)])
            kept = kept.join(plan.decide, spec.keys, "left_anti")
    candidates = _union([p.select(*columns) if p is not None else None for p in (plan.fresh, more)])
    if candidates is not None and plan.unfinished_sources:
        candidates = candidates.filter(~_of_files(list(plan.unfinished_sources)))
    if candidates is not None and spec.keys:
        candidates = candidates.transform(keep_latest_per_key(spec.keys, spec.latest_by))
    return _union([candidates, kept.select(*columns) if kept is not None else None])


def _count_staged(ctx: RunContext, stage: str) -> int:
    files = [ctx.storage.uri(k) for keys in staged_files(ctx.storage, stage, ".parquet").values() for k in keys]
    return ctx.spark.read.parquet(*files).count() if files else 0


def intent_key(ctx: RunContext) -> str:
    """Where a run records the partitions it is about to rewrite."""
    return dataset_intent_key(ctx.dataset)


def earlier_intent(ctx: RunContext) -> set[str]:
    """Partitions an earlier run set out to rewrite and may not have finished."""
    return analytics_intent(ctx.storage, ctx.dataset)


def publish_analytics(ctx: RunContext, pending: list[FileRecord], unfinished: set[str]) -> int:
    """Rewrite the affected partitions of analytics-ready, and ``unfinished`` (an earlier run's
    intent), then the key index; return the rows written.

    The caller removes the intent (``intent_key``) once the pending files are recorded as published.
    """
    index = KeyIndex.load(ctx)
    if ctx.spec.keys and index.parts is None and ctx.storage.exists(ctx.analytics_prefix() + "/"):
        # A lake from before the index: built once from all of processed. (Without analytics-ready,
        # no processed row was taken yet: the pending files' own rows make the first index.)
        everything = partition_files(ctx, ctx.processed_prefix(), all_partitions(ctx, ctx.processed_prefix()), ".json")
        index = index.with_entries_of(read_processed(ctx, everything))
    plan = plan_analytics(ctx, pending, unfinished, index)
    try:
        return _publish(ctx, plan, index)
    finally:
        for kept in (plan.entries,):
            if kept is not None:
                with suppress(Exception):  # a JVM that died cannot unpersist; the original error matters
                    kept.unpersist()


def _publish(ctx: RunContext, plan: AnalyticsPlan, index: KeyIndex) -> int:
    if not plan.partitions:
        return 0
    ctx.storage.write_text(intent_key(ctx), json.dumps(sorted(plan.partitions)))
    owe(ctx, plan.partitions)  # the dataset's sinks lack these until a load commits (runner.sinks)
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
            index.append(plan.entries, files=plan.index_files)
        log.info("analytics-ready %s: rewrote %d partition(s), %d rows", ctx.dataset, len(plan.partitions), written)
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes; the original error matters
            log.warning("could not clean %s: %s", stage, exc)
    return written
