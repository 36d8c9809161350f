"""The Glue adapter: the only module that imports ``awsglue``.

On Glue, ``GlueContext`` / ``Job.init`` / ``Job.commit`` wrap the run. Anywhere
else (``spark-submit`` on a laptop) ``GlueContext`` cannot be built — its JVM
classes exist only on Glue — so the same script falls back to a plain
SparkSession. Arguments are Glue-style (``--JOB_NAME x --lake y``) and parsed
with ``awsglue.utils.getResolvedOptions`` in both places.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from etl_lib.errors import ConfigError, EtlError

log = logging.getLogger("etl_lib.glue")

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
)


def resolve_args(argv: Sequence[str]) -> dict[str, str | None]:
    """Glue job arguments: the required ones, and the optional ones when present."""
    from awsglue.utils import getResolvedOptions

    present = [name for name in OPTIONAL_ARGS if f"--{name}" in argv]
    missing = [name for name in REQUIRED_ARGS if f"--{name}" not in argv]
    if missing:
        raise ConfigError(f"missing job argument(s): {', '.join('--' + m for m in missing)}")
    resolved = getResolvedOptions(list(argv), [*REQUIRED_ARGS, *present])
    return {name: resolved.get(name) for name in (*REQUIRED_ARGS, *OPTIONAL_ARGS)}


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

    session = _try_glue(job_name, args)
    if session is None:
        session = GlueSession(local_session(app_name=job_name))
    else:
        configure_session(session.spark)
    yield session
    if session.job is not None:
        session.job.commit()


def _try_glue(job_name: str, args: dict[str, Any]) -> GlueSession | None:
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext
    except ImportError:
        return None
    try:
        context = GlueContext(SparkContext.getOrCreate())
    except Exception as exc:  # locally: the Glue JVM classes are not on the classpath
        log.info("not on Glue (%s); using a plain SparkSession", type(exc).__name__)
        return None
    job = Job(context)
    job.init(job_name, {k: v for k, v in args.items() if v is not None})
    return GlueSession(context.spark_session, job)


def run_glue_job(argv: Sequence[str], stage: str) -> int:
    """What ``glue_jobs/*.py`` call: parse arguments, run one stage, commit.

    Returns the CLI's exit codes locally (3 when some files failed). On Glue a
    run with failed files still succeeds — the failures are recorded and
    notified — so the analytics job's conditional trigger still fires; a run
    that could not proceed raises, and Glue marks the job failed.
    """
    from etl_lib.cli.commands import build_context_from
    from etl_lib.runner.run import run_dataset

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        args = resolve_args(argv)
    except (ConfigError, SystemExit) as exc:
        print(f"etl_lib job: {exc}", file=sys.stderr)
        return 2
    sources = [s for s in (args.get("source_keys") or "").split(",") if s.strip()]
    with glue_session(str(args["JOB_NAME"]), args) as session:
        try:
            ctx = build_context_from(
                session.spark,
                str(args["dataset_spec"]),
                str(args["lake"]),
                args.get("ledger"),
                customer=args.get("customer_id"),
                alerts_topic_arn=args.get("alerts_topic_arn"),
                notify_on=args.get("notify_on") or "failures",
                catalog_database=args.get("catalog_database"),
            )
            if args.get("claim_timeout_minutes"):
                # A claim is only taken over once the job that holds it has surely timed out.
                ctx.stale_claim_after_s = 60 * float(str(args["claim_timeout_minutes"]))
            summary = run_dataset(ctx, stage=args.get("stage") or stage, sources=sources or None)
        except EtlError as exc:
            if session.on_glue:
                raise
            print(f"etl_lib job: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(summary.as_json()))
    if session.on_glue:
        return 0
    return summary.exit_code
