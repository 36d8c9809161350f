"""raw -> processed for one source file: the unit of work with its own outcome.

Order of operations, chosen so a run killed or failing at any point can simply
be run again:

1. claim the file in the ledger (a live claim of another run wins);
2. read, clean, type, validate, derive, and write valid and rejected rows to
   this run's staging folder: one Spark job, one pass over the file, counted
   while it is written (Spark's ``Observation``), the spec's plain expectations
   counted in the same pass, nothing cached, nothing read back (but a narrow copy
   of the columns the other expectations check, for Great Expectations);
3. reconcile: rows read = rows written valid + rows written rejected (and, for a
   file read in splits, = the records its lines hold);
4. record the partitions about to change (the intent), then replace the file's
   earlier outputs with the staged ones (files are named after the source), its
   receipt summary and, when the spec has expectations, its validation result;
5. record the outcome. Until then the ledger still says ``claimed``, so a rerun
   redoes the file and the intent tells it which folders to clean.

Outcomes: a bad file (unreadable, a failed check, a refused read) is recorded
``failed`` with its reason. A transient error (throttling, 5xx, a JVM that
died) — or any error once publishing has begun — is raised as ``FileDeferred``:
the file stays ``claimed``, nothing of it counts as published, and the next
run redoes it. Staging is cleaned in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import ClaimConflict, EtlError, ReconciliationError, SourceFileError, TransientError
from etl_lib.ledger.base import FileRecord, utcnow
from etl_lib.quality.in_pass import in_pass_checks
from etl_lib.read.csv import CORRUPT, RAW, Splits, plan_splits, read_csv_strings
from etl_lib.read.header import map_columns, read_header
from etl_lib.read.source import spark_source_path
from etl_lib.runner.context import RunContext
from etl_lib.runner.errors import short_reason
from etl_lib.runner.plan import FileTask
from etl_lib.runner.receipts import write_summary
from etl_lib.spark import observed
from etl_lib.spark_errors import spark_errors
from etl_lib.spec.memo import SPEC_CACHE_SIZE, SpecKey
from etl_lib.spec.model import DatasetSpec, ExpectationSpec
from etl_lib.spec.schema import processed_schema
from etl_lib.transform.chain import with_checked_values, with_file_columns
from etl_lib.transform.partition import PARTITION_COLUMNS
from etl_lib.transform.validate import is_valid
from etl_lib.write.lines import KIND, processed_columns, staged_lines, written_counts
from etl_lib.write.staging import delete_with_prefix, file_id, publish, staged_files

log = logging.getLogger("etl_lib.ingest")


class ChecksFailed(SourceFileError):
    """A file failed on an ``on_failure: fail`` expectation; ``validation`` is the file's
    validation result (``quality.validations``), kept with its failure."""

    def __init__(self, source: str, message: str, validation: Any) -> None:
        self.validation = validation
        super().__init__(source, message)


class FileDeferred(EtlError):
    """A file left ``claimed`` for the next run, with the error that stopped it (``cause``)."""

    def __init__(self, record: FileRecord, cause: EtlError) -> None:
        self.record = record
        self.cause = cause
        super().__init__(str(cause))


def validated_rows(
    ctx: RunContext, key: str, ingested_at: datetime, delivered_at: float | None = None
) -> tuple[DataFrame, Splits | None]:
    """Every record of ``key``: typed columns, derived columns, metadata, partition
    columns, ``_reasons`` (empty when valid) and the raw values; and the splits it is
    read in (None: read whole)."""
    spec = ctx.spec
    mapping = map_columns(key, read_header(ctx.storage, key, spec), spec)
    path = spark_source_path(ctx.storage, key, ctx.staging_prefix(file_id(key), "input"))
    splits = plan_splits(ctx.spark, path, key, spec)
    rows = (
        read_csv_strings(ctx.spark, path, spec, mapping, splits)
        .transform(with_checked_values(spec))
        .transform(with_file_columns(spec, key, ingested_at, ctx.run_id, delivered_at))
    )
    return rows, splits


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
        spec_fingerprint=ctx.spec_fingerprint,
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
        message = str(exc) if isinstance(exc, SourceFileError) else f"{key}: {exc}"
        return _fail(ctx, claimed, message, getattr(exc, "validation", None))
    finally:
        _clean_staging(ctx, key)


def _clean_staging(ctx: RunContext, key: str) -> None:
    """Remove the file's staging folder; a failure here leaves garbage that is never read as data."""
    try:
        ctx.storage.delete_prefix(ctx.staging_prefix(file_id(key)))
    except EtlError as exc:
        log.warning("could not clean the staging folder of %s: %s", key, exc)


