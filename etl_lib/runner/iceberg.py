"""processed -> analytics-ready as an Iceberg table: one staged MERGE (or append) per run.

A run publishes exactly one snapshot, so a reader sees the table before or after it. What
goes in is decided as on the Parquet path (``runner.analytics``), with the table itself as
the current state:

- A keyed dataset MERGEs by ``keys``. The source holds, for each key decided again, the
  winner (``transform.dedup.winner_order``) among its new rows and, where needed, all its
  processed rows. A key's current row is replaced when the new row wins, or unconditionally
  when the current row came from an earlier version of a re-delivered file (or a file in
  flight): such keys are decided from every processed row, which the key index
  (``write.key_index``) finds; a key left with no row at all is deleted.
- A dataset without keys appends; when a pending file's earlier rows may be in the table
  (a re-delivery, or a run that died after publishing), those rows are deleted in the same
  MERGE.

Before the write, the pending sources are recorded in ``iceberg_intent_key``: a run that dies
after publishing and before the ledger says so leaves them there, and the next run replaces
their rows instead of appending them twice. The commit is staged and published
(``iceberg.tables``); a conflict with another writer (a compaction, a Glue table optimizer)
plans and writes again, up to ``COMMIT_ATTEMPTS`` times.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.catalog.table import TableDef, dataset_table
from etl_lib.errors import TableCommitConflict
from etl_lib.iceberg.tables import IcebergTables, open_iceberg
from etl_lib.ledger.base import FileRecord
from etl_lib.runner.analytics import _files, _of_files, _union, all_partitions, partition_files, read_processed
from etl_lib.runner.context import RunContext
from etl_lib.runner.sinks import WHOLE, owe
from etl_lib.transform.dedup import keep_latest_per_key
from etl_lib.write.key_index import KeyIndex, key_index_columns
from etl_lib.write.staging import file_id

log = logging.getLogger("etl_lib.iceberg")

COMMIT_ATTEMPTS = 4
"""Staged writes tried before a run gives up on commit conflicts (and fails, transiently)."""
OP = "_etl_op"
"""The MERGE source's column saying what a row does: ``upsert`` or ``delete``."""


def iceberg_tables(ctx: RunContext) -> IcebergTables:
    """The run's Iceberg tables: the context's, or the lake's own catalog (``iceberg.tables.open_iceberg``)."""
    if ctx.iceberg is not None:
        return ctx.iceberg  # type: ignore[no-any-return]
    return open_iceberg(ctx.spark, ctx.storage.uri, getattr(ctx.catalog, "database", None))


def iceberg_intent_key(dataset: str) -> str:
    """Where a run records the sources whose rows it is about to publish."""
    return f"_meta/analytics/{dataset}/iceberg-pending.json"


def _earlier_sources(ctx: RunContext) -> set[str]:
    key = iceberg_intent_key(ctx.dataset)
    if not ctx.storage.exists(key):
        return set()
    with ctx.storage.open(key) as handle:
        return set(json.loads(handle.read().decode("utf-8")))


def table_of(ctx: RunContext) -> TableDef:
    """The dataset's table (``year``/``month`` are plain columns of an Iceberg table)."""
    return dataset_table(ctx.spark, ctx.spec)


@dataclass(frozen=True)
class IcebergPlan:
    """What one attempt writes, decided from the ledger, the key index and the table."""

    fresh: DataFrame | None
    """The pending files' processed rows (every processed row when the table is new)."""
    more: DataFrame | None
    """Processed rows of the keys decided from processed alone (``from_processed``)."""
    from_processed: DataFrame | None
    """Keys whose current row came from a replaced file or a file in flight."""
    replaced: tuple[str, ...]
    """Sources whose rows in the table are stale (re-delivered, or maybe already published)."""
    claimed: tuple[str, ...]
    """Files in flight: their rows are no candidates."""


