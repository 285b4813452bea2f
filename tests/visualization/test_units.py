"""The pieces of a projection on their own: rows, features, neighbours, methods, numba cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from modelyard.registry.input_schema import Column
from modelyard.visualization import methods
from modelyard.visualization.features import (
    DataError,
    fit_encoder,
    production_points,
    training_points,
)
from modelyard.visualization.job import neighbours
from tests.visualization.helpers import FEATURES, NUMBA_CACHE, sample_csv


@dataclass
class _Log:
    id: int
    input: Any
    output: Any


def test_numbers_are_robust_scaled_by_the_fit_rows() -> None:
    columns = [Column(name="a"), Column(name="b", type="int")]
    rows = [{"a": v, "b": 10 * v} for v in (1.0, 2.0, 3.0, 4.0, 5.0, 100.0)]
    encoder = fit_encoder(columns, rows, runtime=None, max_categories=10)
    features, notes = encoder.encode(rows)
    assert notes == []
    # median 3.5, interquartile range 4.75 - 2.25 = 2.5 (numpy's linear percentiles)
    assert features[:, 0].tolist() == pytest.approx([(v - 3.5) / 2.5 for v in (1, 2, 3, 4, 5, 100)])
    assert features[:, 1].tolist() == pytest.approx(features[:, 0].tolist())


def test_text_columns_are_one_hot_with_an_other_bucket() -> None:
    columns = [Column(name="colour", type="str")]
    fit_rows = [{"colour": c} for c in ["red"] * 3 + ["blue"] * 2 + ["green"]]
    encoder = fit_encoder(columns, fit_rows, runtime=None, max_categories=2)
    features, _ = encoder.encode([{"colour": "red"}, {"colour": "blue"}, {"colour": "mauve"}])
    assert features.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_missing_and_non_numeric_cells_are_filled_with_the_median_and_said() -> None:
    columns = [Column(name="a")]
    rows = [{"a": "1"}, {"a": "nan"}, {"a": ""}, {"a": "3"}, {"a": "abc"}, {"a": float("inf")}]
    encoder = fit_encoder(columns, rows, runtime=None, max_categories=5)
    features, notes = encoder.encode(rows)
    assert np.isfinite(features).all()
    assert features[1, 0] == features[2, 0] == 0.0  # the median, scaled
    assert notes == ["column 'a': 4 missing or non-numeric values filled with the training median"]


class _Embedder:
    """A model runtime with an embedding: texts about space land far from texts about food."""

    kind = "classifier"
    classes: ClassVar[list[str]] = ["food", "space"]
    n_features = 1
    feature_names = None

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[t.count("rocket"), t.count("bread"), len(t) / 100] for t in texts])

    def predict(self, matrix: np.ndarray) -> Any:
        raise AssertionError("not called")


def test_the_models_embedding_is_used_when_it_has_one() -> None:
    runtime = _Embedder()
    columns = [Column(name="text", type="str")]
    rows = [{"text": "rocket rocket"}, {"text": "bread"}]
    encoder = fit_encoder(columns, rows, runtime=runtime, max_categories=5)  # type: ignore[arg-type]
    features, _ = encoder.encode(rows, runtime)  # type: ignore[arg-type]
    assert encoder.embedding
    assert features.tolist() == [[2, 0, 0.13], [0, 1, 0.05]]
    assert runtime.calls == [["rocket rocket", "bread"]]


def test_an_embedding_of_the_wrong_shape_is_a_data_error() -> None:
    class Broken(_Embedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros(len(texts))

    encoder = fit_encoder([Column(name="t", type="str")], [], runtime=Broken(), max_categories=1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="shape"):
        encoder.encode([{"t": "x"}], Broken())  # type: ignore[arg-type]


def test_production_rows_come_with_the_answers_of_their_request() -> None:
    columns = [Column(name="x"), Column(name="y")]
    logs = [
        _Log(9, [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
             {"predictions": ["a", "b"], "probabilities": [[0.9, 0.1], [0.3, 0.7]]}),
        _Log(8, {"X": [[5, 6]]}, {"predictions": ["a"]}),
        _Log(7, {"truncated": True, "rows": 5000}, {"predictions": ["a"] * 5000}),
        _Log(6, [{"x": 7, "y": 8}], {"predictions": ["b"]}),
    ]  # fmt: skip
    points, notes = production_points(logs, columns, size=4)
    assert points.records == [
        {"x": 1, "y": 2},
        {"x": 3, "y": 4},
        {"x": 5, "y": 6},
        {"x": 7, "y": 8},
    ]
    assert points.labels == ["a", "b", "a", "b"]
    assert points.confidences == [0.9, 0.7, None, None]
    assert points.request_ids == [9, 9, 8, 6]
    assert notes == ["1 logged requests without their rows were left out"]
    fewer, _ = production_points(logs, columns, size=3)
    assert fewer.request_ids == [9, 9, 8]


def test_the_training_sample_is_a_seeded_sample_of_the_asked_size() -> None:
    columns = [Column(name=n) for n in FEATURES]
    first = training_points(sample_csv(100), columns, 30, seed=1, runtime=None)
    again = training_points(sample_csv(100), columns, 30, seed=1, runtime=None)
    assert len(first) == 30 and first.records == again.records
    assert first.labels == [None] * 30
    with pytest.raises(DataError, match="lacks the columns"):
        training_points(b"a,b\n1,2\n", columns, 30, seed=1, runtime=None)


def test_neighbours_are_the_nearest_others_nearest_first() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    assert neighbours(points, 2) == [[1, 2], [0, 2], [1, 0], [2, 1], [3, 2]]
    assert neighbours(points, 100) == [
        [1, 2, 3, 4],
        [0, 2, 3, 4],
        [1, 0, 3, 4],
        [2, 1, 0, 4],
        [3, 2, 1, 0],
    ]
    assert neighbours(points[:1], 100) == [[]]


def test_too_few_points_or_features_are_clear_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(methods.MethodError, match="at least 10 points; the data has 4"):
        methods.fit("umap", {}, rng.normal(size=(4, 3)), seed=0)
    with pytest.raises(methods.MethodError, match="at least 2 features; the data has 1"):
        methods.fit("pca", {"n_components": 2}, rng.normal(size=(50, 1)), seed=0)
    with pytest.raises(methods.MethodError, match="distinct points"):
        methods.fit("tsne", {}, np.ones((30, 3)), seed=0)


def test_pca_places_new_points_with_the_fitted_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    fitted = methods.fit("pca", {"n_components": 3}, x, seed=0)
    assert fitted.low.shape == (40, 3)
    assert methods.transform(fitted, x[:5]) == pytest.approx(fitted.low[:5])


def test_trimap_projects_but_cannot_place_new_points() -> None:
    x, _ = np.random.default_rng(1).normal(size=(60, 5)), None
    fitted = methods.fit("trimap", {"n_iters": 50}, x, seed=0)
    assert fitted.low.shape == (60, 2) and np.isfinite(fitted.low).all()
    with pytest.raises(methods.MethodError, match="cannot place new points"):
        methods.transform(fitted, x[:3])


def test_tsne_in_three_dimensions_and_a_small_perplexity_on_small_data() -> None:
    x = np.random.default_rng(2).normal(size=(25, 4))
    fitted = methods.fit("tsne", {"n_components": 3, "perplexity": 50, "n_iter": 100}, x, seed=0)
    assert fitted.low.shape == (25, 3) and np.isfinite(fitted.low).all()
    assert methods.transform(fitted, x[:2]).shape == (2, 3)


def test_every_method_library_is_installed_here() -> None:
    assert {
        m: methods.missing_library(m) for m in ("umap", "tsne", "trimap", "pca")
    } == dict.fromkeys(("umap", "tsne", "trimap", "pca"))


@pytest.mark.timeout(900)  # compiling umap-learn takes minutes on a busy 2-core machine
def test_the_warm_up_compiles_into_the_configured_numba_cache() -> None:
    methods.configure_numba_cache(NUMBA_CACHE)
    cache = os.environ["NUMBA_CACHE_DIR"]
    import numba

    if Path(numba.config.CACHE_DIR or "") != Path(cache):
        pytest.skip("numba was imported with another cache folder before this test")
    methods.warm_up()
    files = [name for _, _, names in os.walk(cache) for name in names]
    assert any(name.endswith((".nbi", ".nbc")) for name in files)