def _fail(ctx: RunContext, claimed: FileRecord, message: str, validation: Any = None) -> FileRecord:
    log.warning("file failed: %s", message)
    reason = short_reason(message)
    failed = claimed.evolve(
        status="failed", error=reason, rows_in=0, rows_valid=0, rows_rejected=0, duration_s=_since(claimed)
    )
    write_summary(ctx, failed)  # the partner's receipt says why
    _keep_validation(ctx, claimed.source_key, validation)
    ctx.ledger.save_file(failed, expected=claimed)
    return failed


def _keep_validation(ctx: RunContext, key: str, validation: Any) -> None:
    """Replace the file's validation result with this outcome's: ``validation``, or none when
    the file failed before its checks ran (an earlier one would describe other content).
    Nothing at all for a spec without expectations."""
    if not ctx.spec.expectations:
        return
    from etl_lib.quality.validations import delete_validation, write_validation

    if validation is None:
        delete_validation(ctx.storage, ctx.dataset, key)
    else:
        write_validation(ctx.storage, validation)


def _since(claimed: FileRecord) -> float:
    """Seconds since the file was claimed (its record's last change before processing)."""
    return round((utcnow() - claimed.updated_at).total_seconds(), 3)


def _process(ctx: RunContext, task: FileTask, claimed: FileRecord, previous: FileRecord | None) -> FileRecord:
    key = task.source.key
    staging = staging_folder(ctx, key)
    with spark_errors(key):
        staged = _stage(ctx, key, claimed.delivered_at, staging)
    try:
        return _publish(ctx, claimed, previous, staged)
    except ClaimConflict:
        raise
    except EtlError as exc:  # half-published: claimable, so the next run cleans up and republishes
        raise FileDeferred(claimed, exc) from None


def staging_folder(ctx: RunContext, key: str) -> str:
    """This run's staging folder of a file's outputs: ``kind=processed|rejected|checks`` below it."""
    return ctx.staging_prefix(file_id(key), "out")


@dataclass(frozen=True)
class Staged:
    """What a file's staging holds: its counts, its files by kind and partition, check warnings."""

    rows_in: int
    rows_valid: int
    processed: dict[str, list[str]]
    """Staged processed files by ``year=YYYY/month=MM`` partition."""
    rejected: list[str]
    warnings: list[str]
    in_splits: bool = False
    """Read in parallel splits (line-based) rather than whole (``multiLine``)."""
    validation: Any = None
    """The file's validation result (``quality.validations``); None when the spec has no expectations."""

    @property
    def partitions(self) -> list[str]:
        """The partitions of processed the file's valid rows are in."""
        return sorted(self.processed)


def _publish(ctx: RunContext, claimed: FileRecord, previous: FileRecord | None, staged: Staged) -> FileRecord:
    """Replace the file's earlier outputs with the staged ones and record the outcome."""
    fid = file_id(claimed.source_key)
    partitions = staged.partitions
    # Intent first: if we die while replacing files, a rerun knows where to clean.
    old_partitions = set(claimed.partitions) | set(claimed.dirty_partitions)
    dirty = tuple(sorted(old_partitions | set(partitions)))
    intent = claimed.evolve(dirty_partitions=dirty)
    ctx.ledger.save_file(intent, expected=claimed)

    processed_root = ctx.processed_prefix()
    delete_with_prefix(ctx.storage, [f"{processed_root}/{p}" for p in dirty], fid)
    delete_with_prefix(ctx.storage, [ctx.rejected_prefix()], fid)
    outputs = publish(ctx.storage, staged.processed, processed_root, fid, ".json")
    outputs += publish(
        ctx.storage, {"": staged.rejected} if staged.rejected else {}, ctx.rejected_prefix(), fid, ".json"
    )
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
        receipt_owed=ctx.spec.receipts and staged.rows_in > staged.rows_valid,
        read_in_splits=staged.in_splits,
        duration_s=_since(claimed),
    )
    write_summary(ctx, done)  # replaced with the file's other outputs; its rows follow (receipts)
    _keep_validation(ctx, claimed.source_key, staged.validation)
    ctx.ledger.save_file(done, expected=intent)
    return done


