"""The validation confusion matrix as a PNG (matplotlib's object API; pyplot is never used)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

__all__ = ["confusion_matrix_png"]

_MAX_ANNOTATED = 900


def _label(text: str) -> str:
    short = text if len(text) <= 20 else text[:19] + "…"
    return short.replace("$", r"\$")  # "$" would start matplotlib's math parser


def confusion_matrix_png(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> bytes:
    # Imported here: matplotlib costs 0.5 s and 35 MB, paid by the first plot, not at start.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(matrix, dtype=np.int64)
    size = max(4.0, min(16.0, 0.6 * len(labels) + 2))
    figure = Figure(figsize=(size, size), dpi=80)
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = range(len(labels))
    axes.set_xticks(ticks, [_label(x) for x in labels], rotation=45, ha="right")
    axes.set_yticks(ticks, [_label(x) for x in labels])
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title("Validation confusion matrix")
    if values.size <= _MAX_ANNOTATED:
        threshold = values.max() / 2 if values.size else 0
        for (row, col), count in np.ndenumerate(values):
            color = "white" if count > threshold else "black"
            axes.text(col, row, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()
