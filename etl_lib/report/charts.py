"""Small inline SVG charts for the HTML report: no script, no library, nothing fetched.

Each function returns one ``<svg>`` element as text; every mark carries a ``<title>`` (the
browser's tooltip) and the chart an ``aria-label``, and the report prints the same numbers in
a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "processed": "#2e7d32",
    "published": "#2e7d32",
    "partial": "#ef8f00",
    "failed": "#c62828",
    "running": "#1565c0",
    "claimed": "#1565c0",
}
BAR = "#3f6fb5"
LINE = "#c62828"


@dataclass(frozen=True)
class Point:
    """One mark: its label (tooltip and axis), value, and an optional colour."""

    label: str
    value: float
    colour: str = BAR


def _svg(width: int, height: int, label: str, body: Sequence[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def horizontal_bars(points: Sequence[Point], label: str, width: int = 720, bar: int = 22) -> str:
    """One bar per point, longest first as given, its label inside or left of it and its value after."""
    if not points:
        return ""
    top = max(p.value for p in points) or 1.0
    text_w, value_w = int(width * 0.45), 70
    span = width - text_w - value_w
    body = []
    for i, p in enumerate(points):
        y = i * (bar + 6)
        w = max(1.0, span * p.value / top)
        room = max(8, (text_w - 12) // 6)  # about 6 px a character at 11 px
        short = p.label if len(p.label) <= room else p.label[: room - 1] + "…"
        body.append(
            f"<g><title>{escape(p.label)}: {_number(p.value)}</title>"
            f'<text x="{text_w - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" class="axis">{escape(short)}</text>'
            f'<rect x="{text_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{p.colour}" rx="2"/>'
            f'<text x="{text_w + w + 6:.1f}" y="{y + bar * 0.7:.1f}" class="value">{_number(p.value)}</text></g>'
        )
    return _svg(width, len(points) * (bar + 6), label, body)


def columns(points: Sequence[Point], label: str, width: int = 720, height: int = 160, percent: bool = False) -> str:
    """Vertical bars in order (time runs left to right), with the top value on the axis."""
    if not points:
        return ""
    highest = max(p.value for p in points)
    top = _ceiling_share(highest) if percent else (highest or 1.0)
    left, bottom = 56, 18
    plot_w, plot_h = width - left - 8, height - bottom - 8
    step = min(plot_w / len(points), 40.0)
    gap = min(4.0, step * 0.2)
    shown_top = f"{top:.0%}" if percent else _number(top)
    body = [
        f'<line x1="{left}" y1="{8 + plot_h}" x2="{width - 8}" y2="{8 + plot_h}" class="grid"/>',
        f'<text x="{left - 6}" y="16" text-anchor="end" class="axis">{shown_top}</text>',
        f'<text x="{left - 6}" y="{8 + plot_h}" text-anchor="end" class="axis">0</text>',
    ]
    for i, p in enumerate(points):
        h = plot_h * p.value / top
        shown = f"{p.value:.1%}" if percent else _number(p.value)
        body.append(
            f"<g><title>{escape(p.label)}: {shown}</title>"
            f'<rect x="{left + i * step + gap / 2:.1f}" y="{8 + plot_h - h:.1f}" width="{max(1.0, step - gap):.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{p.colour}"/></g>'
        )
    return _svg(width, height, label, body)


def _ceiling_share(value: float) -> float:
    """The axis top of a share: the first of 1%, 2%, 5%, 10%, 25%, 50%, 100% at or above it."""
    return next((top for top in (0.01, 0.02, 0.05, 0.1, 0.25, 0.5) if value <= top), 1.0)


def strip(points: Sequence[Point], label: str, size: int = 16) -> str:
    """One square per point in order, coloured (a run's status over time)."""
    if not points:
        return ""
    body = [
        f'<g><title>{escape(p.label)}</title><rect x="{i * (size + 3)}" y="0" width="{size}" height="{size}" '
        f'fill="{p.colour}" rx="3"/></g>'
        for i, p in enumerate(points)
    ]
    return _svg(len(points) * (size + 3), size, label, body)
