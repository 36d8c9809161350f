"""Measuring helpers of the benchmark: peak memory from /proc, plain text tables."""

from __future__ import annotations

import os
import resource
import threading

MIB = 1 << 20
SAMPLE_EVERY_S = 0.2


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
