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
    """Counts per file of a run, then each failed ``warn`` expectation on a line of its own."""
    rows = [
        [f.source_key, f.status, f.rows_in, f.rows_valid, f.rows_rejected, len(f.warnings), f.error or ""]
        for f in summary.report.files
    ]
    text = table(["file", "status", "rows_in", "valid", "rejected", "warnings", "error"], rows)
    return "\n".join([text, *(f"warning: {file}: {w}" for file, w in summary.report.warnings)])


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


def _when(record: Any) -> str:
    return str(record.updated_at.strftime("%Y-%m-%d %H:%M:%S"))


def files_table(records: Sequence[Any]) -> str:
    """A dataset's files as the ledger knows them: status, mark, counts, spec, last change."""
    rows = [
        [
            r.source_key,
            r.status,
            r.mark or "",
            r.rows_in,
            r.rows_valid,
            r.rows_rejected,
            r.spec_fingerprint or "",
            _when(r),
            r.error or (f"{r.changed_by}: {r.why}" if r.why else ""),
        ]
        for r in records
    ]
    headers = ["file", "status", "mark", "rows_in", "valid", "rejected", "spec", "changed (UTC)", "note"]
    return table(headers, rows)


def history_table(states: Sequence[Any]) -> str:
    """Every state of one file: when, by which run or whom, and why."""
    rows = [
        [
            _when(r),
            r.status,
            r.mark or "",
            r.changed_by or r.run_id,
            r.rows_in,
            r.rows_rejected,
            r.spec_fingerprint or "",
            r.why or r.error or "",
        ]
        for r in states
    ]
    return table(["when (UTC)", "status", "mark", "by", "rows_in", "rejected", "spec", "why"], rows)


def rejects_text(files: Sequence[dict[str, Any]]) -> str:
    """Per file: its counts, then each reason with its row count and examples."""
    import json

    lines = []
    for f in files:
        lines.append(f"{f['file']} ({f['status']}): {f['rows_rejected']} of {f['rows_in']} rows rejected")
        for r in f["reasons"]:
            lines.append(f"  {r['rows']:>7}  {r['reason']}")
            for e in r["examples"]:
                shown = e.get("line") if "line" in e else json.dumps(e.get("values"), ensure_ascii=False)
                lines.append(f"           row {e['row']}: {shown}")
    return "\n".join(lines)
