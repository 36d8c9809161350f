#!/usr/bin/env python3
"""Profile one stage of etl_lib on a lake: where the driver waits, and Spark's event log.

    .venv/bin/python bench/profile_stage.py --spec sample_csv/specs/transactions.yaml \\
        --csv DIR_OR_FILE [--runs-before 0] [--stage raw-to-processed] [--parallel-files 1] \\
        [--event-log DIR] [--top 40]

Builds a fresh lake under ``--work`` from the CSV files (hard links), runs the stages
before ``--stage`` unprofiled (``--runs-before``: how many of the files to deliver and run
first, so an incremental run can be profiled), then runs ``--stage`` under cProfile and
prints the wall time and the top functions by cumulative time. The driver's Python time is
mostly waiting on py4j: a function with a large cumulative time and few calls is a Spark
job; many calls of ``send_command`` are plan building. ``--parallel-files 1`` keeps every
file on the profiled thread. ``--event-log DIR`` also writes Spark's event log there (open
it with Spark's history server, or read the JSON: each job, stage and task with its times).
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/profile_stage.py", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--csv", required=True, help="a CSV file or a folder of them (delivered in name order)")
    parser.add_argument("--runs-before", type=int, default=0, help="files delivered and run (both stages) first")
    parser.add_argument("--stage", default="raw-to-processed", choices=["raw-to-processed", "processed-to-analytics"])
    parser.add_argument("--parallel-files", type=int, default=None, help="files in flight (default: etl_lib's)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--event-log", help="write Spark's event log to this folder")
    parser.add_argument("--work", help="lake folder (default: a temporary one, removed)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    if args.event_log:
        Path(args.event_log).mkdir(parents=True, exist_ok=True)
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{Path(args.event_log).resolve()} "
            "pyspark-shell"
        )
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset
    from etl_lib.spec.load import load_spec

    source = Path(args.csv)
    files = sorted(source.glob("*.csv*")) if source.is_dir() else [source]
    work = Path(args.work or tempfile.mkdtemp(prefix="etl_lib_profile_"))
    raw = work / "raw" / load_spec(args.spec).dataset
    raw.mkdir(parents=True, exist_ok=True)
    try:
        ctx = build_local_context(args.spec, str(work), master=args.master)
        if args.parallel_files:
            ctx = dataclasses.replace(ctx, parallel_files=args.parallel_files)
        for path in files[: args.runs_before]:
            os.link(path, raw / path.name)
        if args.runs_before:
            run_dataset(ctx)
        for path in files[args.runs_before :]:
            os.link(path, raw / path.name)
        if args.stage == "processed-to-analytics":
            run_dataset(ctx, stage="raw-to-processed")
        ctx.spark.range(1).count()  # the JVM warmed up outside the profile
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        summary = run_dataset(ctx, stage=args.stage)
        profile.disable()
        print(f"{args.stage}: {summary.status} in {time.perf_counter() - started:.2f} s")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
        ctx.spark.stop()
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
