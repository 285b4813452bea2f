"""The projection as a PNG scatter plot and as a parquet file.

Plots use matplotlib's object API on the Agg canvas (a ``Figure`` per call, never pyplot), as
``evaluation/plots.py`` does, so concurrent jobs never draw into each other's figures.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["CLASS_COLOURS", "class_order", "parquet_bytes", "scatter_png"]

_MAX_LEGEND = 20
# The dashboard's class colours (web/charts.py PALETTE), in the same order, so a class has one
# colour on the page's scatter and in this PNG.
CLASS_COLOURS = [
    "#2563eb",
    "#f97316",
    "#16a34a",
    "#9333ea",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4f46e5",
]


def class_order(production: dict[str, Any], training: dict[str, Any]) -> list[str]:
    """The classes of a result's two ``class`` colourings as the dashboard orders them (the
    production colouring's classes, then its labels, then the training one's), as text."""
    order: list[str] = []
    for colouring in (production, training):
        for value in [*(colouring.get("classes") or []), *(colouring.get("data") or [])]:
            if value is not None and str(value) not in order:
                order.append(str(value))
    return order


def _text(value: Any) -> str:
    label = str(value)
    label = label if len(label) <= 30 else label[:29] + "…"
    # A "$" would start matplotlib's math parser.
    return label.replace("$", r"\$")


def scatter_png(
    training: np.ndarray,
    production: np.ndarray,
    labels: list[Any] | None,
    *,
    title: str,
    training_labels: list[Any] | None = None,
    classes: list[str] | None = None,
) -> bytes:
    """Points coloured by the class the model gave, in the dashboard's colours (``classes``
    orders them): training points small and pale, production points full."""
    # Imported here: matplotlib costs 0.5 s and 35 MB, paid by the first plot, not at start.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 6.0), dpi=100)
    axes = figure.add_subplot()
    order = classes if classes is not None else sorted({str(v) for v in labels or []})
    colour = {name: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, name in enumerate(order)}
    by_class = 0 < len(order) <= _MAX_LEGEND
    if len(training):
        if by_class and training_labels is not None and len(training_labels) == len(training):
            fills = [colour.get(str(v), "#b0b0b0") for v in training_labels]
            axes.scatter(training[:, 0], training[:, 1], s=6, c=fills, alpha=0.35)
        else:
            axes.scatter(training[:, 0], training[:, 1], s=6, c="#b0b0b0", alpha=0.6)
        axes.scatter([], [], s=6, c="#b0b0b0", alpha=0.6, label="training (small, pale)")
    if len(production):
        if by_class and labels:
            for name in order:
                mask = np.array([str(v) == name for v in labels])
                if mask.any():
                    axes.scatter(
                        production[mask, 0],
                        production[mask, 1],
                        s=12,
                        color=colour[name],
                        label=_text(name),
                    )
        else:
            axes.scatter(production[:, 0], production[:, 1], s=10, c="#1f77b4", label="production")
    elif by_class and training_labels is not None:
        for name in order:  # a legend of the classes the training points are coloured by
            axes.scatter([], [], s=12, color=colour[name], label=_text(name))
    if len(training) or len(production):
        axes.legend(loc="best", fontsize=8, markerscale=2)
    dims = training.shape[1] if len(training) else production.shape[1] if len(production) else 2
    suffix = " (first 2 of 3 components)" if dims == 3 else ""
    axes.set_title(_text(title) + suffix, fontsize=11)
    axes.set_xlabel("component 1")
    axes.set_ylabel("component 2")
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    figure.clear()
    return buffer.getvalue()


def parquet_bytes(result: dict[str, Any]) -> bytes:
    """One row per point: source, request id, label, confidence, the coordinates and a vector."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sources: list[str] = []
    request_ids: list[int | None] = []
    labels: list[str | None] = []
    confidences: list[float | None] = []
    points: list[list[float]] = []
    for source, data_key, labels_key in (
        ("training", "training_data", "training_class_labels"),
        ("production", "data", "class_labels"),
    ):
        data = result[data_key]
        colouring = result[labels_key]
        classes = colouring.get("class", {}).get("data") or [None] * len(data)
        confidence = colouring.get("confidence", {}).get("data") or [None] * len(data)
        ids = result["request_ids"] if source == "production" else [None] * len(data)
        for i, point in enumerate(data):
            sources.append(source)
            request_ids.append(ids[i])
            labels.append(None if classes[i] is None else str(classes[i]))
            confidences.append(confidence[i])
            points.append([float(v) for v in point])
    width = len(points[0]) if points else 2
    columns: dict[str, Any] = {
        "source": pa.array(sources, pa.string()),
        "request_id": pa.array(request_ids, pa.int64()),
        "label": pa.array(labels, pa.string()),
        "confidence": pa.array(confidences, pa.float64()),
        "transformed_embedding": pa.array(points, pa.list_(pa.float64())),
    }
    for axis, name in zip(range(width), ("x", "y", "z"), strict=False):
        columns[name] = pa.array([p[axis] for p in points], pa.float64())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()
