"""The projection as a PNG scatter plot and as a parquet file.

Plots use matplotlib's object API on the Agg canvas (a ``Figure`` per call, never pyplot), as
``evaluation/plots.py`` does, so concurrent jobs never draw into each other's figures.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["parquet_bytes", "scatter_png"]

_MAX_LEGEND = 20


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
) -> bytes:
    """Training points in grey, production points coloured by the class the model gave."""
    # Imported here: matplotlib costs 0.5 s and 35 MB, paid by the first plot, not at start.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 6.0), dpi=100)
    axes = figure.add_subplot()
    if len(training):
        axes.scatter(training[:, 0], training[:, 1], s=6, c="#b0b0b0", alpha=0.6, label="training")
    if len(production):
        classes = sorted({str(v) for v in labels}) if labels else []
        if classes and len(classes) <= _MAX_LEGEND:
            palette = colormaps["tab20" if len(classes) > 10 else "tab10"]
            for index, name in enumerate(classes):
                mask = np.array([str(v) == name for v in labels or []])
                axes.scatter(
                    production[mask, 0],
                    production[mask, 1],
                    s=10,
                    color=palette(index % palette.N),
                    label=_text(name),
                )
        else:
            axes.scatter(production[:, 0], production[:, 1], s=10, c="#1f77b4", label="production")
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
