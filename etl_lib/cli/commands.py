"""The CLI's sub-commands. Each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from etl_lib.cli.output import compact_table, file_table, files_table, history_table, rejects_text, table
from etl_lib.config import open_ledger, open_storage
from etl_lib.errors import ConfigError, SpecError
from etl_lib.spec.load import load_spec

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3


def cmd_run(args: argparse.Namespace) -> int:
    """``etl-lib run``."""
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset

    ctx = build_local_context(
        args.spec,
        args.lake,
        args.ledger,
        args.master,
        customer=args.customer,
        alerts_topic_arn=args.alerts_topic_arn,
        notify_on=args.notify_on,
        catalog_database=args.catalog_database,
        progress=not args.json,
        claim_timeout_s=None if args.claim_timeout_minutes is None else 60 * args.claim_timeout_minutes,
        skip_sinks=args.skip_sinks,
        metrics=args.metrics,
        structured_logs=args.verbose,
    )
    summary = run_dataset(ctx, stage=args.stage, sources=args.source)
    _print_summary(summary, args.json)
    return summary.exit_code


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_json()))
        return
    if summary.report.files:
        print(file_table(summary))
    print(final_line(summary.report.run))


def final_line(run: Any) -> str:
    """The last line of a run: its status, counts, warnings and failures."""
    return (
        f"run {run.run_id} {run.dataset}: {run.status} — {run.files} file(s), {run.files_failed} failed, "
        f"{run.rows_in} rows in, {run.rows_valid} valid, {run.rows_rejected} rejected, "
        f"{run.rows_analytics} analytics-ready, {run.warning_count} warning(s)"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    """``etl-lib plan``: what ``run`` would do, from read-only state (no Spark, nothing written)."""
    from etl_lib.runner.context import DEFAULT_STALE_CLAIM_S
    from etl_lib.runner.plan import plan_run
    from etl_lib.spec.fingerprint import spec_fingerprint

    spec = load_spec(args.spec)
    storage = _existing_lake(args.lake)
    ledger = open_ledger(args.ledger, storage, args.customer, create=False)
    plan = plan_run(
        storage, ledger, spec.dataset, spec_fingerprint(spec), args.source, DEFAULT_STALE_CLAIM_S, args.stage
    )
    print(json.dumps(plan.as_json()) if args.json else plan.describe())
    return EXIT_OK


def cmd_reprocess(args: argparse.Namespace) -> int:
    """``etl-lib reprocess``: redo chosen files from raw with the current spec (``--dry-run``: the plan)."""
    from etl_lib.runner.context import DEFAULT_STALE_CLAIM_S
    from etl_lib.runner.plan import plan_run, reprocess_selection, since_epoch, source_key
    from etl_lib.spec.fingerprint import spec_fingerprint

    if not (args.changed_spec or args.file or args.since):
        raise ConfigError("reprocess: say which files: --changed-spec, --file KEY ..., or --since DATE")
    spec = load_spec(args.spec)
    storage = _existing_lake(args.lake)
    fingerprint = spec_fingerprint(spec)
    named = tuple(source_key(f, storage, spec.dataset) for f in args.file or ())
    since = since_epoch(args.since) if args.since else None
    ledger = open_ledger(args.ledger, storage, args.customer, create=not args.dry_run)
    chosen = reprocess_selection(ledger, spec.dataset, fingerprint, args.changed_spec, named, since)
    if args.dry_run or not chosen:
        plan = plan_run(storage, ledger, spec.dataset, fingerprint, chosen, DEFAULT_STALE_CLAIM_S, redo=True)
        print(json.dumps(plan.as_json()) if args.json else plan.describe())
        return EXIT_OK
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset

    ctx = build_local_context(args.spec, args.lake, args.ledger, args.master, customer=args.customer)
    summary = run_dataset(ctx, sources=chosen, redo=True)
    _print_summary(summary, args.json)
    return summary.exit_code


def cmd_rejects(args: argparse.Namespace) -> int:
    """``etl-lib rejects``: rejected rows by reason per file, with examples (no Spark)."""
    from etl_lib.runner.plan import source_key
    from etl_lib.runner.rejects import rejects

    spec = load_spec(args.spec)
    storage = _existing_lake(args.lake)
    ledger = open_ledger(args.ledger, storage, args.customer, create=False)
    named = tuple(source_key(f, storage, spec.dataset) for f in args.file or ())
    known = {r.source_key for r in ledger.files(dataset=spec.dataset)} if named else set()
    missing = [n for n in named if n not in known]
    if missing:
        raise ConfigError(f"{missing[0]}: not in the ledger of {spec.dataset}")
    found = rejects(storage, ledger, spec.dataset, named)
    if args.json:
        print(json.dumps([f.as_json() for f in found]))
        return EXIT_OK
    print(rejects_text([f.as_json() for f in found]) if found else f"{spec.dataset}: no rejected rows")
    return EXIT_OK


def cmd_files(args: argparse.Namespace) -> int:
    """``etl-lib files``: list a dataset's files, mark one, or show one's history."""
    spec = load_spec(args.spec)
    storage = _existing_lake(args.lake)
    if args.action == "list":
        if args.key:
            raise ConfigError(f"files list takes no file ({args.key!r}); use: files history KEY")
        ledger = open_ledger(args.ledger, storage, args.customer, must_exist=True)
        records = ledger.files(dataset=spec.dataset, status=args.status)
        if args.json:
            print(json.dumps([_record_json(r) for r in records]))
        else:
            print(files_table(records))
        return EXIT_OK
    if not args.key:
        raise ConfigError(f"files {args.action}: name the file (its key, a path under the lake, or its name)")
    from etl_lib.runner.plan import source_key

    key = source_key(args.key, storage, spec.dataset)
    if args.action == "history":
        ledger = open_ledger(args.ledger, storage, args.customer, must_exist=True)
        states = ledger.file_history(spec.dataset, key)
        if not states:
            raise ConfigError(f"{key}: not in the ledger of {spec.dataset}")
        print(json.dumps([_record_json(r) for r in states]) if args.json else history_table(states))
        return EXIT_OK
    if not args.why:
        raise ConfigError(f"files {args.action} {key}: say why (--why TEXT); it is kept in the file's history")
    ledger = open_ledger(args.ledger, storage, args.customer)
    if ledger.get_file(spec.dataset, key) is None and not storage.exists(key):
        raise ConfigError(f"{key}: no such file in the lake nor in the ledger of {spec.dataset}; nothing to mark")
    mark = {"skip": "skip", "force": "force", "unskip": None}[args.action]
    who = args.who or os.environ.get("ETL_LIB_USER") or getpass.getuser()
    record = ledger.mark_file(spec.dataset, key, mark, who, args.why)  # type: ignore[arg-type]
    if args.json:
        print(json.dumps(_record_json(record)))
    else:
        done = {"skip": "skipped: runs leave it alone", "force": "forced: the next run redoes it"}
        print(f"{key}: {done.get(args.action, 'mark removed')} ({who}: {args.why})")
    return EXIT_OK


def _existing_lake(lake: str) -> Any:
    """The lake's storage; a local lake that does not exist is an error (nothing is created)."""
    storage = open_storage(lake)
    if "://" not in storage.root and not os.path.isdir(storage.root):
        raise ConfigError(f"--lake {lake}: no such folder")
    return storage