def publish_iceberg(ctx: RunContext, pending: list[FileRecord]) -> tuple[int, int | None]:
    """Merge the pending files' rows into the dataset's Iceberg table in one published
    snapshot; return (rows written, the snapshot the table is at). The caller marks the files
    published, then removes ``iceberg_intent_key``."""
    tables = iceberg_tables(ctx)
    table = table_of(ctx)
    spec = ctx.spec
    if not tables.exists(spec.dataset):
        tables.create(table, spec.partition_by or "_ingested_at")
    # A table that never took a row while files were published (the dataset was Parquet, the
    # table was dropped, or a run died between creating it and its first commit) starts from
    # every processed row.
    backfill = tables.current_snapshot(spec.dataset) is None and bool(
        ctx.ledger.files(dataset=ctx.dataset, status="published")
    )
    if not pending and not backfill:
        _drop_parquet_partitions(ctx)  # a switch from Parquet that died before removing them
        return 0, tables.current_snapshot(spec.dataset)
    index = KeyIndex.load(ctx)
    everything: dict[str, list[str]] | None = None
    if backfill or (spec.keys and index.parts is None and tables.current_snapshot(spec.dataset) is not None):
        root = ctx.processed_prefix()
        everything = partition_files(ctx, root, all_partitions(ctx, root), ".json")
    if spec.keys and index.parts is None and everything is not None:
        index = index.with_entries_of(read_processed(ctx, everything))
    sources = sorted({f.source_key for f in pending} | _earlier_sources(ctx))
    ctx.storage.write_text(iceberg_intent_key(ctx.dataset), json.dumps(sources))
    # A keyed MERGE may move a key out of a month no file delivered to: keyed sinks get the whole table.
    whole = backfill or bool(spec.keys)
    owe(ctx, {WHOLE} if whole else {p for f in pending for p in f.dirty_partitions})
    replaced = tuple(sorted({f.source_key for f in pending if f.replaces_previous} | _earlier_sources(ctx)))
    outputs = sorted({o for f in pending for o in f.outputs if o.startswith(ctx.processed_prefix() + "/")})
    fresh_files = _files(everything) if backfill and everything is not None else outputs
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            written, snapshot = _attempt(ctx, tables, table, pending, fresh_files, replaced, index, attempt)
            break
        except TableCommitConflict as exc:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s: commit attempt %d conflicted (%s); planning again", ctx.dataset, attempt, exc)
            time.sleep(min(8.0, 0.5 * 2**attempt))
    if spec.keys:
        rows = read_processed(ctx, {"": fresh_files})
        index.append(None if rows is None else rows.select(*key_index_columns(spec.keys)))
    _drop_parquet_partitions(ctx)
    log.info("analytics-ready %s (iceberg): snapshot %s, %d rows written", ctx.dataset, snapshot, written)
    return written, snapshot


def _attempt(
    ctx: RunContext,
    tables: IcebergTables,
    table: TableDef,
    pending: list[FileRecord],
    fresh_files: list[str],
    replaced: tuple[str, ...],
    index: KeyIndex,
    attempt: int,
) -> tuple[int, int | None]:
    plan = plan_iceberg(ctx, tables, pending, fresh_files, replaced, index)
    columns = [f.name for f in table.schema.fields]
    source = merge_source(ctx, plan, columns)
    if source is None:
        return 0, tables.current_snapshot(ctx.dataset)
    view = f"etl_merge_{ctx.dataset}_{ctx.run_id.replace('-', '_')}"
    source.createOrReplaceTempView(view)
    statement = merge_statement(tables.ident(ctx.dataset), view, columns, ctx.spec.keys, ctx.spec.latest_by, plan)
    appends_only = not ctx.spec.keys and not plan.replaced
    upserts = source.filter(F.col(OP) == "upsert").select(*columns)

    def write() -> None:
        if appends_only:
            upserts.writeTo(tables.ident(ctx.dataset)).append()
        else:
            ctx.spark.sql(statement)

    try:
        snapshot = tables.staged_commit(ctx.dataset, write, f"{ctx.run_id}.{attempt}")
    finally:
        ctx.spark.catalog.dropTempView(view)
    return tables.added_records(ctx.dataset, snapshot), snapshot


def plan_iceberg(
    ctx: RunContext,
    tables: IcebergTables,
    pending: list[FileRecord],
    fresh_files: list[str],
    replaced: tuple[str, ...],
    index: KeyIndex,
) -> IcebergPlan:
    """The rows and keys one attempt merges (read-only: the ledger, the key index, the table)."""
    spec = ctx.spec
    sources = {f.source_key for f in pending}
    claimed = tuple(sorted(f.source_key for f in ctx.ledger.files(dataset=ctx.dataset, status="claimed")))
    fresh = read_processed(ctx, {"": fresh_files})
    if not spec.keys:
        return IcebergPlan(fresh, None, None, replaced, claimed)
    keys = spec.keys
    current = tables.read(ctx.dataset)
    suspects: list[DataFrame | None] = []
    if replaced:  # current rows that came from an earlier version of a pending file
        suspects.append(current.filter(_of_files(list(replaced))).select(*keys))
    if claimed and fresh is not None:  # current rows of delivered keys that came from files in flight
        delivered = fresh.select(*keys)
        suspects.append(current.filter(_of_files(list(claimed))).join(delivered, keys, "left_semi").select(*keys))
    from_processed = _union(suspects)
    more = None
    if from_processed is not None:
        from_processed = from_processed.distinct()
        root = ctx.processed_prefix()
        others: set[str] = set()
        for partition, source in index.where_rows_of(from_processed):
            if source in sources or source in claimed:
                continue
            found = ctx.storage.list(f"{root}/{partition}/{file_id(source)}-")
            others.update(o.key for o in found if posixpath.dirname(o.key) == f"{root}/{partition}")
        more = read_processed(ctx, {"": sorted(others - set(fresh_files))})
        if more is not None:
            more = more.join(from_processed, keys, "left_semi")
    return IcebergPlan(fresh, more, from_processed, replaced, claimed)


