"""raw -> processed for one source file: the unit of work with its own outcome.

Order of operations, chosen so a run killed or failing at any point can simply
be run again:

1. claim the file in the ledger (a live claim of another run wins);
2. read, clean, type, validate, derive — one read of the file, cached;
3. write valid and rejected rows to this run's staging folder;
4. reconcile: rows read = rows written valid + rows written rejected;
5. record the partitions about to change (the intent), then replace the file's
   earlier outputs with the staged ones (files are named after the source);
6. record the outcome. Until then the ledger still says ``claimed``, so a rerun
   redoes the file and the intent tells it which folders to clean.

Outcomes: a bad file (unreadable, a failed check, a refused read) is recorded
``failed`` with its reason. A transient error (throttling, 5xx, a JVM that
died) — or any error once publishing has begun — is raised as ``FileDeferred``:
the file stays ``claimed``, nothing of it counts as published, and the next
run redoes it. Staging is cleaned in every case.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.errors import ClaimConflict, EtlError, ReconciliationError, SourceFileError, TransientError
from etl_lib.ledger.base import FileRecord
from etl_lib.read.csv import CORRUPT, RAW, read_csv_strings
from etl_lib.read.header import map_columns, read_header
from etl_lib.read.source import spark_source_path
from etl_lib.runner.context import RunContext
from etl_lib.runner.errors import short_reason
from etl_lib.runner.plan import FileTask
from etl_lib.spark_errors import spark_errors
from etl_lib.transform.derive import with_derived_columns
from etl_lib.transform.metadata import with_metadata
from etl_lib.transform.partition import with_partition_columns
from etl_lib.transform.types import CLEANED, with_cleaned_values, with_typed_columns
from etl_lib.transform.validate import REASONS, is_valid, with_derived_reasons, with_reasons
from etl_lib.write.key_index import write_key_index
from etl_lib.write.staging import delete_with_prefix, file_id, publish, staged_files

log = logging.getLogger("etl_lib.ingest")


class FileDeferred(EtlError):
    """A file left ``claimed`` for the next run, with the error that stopped it (``cause``)."""

    def __init__(self, record: FileRecord, cause: EtlError) -> None:
        self.record = record
        self.cause = cause
        super().__init__(str(cause))


def validated_rows(ctx: RunContext, key: str, ingested_at: datetime, delivered_at: float | None = None) -> DataFrame:
    """Every record of ``key``: typed columns, derived columns, metadata, partition
    columns, ``_reasons`` (empty when valid) and the raw values."""
    spec = ctx.spec
    mapping = map_columns(key, read_header(ctx.storage, key, spec), spec)
    path = spark_source_path(ctx.storage, key, ctx.staging_prefix(file_id(key), "input"))
    return (
        read_csv_strings(ctx.spark, path, spec, mapping)
        .transform(with_cleaned_values(spec))
        .transform(with_typed_columns(spec))
        .transform(with_reasons(spec))
        .transform(with_derived_columns(spec))
        .transform(with_derived_reasons(spec))
        .transform(with_metadata(key, ingested_at, ctx.run_id, delivered_at))
        .transform(with_partition_columns(spec))
    )


def processed_columns(ctx: RunContext) -> list[str]:
    """Columns written to processed, in order (partition columns last)."""
    return [
        *ctx.spec.column_names,
        "_rescued_data",
        "_source_file",
        "_source_row",
        "_ingested_at",
        "_run_id",
        "_delivered_at",
        "year",
        "month",
    ]


REJECTED_COLUMNS = [
    "_source_file",
    "_source_row",
    "_ingested_at",
    "_run_id",
    "_delivered_at",
    REASONS,
    RAW,
    CORRUPT,
    "_rescued_data",
]


def process_file(ctx: RunContext, task: FileTask) -> FileRecord:
    """Take one source file to processed/rejected; return its final ledger record.

    A bad file does not raise: its failure is recorded and returned. Raises
    ``FileDeferred`` when the file is left claimable for the next run, and
    ``ClaimConflict`` when another live run holds it.
    """
    key = task.source.key
    claim = FileRecord(
        dataset=ctx.dataset,
        source_key=key,
        checksum=task.checksum,
        size=task.source.size,
        status="claimed",
        run_id=ctx.run_id,
        delivered_at=task.source.modified,
    )
    previous = ctx.ledger.claim_file(claim, ctx.stale_claim_after_s, planned=task.planned)
    claimed = ctx.ledger.get_file(ctx.dataset, key) or claim
    if task.problem:
        return _fail(ctx, claimed, f"{key}: {task.problem}")
    try:
        return _process(ctx, task, claimed, previous)
    except ClaimConflict:  # taken over meanwhile: the file is the other run's now
        raise
    except FileDeferred as deferred:
        log.warning("file left for the next run: %s", deferred)
        raise
    except TransientError as exc:
        log.warning("file left for the next run: %s", exc)
        raise FileDeferred(claimed, exc) from None
    except EtlError as exc:
        return _fail(ctx, claimed, str(exc) if isinstance(exc, SourceFileError) else f"{key}: {exc}")
    finally:
        _clean_staging(ctx, key)


def _clean_staging(ctx: RunContext, key: str) -> None:
    """Remove the file's staging folder; a failure here leaves garbage that is never read as data."""
    try:
        ctx.storage.delete_prefix(ctx.staging_prefix(file_id(key)))
    except EtlError as exc:
        log.warning("could not clean the staging folder of %s: %s", key, exc)


