"""Small charts drawn as SVG on the server: no chart library, no script, nothing fetched.

Every label is escaped; the SVG scales to the width of its container (phone or laptop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from markupsafe import Markup, escape

__all__ = [
    "LATENCY_COLOURS",
    "PALETTE",
    "STATUS_COLOURS",
    "ScatterPoint",
    "bar_chart",
    "gradient_colour",
    "line_chart",
    "number",
    "scatter_plot",
    "when",
]

# Class colours (the projection PNG uses the same list: visualization/plots.py CLASS_COLOURS).
# No red and no grey: those say "failed" and "succeeded" (STATUS_COLOURS), on every chart.
PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4f46e5"]
STATUS_COLOURS = {"succeeded": "#64748b", "failed": "#dc2626"}
LATENCY_COLOURS = {"mean ms": "#334155", "max ms": "#94a3b8"}
_W, _H = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 32, 48


def number(value: object, digits: int = 4) -> str:
    """A statistic as people read it: ``None`` and NaN as a dash, floats rounded."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "—"
        return (
            f"{value:.{digits}g}"
            if abs(value) >= 1e5 or 0 < abs(value) < 1e-3
            else (f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0")
        )
    return str(value)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


_TICKS = 4  # grid lines above the axis


def _nice_max(value: float, *, whole: bool = False) -> float:
    """The axis's top: four equal steps of 1, 2, 2.5 or 5 times a power of ten, the first
    that reaches ``value``; whole steps only when the values are counts (no 62.5 requests)."""
    if value <= 0:
        return float(_TICKS) if whole else 1.0
    raw = value / _TICKS
    exponent = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * exponent
        if step >= raw and (not whole or (step >= 1 and float(step).is_integer())):
            return step * _TICKS
    return max(1.0, float(math.ceil(raw))) * _TICKS


def _whole(values: Sequence[float | None]) -> bool:
    return all(v is None or float(v).is_integer() for v in values)


def _frame(title: str, y_label: str, top: float, x_labels: Sequence[str], slot: float) -> list[str]:
    parts = [
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT}" y="16" class="chart-title">{escape(title)}</text>',
        f'<text x="12" y="{_TOP + (_H - _TOP - _BOTTOM) / 2}" class="chart-axis" '
        f'transform="rotate(-90 12 {_TOP + (_H - _TOP - _BOTTOM) / 2})" text-anchor="middle">'
        f"{escape(y_label)}</text>",
    ]
    plot_h = _H - _TOP - _BOTTOM
    for i in range(_TICKS + 1):
        y = _TOP + plot_h - plot_h * i / _TICKS
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="chart-grid"/>'
            f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="chart-tick">'
            f"{escape(number(top * i / _TICKS, 3))}</text>"
        )
    # At most ~8 x labels, evenly spaced, so they never overlap.
    every = max(1, math.ceil(len(x_labels) / 8))
    for index, label in enumerate(x_labels):
        if index % every == 0:
            x = _LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle" '
                f'class="chart-tick">{escape(label)}</text>'
            )
    return parts


def _colour(name: str, index: int, colours: Mapping[str, str] | None) -> str:
    """A series' colour: the one it was given (a status, a class), else the palette's next."""
    if colours is not None and name in colours:
        return colours[name]
    return PALETTE[index % len(PALETTE)]


def _legend(names: Sequence[str], colours: Mapping[str, str] | None = None) -> list[str]:
    parts, x = [], float(_LEFT)
    for index, name in enumerate(names[:8]):
        colour = _colour(name, index, colours)
        parts.append(
            f'<rect x="{x:.1f}" y="{_H - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{_H - 5}" class="chart-tick">{escape(name[:24])}</text>'
        )
        x += 24 + 7 * min(len(name), 24)
    return parts


