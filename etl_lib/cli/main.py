"""``etl-lib``: run, plan, reprocess, files, rejects, report, compact, demo, query, ddl, validate-spec,
spec-schema, init, runs, models.

Errors are one line on stderr (``etl-lib: <file>: <problem>``) with no Java
stack trace unless ``--verbose``. Exit codes: 0 success; 3 the run finished but
some files failed whole; 2 bad arguments or spec; 1 the run could not proceed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from etl_lib.errors import ConfigError, EtlError, SpecError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


VERBOSE_HELP = "log details and show stack traces"


def _lake_options(command: argparse.ArgumentParser, json_help: str) -> None:
    """The options of every command over one dataset of a lake: spec, lake, ledger, customer, json."""
    command.add_argument("--spec", required=True, help="dataset spec (YAML)")
    command.add_argument("--lake", required=True, help="lake root folder or s3:// URI")
    command.add_argument("--ledger", help="ledger URI (default: sqlite under {lake}/_meta/)")
    command.add_argument("--customer", default=os.environ.get("ETL_LIB_CUSTOMER"), help="customer id (DynamoDB ledger)")
    _json_option(command, json_help)


def _models_options(command: argparse.ArgumentParser) -> None:
    """The models folder and the specs of the datasets they read."""
    command.add_argument("--models", required=True, help="folder of model YAML files (e.g. sample_csv/models)")
    command.add_argument(
        "--spec", required=True, nargs="+", action="extend", metavar="SPEC",
        help="the dataset specs the models read (files or a folder of them)",
    )  # fmt: skip


def _json_option(command: argparse.ArgumentParser, text: str) -> None:
    command.add_argument("--json", action="store_true", help=text)


def _version() -> str:
    from etl_lib import __version__

    return f"etl-lib {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command. ``--verbose`` goes before or after the
    sub-command (given after it, the sub-command's copy must not reset the main one: it has
    no default of its own)."""
    parser = argparse.ArgumentParser(prog="etl-lib", description="Spec-driven CSV pipelines on Spark and AWS Glue.")
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_with_parents(common))

    run = sub.add_parser("run", help="process new raw files of a dataset")
    run.add_argument("--spec", required=True, help="dataset spec (YAML)")
    run.add_argument("--lake", required=True, help="lake root folder")
    run.add_argument(
        "--stage",
        default="all",
        choices=["raw-to-processed", "processed-to-analytics", "all"],
        help="which stage to run (default: all, one after the other)",
    )
    run.add_argument("--source", nargs="+", metavar="FILE", help="only these raw files (key or path)")
    run.add_argument("--ledger", help="ledger URI (default: sqlite under {lake}/_meta/)")
    _json_option(run, "print one JSON object with the run's counts")
    run.add_argument("--master", help="Spark master (default: local[*], or spark-submit's)")
    run.add_argument(
        "--customer", default=os.environ.get("ETL_LIB_CUSTOMER"), help="customer id (DynamoDB ledger, SNS)"
    )
    run.add_argument(
        "--skip-sinks", action="store_true", help="load no sink (what they lack stays owed to the next run)"
    )
    run.add_argument(
        "--metrics", choices=["cloudwatch", "none"], default="none",
        help="also put the run's metrics into CloudWatch (namespace etl_lib); they are always in the run report",
    )  # fmt: skip
    run.add_argument("--alerts-topic-arn", help="SNS topic for run alerts")
    run.add_argument(
        "--notify-on",
        default="failures",
        choices=["failures", "all"],
        help="when to publish to --alerts-topic-arn: runs with failures or warnings (default), or every run",
    )
    run.add_argument("--catalog-database", help="Glue Data Catalog database to register the table in")
    run.add_argument(
        "--claim-timeout-minutes",
        type=float,
        help="take over another run's claim (and lease) after this long, when that run cannot be seen to have "
        "ended; as the Glue job's timeout (default 120)",
    )

    plan = sub.add_parser("plan", help="say what run would do, and do nothing (no Spark needed)")
    _lake_options(plan, "print the plan as one JSON object")
    plan.add_argument(
        "--stage",
        default="all",
        choices=["raw-to-processed", "processed-to-analytics", "all"],
        help="the stage whose plan to show (default: all)",
    )
    plan.add_argument("--source", nargs="+", metavar="FILE", help="only these raw files (key or path)")

    reprocess = sub.add_parser(
        "reprocess", help="redo files from raw with the current spec (after a spec fix), through the same path"
    )
    _lake_options(reprocess, "print one JSON object")
    chosen = reprocess.add_argument_group("which files (one or more)")
    chosen.add_argument("--changed-spec", action="store_true", help="files processed with another spec version")
    chosen.add_argument("--file", nargs="+", action="extend", metavar="KEY", help="these raw files (key or name)")
    chosen.add_argument("--since", metavar="DATE", help="files delivered on or after DATE (YYYY-MM-DD[THH:MM], UTC)")
    reprocess.add_argument("--dry-run", action="store_true", help="print the plan and do nothing")
    reprocess.add_argument("--master", help="Spark master (default: local[*], or spark-submit's)")

    rejects = sub.add_parser("rejects", help="rejected rows by reason per file, with a few examples (no Spark)")
    _lake_options(rejects, "print JSON")
    rejects.add_argument("--file", nargs="+", action="extend", metavar="KEY", help="only these raw files")

    files = sub.add_parser(
        "files",
        help="list a dataset's files, mark one skip|unskip|force, or show its history",
        description="etl-lib files [list] | skip KEY --why TEXT | unskip KEY --why TEXT | force KEY --why TEXT | "
        "history KEY",
    )
    files.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "skip", "unskip", "force", "history"],
        help="list (default); skip: never process the file; unskip; force: redo it on the next run; history",
    )
    files.add_argument("key", nargs="?", help="the raw file: its key, a path under the lake, or its name")
    _lake_options(files, "print JSON")
    files.add_argument(
        "--status",
        choices=["new", "claimed", "processed", "published", "failed"],
        help="list only the files with this status",
    )
    files.add_argument("--why", help="why the file is marked (kept in its history); required to mark")
    files.add_argument("--who", help="who marks it (default: $ETL_LIB_USER, else the login name)")

    compact = sub.add_parser(
        "compact",
        help="rewrite analytics-ready partitions into files near a target size (Iceberg: rewrite data files, "
        "expire old snapshots)",
    )
    _lake_options(compact, "print one JSON object with each partition's files")
    compact.add_argument(
        "--partition",
        nargs="+",
        action="extend",
        metavar="year=YYYY/month=MM",
        help="only these partitions (default: every partition whose file count is off)",
    )
    compact.add_argument("--target-mb", type=float, default=128.0, help="target file size in MB (default 128)")
    compact.add_argument("--master", help="Spark master (default: local[*], or spark-submit's)")

    demo = sub.add_parser("demo", help="run the sample bank data end to end and query it")
    demo.add_argument("--lake", default="./lake", help="lake folder to (re)create (default ./lake)")
    demo.add_argument("--master", help="Spark master (default: local[*])")

    query = sub.add_parser("query", help="Spark SQL over analytics-ready tables")
    query.add_argument("--lake", required=True, help="lake root folder")
    query.add_argument("--spec", required=True, action="append", help="a dataset spec; repeat for more tables")
    query.add_argument("--models", help="a folder of models: their tables too (their inputs' specs in --spec)")
    query.add_argument("sql", help='e.g. "SELECT count(*) FROM transactions"')
    query.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    query.add_argument(
        "--as-of",
        metavar="SNAPSHOT|TIME",
        help="read the Iceberg tables as of a snapshot id or an ISO 8601 time (UTC unless it says otherwise)",
    )
    query.add_argument("--master", help="Spark master (default: local[*])")
    _json_option(query, "print the rows as JSON Lines (one object per row)")

    ddl = sub.add_parser("ddl", help="print the Athena CREATE TABLE for a dataset")
    ddl.add_argument("--spec", required=True, help="dataset spec (YAML)")
    ddl.add_argument("--location", required=True, help="s3://bucket/analytics-ready/{dataset}/")
    ddl.add_argument("--database", default="default", help="Athena database (default: default)")

    validate = sub.add_parser("validate-spec", help="check a spec without reading data")
    validate.add_argument("spec", nargs="+", help="dataset spec files (YAML)")
    _json_option(validate, "print one JSON object per spec: its file, whether it is valid, its problems")

    init = sub.add_parser("init", help="draft a dataset spec from a sample file (no Spark)")
    init.add_argument("--sample", required=True, help="a delivered file (CSV, or CSV.gz) to draft the spec from")
    init.add_argument("--dataset", help="dataset name (default: from the file's name)")
    init.add_argument("--out", help="write the spec here (default: print it)")
    init.add_argument("--force", action="store_true", help="replace --out when it exists")

    sub.add_parser(
        "spec-schema", help="print the JSON Schema of a dataset spec (for editors: completion and checks as you type)"
    )

    report = sub.add_parser(
        "report",
        help="write the lake's HTML report (runs, files, rejected rows by rule, expectations, trends) and "
        "its Data Docs (no Spark)",
    )
    report.add_argument("--lake", required=True, help="lake root folder or s3:// URI")
    report.add_argument(
        "--spec",
        nargs="+",
        action="extend",
        metavar="SPEC",
        help="only these datasets (default: every one the ledger knows)",
    )
    report.add_argument(
        "--out", help="folder to write index.html and data-docs/ into (default: the lake's _meta/report/)"
    )
    report.add_argument(
        "--ledger", help="ledger URI: dynamodb://TABLE or sqlite:///PATH (default: under {lake}/_meta/)"
    )
    report.add_argument("--customer", default=os.environ.get("ETL_LIB_CUSTOMER"), help="customer id (DynamoDB ledger)")
    _json_option(report, "print where the report is as JSON")

    models = sub.add_parser("models", help="gold models: SQL over analytics-ready, built in dependency order")
    models_sub = models.add_subparsers(
        dest="models_command", required=True, help="run: build them; ddl: their Athena DDL",
        parser_class=_with_parents(common),
    )  # fmt: skip
    build = models_sub.add_parser(
        "run", help="build the models whose inputs changed (only the partitions that changed), then load their sinks"
    )
    _models_options(build)
    build.add_argument("--lake", required=True, help="lake root folder or s3:// URI")
    build.add_argument("--ledger", help="ledger URI: dynamodb://TABLE or sqlite:///PATH (default: under {lake}/_meta/)")
    build.add_argument("--customer", default=os.environ.get("ETL_LIB_CUSTOMER"), help="customer id (DynamoDB ledger)")
    build.add_argument("--select", nargs="+", action="extend", metavar="MODEL", help="build only these models")
    build.add_argument(
        "--changed-dataset", nargs="+", action="extend", metavar="DATASET",
        help="build only the models downstream of these datasets (what the Glue job does after a dataset's run)",
    )  # fmt: skip
    build.add_argument(
        "--skip-sinks", action="store_true", help="load no sink (they are loaded whole by the next run that does)"
    )
    build.add_argument("--catalog-database", help="Glue database to register the models' tables in")
    build.add_argument("--alerts-topic-arn", help="SNS topic for failed builds")
    build.add_argument("--master", help="Spark master (default: local[*], or spark-submit's)")
    _json_option(build, "print one JSON object with each model's outcome")
    models_ddl = models_sub.add_parser("ddl", help="print the Athena CREATE TABLE of each model")
    _models_options(models_ddl)
    models_ddl.add_argument("--location-root", required=True, help="s3://bucket/analytics-ready (tables below it)")
    models_ddl.add_argument("--database", default="default", help="Athena database (default: default)")

    runs = sub.add_parser("runs", help="list recent runs from the ledger")
    runs.add_argument("--lake", required=True, help="lake root folder or s3:// URI")
    runs.add_argument("--ledger", help="ledger URI: dynamodb://TABLE or sqlite:///PATH (default: under {lake}/_meta/)")
    runs.add_argument("--customer", default=os.environ.get("ETL_LIB_CUSTOMER"), help="customer id (DynamoDB ledger)")
    runs.add_argument("--run", help="show the files of one run")
    runs.add_argument("--dataset", help="only this dataset's runs")
    runs.add_argument("--limit", type=int, default=20, help="runs to list, newest first (default 20)")
    _json_option(runs, "print JSON")
    return parser


