#!/usr/bin/env python3
"""Parquet against Iceberg analytics-ready (``table_format: iceberg``), side by side: prints figures.

    .venv/bin/python bench/iceberg.py --rows 1000000 [--daily 100] [--out DIR --keep]

Each case runs in its own process (``bench/case.py``), once per format, on the same generated
files (``bench/generate.py``: 2% bad rows, 1% re-sent duplicates):

- one file of ``--rows`` rows, both stages (a first load);
- one new daily file into a lake holding ``--daily`` earlier daily files, whose rows re-send the
  last week's (the usual incremental run), then one that re-sends rows of any earlier file
  (every month changes: plain Parquet's worst case, where Iceberg's MERGE should gain).

Counts are checked against DuckDB's over the same files (MISMATCH and exit 1 otherwise).
Timings are figures: nothing is asserted about them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from generate import generate  # noqa: E402
from measure import mib, text_table  # noqa: E402
from run import RESEND_WINDOW, Bench, deliver, new_lake, spec_variant, total_s  # noqa: E402

FORMATS = ("parquet", "iceberg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/iceberg.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the one file (default 1,000,000)")
    parser.add_argument("--daily", type=int, default=100, help="earlier daily files of the incremental cases")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="work folder (default: a fresh temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="etl-bench-iceberg-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    bench = Bench(args, work)
    specs = {fmt: spec_variant(work, fmt, table_format=fmt) for fmt in FORMATS}

    def data(name: str, count: int, files: int = 1, window: int = 0) -> dict[str, Any]:
        started = time.perf_counter()
        gen = generate(count, 0.02, 0.01, files, work / "data" / name, args.seed, resend_window=window)
        print(f"generated {name}: {count:,} rows in {files} file(s), {mib(gen['bytes'])} MB, "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
        return gen

    one = data("one", args.rows)
    expect = bench.duck("one", one["paths"])
    for fmt in FORMATS:
        lake = new_lake(work, f"one-{fmt}", one["paths"])
        label = f"{fmt}, {args.rows:,} rows, 1 file"
        bench.add(label, bench.etl(label, lake, specs[fmt]), one["bytes"], expect,
                  ratio_to=None if fmt == "parquet" else f"parquet, {args.rows:,} rows, 1 file")  # fmt: skip

    for name, window in (("last week", RESEND_WINDOW), ("any earlier file", 0)):
        gen = data(f"daily-{window}", args.rows + args.rows // args.daily, files=args.daily + 1, window=window)
        earlier, new = gen["paths"][:-1], gen["paths"][-1]
        new_only = bench.duck(f"new-{window}", [new])
        everything = bench.duck(f"all-{window}", gen["paths"])
        want = {**{c: new_only.get(c) for c in ("rows_in", "valid", "rejected")}, "analytics": everything["analytics"]}
        for fmt in FORMATS:
            lake = new_lake(work, f"daily-{window}-{fmt}", earlier)
            bench.etl(f"{fmt}: {args.daily} earlier files (not timed)", lake, specs[fmt])
            deliver(lake, new)
            label = f"{fmt}, 1 new daily file after {args.daily}, re-sending rows of {name}"
            ratio = None if fmt == "parquet" else label.replace("iceberg,", "parquet,", 1)
            bench.add(label, bench.etl(label, lake, specs[fmt]), 0, want, ratio_to=ratio)

    rows = []
    for line in bench.lines:
        result = line["result"]
        stages = result.get("stages", {})
        total = total_s(result) if "stages" in result else float("nan")
        ref = bench.reference.get(line["ratio_to"] or "")
        ratio = f"{total / total_s(ref):.2f}x" if ref and "stages" in ref and "stages" in result else ""
        rows.append([
            line["label"],
            f"{stages.get('raw-to-processed', float('nan')):.1f}",
            f"{stages.get('processed-to-analytics', float('nan')):.1f}",
            f"{total:.1f}",
            ratio,
            line["check"],
        ])  # fmt: skip
    print(text_table(["case", "stage 1 s", "stage 2 s", "total s", "vs parquet", "counts"], rows))
    return 0 if all(line["check"] in ("ok", "no reference") for line in bench.lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
