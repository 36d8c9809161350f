"""The runner: plan, process each file, publish analytics-ready, record, notify.

``run_dataset`` is what the CLI, the Glue job scripts and the demo call.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from etl_lib.errors import ClaimConflict, EtlError, TransientError
from etl_lib.ledger.base import FileRecord, RunRecord, utcnow, wait_for_lease
from etl_lib.notify.base import RunReport
from etl_lib.quality.in_pass import in_pass_checks
from etl_lib.runner.analytics import earlier_intent, intent_key, publish_analytics
from etl_lib.runner.context import RunContext, process_owner
from etl_lib.runner.errors import one_line, short_reason
from etl_lib.runner.iceberg import iceberg_intent_key, publish_iceberg
from etl_lib.runner.ingest import FileDeferred, process_file
from etl_lib.runner.plan import FileTask, pending_records, plan_run
from etl_lib.runner.receipts import owed as receipts_owed
from etl_lib.runner.receipts import write_receipt_rows
from etl_lib.runner.sinks import load_owed
from etl_lib.spark_errors import spark_errors
from etl_lib.spec.schema import check_spec

log = logging.getLogger("etl_lib.run")

STAGES = ("raw-to-processed", "processed-to-analytics", "all")


@dataclass(frozen=True)
class RunSummary:
    """What ``etl-lib run --json`` prints."""

    report: RunReport

    @property
    def status(self) -> str:
        """succeeded | partial | failed."""
        return self.report.run.status

    @property
    def exit_code(self) -> int:
        """0 when every file was processed, 3 when some failed whole, 1 when the run failed."""
        return {"succeeded": 0, "partial": 3}.get(self.status, 1)

    def as_json(self) -> dict[str, object]:
        """The PRODUCT.md ``--json`` object (plus per-file details)."""
        data = self.report.as_dict()
        return {
            "run_id": data["run_id"],
            "dataset": data["dataset"],
            "stage": data["stage"],
            "files": data["files"],
            "files_failed": data["files_failed"],
            "rows_in": data["rows_in"],
            "rows_valid": data["rows_valid"],
            "rows_rejected": data["rows_rejected"],
            "rows_analytics": data["rows_analytics"],
            "warnings": data["warnings"],
            "status": data["status"],
            "error": data["error"],
            "file_results": data["file_results"],
        }


def run_dataset(
    ctx: RunContext, stage: str = "all", sources: list[str] | None = None, redo: bool = False
) -> RunSummary:
    """Run ``stage`` over the dataset of ``ctx``; record and announce the outcome.

    ``redo``: a reprocess: ``sources`` are redone from raw with the current spec even when
    their content did not change (``plan.reprocess_selection`` chooses them).

    Bad files do not raise: they are recorded as failed and the run is
    ``partial``. Files left for the next run (a transient error: throttling,
    5xx, a JVM that died) and errors that stop the whole run (ledger
    unreachable, bad spec) mark the run ``failed`` and raise after it is
    recorded: ``FilesDeferred`` for the former.
    """
    if stage not in STAGES:
        raise EtlError(f"unknown stage {stage!r}; allowed: {', '.join(STAGES)}")
    run = RunRecord(run_id=ctx.run_id, dataset=ctx.dataset, stage=stage, owner=process_owner())
    ctx.ledger.save_run(run)
    results: list[FileRecord] = []
    seconds: dict[str, float] = {}
    try:
        check_spec(ctx.spark, ctx.spec)
        sweep_staging(ctx)
        if stage in ("raw-to-processed", "all") and in_pass_checks(ctx.spark, ctx.spec).rest:
            from etl_lib.quality.expectations import check_available

            check_available()  # Great Expectations runs the expectations not counted in the pass
        if stage in ("raw-to-processed", "all"):
            started = time.monotonic()
            results, deferred = _raw_to_processed(ctx, sources, redo)
            seconds["raw-to-processed"] = time.monotonic() - started
            _stage_event(ctx, "raw-to-processed", results, seconds["raw-to-processed"], deferred)
            if deferred:
                results += [d.record.evolve(error=short_reason(str(d.cause))) for d in deferred]
                raise FilesDeferred(deferred)
        rows_analytics, snapshot_id = 0, None
        if stage in ("processed-to-analytics", "all"):
            started = time.monotonic()
            rows_analytics, snapshot_id = _processed_to_analytics(ctx)
            seconds["processed-to-analytics"] = time.monotonic() - started
            _stage_event(ctx, "processed-to-analytics", [], seconds["processed-to-analytics"], [], rows_analytics)
        failed = [r for r in results if r.status == "failed"]
        run = run.evolve(
            status="partial" if failed else "succeeded",
            files=len(results),
            files_failed=len(failed),
            rows_in=sum(r.rows_in for r in results),
            rows_valid=sum(r.rows_valid for r in results),
            rows_rejected=sum(r.rows_rejected for r in results),
            rows_analytics=rows_analytics,
            warning_count=sum(len(r.warnings) for r in results),
            finished_at=utcnow(),
            snapshot_id=snapshot_id,
        )
    except Exception as exc:
        message = short_reason(str(exc)) if isinstance(exc, EtlError) else one_line(exc)
        done = [r for r in results if r.status != "claimed"]
        run = run.evolve(
            status="failed",
            error=message,
            finished_at=utcnow(),
            files=len(results),
            files_failed=sum(1 for r in results if r.status == "failed"),
            rows_in=sum(r.rows_in for r in done),
            rows_valid=sum(r.rows_valid for r in done),
            rows_rejected=sum(r.rows_rejected for r in done),
            warning_count=sum(len(r.warnings) for r in done),
        )
        _record(ctx, run, results, seconds)
        raise
    return RunSummary(_record(ctx, run, results, seconds))


def _record(ctx: RunContext, run: RunRecord, results: list[FileRecord], seconds: dict[str, float]) -> RunReport:
    """Record the run, measure it, announce it; none of these failing changes its outcome."""
    try:
        ctx.ledger.save_run(run)
    except EtlError as exc:  # the run's files are recorded; say so and go on to notify
        log.error("could not record run %s: %s", run.run_id, exc)
    measured = _measure(ctx, run, results, seconds)
    report = RunReport(run, results, measured.as_dict() if measured else None)
    try:
        ctx.notifier.notify(report)
    except Exception as exc:  # a broken notifier must not turn a good run into a failure
        log.error("could not notify about run %s: %s", run.run_id, one_line(exc))
    if measured is not None and ctx.metrics is not None:
        try:
            ctx.metrics.publish(measured)
        except EtlError as exc:  # the next run publishes its own; this run's are in its report
            log.error("could not publish the metrics of run %s: %s", run.run_id, exc)
    return report


def _measure(ctx: RunContext, run: RunRecord, results: list[FileRecord], seconds: dict[str, float]) -> Any:
    """The run's metrics (``etl_lib.metrics``); None when the ledger cannot say how old the newest delivery is."""
    from etl_lib.metrics.base import run_metrics

    try:
        delivered = [r.delivered_at for r in ctx.ledger.files(dataset=ctx.dataset) if r.delivered_at]
    except EtlError as exc:
        log.warning("metrics of run %s without the newest delivery's age: %s", run.run_id, exc)
        delivered = []
    age = time.time() - max(delivered) if delivered else None
    customer = ctx.customer or "default"
    return run_metrics(customer, run, results, seconds, ctx.spec.max_rejected_share, age)