def merge_source(ctx: RunContext, plan: IcebergPlan, columns: list[str]) -> DataFrame | None:
    """The MERGE's source: winning rows (``upsert``) and rows saying what to delete (``delete``):
    keys decided again that have no row left (keyed), or the replaced sources (no keys)."""
    spec = ctx.spec
    candidates = _union([f.select(*columns) if f is not None else None for f in (plan.fresh, plan.more)])
    if candidates is not None and plan.claimed:
        candidates = candidates.filter(~_of_files(list(plan.claimed)))
    if candidates is not None and spec.keys:
        candidates = candidates.transform(keep_latest_per_key(spec.keys, spec.latest_by))
    upserts = None if candidates is None else candidates.withColumn(OP, F.lit("upsert"))
    nulls = {c: F.lit(None).cast(t) for c, t in _types(ctx, columns).items()}
    deletes = None
    if spec.keys and plan.from_processed is not None:
        gone = plan.from_processed
        if candidates is not None:
            gone = gone.join(candidates.select(*spec.keys), spec.keys, "left_anti")
        deletes = gone.select(*[F.col(c) if c in spec.keys else nulls[c].alias(c) for c in columns])
    elif not spec.keys and plan.replaced:
        rows = [(s,) for s in plan.replaced]
        stale = ctx.spark.createDataFrame(rows, "_source_file string")
        deletes = stale.select(*[F.col(c) if c == "_source_file" else nulls[c].alias(c) for c in columns])
    if deletes is not None:
        deletes = deletes.withColumn(OP, F.lit("delete"))
    return _union([upserts, deletes])


def _types(ctx: RunContext, columns: list[str]) -> dict[str, str]:
    schema = {f.name: f.dataType.simpleString() for f in table_of(ctx).schema.fields}
    return {c: schema[c] for c in columns}


def _greater(column: str) -> str:
    """The new row's ``column`` sorts after the current row's (a null sorts first)."""
    return f"(s.{column} IS NOT NULL AND (t.{column} IS NULL OR s.{column} > t.{column}))"


def wins_condition(latest_by: str | None) -> str:
    """SQL: the MERGE source row ``s`` beats the table's row ``t`` under ``dedup.winner_order``."""
    parts = [f"`{latest_by}`"] if latest_by else []
    parts += ["`_delivered_at`", "`_source_file`", "`_source_row`"]
    delivered = "coalesce({0}.`_delivered_at`, {0}.`_ingested_at`)"
    condition = ""
    for part in reversed(parts):
        if part == "`_delivered_at`":
            s, t = delivered.format("s"), delivered.format("t")
            greater = f"({s} IS NOT NULL AND ({t} IS NULL OR {s} > {t}))"
            same = f"({s} <=> {t})"
        else:
            greater, same = _greater(part), f"(s.{part} <=> t.{part})"
        condition = greater if not condition else f"({greater} OR ({same} AND {condition}))"
    return condition


def merge_statement(
    target: str, view: str, columns: list[str], keys: list[str], latest_by: str | None, plan: IcebergPlan
) -> str:
    """The run's ``MERGE INTO``: by keys with the winner order, or (no keys) deleting the rows of
    replaced sources and inserting the new rows."""
    listed = ", ".join(f"`{c}`" for c in columns)
    values = ", ".join(f"s.`{c}`" for c in columns)
    insert = f"WHEN NOT MATCHED AND s.{OP} = 'upsert' THEN INSERT ({listed}) VALUES ({values})"
    if not keys:
        return (
            f"MERGE INTO {target} t USING {view} s\n"
            f"ON s.{OP} = 'delete' AND t.`_source_file` = s.`_source_file`\n"
            f"WHEN MATCHED THEN DELETE\n{insert}"
        )
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    stale = [*plan.replaced, *plan.claimed]
    quoted = ", ".join("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" for s in stale)
    must = f"t.`_source_file` IN ({quoted}) OR " if stale else ""
    assignments = ", ".join(f"`{c}` = s.`{c}`" for c in columns)
    return (
        f"MERGE INTO {target} t USING {view} s\nON {on}\n"
        f"WHEN MATCHED AND s.{OP} = 'delete' THEN DELETE\n"
        f"WHEN MATCHED AND ({must}{wins_condition(latest_by)}) THEN UPDATE SET {assignments}\n{insert}"
    )


def _drop_parquet_partitions(ctx: RunContext) -> None:
    """Remove the ``year=…/month=…`` Parquet folders a dataset had before it became Iceberg (one
    listing; they are no part of the table once it holds their rows)."""
    root = ctx.analytics_prefix()
    old = [o.key for o in ctx.storage.list(root + "/year=")]
    if old:
        log.info("%s: removing %d Parquet file(s) of the former table", ctx.dataset, len(old))
        ctx.storage.delete(old)