def _raw_names(rows: DataFrame) -> tuple[str, ...]:
    """The file's header as the fields of ``_raw``."""
    return tuple(getattr(rows.schema[RAW].dataType, "names", []))


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _read_counts(raw_names: tuple[str, ...]) -> tuple[Column, ...]:
    """What a file's rows are counted by as they are read: ``rows_in``, ``rows_valid`` and
    ``undecodable``, the first record whose raw values hold U+FFFD: bytes the declared encoding
    could not decode (Spark replaces them silently; a file is never published with them).
    The same for every file with the same header, so built once."""
    fields = [F.col(f"{RAW}.`{name}`") for name in raw_names] + [F.col(CORRUPT)]
    undecodable = F.greatest(*[F.coalesce(F.instr(c, "\ufffd"), F.lit(0)) for c in fields], F.lit(0)) > 0
    return (
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(is_valid().cast("long")).alias("rows_valid"),
        F.min(F.when(undecodable, F.col("_source_row"))).alias("undecodable"),
    )


def _stage(ctx: RunContext, key: str, delivered_at: float | None, staging: str) -> Staged:
    """Read, check and write the file's rows to staging in one Spark job; reconcile the counts."""
    rows, splits = validated_rows(ctx, key, datetime.now(UTC), delivered_at)
    if ctx.spec.expectations:  # their results are kept as Great Expectations': import it meanwhile
        from etl_lib.quality.expectations import check_available

        check_available()
    check_columns = _check_columns(ctx)
    read, written = Observation(), Observation()
    rows = rows.observe(read, *_read_counts(_raw_names(rows)), *_counted_checks(ctx))
    lines = staged_lines(ctx.spec, rows, check_columns).observe(written, *written_counts())
    lines.write.mode("overwrite").partitionBy(KIND, "year", "month").text(ctx.storage.uri(staging))
    counts, out = observed(ctx.spark, read), observed(ctx.spark, written)
    if counts is None or out is None:
        raise ReconciliationError(key, "Spark did not report the counts of the write; nothing was published")
    bad_record = counts.get("undecodable")
    if bad_record is not None:
        encoding = ctx.spec.source.encoding
        raise SourceFileError(key, f"not valid {encoding} in record {bad_record}: check source.encoding in the spec")
    rows_in, rows_valid = counts.get("rows_in") or 0, counts.get("rows_valid") or 0
    processed, rejected = out.get("processed") or 0, out.get("rejected") or 0
    if processed + rejected != rows_in or processed != rows_valid or (splits and splits.records != rows_in):
        lines_say = f" (its lines hold {splits.records} records)" if splits else ""
        raise ReconciliationError(
            key,
            f"cannot reconcile: read {rows_in} rows{lines_say} but wrote {processed} valid + "
            f"{rejected} rejected; nothing was published",
        )
    staged = staged_by_kind(ctx, staging)  # one listing of the file's staging
    rejected_files = sorted(k for keys in staged["rejected"].values() for k in keys)
    check_files = sorted(k for keys in staged["checks"].values() for k in keys)
    warnings, validation = _check_expectations(ctx, counts, check_files, check_columns, key)
    warnings += years_outside(ctx.spec, staged["processed"])
    processed_files = dict(staged["processed"])
    return Staged(rows_in, rows_valid, processed_files, rejected_files, warnings, splits is not None, validation)


