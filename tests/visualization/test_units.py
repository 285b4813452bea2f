"""The pieces of a projection on their own: rows, features, neighbours, methods, numba cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import VisualizationSettings
from modelyard.db import Database
from modelyard.registry.input_schema import Column
from modelyard.visualization import methods
from modelyard.visualization.features import (
    DataError,
    fit_encoder,
    production_points,
    training_points,
)
from modelyard.visualization.job import counterfactuals, neighbours
from tests.conftest import TEST_DATABASE_URL, make_settings
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


def test_numbers_read_in_one_call_agree_with_reading_them_one_by_one() -> None:
    from modelyard.visualization.features import _number, _numbers

    numeric = [" 1.5 ", "1_000", "nan", "inf", "-Infinity", "1e400", "+.5", True, None, 3, 2.5]
    other = ["", "yes", "No", "0x10", 10**400, [1], {"a": 1}, float("nan")]
    for values in (numeric, other, numeric + other, [[1.0]] * 3, []):
        expected = np.array([_number(v) for v in values], dtype=np.float64)
        assert _numbers(values).tolist() == pytest.approx(expected.tolist(), nan_ok=True)


class _Recorder:
    """A model runtime that keeps the matrices it was asked about."""

    kind = "classifier"
    classes: ClassVar[list[str]] = ["a", "b"]
    n_features = 3
    feature_names = None

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def predict(self, matrix: np.ndarray) -> Any:
        from modelyard.registry.loaders import Prediction

        self.seen.append(np.asarray(matrix))
        return Prediction(["a"] * len(matrix), [[0.25, 0.75]] * len(matrix))


@pytest.mark.parametrize(
    ("types", "cells", "labelled"),
    [
        (("float", "int", "float"), ["1.5", "2", " 3e2 "], True),  # numbers as text: fast
        (("float", "int", "float"), ["1.5", "2.0", "-inf"], False),  # not finite
        (("float", "int", "float"), ["1.5", "2.5", "3"], False),  # not whole in an int column
        (("float", "bool", "float"), ["1.5", "yes", "3"], True),  # a bool's own rules
        (("float", "bool", "float"), ["1.5", "1.0", "3"], False),
        (("float", "str", "float"), ["1.5", "x", "3"], True),
        (("float", "float", "float"), ["1.5", "", "3"], False),  # a hole
    ],
)
def test_training_rows_reach_the_model_as_the_serving_schema_reads_them(
    types: tuple[str, str, str], cells: list[str], labelled: bool
) -> None:
    from modelyard.registry.input_schema import coerce_records

    columns = [Column(name=f"c{i}", type=t) for i, t in enumerate(types)]  # type: ignore[arg-type]
    sample = ("c0,c1,c2\n" + ",".join(cells) + "\n" + "4,1,6\n").encode()
    runtime = _Recorder()
    points = training_points(sample, columns, 10, seed=0, runtime=runtime)  # type: ignore[arg-type]
    assert points.records[0] == {"c0": cells[0], "c1": cells[1], "c2": cells[2]}
    if not labelled:
        assert runtime.seen == [] and points.labels == [None, None]
        return
    expected, errors = coerce_records(points.records, columns)
    assert errors == [] and expected is not None
    assert runtime.seen[0].tolist() == expected.tolist()
    assert points.labels == ["a", "a"] and points.confidences == [0.75, 0.75]


def test_a_short_row_of_the_training_sample_has_holes_and_no_label() -> None:
    columns = [Column(name="a"), Column(name="b")]
    runtime = _Recorder()
    points = training_points(b"b,a,b\n1,2,3\n\n4\n", columns, 10, seed=0, runtime=runtime)  # type: ignore[arg-type]
    # A repeated column name means its last column, as csv.DictReader reads it.
    assert points.records == [{"a": "2", "b": "3"}, {"a": None, "b": None}]
    assert points.labels == [None, None]


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


def test_duplicates_are_neighbours_but_a_point_never_its_own() -> None:
    # Among equal points the index may give a point's own row after another's, or not at all.
    points = np.array([[0.0], [0.0], [0.0], [5.0]])
    rows = neighbours(points, 2)
    for i in range(3):
        assert sorted(rows[i]) == sorted({0, 1, 2} - {i})
    assert len(rows[3]) == 2 and set(rows[3]) <= {0, 1, 2}


def test_counterfactuals_are_the_neighbours_of_another_class_in_order() -> None:
    top = [[1, 2, 3], [0, 2, 3], [3, 1, 0], [2, 0, 1]]
    assert counterfactuals(top, ["a", "a", "b", None]) == [[2, 3], [2, 3], [3, 1, 0], [2, 0, 1]]
    assert counterfactuals(top, [1, 1.0, True, 2]) == [[3], [3], [3], [2, 0, 1]]
    # Labels that cannot be hashed (a multi-output model's lists) are compared one by one.
    assert counterfactuals(top, [[1], [1], [2], [2]]) == [[2, 3], [2, 3], [1, 0], [0, 1]]
    assert counterfactuals([[]], ["a"]) == [[]] and counterfactuals([], []) == []


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
@pytest.mark.skipif(
    TEST_DATABASE_URL is not None,
    reason="no database or broker involved: the embedded run covers it (two minutes of CPU)",
)
def test_the_warm_up_compiles_into_the_configured_numba_cache() -> None:
    methods.configure_numba_cache(NUMBA_CACHE)
    cache = os.environ["NUMBA_CACHE_DIR"]
    import numba

    if Path(numba.config.CACHE_DIR or "") != Path(cache):
        pytest.skip("numba was imported with another cache folder before this test")
    methods.warm_up()
    files = [name for _, _, names in os.walk(cache) for name in names]
    assert any(name.endswith((".nbi", ".nbc")) for name in files)


@pytest.mark.parametrize(("executor", "warmed"), [("local", True), ("celery", False)])
def test_the_server_compiles_umap_only_when_it_runs_the_jobs_itself(
    data_dir: Path,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    executor: str,
    warmed: bool,
) -> None:
    started: list[bool] = []
    monkeypatch.setattr(methods, "start_warm_up", lambda: started.append(True))
    settings = make_settings(
        data_dir,
        database_url,
        visualization=VisualizationSettings(warm_up=True, numba_cache_dir=NUMBA_CACHE),
    )
    # Nothing listens on port 1: the API process only hands jobs to a broker, and has none
    # to hand here.
    jobs = settings.jobs.model_copy(
        update={"executor": executor, "broker_url": "redis://127.0.0.1:1/3"}
    )
    with TestClient(create_app(settings.model_copy(update={"jobs": jobs}))) as client:
        assert client.get("/visualization/health").status_code == 200
    # With Celery the workers warm themselves up (tasks.prepare_worker, at worker start).
    assert started == ([True] if warmed else [])


def test_a_worker_start_points_numba_at_the_data_folder_and_warms_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.jobs.registry import run_worker_start_hooks
    from modelyard.visualization import tasks  # noqa: F401 - registers its start hook

    started: list[bool] = []
    cache: list[Path] = []
    monkeypatch.setattr(methods, "start_warm_up", lambda: started.append(True))
    monkeypatch.setattr(methods, "configure_numba_cache", cache.append)
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'm.db'}", visualization=VisualizationSettings()
    )
    run_worker_start_hooks(settings)
    assert cache == [tmp_path / "numba-cache"] and started == [True]
