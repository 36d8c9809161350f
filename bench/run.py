#!/usr/bin/env python3
"""The benchmark: etl_lib against a hand-written PySpark job and DuckDB, in one go, one table.

    make bench                                  # ROWS=1000000 (and 5x that), 100 daily files
    .venv/bin/python bench/run.py --rows 1000000 [--big-factor 5] [--daily 100] [--out DIR --keep]

Generates partner data with ``bench/generate.py`` (2% bad rows, 1% re-sent duplicates, one
row in 10,000 with a line break in a quoted value, unless said otherwise), then runs each
case in its own process (``bench/case.py``: its own JVM, master and heap) and prints:

- **cases**: wall time per stage, rows/s, CSV MB/s and peak memory (the JVM's resident size,
  or the process's for DuckDB) of
  - etl_lib, the hand-written job (same Spark settings) and DuckDB on one file of ``--rows``
    and of ``--big-factor`` times that; etl_lib without the spec's expectations, and without
    receipts (the outputs the hand-written job writes);
  - the same rows as ``--daily`` daily files, against the one file;
  - one new daily file into lakes holding 1, 10 and ``--daily`` earlier daily files;
  - a big file without line breaks in values, read in splits (``quoted_line_breaks: false``)
    with 2 cores and with 1, and with a small heap (``--small-heap``, default 512m);
- **ratios**: each against its reference, measured side by side in this run;
- **output files** per partition of analytics-ready and processed;
- **requests**: the S3 and DynamoDB requests of an incremental run against moto, after 1, 10
  and 100 earlier files (skipped with ``--no-requests``).

Every line's counts are checked against DuckDB's over the same files (rows in, valid,
rejected, rows in analytics-ready = distinct keys); a mismatch is printed as MISMATCH and
the exit code is 1. Timings are figures: nothing is asserted about them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SPEC = REPO / "sample_csv" / "specs" / "transactions.yaml"
sys.path.insert(0, str(BENCH))

from generate import generate  # noqa: E402
from measure import MIB, mib, text_table  # noqa: E402

COUNTS = ("rows_in", "valid", "rejected", "analytics")
RESEND_WINDOW = 7
"""The daily files re-send rows of the last week's files (overlapping extracts)."""
ANYWHERE = "re-sends from any earlier file"