def years_outside(spec: DatasetSpec, partitions: Iterable[str]) -> list[str]:
    """A warning per ``year=YYYY`` of ``partitions`` outside the spec's ``partition_years``:
    written, but not seen by Athena's partition projection."""
    first, last = spec.partition_years
    years = sorted({p.split("/")[0].removeprefix("year=") for p in partitions if p.startswith("year=")})
    return [
        f"rows in year={year} are outside partition_years {first}-{last}: Athena does not see them "
        "(widen partition_years in the spec)"
        for year in years
        if year.isdigit() and not first <= int(year) <= last
    ]


def staged_by_kind(ctx: RunContext, staging: str) -> dict[str, dict[str, list[str]]]:
    """The staged files of each kind (``processed``, ``rejected``, ``checks``) by partition
    (``year=YYYY/month=MM``; rejected rows and checks have none that matters), from one listing."""
    found: dict[str, dict[str, list[str]]] = {"processed": {}, "rejected": {}, "checks": {}}
    for folder, keys in staged_files(ctx.storage, staging, ".txt").items():
        kind, _, partition = folder.partition("/")
        found.setdefault(kind.removeprefix(f"{KIND}="), {})[partition] = keys
    return found


def _counted_checks(ctx: RunContext) -> tuple[Column, ...]:
    """The aggregates of the spec's expectations that are counted as the file is written."""
    return _check_metrics(SpecKey(ctx.spec), ctx.spark) if ctx.spec.expectations else ()


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def _check_metrics(key: SpecKey, spark: SparkSession) -> tuple[Column, ...]:
    return tuple(in_pass_checks(spark, key.spec).metrics(is_valid()))


def _check_columns(ctx: RunContext) -> list[str] | None:
    """The columns written for the expectations Great Expectations runs (None: it runs none)."""
    rest = _rest_of_checks(ctx)
    if not rest:
        return None
    from etl_lib.quality.expectations import columns_needed

    needed = columns_needed(rest)
    every = [c for c in processed_columns(ctx.spec) if c not in PARTITION_COLUMNS]
    return every if needed is None else [c for c in every if c in needed] or ["_source_row"]


def _rest_of_checks(ctx: RunContext) -> list[ExpectationSpec]:
    """The spec's expectations that are not counted in the pass: Great Expectations runs them."""
    if not ctx.spec.expectations:
        return []
    rest = in_pass_checks(ctx.spark, ctx.spec).rest
    return [ctx.spec.expectations[i] for i in rest]


def _check_expectations(
    ctx: RunContext, counts: dict[str, Any], staged_checks: list[str], columns: list[str] | None, key: str
) -> tuple[list[str], Any]:
    """The spec's batch checks on the file's valid rows: those counted in the pass from
    ``counts``, the rest with Great Expectations on the narrow copy staged for them
    (``staged_checks``). Returns the warnings and the file's validation result (None without
    expectations); fails the file on a ``fail`` one (``ChecksFailed``, with the result)."""
    if not ctx.spec.expectations:
        return [], None
    from etl_lib.quality.expectations import evaluate_expectations, failed_checks
    from etl_lib.quality.validations import suite_result

    checks = in_pass_checks(ctx.spark, ctx.spec)
    by_index = checks.outcomes(counts)
    if columns is not None:
        files = [ctx.storage.uri(k) for k in staged_checks]
        schema = processed_schema(ctx.spark, ctx.spec)
        narrow = T.StructType([schema[c] for c in columns])
        valid = ctx.spark.read.schema(narrow).json(files) if files else ctx.spark.createDataFrame([], narrow)
        by_index.update(zip(checks.rest, evaluate_expectations(valid, _rest_of_checks(ctx)), strict=True))
    outcomes = [by_index[i] for i in range(len(ctx.spec.expectations))]
    validation = suite_result(
        outcomes, dataset=ctx.dataset, source_key=key, run_id=ctx.run_id, spec_fingerprint=ctx.spec_fingerprint
    )
    results = [outcome.check for outcome in outcomes]
    failed = failed_checks(results)
    if failed:
        what = "; ".join(f"{r.expectation} {r.kwargs}: {r.observed}" for r in failed)
        raise ChecksFailed(key, f"data-quality check failed: {what}", validation)
    return [f"{r.expectation}: {r.observed}" for r in results if not r.success], validation