def _with_parents(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    """A parser class whose instances (the sub-commands) all take ``common``'s options."""

    class SubParser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["parents"] = [*kwargs.get("parents", []), common]
            super().__init__(*args, **kwargs)

    return SubParser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``etl-lib`` and ``python -m etl_lib``."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        os.environ["ETL_LIB_VERBOSE"] = "1"
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from etl_lib.cli import commands

    handler = {
        "run": commands.cmd_run,
        "plan": commands.cmd_plan,
        "reprocess": commands.cmd_reprocess,
        "rejects": commands.cmd_rejects,
        "report": commands.cmd_report,
        "files": commands.cmd_files,
        "compact": commands.cmd_compact,
        "demo": commands.cmd_demo,
        "query": commands.cmd_query,
        "ddl": commands.cmd_ddl,
        "validate-spec": commands.cmd_validate_spec,
        "spec-schema": commands.cmd_spec_schema,
        "init": commands.cmd_init,
        "runs": commands.cmd_runs,
        "models": commands.cmd_models,
    }[args.command]
    try:
        return handler(args)
    except (SpecError, ConfigError) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except EtlError as exc:
        return _fail(args, exc, EXIT_FAILED)
    except KeyboardInterrupt:
        print("etl-lib: interrupted; run again to finish (completed files are kept)", file=sys.stderr)
        return 130
    except Exception as exc:
        from etl_lib.runner.errors import one_line

        return _fail(args, exc, EXIT_FAILED, one_line(exc))


def _fail(args: argparse.Namespace, exc: BaseException, code: int, message: str | None = None) -> int:
    if args.verbose:
        traceback.print_exception(exc)
    text = message or str(exc)
    if getattr(args, "json", False):
        print(json.dumps({"status": "failed", "error": text}))
    print(f"etl-lib: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
