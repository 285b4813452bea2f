"""A scikit-learn model's runtime: it skips scikit-learn's finiteness check only for a matrix
it has seen to be finite, for that call and thread only."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from modelyard.registry.loaders import SklearnRuntime


class Recorder:
    """A model that notes scikit-learn's ``assume_finite`` while it predicts."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        self.seen.append(sklearn.get_config()["assume_finite"])
        return matrix[:, 0]


def test_a_finite_matrix_skips_the_check_for_that_call_only() -> None:
    model = Recorder()
    runtime = SklearnRuntime(model)
    assert runtime.predict(np.array([[1.5, 2.0]])).predictions == [1.5]
    assert runtime.predict(np.array([[np.nan, 2.0]])).predictions[0] != 1.5
    assert runtime.predict(np.array([[np.inf, 2.0]])).predictions == [np.inf]
    assert runtime.predict(np.array([[1, 2]])).predictions == [1]  # integers: not looked at
    assert model.seen == [True, False, False, False]
    assert sklearn.get_config()["assume_finite"] is False


def test_the_setting_is_put_back_when_the_model_raises() -> None:
    class Failing(Recorder):
        def predict(self, matrix: np.ndarray) -> np.ndarray:
            super().predict(matrix)
            raise RuntimeError("boom")

    runtime = SklearnRuntime(Failing())
    with pytest.raises(RuntimeError):
        runtime.predict(np.array([[1.0]]))
    assert sklearn.get_config()["assume_finite"] is False


def test_an_operators_own_setting_is_kept() -> None:
    model = Recorder()
    with sklearn.config_context(assume_finite=True):
        SklearnRuntime(model).predict(np.array([[np.nan]]))
        assert sklearn.get_config()["assume_finite"] is True
    assert model.seen == [True]


def test_other_threads_keep_the_check_while_one_predicts() -> None:
    inside, release = threading.Event(), threading.Event()
    seen_elsewhere: list[Any] = []

    class Waiting(Recorder):
        def predict(self, matrix: np.ndarray) -> np.ndarray:
            inside.set()
            release.wait(10)
            return super().predict(matrix)

    def other() -> None:
        inside.wait(10)
        seen_elsewhere.append(sklearn.get_config()["assume_finite"])
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    SklearnRuntime(Waiting()).predict(np.array([[1.0]]))
    thread.join()
    assert seen_elsewhere == [False]


def test_a_real_model_answers_the_same_and_still_refuses_nan() -> None:
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    model = LogisticRegression().fit(features, labels)
    runtime = SklearnRuntime(model)
    assert runtime.predict(features[:5]).probabilities == model.predict_proba(features[:5]).tolist()
    with pytest.raises(ValueError, match="NaN"):
        runtime.predict(np.array([[np.nan, 1.0, 2.0]]))
