"""The Glue adapter: the only module that imports ``awsglue``.

Where the job runs is told by the environment: Glue sets ``GLUE_VERSION`` (and
``GLUE_COMMAND_CRITERIA``, ``GLUE_PYTHON_VERSION``) in every job run. On Glue,
``GlueContext`` / ``Job.init`` / ``Job.commit`` wrap the run, a GlueContext
that cannot be built is an error, and Glue's logging is left as Glue set it.
Anywhere else (``spark-submit`` or ``python`` on a laptop) the same script runs
on a plain local SparkSession, with an ``s3://`` lake reached through S3A.
Arguments are Glue-style (``--JOB_NAME x --lake y``) and parsed with
``awsglue.utils.getResolvedOptions`` in both places.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import SparkSession

from etl_lib.errors import ConfigError, EtlError

log = logging.getLogger("etl_lib.glue")

GLUE_ENVIRONMENT = ("GLUE_VERSION", "GLUE_COMMAND_CRITERIA")
REQUIRED_ARGS = ("JOB_NAME", "dataset_spec", "lake")
OPTIONAL_ARGS = (
    "claim_timeout_minutes",
    "source_keys",
    "ledger",
    "stage",
    "customer_id",
    "alerts_topic_arn",
    "notify_on",
    "catalog_database",
    "compact",
    "reprocess",
    "report",
    "connection_prefix",
    "metrics",
)


MODELS_REQUIRED_ARGS = ("JOB_NAME", "models", "specs", "lake")
MODELS_OPTIONAL_ARGS = (
    "ledger",
    "customer_id",
    "alerts_topic_arn",
    "notify_on",
    "catalog_database",
    "changed_dataset",
    "select",
    "connection_prefix",
    "report",
)


def resolve_args(
    argv: Sequence[str], required: Sequence[str] = REQUIRED_ARGS, optional: Sequence[str] = OPTIONAL_ARGS
) -> dict[str, str | None]:
    """Glue job arguments: the required ones, and the optional ones when present."""
    from awsglue.utils import getResolvedOptions

    present = [name for name in optional if f"--{name}" in argv]
    missing = [name for name in required if f"--{name}" not in argv]
    if missing:
        raise ConfigError(f"missing job argument(s): {', '.join('--' + m for m in missing)}")
    resolved = getResolvedOptions(list(argv), [*required, *present])
    return {name: resolved.get(name) for name in (*required, *optional)}


def on_glue(environ: dict[str, str] | None = None) -> bool:
    """True inside a Glue job run: Glue sets ``GLUE_VERSION`` / ``GLUE_COMMAND_CRITERIA`` there."""
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in GLUE_ENVIRONMENT)


@dataclass
class GlueSession:
    """The Spark session of a job run, and the Glue ``Job`` when on Glue."""

    spark: SparkSession
    job: Any | None = None

    @property
    def on_glue(self) -> bool:
        """True inside a real Glue job run."""
        return self.job is not None


@contextmanager
def glue_session(job_name: str, args: dict[str, Any]) -> Iterator[GlueSession]:
    """``Job.init`` … ``Job.commit`` on Glue; a plain local session elsewhere.

    The job is committed only when the body finishes without an exception.
    """
    from etl_lib.spark import configure_session, local_session

    if on_glue():
        session = _glue(job_name, args)
        configure_session(session.spark)
    else:
        session = GlueSession(local_session(app_name=job_name))
    yield session
    if session.job is not None:
        session.job.commit()


def _glue(job_name: str, args: dict[str, Any]) -> GlueSession:
    """GlueContext and ``Job.init``; raises ``ConfigError`` when either cannot be had on Glue."""
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        context = GlueContext(SparkContext.getOrCreate())
        job = Job(context)
        job.init(job_name, {k: v for k, v in args.items() if v is not None})
    except Exception as exc:
        from etl_lib.runner.errors import one_line

        raise ConfigError(
            f"running on Glue (GLUE_VERSION={os.environ.get('GLUE_VERSION')}) but the GlueContext "
            f"could not be built: {one_line(exc)}"
        ) from None
    return GlueSession(context.spark_session, job)


def _reprocess(ctx: Any, stage: str, request: str, sources: list[str]) -> Any:
    """``--reprocess changed-spec|since=DATE|files``: redo the chosen files with the current spec."""
    from etl_lib.runner.plan import reprocess_request, reprocess_selection, source_key
    from etl_lib.runner.run import run_dataset

    if stage == "processed-to-analytics":
        raise ConfigError("--reprocess redoes raw files: run it in the raw-to-processed job (or --stage all)")
    named = tuple(source_key(s, ctx.storage, ctx.dataset) for s in sources)
    chosen = reprocess_selection(ctx.ledger, ctx.dataset, ctx.spec_fingerprint, **reprocess_request(request, named))
    log.info("reprocess %s: %d file(s)", request, len(chosen))
    return run_dataset(ctx, stage=stage, sources=chosen, redo=True)


def run_glue_job(argv: Sequence[str], stage: str) -> int:
    """What ``glue_jobs/*.py`` call: parse arguments, run one stage, commit.

    Returns the CLI's exit codes locally (3 when some files failed). On Glue a
    run with failed files still succeeds — the failures are recorded and
    notified — so the analytics job's conditional trigger still fires; a run
    that could not proceed raises, and Glue marks the job failed. ``--compact true``: once an
    analytics stage has succeeded, compact analytics-ready (``runner.compact``) in the same job.
    ``--reprocess changed-spec|since=DATE|files``: redo those files from raw with the current
    spec (``etl-lib reprocess``; ``files`` takes them from ``--source_keys``).
    """
    from etl_lib.runner.build import build_context
    from etl_lib.runner.run import run_dataset

    glue = on_glue()
    if not glue:  # on Glue, Glue's logging is left as Glue configured it
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        args = resolve_args(argv)
    except (ConfigError, SystemExit) as exc:
        print(f"etl_lib job: {exc}", file=sys.stderr)
        return 2
    sources = [s for s in (args.get("source_keys") or "").split(",") if s.strip()]
    timeout = args.get("claim_timeout_minutes")
    compact_after = (args.get("compact") or "false").lower()
    report_after = (args.get("report") or "true").lower()
    for name, value in (("compact", compact_after), ("report", report_after)):
        if value not in ("true", "false"):
            print(f"etl_lib job: --{name} {args.get(name)!r}: expected true or false", file=sys.stderr)
            return 2
    with glue_session(str(args["JOB_NAME"]), args) as session:
        try:
            ctx = build_context(
                session.spark,
                str(args["dataset_spec"]),
                str(args["lake"]),
                args.get("ledger"),
                **_edges(args),
                # A claim is only taken over once the job that holds it has surely timed out.
                claim_timeout_s=60 * float(timeout) if timeout else None,
                local=not session.on_glue,
                connections=_connections(session, args.get("connection_prefix")),
                # On Glue: metrics into CloudWatch and a JSON line per file and stage in the job's log.
                metrics=args.get("metrics") or ("cloudwatch" if session.on_glue else None),
                structured_logs=True,
            )
            stage = args.get("stage") or stage
            ctx = replace(ctx, print_plan=True)  # the job's log shows what it set out to do
            if args.get("reprocess"):
                summary = _reprocess(ctx, stage, str(args["reprocess"]), sources)
            else:
                summary = run_dataset(ctx, stage=stage, sources=sources or None)
            print(json.dumps(summary.as_json()))
            if compact_after == "true" and stage != "raw-to-processed" and summary.status == "succeeded":
                from etl_lib.runner.compact import compact
                from etl_lib.runner.context import new_run_id

                # A run id of its own: the analytics run's has ended, and a run that has ended holds nothing.
                print(json.dumps(compact(replace(ctx, run_id=new_run_id())).as_json()))
            if report_after == "true":
                from etl_lib.report.publish import report_after_run

                report_after_run(ctx)
        except EtlError as exc:
            if session.on_glue:
                raise
            print(f"etl_lib job: {exc}", file=sys.stderr)
            return 1
    if session.on_glue:
        return 0
    return summary.exit_code


def _edges(args: dict[str, str | None]) -> dict[str, Any]:
    """The AWS edges every job gets: customer, alerts topic, when to notify, catalog database."""
    return {
        "customer": args.get("customer_id"),
        "alerts_topic_arn": args.get("alerts_topic_arn"),
        "notify_on": args.get("notify_on") or "failures",
        "catalog_database": args.get("catalog_database"),
    }


def _connections(session: GlueSession, prefix: str | None) -> Any:
    """On Glue with ``--connection_prefix``: sinks' connections from Glue; else None (environment)."""
    return glue_connections(session, prefix) if session.on_glue and prefix else None


def glue_connections(session: GlueSession, prefix: str) -> Any:
    """Sink connections on Glue: ``connection: NAME`` is the Glue connection ``{prefix}NAME``
    (URL from the connection, credentials from its Secrets Manager secret)."""
    from awsglue.context import GlueContext

    from etl_lib.sinks.connections import FetchedConnections

    context = GlueContext(session.spark.sparkContext)
    return FetchedConnections(lambda name: context.extract_jdbc_conf(prefix + name))


def run_models_job(argv: Sequence[str]) -> int:
    """What ``glue_jobs/build_models.py`` calls: build the customer's models (those downstream
    of ``--changed_dataset`` when given, or ``--select a,b``), load their sinks, rewrite the
    lake's report. Like ``run_glue_job``: a failed model is recorded and notified, and the job
    still succeeds on Glue; 3 locally."""
    from etl_lib.models.run import run_models
    from etl_lib.runner.build import build_models_context

    if not on_glue():
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        args = resolve_args(argv, MODELS_REQUIRED_ARGS, MODELS_OPTIONAL_ARGS)
    except (ConfigError, SystemExit) as exc:
        print(f"etl_lib job: {exc}", file=sys.stderr)
        return 2
    report_after = (args.get("report") or "true").lower()
    if report_after not in ("true", "false"):
        print(f"etl_lib job: --report {args.get('report')!r}: expected true or false", file=sys.stderr)
        return 2

    def listed(name: str) -> list[str]:
        return [v.strip() for v in (args.get(name) or "").split(",") if v.strip()]

    with glue_session(str(args["JOB_NAME"]), args) as session:
        try:
            prefix = args.get("connection_prefix")
            ctx = build_models_context(
                session.spark,
                str(args["models"]),
                [str(args["specs"])],
                str(args["lake"]),
                args.get("ledger"),
                **_edges(args),
                connections=_connections(session, prefix),
                local=not session.on_glue,
            )
            summary = run_models(ctx, select=listed("select"), changed=listed("changed_dataset"))
            print(json.dumps(summary.as_json()))
            if report_after == "true":
                from etl_lib.report.publish import rewrite_report

                rewrite_report(ctx.storage, ctx.ledger)
        except EtlError as exc:
            if session.on_glue:
                raise
            print(f"etl_lib job: {exc}", file=sys.stderr)
            return 1
    return 0 if session.on_glue else summary.exit_code
