"""processed -> analytics-ready: recompute only the partitions a run touched.

The partitions to rewrite are the ones processed files changed in (new rows,
replaced rows) plus, for datasets with ``keys``, every partition holding a row
of a key that must be decided again (found in the small key index, not by
scanning processed). Rows are deduplicated across all of those together, so a
key moving to another month keeps one row, and when a re-delivered file drops
a key's winning row, the next best row of that key wins again wherever it is.

Each rewritten partition is staged, then swapped in; the processed files stay
``processed`` in the ledger until every partition is published, so a killed
run recomputes the same partitions from processed and reaches the same state.
The partitions to rewrite are recorded (``_meta/analytics/{dataset}/pending.json``)
before the first one is touched: what a run half-swapped, the next run
rewrites whole, even where the half-swapped state no longer shows why. Rows of
files still ``claimed`` (in flight, or left half-published by a failed run) are
never candidates: they count once their file is processed.
"""

from __future__ import annotations

import json
import logging
import posixpath

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import EtlError
from etl_lib.ledger.base import FileRecord
from etl_lib.runner.context import RunContext
from etl_lib.spec.schema import analytics_schema, processed_schema
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.transform.pii import with_hashed_columns
from etl_lib.write.key_index import key_index_columns
from etl_lib.write.staging import staged_files

log = logging.getLogger("etl_lib.analytics")

MAX_RECORDS_PER_FILE = 5_000_000


def list_partitions(ctx: RunContext, root: str) -> set[str]:
    """``year=YYYY/month=MM`` folders holding data files under ``root``."""
    found = set()
    for obj in ctx.storage.list(root + "/"):
        parts = obj.key[len(root) + 1 :].split("/")
        if len(parts) == 3 and parts[0].startswith("year=") and parts[1].startswith("month="):
            found.add(f"{parts[0]}/{parts[1]}")
    return found


def read_partitions(ctx: RunContext, root: str, partitions: set[str], schema_kind: str) -> DataFrame | None:
    """Rows of the given partitions of processed (JSON) or analytics-ready (Parquet)."""
    present = sorted(partitions & list_partitions(ctx, root))
    if not present:
        return None
    schema = processed_schema(ctx.spark, ctx.spec) if schema_kind == "json" else analytics_schema(ctx.spark, ctx.spec)
    reader = ctx.spark.read.schema(schema).option("basePath", ctx.storage.uri(root))
    paths = [ctx.storage.uri(f"{root}/{p}") for p in present]
    return reader.json(paths) if schema_kind == "json" else reader.parquet(*paths)


def affected_partitions(ctx: RunContext, pending: list[FileRecord]) -> set[str]:
    """The analytics-ready partitions this run must rewrite.

    The partitions the pending files changed, plus, for keyed datasets, every
    partition holding a row of a key that must be decided again: the keys the
    pending files deliver, and the keys whose current winner came from an
    earlier version of a re-delivered file. The key index says where each
    key's rows are, so every row of those keys is among the candidates.
    """
    spec = ctx.spec
    touched = {p for f in pending for p in f.dirty_partitions}
    if not spec.keys or not touched:
        return touched
    index = read_key_index(ctx)
    if index is None:
        return touched
    sources = [f.source_key for f in pending]
    keys = index.filter(F.col("_source_file").isin(sources)).select(*spec.keys)
    replaced = [f.source_key for f in pending if f.replaces_previous]
    if replaced:
        current = read_partitions(ctx, ctx.analytics_prefix(), touched, "parquet")
        if current is not None:
            old_winners = current.filter(F.col("_source_file").isin(replaced)).select(*spec.keys)
            keys = keys.unionByName(old_winners)
    holding = index.join(keys.distinct(), spec.keys, "left_semi").select("year", "month").distinct()
    # Distinct partition names only (metadata): at most one row per month of data.
    return touched | {f"year={r['year']}/month={r['month']}" for r in holding.collect()}


def read_key_index(ctx: RunContext) -> DataFrame | None:
    """The dataset's key index, with pii keys hashed as in analytics-ready."""
    if not ctx.storage.exists(ctx.key_index_prefix() + "/"):
        return None
    schema = processed_schema(ctx.spark, ctx.spec)
    fields = [schema[c] for c in key_index_columns(ctx.spec.keys)]
    frame = ctx.spark.read.schema(T.StructType(fields)).parquet(ctx.storage.uri(ctx.key_index_prefix()))
    return frame.transform(with_hashed_columns(ctx.spec.pii_columns))


def analytics_rows(ctx: RunContext, affected: set[str]) -> DataFrame | None:
    """The deduplicated, pii-hashed rows of the affected partitions."""
    spec = ctx.spec
    candidates = read_partitions(ctx, ctx.processed_prefix(), affected, "json")
    if candidates is None:
        return None
    unfinished = [f.source_key for f in ctx.ledger.files(dataset=ctx.dataset, status="claimed")]
    if unfinished:
        candidates = candidates.filter(~F.col("_source_file").isin(unfinished))
    if spec.keys:
        untouched = list_partitions(ctx, ctx.analytics_prefix()) - affected
        if untouched:
            # A key whose winner lives in a partition we do not rewrite stays there.
            others = read_partitions(ctx, ctx.analytics_prefix(), untouched, "parquet")
            assert others is not None
            hashed = candidates.transform(with_hashed_columns(spec.pii_columns))
            winners_elsewhere = others.select(*spec.keys)
            keep = hashed.join(winners_elsewhere, spec.keys, "left_anti")
            candidates = keep
        else:
            candidates = candidates.transform(with_hashed_columns(spec.pii_columns))
    else:
        candidates = candidates.transform(with_hashed_columns(spec.pii_columns))
    columns = [f.name for f in analytics_schema(ctx.spark, spec).fields]
    return candidates.transform(keep_latest_per_key(spec.keys, spec.latest_by)).select(*columns)


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
    intent); return the rows written.

    The caller removes the intent (``intent_key``) once the pending files are recorded as published.
    """
    affected = (affected_partitions(ctx, pending) if pending else set()) | unfinished
    if not affected:
        return 0
    ctx.storage.write_text(intent_key(ctx), json.dumps(sorted(affected)))
    stage = ctx.staging_prefix("analytics")
    rows = analytics_rows(ctx, affected)
    written = 0
    try:
        if rows is not None:
            (
                rows.repartition("year", "month")
                .write.mode("overwrite")
                .partitionBy("year", "month")
                .option("compression", "snappy")
                .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
                .parquet(ctx.storage.uri(stage))
            )
            written = ctx.spark.read.parquet(ctx.storage.uri(stage)).count()
        staged = staged_files(ctx.storage, stage, ".parquet")
        root = ctx.analytics_prefix()
        for partition in sorted(affected):
            folder = f"{root}/{partition}"
            old = [o.key for o in ctx.storage.list(folder + "/") if posixpath.dirname(o.key) == folder]
            ctx.storage.delete(old)
            for n, key in enumerate(sorted(staged.get(partition, []))):
                ctx.storage.move(key, f"{folder}/part-{n:05d}.snappy.parquet")
        log.info("analytics-ready %s: rewrote %d partition(s), %d rows", ctx.dataset, len(affected), written)
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes; the original error matters
            log.warning("could not clean %s: %s", stage, exc)
    return written