def _stage_event(
    ctx: RunContext,
    stage: str,
    results: list[FileRecord],
    seconds: float,
    deferred: list[Any],
    rows_analytics: int | None = None,
) -> None:
    """The structured line of a stage that finished (``etl_lib.events``)."""
    if ctx.events is None:
        return
    failed = sum(1 for r in results if r.status == "failed")
    ctx.events.emit(
        "stage",
        run_id=ctx.run_id,
        customer=ctx.customer,
        dataset=ctx.dataset,
        stage=stage,
        status="failed" if deferred else "partial" if failed else "succeeded",
        files=len(results) + len(deferred),
        files_failed=failed,
        rows_in=sum(r.rows_in for r in results),
        rows_valid=sum(r.rows_valid for r in results) if rows_analytics is None else rows_analytics,
        rows_rejected=sum(r.rows_rejected for r in results),
        duration_s=round(seconds, 3),
    )


def sweep_staging(ctx: RunContext) -> None:
    """Remove what runs that are gone left under ``_meta/staging/{dataset}/`` (killed mid-file:
    staged rows, not yet pii-hashed). A run's folder goes once the run has ended, or once its
    newest object is older than the stale-claim limit. A failure here never fails the run."""
    root = f"_meta/staging/{ctx.dataset}/"
    newest: dict[str, float] = {}
    try:
        for obj in ctx.storage.list(root):
            run_id = obj.key[len(root) :].split("/", 1)[0]
            newest[run_id] = max(newest.get(run_id, 0.0), obj.modified)
        for run_id, modified in sorted(newest.items()):
            stale = time.time() - modified > ctx.stale_claim_after_s
            if run_id != ctx.run_id and (stale or not ctx.ledger.run_is_live(run_id)):
                log.info("removing the staging of run %s, which is gone", run_id)
                ctx.storage.delete_prefix(root + run_id)
    except EtlError as exc:
        log.warning("could not clean %s: %s", root, exc)