def _fail(ctx: RunContext, claimed: FileRecord, message: str) -> FileRecord:
    log.warning("file failed: %s", message)
    reason = short_reason(message)
    failed = claimed.evolve(status="failed", error=reason, rows_in=0, rows_valid=0, rows_rejected=0)
    ctx.ledger.save_file(failed, expected=claimed)
    return failed


def _process(ctx: RunContext, task: FileTask, claimed: FileRecord, previous: FileRecord | None) -> FileRecord:
    key = task.source.key
    stage_valid, stage_rejected, stage_index = staging_folders(ctx, key)
    with spark_errors(key):
        staged = _stage(ctx, key, claimed.delivered_at, stage_valid, stage_rejected, stage_index)
        written_valid = _count_lines(ctx, stage_valid)
        written_rejected = _count_lines(ctx, stage_rejected)
    if written_valid + written_rejected != staged.rows_in or written_valid != staged.rows_valid:
        raise ReconciliationError(
            key,
            f"cannot reconcile: read {staged.rows_in} rows but wrote {written_valid} valid + "
            f"{written_rejected} rejected; nothing was published",
        )
    try:
        return _publish(ctx, claimed, previous, staged)
    except ClaimConflict:
        raise
    except EtlError as exc:  # half-published: claimable, so the next run cleans up and republishes
        raise FileDeferred(claimed, exc) from None


def staging_folders(ctx: RunContext, key: str) -> tuple[str, str, str]:
    """This run's staging folders of a file: valid rows, rejected rows, key index."""
    fid = file_id(key)
    valid, rejected, index = (ctx.staging_prefix(fid, part) for part in ("processed", "rejected", "key_index"))
    return valid, rejected, index


@dataclass(frozen=True)
class Staged:
    """What a file's staging holds: its counts, the partitions of its valid rows, check warnings."""

    rows_in: int
    rows_valid: int
    partitions: list[str]
    warnings: list[str]


def _publish(ctx: RunContext, claimed: FileRecord, previous: FileRecord | None, staged: Staged) -> FileRecord:
    """Replace the file's earlier outputs with the staged ones and record the outcome."""
    fid = file_id(claimed.source_key)
    stage_valid, stage_rejected, stage_index = staging_folders(ctx, claimed.source_key)
    partitions = staged.partitions
    # Intent first: if we die while replacing files, a rerun knows where to clean.
    old_partitions = set(claimed.partitions) | set(claimed.dirty_partitions)
    dirty = tuple(sorted(old_partitions | set(partitions)))
    intent = claimed.evolve(dirty_partitions=dirty)
    ctx.ledger.save_file(intent, expected=claimed)

    processed_root = ctx.processed_prefix()
    delete_with_prefix(ctx.storage, [f"{processed_root}/{p}" for p in dirty], fid)
    delete_with_prefix(ctx.storage, [ctx.rejected_prefix()], fid)
    delete_with_prefix(ctx.storage, [ctx.key_index_prefix()], fid)
    outputs = publish(ctx.storage, staged_files(ctx.storage, stage_valid, ".json"), processed_root, fid, ".json")
    outputs += publish(
        ctx.storage, staged_files(ctx.storage, stage_rejected, ".json"), ctx.rejected_prefix(), fid, ".json"
    )
    publish(ctx.storage, staged_files(ctx.storage, stage_index, ".parquet"), ctx.key_index_prefix(), fid, ".parquet")
    done = claimed.evolve(
        status="processed",
        rows_in=staged.rows_in,
        rows_valid=staged.rows_valid,
        rows_rejected=staged.rows_in - staged.rows_valid,
        outputs=tuple(outputs),
        partitions=tuple(partitions),
        dirty_partitions=dirty,
        replaces_previous=bool(previous and previous.outputs) or claimed.replaces_previous,
        error=None,
        warnings=tuple(staged.warnings),
    )
    ctx.ledger.save_file(done, expected=intent)
    return done