def cmd_compact(args: argparse.Namespace) -> int:
    """``etl-lib compact``: rewrite analytics-ready partitions into files near ``--target-mb``."""
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.compact import compact

    if not args.target_mb > 0:
        raise ConfigError(f"--target-mb {args.target_mb:g}: expected a positive size in MB")
    ctx = build_local_context(args.spec, args.lake, args.ledger, args.master, customer=args.customer)
    if ctx.spec.table_format == "iceberg":
        return _compact_iceberg(ctx, args)
    result = compact(ctx, partitions=args.partition, target_bytes=int(args.target_mb * 2**20))
    if args.json:
        print(json.dumps(result.as_json()))
        return EXIT_OK
    if result.partitions:
        print(compact_table(result))
    print(
        f"compact {result.dataset}: {result.rewritten} of {len(result.partitions)} partition(s) rewritten "
        f"(target {args.target_mb:g} MB)"
    )
    return EXIT_OK


def _compact_iceberg(ctx: Any, args: argparse.Namespace) -> int:
    """``etl-lib compact`` of an Iceberg table: Iceberg's rewrite of data files, then snapshot expiry."""
    from etl_lib.runner.compact_iceberg import compact_iceberg

    if args.partition:
        raise ConfigError(f"{ctx.dataset} is an Iceberg table: --partition does not apply (it is compacted whole)")
    result = compact_iceberg(ctx, target_bytes=int(args.target_mb * 2**20))
    print(json.dumps(result.as_json()) if args.json else result.describe())
    return EXIT_OK


