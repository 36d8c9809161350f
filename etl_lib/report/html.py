"""The HTML report as one self-contained page: inline CSS and SVG, no script, nothing fetched.

``render`` takes a ``LakeReport`` and two link makers (a lake key to an href, and a file's
Data Docs page), so the same page links right whether it sits in the lake or elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html import escape

from etl_lib.report.charts import LINE, STATUS_COLOURS, Point, columns, horizontal_bars, strip
from etl_lib.report.collect import DatasetReport, Example, FileOutcome, LakeReport, RunView

Href = Callable[[str], str | None]
"""A lake key to a link (None: no link)."""

_CSS = """
:root { color-scheme: light; --muted: #5f6b7a; --line: #dde3ea; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2733;
       background: #f6f8fa; }
header { background: #1d2733; color: #fff; padding: 16px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #c9d3de; }
main { padding: 20px 28px 40px; max-width: 1280px; }
section.dataset { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
                  margin: 18px 0; }
h2 { margin: 0 0 4px; font-size: 18px; }
h3 { margin: 20px 0 8px; font-size: 15px; }
p.muted, span.muted, td.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff; font-size: 12px; }
details > summary { cursor: pointer; color: #1f5aa6; }
code, .raw { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.raw { white-space: pre-wrap; word-break: break-all; background: #f3f5f7; padding: 2px 6px; border-radius: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; }
svg .axis { font: 11px system-ui, sans-serif; fill: #5f6b7a; }
svg .value { font: 11px system-ui, sans-serif; fill: #1d2733; }
svg .grid { stroke: #c5ced8; stroke-width: 1; }
nav ul { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 6px 16px; }
nav a { color: #fff; }
a { color: #1f5aa6; }
"""


def render(
    report: LakeReport, href: Href, docs: Mapping[tuple[str, str], str] | None = None, docs_index: str | None = None
) -> str:
    """The report page. ``docs``: (dataset, source key) -> link to the file's Data Docs page."""
    docs = docs or {}
    when = _time(report.generated_at)
    nav = "".join(
        f'<li><a href="#ds-{escape(d.name)}">{escape(d.name)}</a> {_last_status(d)}</li>' for d in report.datasets
    )
    docs_link = f' · <a href="{escape(docs_index)}" style="color:#fff">Data Docs</a>' if docs_index else ""
    body = [
        f"<header><h1>etl_lib report</h1><p>{escape(report.lake)} · made {when}{docs_link}</p>"
        f"<nav><ul>{nav}</ul></nav></header><main>",
        _overview(report),
        *(_dataset(d, href, docs) for d in report.datasets),
        "</main>",
    ]
    if not report.datasets:
        body.insert(1, '<p class="muted">The ledger has no runs yet.</p>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>etl_lib report · {escape(report.lake)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def _badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#5f6b7a")
    return f'<span class="status" style="background:{colour}">{escape(status)}</span>'


def _last_status(d: DatasetReport) -> str:
    return _badge(d.runs[0].run.status) if d.runs else '<span class="muted">no runs</span>'


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    lines = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def _overview(report: LakeReport) -> str:
    rows = []
    for d in report.datasets:
        last = d.runs[0].run if d.runs else None
        rows_in = sum(x.rows_in for x in d.deliveries)
        rejected = sum(x.rows_rejected for x in d.deliveries)
        failing = sum(1 for e in d.expectations if not e.latest_success)
        rows.append(
            [
                f'<a href="#ds-{escape(d.name)}">{escape(d.name)}</a>',
                (_badge(last.status) + f' <span class="muted">{_time(last.started_at)}</span>') if last else "–",
                str(d.files_known),
                str(len(d.failed_files)),
                f"{rows_in:,}",
                _share(rejected, rows_in),
                str(failing) if d.expectations else "–",
            ]
        )
    headers = ["dataset", "last run", "files", "failed files", "rows read", "rejected", "expectations failing"]
    return "<h2>Datasets</h2>" + _table(headers, rows, {2, 3, 4, 5, 6})


def _dataset(d: DatasetReport, href: Href, docs: Mapping[tuple[str, str], str]) -> str:
    parts = [
        f'<section class="dataset" id="ds-{escape(d.name)}"><h2>{escape(d.name)}</h2>',
        f'<p class="muted">{escape(d.description)}</p>' if d.description else "",
        _runs(d, href),
        _trends(d),
        _rules(d, href),
        _failed(d),
        _expectations(d, docs),
        "</section>",
    ]
    return "".join(parts)


def _runs(d: DatasetReport, href: Href) -> str:
    if not d.runs:
        return '<h3>Runs</h3><p class="muted">No runs yet.</p>'
    oldest_first = [
        Point(
            f"{_time(v.run.started_at)} {v.run.stage}: {v.run.status}, {v.run.files} file(s), "
            f"{v.run.rows_in:,} rows in",
            1,
            STATUS_COLOURS.get(v.run.status, "#5f6b7a"),
        )
        for v in reversed(d.runs)
    ]
    rows = [
        [
            _time(v.run.started_at),
            escape(v.run.stage),
            _badge(v.run.status),
            str(v.run.files),
            str(v.run.files_failed),
            f"{v.run.rows_in:,}",
            f"{v.run.rows_valid:,}",
            f"{v.run.rows_rejected:,}",
            f"{v.run.rows_analytics:,}",
            str(v.run.warning_count),
            _seconds(v.duration_s),
            _run_files(v, href) + (f"<div>{escape(v.run.error)}</div>" if v.run.error else ""),
        ]
        for v in d.runs
    ]
    headers = ["started", "stage", "status", "files", "failed", "rows in", "valid", "rejected", "analytics-ready",
               "warnings", "took", "files and reasons"]  # fmt: skip
    return (
        f"<h3>Runs</h3><p class=muted>The latest {len(d.runs)}, oldest to newest:</p>"
        + strip(oldest_first, f"{d.name}: status of the latest runs, oldest first")
        + _table(headers, rows, {3, 4, 5, 6, 7, 8, 9, 10})
    )


def _run_files(v: RunView, href: Href) -> str:
    if not v.files:
        return '<span class="muted">no files</span>'
    rows = [_file_row(f, href) for f in v.files]
    headers = ["file", "outcome", "rows in", "valid", "rejected", "took", "reason", "receipt"]
    return f"<details><summary>{len(v.files)} file(s)</summary>{_table(headers, rows, {2, 3, 4, 5})}</details>"


def _file_row(f: FileOutcome, href: Href) -> list[str]:
    reason = escape(f.error or "") + "".join(f"<div>warning: {escape(w)}</div>" for w in f.warnings)
    link = href(f.receipt_key) if f.receipt_key else None
    return [
        f"<code>{escape(f.source_key)}</code>",
        _badge(f.status),
        f"{f.rows_in:,}",
        f"{f.rows_valid:,}",
        f"{f.rows_rejected:,}",
        _seconds(f.duration_s),
        reason,
        f'<a href="{escape(link)}">receipt</a>' if link else "",
    ]


def _trends(d: DatasetReport) -> str:
    if not d.deliveries:
        return ""
    rows = [
        Point(f"{_time(x.delivered_at)} {x.source_key}: {x.rows_in:,} rows", x.rows_in, STATUS_COLOURS["failed"])
        if x.status == "failed"
        else Point(f"{_time(x.delivered_at)} {x.source_key}: {x.rows_in:,} rows", x.rows_in)
        for x in d.deliveries
    ]
    shares = [Point(f"{_time(x.delivered_at)} {x.source_key}", x.rejected_share, LINE) for x in d.deliveries]
    return (
        f"<h3>Trends</h3><p class=muted>Per delivery, in delivery order ({len(d.deliveries)} latest; a failed "
        "file in red).</p><p>Rows per delivery</p>"
        + columns(rows, f"{d.name}: rows per delivery")
        + "<p>Rejected share per delivery</p>"
        + columns(shares, f"{d.name}: rejected share per delivery", height=120, percent=True)
    )


def _rules(d: DatasetReport, href: Href) -> str:
    if not d.rules:
        return '<h3>Rejected rows by reason</h3><p class="muted">No rejected rows.</p>'
    chart = horizontal_bars([Point(r.rule, r.rows) for r in d.rules[:12]], f"{d.name}: rejected rows by reason")
    rows = [
        [escape(r.rule), f"{r.rows:,}", str(r.files), _examples(r.examples, href) if r.examples else ""]
        for r in d.rules
    ]
    return (
        "<h3>Rejected rows by reason</h3><p class=muted>Over every file's current outcome; a row counts under "
        "each rule it failed.</p>" + chart + _table(["rule", "rows", "files", "examples"], rows, {1, 2})
    )


def _examples(examples: Sequence[Example], href: Href) -> str:
    out = []
    for e in examples:
        where = f"line {e.line} of " if e.line else ""
        link = href(e.receipt_key) if e.receipt_key else None
        receipt = f' (<a href="{escape(link)}">receipt</a>)' if link else ""
        problems = "; ".join(e.problems)
        out.append(
            f'<div>{where}<code>{escape(e.source_key)}</code>{receipt}: <span class="raw">{escape(e.delivered)}</span>'
            f'<div class="muted">{escape(problems)}</div></div>'
        )
    return f"<details><summary>{len(examples)} example(s)</summary>{''.join(out)}</details>"


def _failed(d: DatasetReport) -> str:
    if not d.failed_files:
        return ""
    rows = [[f"<code>{escape(f.source_key)}</code>", _time(f.delivered_at)] for f in d.failed_files]
    return (
        "<h3>Files that failed whole</h3><p class=muted>Their reasons are in the runs above; "
        "<code>etl-lib rejects</code> and <code>etl-lib reprocess</code> act on them.</p>"
        + _table(["file", "delivered"], rows)
    )


def _expectations(d: DatasetReport, docs: Mapping[tuple[str, str], str]) -> str:
    if not d.expectations:
        return ""
    rows = [
        [
            f"<code>{escape(e.expectation)}</code>",
            f"<code>{escape(e.arguments)}</code>",
            escape(e.on_failure),
            str(e.passed),
            str(e.failed),
            _badge("succeeded" if e.latest_success else "failed") + f" {escape(e.latest_observed)}",
        ]
        for e in d.expectations
    ]
    pages = [
        f'<li><a href="{escape(docs[(d.name, v.source_key)])}"><code>{escape(v.source_key)}</code></a> '
        f"{_badge('succeeded' if v.success else 'failed')} {v.checks - v.failed}/{v.checks} passed</li>"
        for v in d.validations
        if (d.name, v.source_key) in docs
    ]
    listing = f"<p>Data Docs per file:</p><ul>{''.join(pages)}</ul>" if pages else ""
    headers = ["expectation", "arguments", "on failure", "files passed", "files failed", "latest"]
    return (
        "<h3>Expectations</h3><p class=muted>Over each file's latest validation.</p>"
        + _table(headers, rows, {3, 4})
        + listing
    )