def has_undecodable_text(rows: DataFrame) -> Column:
    """True for a record whose raw values hold U+FFFD: bytes the declared encoding could not decode
    (Spark replaces them silently; a file is never published with them)."""
    raw = rows.schema[RAW].dataType
    fields = [F.col(f"{RAW}.`{name}`") for name in getattr(raw, "names", [])] + [F.col(CORRUPT)]
    return F.greatest(*[F.coalesce(F.instr(c, "\ufffd"), F.lit(0)) for c in fields], F.lit(0)) > 0


def _stage(
    ctx: RunContext, key: str, delivered_at: float | None, stage_valid: str, stage_rejected: str, stage_index: str
) -> Staged:
    """Read the file once (cached), check it, write valid and rejected rows (and its keys) to staging."""
    rows = validated_rows(ctx, key, datetime.now(UTC), delivered_at).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # Counts per (valid, year, month), and the first record whose bytes did not decode:
        # a handful of rows of metadata, not data, in the one pass that counts.
        stats = (
            rows.groupBy(is_valid().alias("valid"), "year", "month")
            .agg(F.count(F.lit(1)).alias("count"), F.min(F.when(has_undecodable_text(rows), F.col("_source_row"))))
            .collect()
        )
        undecodable = [r[4] for r in stats if r[4] is not None]
        if undecodable:
            raise SourceFileError(
                key,
                f"not valid {ctx.spec.source.encoding} in record {min(undecodable)}: check source.encoding in the spec",
            )
        rows_in = sum(r["count"] for r in stats)
        rows_valid = sum(r["count"] for r in stats if r["valid"])
        partitions = sorted({f"year={r['year']}/month={r['month']}" for r in stats if r["valid"]})
        warnings = _check_expectations(ctx, rows.filter(is_valid()), key)
        (
            rows.filter(is_valid())
            .select(*processed_columns(ctx))
            .write.mode("overwrite")
            .partitionBy("year", "month")
            .option("ignoreNullFields", False)
            .json(ctx.storage.uri(stage_valid))
        )
        (
            rows.filter(~is_valid())
            .select(*REJECTED_COLUMNS)
            .coalesce(1)
            .write.mode("overwrite")
            .option("ignoreNullFields", False)
            .json(ctx.storage.uri(stage_rejected))
        )
        if ctx.spec.keys:
            write_key_index(rows.filter(is_valid()), ctx.spec.keys, ctx.storage.uri(stage_index))
    finally:
        with suppress(Exception):  # a JVM that died cannot unpersist; the original error matters
            rows.unpersist()
    return Staged(rows_in, rows_valid, partitions, warnings)


def _count_lines(ctx: RunContext, staging: str) -> int:
    """Rows in staged JSON Lines files (one record per line; newlines inside values are escaped)."""
    files = [ctx.storage.uri(k) for keys in staged_files(ctx.storage, staging, ".json").values() for k in keys]
    if not files:
        return 0
    return ctx.spark.read.text(files).count()


def _check_expectations(ctx: RunContext, valid: DataFrame, key: str) -> list[str]:
    """Run the spec's batch checks on the file's valid rows; fail the file on a ``fail`` one."""
    if not ctx.spec.expectations:
        return []
    from etl_lib.quality.expectations import failed_checks, run_expectations

    results = run_expectations(valid.drop(CLEANED, RAW, REASONS, CORRUPT), ctx.spec.expectations)
    failed = failed_checks(results)
    if failed:
        what = "; ".join(f"{r.expectation} {r.kwargs}: {r.observed}" for r in failed)
        raise SourceFileError(key, f"data-quality check failed: {what}")
    return [f"{r.expectation}: {r.observed}" for r in results if not r.success]