class FilesDeferred(TransientError):
    """Some files were left claimed for the next run; the first error says why."""

    def __init__(self, deferred: list[FileDeferred]) -> None:
        self.deferred = deferred
        first = deferred[0].cause
        more = f" (and {len(deferred) - 1} more)" if len(deferred) > 1 else ""
        super().__init__(f"{len(deferred)} file(s) left for the next run{more}: {first}")


def _raw_to_processed(
    ctx: RunContext, sources: list[str] | None, redo: bool = False
) -> tuple[list[FileRecord], list[FileDeferred]]:
    """Process the planned files, ``parallel_files`` at a time (results in plan order).

    A CSV file is read as one Spark partition, so several files in flight keep
    every core busy; each file still has its own outcome. Returns the recorded
    outcomes and the files left claimable for the next run.
    """
    plan = plan_run(
        ctx.storage,
        ctx.ledger,
        ctx.dataset,
        ctx.spec_fingerprint,
        sources,
        ctx.stale_claim_after_s,
        "raw-to-processed",
        redo,
    )
    log.info("%s", plan.describe())
    if ctx.print_plan:
        print(plan.describe(), flush=True)
    left = Counter(f.reason for f in plan.files if not f.process)
    if left:  # one line, however many files a spec change left behind
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(left.items()))
        log.warning("%s: %d file(s) left alone (%s); etl-lib plan lists them", ctx.dataset, left.total(), counts)
    tasks = plan.tasks
    total = len(tasks)

    def one(numbered: tuple[int, FileTask]) -> FileRecord | FileDeferred | None:
        n, task = numbered
        started = time.monotonic()
        if ctx.progress:
            print(f"[{n}/{total}] {task.source.key} ({task.reason})", file=sys.stderr, flush=True)
        outcome = _process_one(ctx, task)
        _file_event(ctx, task, outcome, time.monotonic() - started)
        if ctx.progress:
            print(
                f"[{n}/{total}] {task.source.key}: {progress_outcome(outcome, time.monotonic() - started)}",
                file=sys.stderr,
                flush=True,
            )
        return outcome

    workers = max(1, min(ctx.parallel_files or _default_parallelism(ctx), total))
    if workers <= 1:
        outcomes = [one(item) for item in enumerate(tasks, 1)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-file") as pool:
            outcomes = list(pool.map(one, enumerate(tasks, 1)))
    records = [o for o in outcomes if isinstance(o, FileRecord)]
    _write_receipts(ctx, records, plan.receipts_owed)
    return records, [o for o in outcomes if isinstance(o, FileDeferred)]


def _process_one(ctx: RunContext, task: FileTask) -> FileRecord | FileDeferred | None:
    """``process_file``; None when another live run holds the file."""
    try:
        return process_file(ctx, task)
    except ClaimConflict as exc:
        # Another live run is processing this file: it is that run's to record.
        log.warning("skipped: %s", exc)
        return None
    except FileDeferred as deferred:
        return deferred
    except EtlError as exc:  # the claim or the failure could not be recorded: the file stays as it was
        log.warning("file left for the next run: %s", exc)
        stand_in = FileRecord(ctx.dataset, task.source.key, task.checksum, task.source.size, "claimed", ctx.run_id)
        return FileDeferred(stand_in, exc)


def _file_event(ctx: RunContext, task: FileTask, outcome: FileRecord | FileDeferred | None, seconds: float) -> None:
    """The structured line of a file's outcome (``etl_lib.events``)."""
    if ctx.events is None:
        return
    record = outcome.record if isinstance(outcome, FileDeferred) else outcome
    state = "skipped" if outcome is None else "deferred" if isinstance(outcome, FileDeferred) else outcome.status
    ctx.events.emit(
        "file",
        run_id=ctx.run_id,
        customer=ctx.customer,
        dataset=ctx.dataset,
        stage="raw-to-processed",
        file=task.source.key,
        outcome=state,
        rows_in=record.rows_in if record else 0,
        rows_valid=record.rows_valid if record else 0,
        rows_rejected=record.rows_rejected if record else 0,
        duration_s=round(seconds, 3),
        error=outcome.error if isinstance(outcome, FileRecord) else None if outcome is None else str(outcome),
    )


def progress_outcome(outcome: FileRecord | FileDeferred | None, seconds: float) -> str:
    """A file's progress line after its outcome: what became of it, in how long."""
    took = f"{seconds:.1f} s"
    if outcome is None:
        return f"skipped after {took}: another live run holds it"
    if isinstance(outcome, FileDeferred):
        return f"left for the next run after {took}: {outcome}"
    if outcome.status == "failed":
        return f"failed in {took}: {outcome.error}"
    warned = f", {len(outcome.warnings)} warning(s)" if outcome.warnings else ""
    return f"{outcome.status} in {took}: {outcome.rows_in} rows, {outcome.rows_rejected} rejected{warned}"


def _write_receipts(ctx: RunContext, records: list[FileRecord], earlier: tuple[FileRecord, ...]) -> None:
    """The rejected rows of the receipts of this run's files, and of those an earlier run left
    owed, in one Spark job. A failure leaves them owed to the next run; the data stands."""
    done = {r.source_key for r in records}
    todo = receipts_owed(records) + [r for r in earlier if r.source_key not in done]
    if not todo or not ctx.spec.receipts:  # off: what an earlier run owed waits until they are on again
        return
    try:
        with spark_errors(f"receipts/{ctx.dataset}"):
            write_receipt_rows(ctx, todo)
    except EtlError as exc:
        log.error("receipts of %d file(s) are left for the next run: %s", len(todo), exc)


def _default_parallelism(ctx: RunContext) -> int:
    """Files in flight by default: the cores Spark has, at most 8."""
    return min(8, int(ctx.spark.sparkContext.defaultParallelism))


ANALYTICS_LEASE = "analytics"


def _processed_to_analytics(ctx: RunContext) -> tuple[int, int | None]:
    """Publish the processed files' rows to analytics-ready, then (re)register the table; return
    the rows written and, for an Iceberg table, the snapshot it is at (``runner.iceberg``).

    One analytics stage per dataset at a time: a lease in the ledger, waited for. A file
    whose record changed meanwhile (re-delivered and processed again) is not marked
    published: it stays pending for the next run. The table is registered on every run,
    so a catalog that failed once is caught up by the next run.
    """
    with analytics_lease(ctx):
        pending = pending_files(ctx)
        written, snapshot = 0, None
        iceberg = ctx.spec.table_format == "iceberg"
        unfinished = set() if iceberg else earlier_intent(ctx)
        if pending or unfinished or iceberg:
            if ctx.progress and (pending or unfinished):
                print(f"analytics-ready: {len(pending)} new or changed file(s)", file=sys.stderr, flush=True)
            with spark_errors(f"analytics-ready/{ctx.dataset}"):
                if iceberg:
                    written, snapshot = publish_iceberg(ctx, pending)
                else:
                    written = publish_analytics(ctx, pending, unfinished)
            for record in pending:
                # A failed re-delivery keeps its status; only its earlier version's rows were pending.
                status = "published" if record.status == "processed" else record.status
                try:
                    ctx.ledger.save_file(record.evolve(status=status, dirty_partitions=()), expected=record)
                except ClaimConflict as exc:
                    log.warning("stays pending for the next analytics run: %s", exc)
            ctx.storage.delete([intent_key(ctx), iceberg_intent_key(ctx.dataset)])
        if ctx.catalog is not None and ctx.storage.exists(ctx.analytics_prefix() + "/"):
            ctx.catalog.register(ctx.spec, ctx.analytics_prefix())
        for sink, rows in load_owed(ctx):  # what the sinks lack, this run's partitions included
            if ctx.progress:
                print(f"{sink}: {rows} rows loaded", file=sys.stderr, flush=True)
        return written, snapshot


def pending_files(ctx: RunContext) -> list[FileRecord]:
    """Files whose rows analytics-ready has not taken yet (``plan.pending_records``)."""
    return pending_records(ctx.ledger, ctx.dataset)


@contextmanager
def analytics_lease(ctx: RunContext) -> Iterator[None]:
    """Hold the dataset's analytics lease for the ``with`` block, waiting while another live
    run holds it: one writer of analytics-ready per dataset at a time."""
    _take_lease(ctx)
    try:
        yield
    finally:
        ctx.ledger.release_lease(ctx.dataset, ANALYTICS_LEASE, ctx.run_id)


def _take_lease(ctx: RunContext) -> None:
    """Take the dataset's analytics lease, waiting while another live run holds it."""
    wait_for_lease(ctx.ledger, ctx.dataset, ANALYTICS_LEASE, ctx.run_id, ctx.stale_claim_after_s)