def cmd_validate_spec(args: argparse.Namespace) -> int:
    """``etl-lib validate-spec``: every problem of each spec, a line each (exit 2 when any).
    Structure and expectations need no JVM; Spark starts only for a spec with derived
    expressions or regular expressions (Java's engine is the one that runs them)."""
    from etl_lib.models.load import is_model_document, read_yaml
    from etl_lib.quality.expectations import expectation_problems
    from etl_lib.spec.schema import needs_spark, spec_problems

    spark = None
    bad = 0
    paths = [p for p in args.spec if not _is_model_file(p, read_yaml, is_model_document)]
    model_files = [p for p in args.spec if p not in paths]
    specs = []
    for path in paths:
        spec = None
        try:
            spec = load_spec(path)
            where, problems = f"{path} (dataset '{spec.dataset}')", []
        except SpecError as exc:
            where, problems = exc.where, list(exc.problems)
        if spec is not None:
            try:
                problems += expectation_problems(spec)
            except ConfigError as exc:
                print(f"etl-lib: {where}: expectations not checked: {exc}", file=sys.stderr)
            if needs_spark(spec):
                if spark is None:
                    from etl_lib.spark import local_session

                    spark = local_session(master="local[1]")
                problems += spec_problems(spark, spec)
        bad += bool(problems)
        if spec is not None and not problems:
            specs.append(spec)
        if args.json:
            found = {"spec": path, "dataset": spec.dataset if spec else None, "valid": not problems}
            print(json.dumps({**found, "problems": problems}))
        elif problems:
            for problem in problems:
                print(f"etl-lib: {where}: {problem}", file=sys.stderr)
        else:
            assert spec is not None
            print(f"{path}: ok — dataset '{spec.dataset}', {len(spec.columns)} columns, {len(spec.derived)} derived")
    if model_files:
        bad += _validate_models(args, model_files, specs, spark)
    return EXIT_USAGE if bad else EXIT_OK


def _is_model_file(path: str, read: Any, is_model: Any) -> bool:
    try:
        return bool(is_model(read(path)))
    except SpecError:
        return False  # the spec check reports it


def _validate_models(args: argparse.Namespace, paths: list[str], specs: list[Any], spark: Any) -> int:
    """Check the models among the files against the valid specs given with them (and each other):
    names, references, cycles, and each query analysed by Spark. Returns how many have problems."""
    from etl_lib.models.check import model_problems
    from etl_lib.models.load import load_model

    models, found = [], {}
    for path in paths:
        try:
            models.append((path, load_model(path)))
        except SpecError as exc:
            found[path] = (exc.where, list(exc.problems))
    if models:
        if spark is None:
            from etl_lib.spark import local_session

            spark = local_session(master="local[1]")
        by_model = model_problems(spark, [m for _, m in models], specs)
        for path, model in models:
            problems = [*by_model.get("", []), *by_model.get(model.model, [])]
            found[path] = (f"{path} (model '{model.model}')", problems)
    for path in paths:
        where, problems = found[path]
        if args.json:
            print(json.dumps({"spec": path, "model": where, "valid": not problems, "problems": problems}))
        elif problems:
            for problem in problems:
                print(f"etl-lib: {where}: {problem}", file=sys.stderr)
        else:
            print(f"{path}: ok — {where.split(' ', 1)[1].strip('()')}")
    return sum(1 for path in paths if found[path][1])


