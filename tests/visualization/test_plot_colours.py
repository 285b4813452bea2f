"""The projection PNG colours training points by class, in the dashboard's colours."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from modelyard.visualization.plots import CLASS_COLOURS, class_order, scatter_png


def _bluish_pixels(png: bytes) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, blue = pixels[..., 0], pixels[..., 2]
    return int(((blue - red) > 40).sum())


def test_training_points_are_coloured_by_class() -> None:
    rng = np.random.default_rng(0)
    training = rng.normal(size=(200, 2))
    labels = ["a" if x > 0 else "b" for x in training[:, 0]]
    empty = np.zeros((0, 2))
    coloured = scatter_png(
        training, empty, None, title="t", training_labels=labels, classes=["a", "b"]
    )
    grey = scatter_png(training, empty, None, title="t")
    # Class "a" is the palette's first colour (blue); without labels every point is grey.
    assert CLASS_COLOURS[0] == "#2563eb"
    assert _bluish_pixels(coloured) > _bluish_pixels(grey) + 200


def test_class_order_is_the_pages() -> None:
    production = {"classes": [1, 2], "data": [2, 2, 1]}
    training = {"classes": [1, 2], "data": [0, 1, 3]}
    assert class_order(production, training) == ["1", "2", "0", "3"]
