"""PNG plots drawn with matplotlib's object API on the Agg canvas.

Each call builds its own ``Figure`` and canvas and drops them when it returns: pyplot is never
imported, so no global figure registry or "current figure" is shared between threads (pycm-api
drew through pyplot and answered concurrent requests with each other's images).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLOR_MAPS", "curve_png", "matrix_png"]

# A fixed list rather than every name matplotlib knows: user input picks from it.
COLOR_MAPS = (
    "Blues",
    "Greens",
    "Greys",
    "Oranges",
    "Purples",
    "Reds",
    "YlGnBu",
    "YlOrRd",
    "cividis",
    "inferno",
    "magma",
    "plasma",
    "viridis",
)
_MAX_TICK_LABEL = 20


def _short(label: str) -> str:
    short = label if len(label) <= _MAX_TICK_LABEL else label[: _MAX_TICK_LABEL - 1] + "…"
    # A "$" would start matplotlib's math parser, which fails on text it cannot read.
    return short.replace("$", r"\$")


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    figure.clear()
    return buffer.getvalue()


def matrix_png(
    labels: Sequence[str],
    matrix: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    *,
    normalized: bool = False,
    color_map: str = "Blues",
    title: str = "Confusion matrix",
    max_annotations: int = 900,
) -> bytes:
    """The matrix as a heat map: actual labels down, predicted across, counts in the cells."""
    # Imported here: matplotlib costs 0.5 s and 35 MB, paid by the first plot, not at start.
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    values = matrix.astype(np.float64)
    if normalized:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    k = len(labels)
    shown = [_short(label) for label in labels]
    side = min(4.0 + 0.45 * k, 30.0)
    # Margins from the longest tick label instead of tight_layout, which measures every text
    # and took half of the drawing time.
    label_inches = 0.6 + 0.08 * max(len(label) for label in shown)
    width, height = side + 1.5 + label_inches, side + label_inches
    figure = Figure(figsize=(width, height), dpi=100)
    figure.subplots_adjust(
        left=(0.4 + label_inches) / width,
        right=1 - 0.3 / width,
        bottom=(0.4 + label_inches) / height,
        top=1 - 0.5 / height,
    )
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap=colormaps[color_map], interpolation="nearest")
    figure.colorbar(image, ax=axes)
    axes.set_title(title)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    ticks = np.arange(k)
    axes.set_xticks(ticks, shown, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    axes.set_yticks(ticks, shown)
    if k * k <= max_annotations:
        middle = (values.max() + values.min()) / 2
        for (row, column), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalized or not float(value).is_integer() else f"{value:.0f}"
            axes.text(
                column,
                row,
                text,
                ha="center",
                va="center",
                color="white" if value > middle else "black",
                fontsize=8 if k > 10 else 10,
            )
    return _png(figure)


def curve_png(
    title: str,
    x_label: str,
    y_label: str,
    series: Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]],
    areas: Mapping[str, float | None],
    *,
    diagonal: bool,
) -> bytes:
    """One line per class; the legend carries each class's area under the curve."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 5), dpi=100)
    axes = figure.add_subplot()
    for label, (xs, ys) in series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
        area = areas.get(label)
        legend = _short(label) + (f" (AUC={area:.3f})" if area is not None else " (AUC=n/a)")
        if points:
            xs_, ys_ = zip(*sorted(points), strict=True)
            axes.plot(xs_, ys_, marker=".", linewidth=1, label=legend)
    if diagonal:
        axes.plot([0, 1], [0, 1], "k--", alpha=0.2)
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    if series:
        axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return _png(figure)