def cmd_init(args: argparse.Namespace) -> int:
    """``etl-lib init``: draft a spec from a sample file, check it, write or print it."""
    from etl_lib.spec.draft import draft_spec
    from etl_lib.spec.load import parse_spec

    if not os.path.isfile(args.sample):
        raise ConfigError(f"--sample {args.sample}: no such file")
    if args.out and os.path.exists(args.out) and not args.force:
        raise ConfigError(f"--out {args.out}: exists; --force replaces it")
    try:
        draft = draft_spec(args.sample, args.dataset)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    text = draft.yaml()
    import yaml

    parse_spec(yaml.safe_load(text), args.out or "<draft>")  # the draft must be a valid spec
    if not args.out:
        sys.stdout.write(text)
        return EXIT_OK
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    typed = sum(1 for c in draft.columns if c.type != "string")
    print(
        f"{args.out}: dataset '{draft.dataset}', {len(draft.columns)} columns ({typed} typed), "
        f"from {draft.rows:,} sample rows; partition_by: {draft.partition_by or 'none (ingestion time)'}",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_spec_schema(args: argparse.Namespace) -> int:
    """``etl-lib spec-schema``: the JSON Schema of a dataset spec."""
    from etl_lib.spec.json_schema import spec_json_schema_text

    sys.stdout.write(spec_json_schema_text())
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    """``etl-lib query``: register each spec's analytics-ready folder, run the SQL, print rows."""
    from etl_lib.catalog.local import LocalCatalog
    from etl_lib.catalog.table import dataset_table
    from etl_lib.spark import local_session

    specs = [load_spec(p) for p in args.spec]
    storage = open_storage(args.lake)
    spark = local_session(master=args.master)
    catalog = LocalCatalog(spark, storage)
    chosen = [dataset_table(spark, spec) for spec in specs]
    if args.models:
        from etl_lib.models.load import load_models
        from etl_lib.models.run import analysed_tables

        models = load_models(args.models)
        tables = analysed_tables(spark, models, specs)
        chosen += [tables[model.model] for model in models]
    for one in chosen:
        if args.as_of is None:
            catalog.register_table(one, f"analytics-ready/{one.name}")
        elif one.table_format != "iceberg":
            raise ConfigError(f"--as-of reads Iceberg tables only; {one.name} is {one.table_format}")
        else:
            from etl_lib.iceberg.tables import open_iceberg

            open_iceberg(spark, storage.uri).read(one.name, args.as_of).createOrReplaceTempView(one.name)
    result = spark.sql(args.sql)
    rows = result.limit(args.limit).collect()  # display only, bounded by --limit
    if args.json:
        for row in rows:
            print(json.dumps(row.asDict(recursive=True), default=str))
        return EXIT_OK
    print(table(result.columns, [list(r) for r in rows]))
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    """``etl-lib models run|ddl``."""
    if args.models_command == "ddl":
        return _models_ddl(args)
    from etl_lib.models.run import run_models
    from etl_lib.runner.build import build_models_context
    from etl_lib.spark import local_session

    _existing_lake(args.lake)  # a misspelt local lake is an error, not a new empty one
    ctx = build_models_context(
        local_session(master=args.master),
        args.models,
        args.spec,
        args.lake,
        args.ledger,
        customer=args.customer,
        alerts_topic_arn=args.alerts_topic_arn,
        catalog_database=args.catalog_database,
        skip_sinks=args.skip_sinks,
        progress=not args.json,
    )
    summary = run_models(ctx, select=args.select or (), changed=args.changed_dataset or ())
    if args.json:
        print(json.dumps(summary.as_json()))
        return summary.exit_code
    rows = [
        [o.model, o.status, o.rows, ", ".join(o.partitions) or ("all" if o.status == "built" else ""),
         "; ".join(f"{s}: {n}" for s, n in o.sinks), f"{o.duration_s:.1f}", o.reason]
        for o in summary.outcomes
    ]  # fmt: skip
    print(table(["model", "status", "rows", "partitions", "sinks", "seconds", "why"], rows))
    built = sum(1 for o in summary.outcomes if o.status == "built")
    failed = sum(1 for o in summary.outcomes if o.status == "failed")
    print(f"models run {summary.run_id}: {summary.status} — {built} built, {failed} failed, {len(rows)} model(s)")
    return summary.exit_code


def _models_ddl(args: argparse.Namespace) -> int:
    from etl_lib.catalog.ddl import table_ddl
    from etl_lib.models.load import load_models
    from etl_lib.models.run import analysed_tables
    from etl_lib.runner.build import spec_paths
    from etl_lib.spark import local_session

    if not args.location_root.startswith("s3://"):
        raise ConfigError(f"--location-root {args.location_root!r}: expected an s3:// URI")
    specs = [load_spec(p) for p in spec_paths(args.spec)]
    models = load_models(args.models)
    tables = analysed_tables(local_session(master="local[1]"), models, specs)
    root = args.location_root.rstrip("/")
    print("\n\n".join(table_ddl(tables[m.model], f"{root}/{m.model}/", args.database) for m in models))
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


def cmd_report(args: argparse.Namespace) -> int:
    """``etl-lib report``: the lake's HTML report and Data Docs, into ``--out`` or the lake."""
    from etl_lib.report.publish import write_report

    specs = [load_spec(path) for path in args.spec or ()]
    storage = _existing_lake(args.lake)
    ledger = open_ledger(args.ledger, storage, args.customer, must_exist=True)
    where = write_report(storage, ledger, specs, args.out)
    print(json.dumps({"report": where}) if args.json else f"report: {where}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    """``etl-lib runs``: recent runs, or the files of one run."""
    storage = _existing_lake(args.lake)
    ledger = open_ledger(args.ledger, storage, args.customer, must_exist=True)
    if args.run:
        if ledger.run_status(args.run) is None:
            raise ConfigError(
                f"--run {args.run}: no such run in this ledger (etl-lib runs --lake {args.lake} lists them)"
            )
        files = ledger.history(args.run)
        if args.json:
            print(json.dumps([_record_json(f) for f in files]))
            return EXIT_OK
        rows = [
            [f.source_key, f.status, f.rows_in, f.rows_valid, f.rows_rejected, "; ".join(f.warnings), f.error or ""]
            for f in files
        ]
        print(table(["file", "status", "rows_in", "valid", "rejected", "warnings", "error"], rows))
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
            r.warning_count,
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
                "warnings",
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
