"""The CLI's sub-commands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import json
from typing import Any

from etl_lib.cli.output import table
from etl_lib.config import open_catalog, open_ledger, open_notifier, open_storage
from etl_lib.errors import ConfigError
from etl_lib.spec.load import load_spec
from etl_lib.spec.model import DatasetSpec

EXIT_OK, EXIT_PARTIAL = 0, 3


def build_context(
    spec_path: str, lake: str, ledger_uri: str | None = None, master: str | None = None, **edges: Any
) -> Any:
    """A ``RunContext`` with a local Spark session; spec errors come before Spark starts."""
    from etl_lib.spark import local_session

    spec = load_spec(spec_path)
    return build_context_from(local_session(master=master), spec, lake, ledger_uri, **edges)


def build_context_from(
    spark: Any,
    spec: DatasetSpec | str,
    lake: str,
    ledger_uri: str | None = None,
    *,
    customer: str | None = None,
    alerts_topic_arn: str | None = None,
    notify_on: str = "failures",
    catalog_database: str | None = None,
) -> Any:
    """A ``RunContext`` over an existing session (a spec or its path), edges chosen by URI."""
    from etl_lib.runner.context import RunContext

    if isinstance(spec, str):
        spec = load_spec(spec)
    storage = open_storage(lake)
    return RunContext(
        spark=spark,
        spec=spec,
        storage=storage,
        ledger=open_ledger(ledger_uri, storage, customer),
        notifier=open_notifier(storage, alerts_topic_arn, customer, notify_on),
        catalog=open_catalog(spark, storage, catalog_database),
        progress=True,
    )


def file_table(summary: Any) -> str:
    """Counts per file of a run."""
    rows = [
        [f.source_key, f.status, f.rows_in, f.rows_valid, f.rows_rejected, f.error or ""] for f in summary.report.files
    ]
    return table(["file", "status", "rows_in", "valid", "rejected", "error"], rows)


def cmd_run(args: argparse.Namespace) -> int:
    """``etl-lib run``."""
    from etl_lib.runner.run import run_dataset

    ctx = build_context(
        args.spec,
        args.lake,
        args.ledger,
        args.master,
        customer=args.customer,
        alerts_topic_arn=args.alerts_topic_arn,
        notify_on=args.notify_on,
        catalog_database=args.catalog_database,
    )
    ctx.progress = not args.json
    summary = run_dataset(ctx, stage=args.stage, sources=args.source)
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        if summary.report.files:
            print(file_table(summary))
        run = summary.report.run
        print(
            f"run {run.run_id} {run.dataset}: {run.status} — {run.files} file(s), {run.rows_in} rows in, "
            f"{run.rows_valid} valid, {run.rows_rejected} rejected, {run.rows_analytics} analytics-ready"
        )
    return summary.exit_code


def cmd_validate_spec(args: argparse.Namespace) -> int:
    """``etl-lib validate-spec``: structure first (instant), then expressions with Spark."""
    from etl_lib.spark import local_session
    from etl_lib.spec.schema import check_spec

    specs = [(path, load_spec(path)) for path in args.spec]
    spark = local_session(master="local[1]")
    for path, spec in specs:
        check_spec(spark, spec, path)
        print(f"{path}: ok — dataset '{spec.dataset}', {len(spec.columns)} columns, {len(spec.derived)} derived")
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    """``etl-lib query``: register each spec's analytics-ready folder, run the SQL, print rows."""
    from etl_lib.catalog.local import LocalCatalog
    from etl_lib.spark import local_session

    specs = [load_spec(p) for p in args.spec]
    storage = open_storage(args.lake)
    spark = local_session(master=args.master)
    catalog = LocalCatalog(spark, storage)
    for spec in specs:
        catalog.register(spec, f"analytics-ready/{spec.dataset}")
    result = spark.sql(args.sql)
    rows = result.limit(args.limit).collect()  # display only, bounded by --limit
    print(table(result.columns, [list(r) for r in rows]))
    return EXIT_OK


def cmd_ddl(args: argparse.Namespace) -> int:
    """``etl-lib ddl``: the Athena CREATE TABLE."""
    from etl_lib.catalog.ddl import athena_ddl
    from etl_lib.spark import local_session

    spec = load_spec(args.spec)
    if not args.location.startswith("s3://"):
        raise ConfigError(f"--location {args.location!r}: expected an s3:// URI")
    print(athena_ddl(local_session(master="local[1]"), spec, args.location, args.database))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    """``etl-lib runs``: recent runs, or the files of one run."""
    storage = open_storage(args.lake)
    ledger = open_ledger(args.ledger, storage, args.customer)
    if args.run:
        files = ledger.history(args.run)
        if args.json:
            print(json.dumps([_record_json(f) for f in files]))
            return EXIT_OK
        rows = [[f.source_key, f.status, f.rows_in, f.rows_valid, f.rows_rejected, f.error or ""] for f in files]
        print(table(["file", "status", "rows_in", "valid", "rejected", "error"], rows))
        return EXIT_OK
    runs = ledger.runs(dataset=args.dataset, limit=args.limit)
    if args.json:
        print(json.dumps([_record_json(r) for r in runs]))
        return EXIT_OK
    rows = [
        [
            r.run_id,
            r.dataset,
            r.stage,
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.files,
            r.files_failed,
            r.rows_in,
            r.rows_valid,
            r.rows_rejected,
            r.rows_analytics,
        ]
        for r in runs
    ]
    print(
        table(
            [
                "run_id",
                "dataset",
                "stage",
                "status",
                "started (UTC)",
                "files",
                "failed",
                "in",
                "valid",
                "rejected",
                "analytics",
            ],
            rows,
        )
    )
    return EXIT_OK


def _record_json(record: Any) -> dict[str, Any]:
    """A ledger record (run or file) as JSON-ready data."""
    from dataclasses import asdict

    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(record).items()}


def cmd_demo(args: argparse.Namespace) -> int:
    """``etl-lib demo``: the sample deliveries, end to end, then an Athena-style query."""
    from etl_lib.demo import run_demo

    return run_demo(args.lake, master=args.master)
