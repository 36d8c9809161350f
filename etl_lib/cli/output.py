"""How the CLI shows results: small fixed-width tables, no dependencies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table; numbers right-aligned."""
    text_rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=False)
        ).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in text_rows]
    return "\n".join(out)


def file_table(summary: Any) -> str:
    """Counts per file of a run."""
    rows = [
        [f.source_key, f.status, f.rows_in, f.rows_valid, f.rows_rejected, f.error or ""] for f in summary.report.files
    ]
    return table(["file", "status", "rows_in", "valid", "rejected", "error"], rows)


def compact_table(result: Any) -> str:
    """Files and MB per partition of a compaction, before -> after."""

    def mb(size: int) -> str:
        return f"{size / 2**20:.2f}"

    rows = [
        [
            p.partition,
            f"{p.files_before} -> {p.files_after}",
            f"{mb(p.bytes_before)} -> {mb(p.bytes_after)}",
            "rewritten" if p.rewritten else p.note or "as is",
        ]
        for p in result.partitions
    ]
    return table(["partition", "files", "MB", "action"], rows)