def _svg(parts: list[str], label: str) -> Markup:
    body = "".join(parts)
    return Markup(  # noqa: S704 - every piece of text above went through escape()
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def bar_chart(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    y_label: str,
    colours: Mapping[str, str] | None = None,
) -> Markup:
    """Bars per x label; several series are stacked, each in its own colour with a legend."""
    names = list(series)
    totals = [sum(series[name][i] for name in names) for i in range(len(x_labels))]
    top = _nice_max(max(totals, default=0.0), whole=_whole(totals))
    slot = (_W - _LEFT - _RIGHT) / max(1, len(x_labels))
    plot_h = _H - _TOP - _BOTTOM
    parts = _frame(title, y_label, top, x_labels, slot)
    for i, label in enumerate(x_labels):
        base = 0.0
        for index, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y = _TOP + plot_h - plot_h * base / top - h
            parts.append(
                f'<rect x="{_LEFT + slot * i + slot * 0.12:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.76:.1f}" height="{h:.1f}" '
                f'fill="{_colour(name, index, colours)}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(number(value))}</title></rect>"
            )
            base += value
    if len(names) > 1:
        parts += _legend(names, colours)
    return _svg(parts, title)


def line_chart(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    y_label: str,
    colours: Mapping[str, str] | None = None,
) -> Markup:
    """One line per series; a missing value breaks the line."""
    names = list(series)
    values = [v for name in names for v in series[name] if v is not None]
    top = _nice_max(max(values, default=0.0), whole=_whole(values))
    slot = (_W - _LEFT - _RIGHT) / max(1, len(x_labels))
    plot_h = _H - _TOP - _BOTTOM
    parts = _frame(title, y_label, top, x_labels, slot)
    for index, name in enumerate(names):
        colour = _colour(name, index, colours)
        points: list[str] = []
        for i, value in enumerate(series[name]):
            if value is None:
                continue
            x = _LEFT + slot * (i + 0.5)
            y = _TOP + plot_h - plot_h * value / top
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(x_labels[i])} · {escape(name)}: {escape(number(value))}</title>"
                "</circle>"
            )
        if len(points) > 1:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
    parts += _legend(names, colours)
    return _svg(parts, title)


# --- the projection scatter ----------------------------------------------------------------

_SW, _SH, _PAD = 640, 480, 16
_MISSING = "#9ca3af"
# Low to high: red, amber, green (a confidence reads at a glance).
_RAMP = ((0.0, (220, 38, 38)), (0.5, (234, 179, 8)), (1.0, (22, 163, 74)))


def gradient_colour(value: float | None, low: float = 0.0, high: float = 1.0) -> str:
    """The ramp's colour for ``value`` between ``low`` and ``high``; grey when missing."""
    if value is None or not math.isfinite(value):
        return _MISSING
    t = 0.5 if high <= low else min(1.0, max(0.0, (value - low) / (high - low)))
    for (t0, c0), (t1, c1) in pairwise(_RAMP):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            r, g, b = (round(a + (z - a) * f) for a, z in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return _MISSING


@dataclass
class ScatterPoint:
    """One projected point: where it is, what it is, and its colour in each colouring."""

    x: float
    y: float
    source: str  # "training" or "production"
    index: int  # its position among the points of its source
    fills: dict[str, str] = field(default_factory=dict)  # colouring name -> colour
    values: dict[str, str] = field(default_factory=dict)  # colouring name -> shown value
    request_id: object = None


def scatter_plot(points: Sequence[ScatterPoint], *, title: str, colouring: str) -> Markup:
    """Every point as a circle, scaled to fit with equal axes; its data in data- attributes.

    Production points are focusable (keyboard users get the same tooltip as the mouse);
    ``colouring`` names the colouring drawn first, the page's script switches the others.
    """
    finite = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    xs, ys = [p.x for p in finite], [p.y for p in finite]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    span = max(x1 - x0, y1 - y0) or 1.0
    scale = min((_SW - 2 * _PAD) / span, (_SH - 2 * _PAD) / span)
    cx0 = _SW / 2 - (x0 + x1) / 2 * scale
    cy0 = _SH / 2 + (y0 + y1) / 2 * scale
    parts = [
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{_SW}" height="{_SH}" class="scatter-bg"/>',
    ]
    # Training first, so production points are drawn on top.
    for p in sorted(finite, key=lambda q: q.source != "training"):
        sx, sy = cx0 + p.x * scale, cy0 - p.y * scale
        data = "".join(
            f' data-fill-{escape(name)}="{escape(colour)}"' for name, colour in p.fills.items()
        ) + "".join(f' data-{escape(name)}="{escape(value)}"' for name, value in p.values.items())
        fill = p.fills.get(colouring, _MISSING)
        if p.source == "production":
            label = f"production point {p.index}, request {p.request_id}"
            parts.append(
                f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="4.5" class="pt pt-production" '
                f'data-source="production" data-i="{p.index}" '
                f'data-request="{escape(p.request_id)}"{data} fill="{escape(fill)}" '
                f'tabindex="0" role="img" aria-label="{escape(label)}"/>'
            )
        else:
            parts.append(
                f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="3" class="pt pt-training" '
                f'data-source="training" data-i="{p.index}"{data} fill="{escape(fill)}"/>'
            )
    body = "".join(parts)
    return Markup(  # noqa: S704 - every piece of text above went through escape()
        f'<svg class="chart scatter" viewBox="0 0 {_SW} {_SH}" role="group" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )
