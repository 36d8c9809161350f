#!/usr/bin/env python3
"""Benchmark the transactions pipeline end to end on synthetic data (figures only).

    python bench/run.py --rows 1000000 [--files 8] [--bad-share 0.02] [--dup-share 0.05] \\
        [--out DIR] [--keep] [--master local[2]] [--driver-memory 4g] [--seed 42]

1. Generates ``--rows`` dirty ``transactions`` rows with ``bench/generate.py`` into
   ``OUT/raw/transactions/`` (timed on its own, not part of the pipeline figures).
2. Starts Spark through ``etl_lib.runner.build.build_local_context`` with
   ``ETL_LIB_DRIVER_MEMORY`` set from ``--driver-memory`` (it must be set before the JVM
   starts) and runs ``raw-to-processed``, then ``processed-to-analytics``, each timed by
   wall clock.
3. Prints one row per stage: rows in and out, input MB (raw CSV bytes for stage 1,
   processed JSON Lines bytes for stage 2), seconds, rows/s and MB/s; then peak memory
   (the driver Python process's ``ru_maxrss``; the JVM's peak RSS, sampled from
   ``/proc/<pid>/status`` every 0.2 s by a background thread, for the java process and
   for its process tree; the JVM heap via py4j at the end), the output sizes and the row
   count reconciliation (``rows_in == valid + rejected``, and against what was generated).

MB and MiB here are both 2**20 bytes. ``OUT`` is a fresh temporary folder unless
``--out`` is given (it must be empty or absent); it is deleted at the end unless ``--keep``.
Exit code 0 when the counts reconcile, 1 when they do not or a run did not succeed.
No timing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SPEC = REPO / "sample_csv" / "specs" / "transactions.yaml"
MIB = 1 << 20
SAMPLE_EVERY_S = 0.2

if str(BENCH_DIR) not in sys.path:  # so `import generate` works however this file is run
    sys.path.insert(0, str(BENCH_DIR))


# --- memory sampling from /proc (Linux; no dependencies) ---------------------------------


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) for every process visible in /proc."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:  # the process ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        head, _, tail = stat.rpartition(")")
        fields = tail.split()
        if len(fields) >= 2:
            found[int(entry)] = (int(fields[1]), head.partition("(")[2])
    return found


def _descendants(root: int, table: dict[int, tuple[int, str]]) -> list[int]:
    """Every process below ``root`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _rss_bytes(pid: int) -> int:
    """Current resident set size of ``pid`` (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class JvmSampler(threading.Thread):
    """Samples the RSS of the java process below this Python process, and of its tree.

    Started before Spark so the JVM is found as soon as it is launched. ``mark(name)``
    starts a new phase; peaks are kept overall and per phase.
    """

    def __init__(self, interval: float = SAMPLE_EVERY_S) -> None:
        super().__init__(name="jvm-rss-sampler", daemon=True)
        self.interval = interval
        self.jvm_pid: int | None = None
        self.peak_jvm = 0
        self.peak_tree = 0
        self.phase = "startup"
        self.phase_peaks: dict[str, tuple[int, int]] = {}
        self.samples = 0
        self._halt = threading.Event()
        self._guard = threading.Lock()

    def mark(self, phase: str) -> None:
        """Start counting peaks for ``phase``."""
        with self._guard:
            self.phase = phase

    def stop(self) -> None:
        """Take a last sample and end the thread."""
        self._halt.set()
        self.join(timeout=5)
        self._sample()

    def run(self) -> None:
        while not self._halt.is_set():
            self._sample()
            self._halt.wait(self.interval)

    def _sample(self) -> None:
        table = _proc_table()
        if self.jvm_pid is None or self.jvm_pid not in table:
            below = _descendants(os.getpid(), table)
            java = [pid for pid in below if table[pid][1] == "java"]
            if not java:
                return
            self.jvm_pid = min(java)
        jvm = _rss_bytes(self.jvm_pid)
        tree = jvm + sum(_rss_bytes(pid) for pid in _descendants(self.jvm_pid, table))
        with self._guard:
            self.samples += 1
            self.peak_jvm = max(self.peak_jvm, jvm)
            self.peak_tree = max(self.peak_tree, tree)
            old_jvm, old_tree = self.phase_peaks.get(self.phase, (0, 0))
            self.phase_peaks[self.phase] = (max(old_jvm, jvm), max(old_tree, tree))


def driver_peak_rss() -> int:
    """Peak RSS of this Python process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def jvm_heap(spark: Any) -> dict[str, int]:
    """Heap of the driver JVM via py4j: used and committed now, max, and the sum of the
    heap pools' peak usage (an upper bound of the peak heap used; pools peak at different times)."""
    jvm = spark._jvm
    runtime = jvm.java.lang.Runtime.getRuntime()
    total, free, limit = runtime.totalMemory(), runtime.freeMemory(), runtime.maxMemory()
    pool_peaks = 0
    for pool in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
        if str(pool.getType().name()) == "HEAP":
            pool_peaks += pool.getPeakUsage().getUsed()
    return {"used": total - free, "committed": total, "max": limit, "pool_peaks": pool_peaks}


# --- figures -------------------------------------------------------------------------------


def prefix_bytes(ctx: Any, prefix: str) -> tuple[int, int]:
    """(bytes, files) of the data files below ``prefix`` of the lake (markers and .crc skipped)."""
    if not ctx.storage.exists(prefix):
        return 0, 0
    objects = ctx.storage.list(prefix + "/")
    return sum(o.size for o in objects), len(objects)


def text_table(headers: list[str], rows: list[list[object]], left: int = 1) -> str:
    """A plain text table: the first ``left`` columns left-aligned, the others right-aligned."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        padded = [v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def mib(value: int) -> str:
    """Bytes as MiB with one decimal."""
    return f"{value / MIB:,.1f}"


def rate(amount: float, seconds: float) -> str:
    """amount per second, or '-' for a zero duration."""
    return f"{amount / seconds:,.0f}" if seconds > 0 else "-"


def rate_mb(amount: int, seconds: float) -> str:
    """MB per second with one decimal."""
    return f"{amount / MIB / seconds:,.1f}" if seconds > 0 else "-"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows to generate (over all files)")
    parser.add_argument("--files", type=int, default=1, help="number of CSV files (default 1)")
    parser.add_argument("--bad-share", type=float, default=0.02, help="share of rows to reject (default 0.02)")
    parser.add_argument("--dup-share", type=float, default=0.05, help="share of re-sent rows (default 0.05)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--out", help="lake folder, empty or absent (default: a fresh temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the lake folder afterwards")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (default 4g)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate, run both stages, print the figures; return the exit code."""
    args = parse_args(argv)
    if args.out:
        out = Path(args.out).resolve()
        if out.exists() and any(out.iterdir()):
            print(f"bench/run.py: --out {out} is not empty; give an empty or new folder", file=sys.stderr)
            return 2
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(tempfile.mkdtemp(prefix="etl_lib_bench_"))
    try:
        return _bench(args, out)
    finally:
        if args.keep:
            print(f"\nlake kept at {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)


def _bench(args: argparse.Namespace, out: Path) -> int:
    from generate import generate

    print(f"generating {args.rows:,} rows in {args.files} file(s) under {out}/raw/transactions ...", flush=True)
    try:
        gen = generate(args.rows, args.bad_share, args.dup_share, args.files, out, args.seed)
    except ValueError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 2
    print(
        f"generated: rows={gen['rows']:,} bad={gen['bad']:,} dups={gen['dups']:,} files={gen['files']} "
        f"csv={mib(gen['bytes'])} MB in {gen['seconds']:.1f} s (not part of the figures below)",
        flush=True,
    )

    # Spark reads these when it launches the JVM: they must be set before build_local_context.
    os.environ["ETL_LIB_DRIVER_MEMORY"] = args.driver_memory
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset

    sampler = JvmSampler()
    sampler.start()
    started = time.perf_counter()
    ctx = build_local_context(str(SPEC), str(out), master=args.master)
    startup_s = time.perf_counter() - started
    print(f"spark: master={args.master} driver-memory={args.driver_memory} started in {startup_s:.1f} s", flush=True)

    try:
        sampler.mark("raw-to-processed")
        driver_before = driver_peak_rss()
        started = time.perf_counter()
        first = run_dataset(ctx, stage="raw-to-processed")
        first_s = time.perf_counter() - started
        driver_after_first = driver_peak_rss()
        processed_bytes, processed_files = prefix_bytes(ctx, ctx.processed_prefix())

        sampler.mark("processed-to-analytics")
        started = time.perf_counter()
        second = run_dataset(ctx, stage="processed-to-analytics")
        second_s = time.perf_counter() - started
        driver_after_second = driver_peak_rss()
        sampler.mark("end")

        heap = jvm_heap(ctx.spark)
        analytics_bytes, analytics_files = prefix_bytes(ctx, ctx.analytics_prefix())
        rejected_bytes, rejected_files = prefix_bytes(ctx, ctx.rejected_prefix())
    finally:
        sampler.stop()
        ctx.spark.stop()

    run1, run2 = first.report.run, second.report.run
    stage_peaks = sampler.phase_peaks
    print()
    print(f"stages (wall clock; {args.rows:,} rows generated, {args.files} file(s), master {args.master})")
    print(
        text_table(
            ["stage", "status", "rows in", "rows out", "input MB", "seconds", "rows/s", "MB/s", "JVM peak RSS MiB"],
            [
                [
                    "raw-to-processed",
                    run1.status,
                    f"{run1.rows_in:,}",
                    f"{run1.rows_valid:,} valid + {run1.rows_rejected:,} rejected",
                    mib(gen["bytes"]),
                    f"{first_s:.1f}",
                    rate(run1.rows_in, first_s),
                    rate_mb(gen["bytes"], first_s),
                    mib(stage_peaks.get("raw-to-processed", (0, 0))[0]),
                ],
                [
                    "processed-to-analytics",
                    run2.status,
                    f"{run1.rows_valid:,}",
                    f"{run2.rows_analytics:,} analytics-ready",
                    mib(processed_bytes),
                    f"{second_s:.1f}",
                    rate(run1.rows_valid, second_s),
                    rate_mb(processed_bytes, second_s),
                    mib(stage_peaks.get("processed-to-analytics", (0, 0))[0]),
                ],
                [
                    "total",
                    "",
                    f"{run1.rows_in:,}",
                    f"{run2.rows_analytics:,} analytics-ready",
                    mib(gen["bytes"]),
                    f"{first_s + second_s:.1f}",
                    rate(run1.rows_in, first_s + second_s),
                    rate_mb(gen["bytes"], first_s + second_s),
                    mib(sampler.peak_jvm),
                ],
            ],
            left=2,
        )
    )

    print()
    print("memory")
    print(
        text_table(
            ["what", "MiB"],
            [
                ["driver Python peak RSS (ru_maxrss), before the stages", mib(driver_before)],
                ["driver Python peak RSS, after raw-to-processed", mib(driver_after_first)],
                ["driver Python peak RSS, after processed-to-analytics", mib(driver_after_second)],
                [f"JVM (java pid {sampler.jvm_pid}) peak RSS, whole run", mib(sampler.peak_jvm)],
                ["JVM process tree peak RSS (java + its children), whole run", mib(sampler.peak_tree)],
                ["JVM heap used at the end (totalMemory - freeMemory)", mib(heap["used"])],
                ["JVM heap committed at the end (totalMemory)", mib(heap["committed"])],
                ["JVM heap max (maxMemory, from --driver-memory)", mib(heap["max"])],
                ["JVM heap pools' peak used, summed (upper bound)", mib(heap["pool_peaks"])],
            ],
        )
    )
    print(f"(RSS sampled every {SAMPLE_EVERY_S} s from /proc/<pid>/status VmRSS; {sampler.samples} samples)")

    print()
    print("outputs")
    print(
        text_table(
            ["area", "files", "MB"],
            [
                ["raw (CSV)", gen["files"], mib(gen["bytes"])],
                ["processed (JSON Lines)", processed_files, mib(processed_bytes)],
                ["analytics-ready (Parquet)", analytics_files, mib(analytics_bytes)],
                ["rejected (JSON Lines)", rejected_files, mib(rejected_bytes)],
            ],
        )
    )

    expected_analytics = gen["rows"] - gen["bad"] - gen["dups"]
    checks = [
        ("rows_in == valid + rejected", run1.rows_in, run1.rows_valid + run1.rows_rejected),
        ("rows_in == rows generated", run1.rows_in, gen["rows"]),
        ("rejected == bad rows generated", run1.rows_rejected, gen["bad"]),
        ("analytics-ready == rows - bad - dups", run2.rows_analytics, expected_analytics),
    ]
    print()
    print("reconciliation")
    print(
        text_table(
            ["check", "left", "right", "result"],
            [[name, f"{a:,}", f"{b:,}", "ok" if a == b else "MISMATCH"] for name, a, b in checks],
        )
    )
    failed_files = [f for f in first.report.files if f.status == "failed"]
    for record in failed_files:
        print(f"failed file: {record.source_key}: {record.error}")
    good = all(a == b for _, a, b in checks) and run1.status == "succeeded" and run2.status == "succeeded"
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
