"""Plots: each request draws its own figure, at the same time as others, safely."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi.testclient import TestClient

from modelyard.evaluation import plots
from tests.evaluation.helpers import BASE, create
from tests.helpers import Account


def test_eight_concurrent_first_time_plots_each_show_their_own_matrix(
    client: TestClient, owner: Account
) -> None:
    matrices = [[[n + 1, 1], [2, 10 * n + 3]] for n in range(8)]
    uids = [
        create(client, owner, matrix=m, name=f"model {n}")["uid"] for n, m in enumerate(matrices)
    ]

    def fetch(uid: str) -> tuple[int, bytes]:
        response = client.get(f"{BASE}/{uid}/plot", headers=owner.headers)
        return response.status_code, response.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(fetch, uids))
    assert [status for status, _ in answers] == [200] * 8
    images = [image for _, image in answers]
    assert len(set(images)) == 8
    for n, image in enumerate(images):
        # Drawn alone, the same matrix gives the same picture: nothing leaked between threads.
        alone = plots.matrix_png(["0", "1"], np.array(matrices[n]), title=f"model {n}")
        assert image == alone
        # ...and the cached copy served next is that picture too.
        assert fetch(uids[n])[1] == image


def test_labels_that_look_like_math_or_are_long() -> None:
    image = plots.matrix_png(
        ["$\\frac{", "x" * 300, "plain"], np.arange(9).reshape(3, 3), normalized=True
    )
    assert image.startswith(b"\x89PNG")


def test_many_classes_are_drawn_without_cell_numbers() -> None:
    image = plots.matrix_png(
        [str(i) for i in range(40)], np.eye(40, dtype=np.int64), max_annotations=900
    )
    assert image.startswith(b"\x89PNG")


def test_curve_png_skips_undefined_points() -> None:
    image = plots.curve_png(
        "PR curve",
        "recall",
        "precision",
        {"a": ([1.0, None, 0.5], [0.5, None, 1.0])},
        {"a": None},
        diagonal=False,
    )
    assert image.startswith(b"\x89PNG")
