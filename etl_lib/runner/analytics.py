"""processed -> analytics-ready: recompute only the partitions a run touched.

The partitions to rewrite are the ones processed files changed in (new rows,
replaced rows) plus, for datasets with ``keys``, the partitions of
analytics-ready that already hold one of the new keys (found by reading only
the key columns of the Parquet). Rows are deduplicated across all of those
together, so a key moving to another month keeps one row. When a re-delivered
file replaced earlier rows of a keyed dataset, an older row elsewhere may have
to win again, so that run recomputes the whole dataset (documented trade-off:
rare, and always correct).

Each rewritten partition is staged, then swapped in; the processed files stay
``processed`` in the ledger until every partition is published, so a killed
run recomputes the same partitions from processed and reaches the same state.
"""

from __future__ import annotations

import logging
import posixpath

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.ledger.base import FileRecord
from etl_lib.runner.context import RunContext
from etl_lib.spec.schema import analytics_schema, processed_schema
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.transform.pii import with_hashed_columns
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
    """The analytics-ready partitions this run must rewrite."""
    spec = ctx.spec
    touched = {p for f in pending for p in f.dirty_partitions}
    if not spec.keys or not touched:
        return touched
    analytics = list_partitions(ctx, ctx.analytics_prefix())
    if any(f.replaces_previous for f in pending):
        return touched | analytics | list_partitions(ctx, ctx.processed_prefix())
    if not analytics:
        return touched
    new_rows = read_partitions(ctx, ctx.processed_prefix(), touched, "json")
    if new_rows is None:
        return touched
    sources = [f.source_key for f in pending]
    new_keys = (
        new_rows.filter(F.col("_source_file").isin(sources))
        .select(*spec.keys)
        .transform(with_hashed_columns(spec.pii_columns))
        .distinct()
    )
    index = read_partitions(ctx, ctx.analytics_prefix(), analytics, "parquet")
    assert index is not None
    holding = index.select(*spec.keys, "year", "month").join(new_keys, spec.keys, "left_semi")
    extra = {f"year={r['year']}/month={r['month']}" for r in holding.select("year", "month").distinct().collect()}
    return touched | extra


def analytics_rows(ctx: RunContext, affected: set[str]) -> DataFrame | None:
    """The deduplicated, pii-hashed rows of the affected partitions."""
    spec = ctx.spec
    candidates = read_partitions(ctx, ctx.processed_prefix(), affected, "json")
    if candidates is None:
        return None
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


def publish_analytics(ctx: RunContext, pending: list[FileRecord]) -> int:
    """Rewrite the affected partitions of analytics-ready; return the rows written."""
    affected = affected_partitions(ctx, pending)
    if not affected:
        return 0
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
        ctx.storage.delete_prefix(stage)
    return written