def case(config: dict[str, Any]) -> dict[str, Any]:
    """Run one case in its own process; its JSON result (``error`` when it failed)."""
    print(f"  running {config['name']} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BENCH / "case.py"), json.dumps(config)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail), "wall_s": time.perf_counter() - started}
    return json.loads(done.stdout.strip().splitlines()[-1])


def spec_variant(work: Path, name: str, **changes: Any) -> str:
    """The sample transactions spec with ``changes`` (``source`` merged), written under ``work``."""
    spec = yaml.safe_load(SPEC.read_text())
    source = changes.pop("source", None)
    if source:
        spec["source"] = {**spec.get("source", {}), **source}
    spec.update(changes)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def folder_of(work: Path, name: str, files: list[str]) -> Path:
    """A folder holding ``files`` (hard links: raw bytes and modified times as generated)."""
    folder = work / "inputs" / name
    folder.mkdir(parents=True)
    for path in files:
        os.link(path, folder / Path(path).name)
    return folder


def new_lake(work: Path, name: str, files: list[str]) -> Path:
    """A lake whose ``raw/transactions/`` holds ``files`` as delivered."""
    lake = work / "lakes" / name
    raw = lake / "raw" / "transactions"
    raw.mkdir(parents=True)
    for path in files:
        os.link(path, raw / Path(path).name)
    return lake


def deliver(lake: Path, path: str) -> None:
    os.link(path, lake / "raw" / "transactions" / Path(path).name)


class Bench:
    """Runs the cases and keeps their lines."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.lines: list[dict[str, Any]] = []
        self.reference: dict[str, dict[str, Any]] = {}

    def duck(self, name: str, files: list[str]) -> dict[str, Any]:
        """DuckDB over ``files``: the counts every line is checked against (and a timed line)."""
        folder = folder_of(self.work, name, files)
        return case({"name": f"duckdb {name}", "kind": "duckdb", "spec": str(SPEC), "raw": str(folder),
                     "out": str(self.work / "out" / f"duck-{name}")})  # fmt: skip

    def add(self, label: str, result: dict[str, Any], csv_bytes: int, expect: dict[str, Any] | None,
            ratio_to: str | None = None, only: tuple[str, ...] = COUNTS) -> dict[str, Any]:  # fmt: skip
        line = {"label": label, "result": result, "bytes": csv_bytes, "ratio_to": ratio_to}
        if "error" in result:
            line["check"] = f"FAILED: {result['error'][:200]}"
        elif expect is None or "error" in expect:
            line["check"] = "no reference"
        else:
            wrong = [f"{c} {result.get(c)} != {expect.get(c)}" for c in only if result.get(c) != expect.get(c)]
            line["check"] = "MISMATCH: " + "; ".join(wrong) if wrong else "ok"
        self.lines.append(line)
        self.reference[label] = result
        return result

    def etl(self, name: str, lake: Path, spec: str = str(SPEC), **extra: Any) -> dict[str, Any]:
        config = {"name": name, "kind": "etl", "spec": spec, "lake": str(lake), "master": self.args.master,
                  "driver_memory": self.args.driver_memory, **extra}  # fmt: skip
        return case(config)


def total_s(result: dict[str, Any]) -> float:
    return sum(result.get("stages", {}).values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the main file (default 1,000,000)")
    parser.add_argument("--big-factor", type=int, default=5, help="the big file holds this many times --rows")
    parser.add_argument("--daily", type=int, default=100, help="daily files holding --rows together (default 100)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--driver-memory", default="2g", help="heap of every Spark case (default 2g, etl_lib's)")
    parser.add_argument("--small-heap", default="512m", help="heap of the big-file-small-heap case (default 512m)")
    parser.add_argument("--no-requests", action="store_true", help="skip the request counts against moto")
    parser.add_argument(
        "--huge-factor",
        type=int,
        default=0,
        help="also ingest a file of this many times --rows, read in splits with --small-heap (default 0: skip)",
    )
    parser.add_argument("--huge-only", action="store_true", help="run only the --huge-factor case")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="work folder (default: a fresh temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="etl_lib_bench_")).resolve()
    if args.out and work.exists() and any(work.iterdir()):
        print(f"bench/run.py: --out {work} is not empty; give an empty or new folder", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"\nwork folder kept at {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    rows, big = args.rows, args.rows * args.big_factor
    bench = Bench(args, work)
    if args.huge_only:  # the big-file memory case alone
        huge(args, bench, work, spec_variant(work, "split", source={"quoted_line_breaks": False}))
        print_report(bench, None, work)
        return 0 if all(line["check"] == "ok" for line in bench.lines) else 1

    def data(name: str, count: int, files: int = 1, newline: float | None = None, window: int = 0) -> dict[str, Any]:
        started = time.perf_counter()
        gen = generate(count, 0.02, 0.01, files, work / "data" / name, args.seed, newline_share=newline,
                       resend_window=window)  # fmt: skip
        print(f"generated {name}: {count:,} rows in {files} file(s), {mib(gen['bytes'])} MB, "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
        return gen

    one, large = data("one", rows), data("big", big)
    daily = data("daily", rows + rows // args.daily, files=args.daily + 1, window=RESEND_WINDOW)
    flat = data("flat", big, newline=0.0)
    earlier, new = daily["paths"][:-1], daily["paths"][-1]

    # One file: etl_lib, the hand-written job, DuckDB; then the big file.
    for tag, gen in ((f"{rows:,} rows, 1 file", one), (f"{big:,} rows, 1 file", large)):
        expect = bench.duck(tag.split()[0], gen["paths"])
        bench.add(f"DuckDB, {tag}", expect, gen["bytes"], expect)
        hw = case({"name": f"hand-written {tag}", "kind": "handwritten", "spec": str(SPEC), "raw": gen["paths"][0],
                   "out": str(work / "out" / f"hw-{tag.split()[0]}"), "master": args.master,
                   "driver_memory": args.driver_memory, "multiline": True})  # fmt: skip
        bench.add(f"hand-written PySpark, {tag}", hw, gen["bytes"], expect)
        lake = new_lake(work, f"one-{tag.split()[0]}", gen["paths"])
        bench.add(f"etl_lib, {tag}", bench.etl(f"etl_lib {tag}", lake), gen["bytes"], expect,
                  ratio_to=f"hand-written PySpark, {tag}")  # fmt: skip
        if gen is one:
            bare = case({"name": f"hand-written, minimal, {tag}", "kind": "handwritten", "spec": str(SPEC),
                         "raw": gen["paths"][0], "out": str(work / "out" / "hw-minimal"), "master": args.master,
                         "driver_memory": args.driver_memory, "multiline": True, "minimal": True})  # fmt: skip
            bench.add(f"hand-written PySpark without lineage columns, {tag}", bare, gen["bytes"], expect,
                      ratio_to=f"hand-written PySpark, {tag}")  # fmt: skip
            no_checks = spec_variant(work, "no-expectations", expectations=[])
            plain = new_lake(work, "one-no-expectations", gen["paths"])
            bench.add(f"etl_lib without expectations, {tag}", bench.etl("etl_lib no expectations", plain, no_checks),
                      gen["bytes"], expect)  # fmt: skip
            # The outputs the hand-written job writes, and no more: no receipts for the partner.
            no_receipts = spec_variant(work, "no-receipts", receipts=False)
            bare_lake = new_lake(work, "one-no-receipts", gen["paths"])
            bench.add(f"etl_lib without receipts, {tag}", bench.etl("etl_lib no receipts", bare_lake, no_receipts),
                      gen["bytes"], expect, ratio_to=f"hand-written PySpark, {tag}")  # fmt: skip

    # The same rows as daily files.
    expect = bench.duck("daily", earlier)
    lake_daily = new_lake(work, "daily", earlier)
    daily_bytes = sum(os.path.getsize(p) for p in earlier)
    bench.add(f"etl_lib, {rows:,} rows as {args.daily} daily files", bench.etl("etl_lib daily", lake_daily),
              daily_bytes, expect, ratio_to=f"etl_lib, {rows:,} rows, 1 file")  # fmt: skip

    # One new daily file into lakes holding 1, 10 and --daily earlier files.
    new_only = bench.duck("new", [new])
    for count in sorted({1, min(10, args.daily), args.daily}):
        held = earlier[-count:]
        if count == args.daily:
            lake = lake_daily
        else:
            lake = new_lake(work, f"held-{count}", held)
            bench.etl(f"etl_lib: {count} earlier file(s) (not timed)", lake)
        label = f"etl_lib, 1 new daily file after {count} earlier"
        first = "etl_lib, 1 new daily file after 1 earlier" if count > 1 else None
        one_new_file(bench, lake, held, new, new_only, f"held-{count}", label, first)

    # The worst case of plain Parquet: the new file re-sends rows of any earlier file, so it
    # changes every month (reported, not a target; see bench/README.md).
    anywhere = data("daily-anywhere", rows + rows // args.daily, files=args.daily + 1)
    earlier, new = anywhere["paths"][:-1], anywhere["paths"][-1]
    new_only = bench.duck("new-anywhere", [new])
    first = f"etl_lib, 1 new daily file after 1 earlier, {ANYWHERE}"
    for count in sorted({1, args.daily}):
        held = earlier[-count:]
        lake = new_lake(work, f"anywhere-{count}", held)
        bench.etl(f"etl_lib: {count} earlier file(s), {ANYWHERE} (not timed)", lake)
        label = f"etl_lib, 1 new daily file after {count} earlier, {ANYWHERE}"
        one_new_file(bench, lake, held, new, new_only, f"anywhere-{count}", label, first if count > 1 else None)

    # A big file without line breaks in values, read in splits: 2 cores, 1 core, a small heap.
    expect = bench.duck("flat", flat["paths"])
    split_spec = spec_variant(work, "split", source={"quoted_line_breaks": False})
    tag = f"{big:,} rows, 1 file, read in splits"
    two = f"etl_lib, {tag}, 2 cores"
    hand = f"hand-written PySpark, {tag}"
    runs = [
        (two, "local[2]", args.driver_memory, hand),
        (f"etl_lib, {tag}, 1 core", "local[1]", args.driver_memory, two),
        (f"etl_lib, {tag}, 2 cores, {args.small_heap} heap", "local[2]", args.small_heap, two),
    ]
    for n, (label, master, memory, ratio_to) in enumerate(runs):
        lake = new_lake(work, f"split-{n}", flat["paths"])
        result = bench.etl(label, lake, split_spec, master=master, driver_memory=memory)
        bench.add(label, result, flat["bytes"], expect, ratio_to=ratio_to)
    hw = case({"name": hand, "kind": "handwritten", "spec": str(SPEC), "raw": flat["paths"][0],
               "out": str(work / "out" / "hw-flat"), "master": args.master, "driver_memory": args.driver_memory,
               "multiline": False})  # fmt: skip
    bench.add(hand, hw, flat["bytes"], expect)

    if args.huge_factor:
        huge(args, bench, work, split_spec)

    requests = None if args.no_requests else case({"name": "requests", "kind": "requests", "work": str(work / "req")})
    print_report(bench, requests, work)
    failed = [line for line in bench.lines if line["check"] not in ("ok", "no reference")]
    return 1 if failed or (requests and "error" in requests) else 0


def one_new_file(
    bench: Bench,
    lake: Path,
    held: list[str],
    new: str,
    new_only: dict[str, Any],
    name: str,
    label: str,
    ratio_to: str | None,
) -> None:
    """Deliver ``new`` into ``lake`` (holding ``held``), time its run, check its counts: rows
    in, valid and rejected of the new file, analytics-ready rows of all the lake's files."""
    deliver(lake, new)
    result = bench.etl(f"{label} (run)", lake)
    everything = bench.duck(f"{name}-and-new", [*held, new])
    expect = {
        **{c: new_only.get(c) for c in ("rows_in", "valid", "rejected")},
        "analytics": everything.get("analytics"),
    }
    bench.add(label, result, os.path.getsize(new), expect, ratio_to=ratio_to)


def huge(args: argparse.Namespace, bench: Bench, work: Path, split_spec: str) -> None:
    """A file several times larger than the heap, read in splits: raw-to-processed, where a file's size matters."""
    rows = args.rows * args.huge_factor
    started = time.perf_counter()
    gen = generate(rows, 0.02, 0.01, 1, work / "data" / "huge", args.seed, newline_share=0.0)
    print(f"generated huge: {rows:,} rows, {mib(gen['bytes'])} MB, {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    label = f"etl_lib, {rows:,} rows, 1 file, in splits, {args.small_heap} heap, stage 1"
    lake = new_lake(work, "huge", gen["paths"])
    result = bench.etl(label, lake, split_spec, driver_memory=args.small_heap, stages=["raw-to-processed"])
    expect = {"rows_in": gen["rows"], "valid": gen["rows"] - gen["bad"], "rejected": gen["bad"]}
    bench.add(label, result, gen["bytes"], expect, only=("rows_in", "valid", "rejected"))
    shutil.rmtree(work / "data" / "huge", ignore_errors=True)


def print_report(bench: Bench, requests: dict[str, Any] | None, work: Path) -> None:
    """The tables."""
    rows = []
    for line in bench.lines:
        r = line["result"]
        stages = r.get("stages", {})
        total = total_s(r)
        ratio = ""
        if line["ratio_to"] and line["ratio_to"] in bench.reference and total:
            ref = total_s(bench.reference[line["ratio_to"]])
            ratio = f"{total / ref:.2f}x {line['ratio_to'].split(',')[0]}" if ref else ""
        peak = r.get("jvm_peak_rss") or r.get("python_peak_rss") or 0
        per_stage = r.get("stage_peak_rss", {})
        stages_seen = [st for st in ("raw-to-processed", "processed-to-analytics") if st in per_stage]
        stage_peaks = "/".join(mib(per_stage[st]) for st in stages_seen)
        rows.append([
            line["label"], f"{r.get('rows_in', 0):,}", mib(line["bytes"]),
            f"{stages.get('raw-to-processed', 0):.1f}", f"{stages.get('processed-to-analytics', 0):.1f}",
            f"{total:.1f}", f"{r.get('rows_in', 0) / total:,.0f}" if total else "-",
            f"{line['bytes'] / MIB / total:.1f}" if total else "-", mib(peak), stage_peaks, ratio, line["check"],
        ])  # fmt: skip
    print("\ncases (wall clock per stage; peak = resident size of the JVM, or of the process for DuckDB)")
    print(text_table(["case", "rows in", "CSV MB", "stage 1 s", "stage 2 s", "total s", "rows/s", "MB/s",
                      "peak MiB", "per stage", "ratio", "counts"], rows))  # fmt: skip
    for what in ("expectations", "receipts"):
        share = stage1_share(bench, what)
        if share:
            print(f"\n{share}")
    print("\noutput files per partition (etl_lib)")
    print(text_table(["lake", "area", "partitions", "files", "files/partition max", "MB min", "MB max"],
                     output_shape(work / "lakes")))  # fmt: skip
    if requests is not None:
        print("\nrequests of one incremental run (S3 and DynamoDB, counted at a proxy in front of moto)")
        if "error" in requests:
            print(f"FAILED: {requests['error']}")
        else:
            kinds = sorted({k for counts in requests["counts"].values() for k in counts})
            header = ["request", *[f"after {n} file(s)" for n in requests["counts"]]]
            print(text_table(header, [[k, *[str(c.get(k, 0)) for c in requests["counts"].values()]] for k in kinds]))


def stage1_share(bench: Bench, what: str) -> str:
    """What ``what`` (the spec's expectations, the receipts) adds to stage 1 of the one-file
    case: the line ``etl_lib without {what}, ...`` against ``etl_lib, ...`` ('' without both)."""
    stage1 = {ln["label"]: ln["result"].get("stages", {}).get("raw-to-processed") for ln in bench.lines}
    plain = next((label for label in stage1 if label.startswith(f"etl_lib without {what}, ")), None)
    if plain is None:
        return ""
    with_them, without = stage1.get("etl_lib, " + plain.split(", ", 1)[1]), stage1[plain]
    if not (with_them and without):
        return ""
    share = 100 * (with_them - without) / without
    return f"the spec's {what} add {share:+.1f}% to stage 1 ({with_them:.1f} s; without them {without:.1f} s)"


def output_shape(lakes: Path) -> list[list[object]]:
    """Per lake and area: partitions, files, the most files in one partition, smallest and largest file."""
    out: list[list[object]] = []
    for lake in sorted(p for p in lakes.iterdir() if p.is_dir()):
        for area, ext in (("analytics-ready", ".parquet"), ("processed", ".json")):
            root = lake / area / "transactions"
            files = [p for p in root.rglob(f"*{ext}")] if root.exists() else []
            if not files:
                continue
            per = {}
            for path in files:
                per.setdefault(path.parent, []).append(path.stat().st_size)
            sizes = [s for v in per.values() for s in v]
            out.append([lake.name, area, len(per), len(files), max(len(v) for v in per.values()),
                        mib(min(sizes)), mib(max(sizes))])  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
