"""What the mlup tests share: the document's rows, its error shape, and models the operator
hands `modelyard serve --model` as pickles (they run code, on purpose)."""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

import numpy as np

# The document's two rows of six features.
ROWS = [[1, 2, 3, 4, 5, 6], [7, 6, 5, 4, 3, 2]]


def is_mlup_error(body: Any, response: Any) -> None:
    """mlup's error body: detail items of exactly loc, msg, type; the header's predict id."""
    assert set(body) == {"detail", "predict_id"}
    assert body["predict_id"] == response.headers["X-Predict-Id"]
    for item in body["detail"]:
        assert set(item) == {"loc", "msg", "type"}
        assert isinstance(item["loc"], list) and isinstance(item["msg"], str)


class SlowClassifier:
    """A binary classifier that takes ``delay`` seconds per call (to hold requests in flight)."""

    def __init__(self, n_features: int = 6, delay: float = 0.5) -> None:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = n_features
        self.delay = delay
        self.calls: list[int] = []

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        self.calls.append(len(matrix))
        time.sleep(self.delay)
        first = (matrix[:, 0] > 0).astype(float)
        return np.column_stack([1 - first, first])

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.predict_proba(matrix).argmax(axis=1)


class Exploding:
    """A regressor whose every call fails."""

    n_features_in_ = 6

    def predict(self, matrix: Any) -> Any:
        if np.all(np.asarray(matrix) == 0):
            return np.zeros(len(matrix))  # the registry's shape check passes
        raise ValueError("boom")


def pickled(model: object) -> bytes:
    return pickle.dumps(model)


class GatedClassifier:
    """A binary classifier whose calls wait until the test opens ``gate`` (no timing guesses)."""

    def __init__(self, n_features: int = 6) -> None:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = n_features
        self.gate = threading.Event()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "gate"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.gate = threading.Event()

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        if not self.gate.wait(60):
            raise TimeoutError("the test never opened the gate")
        first = (matrix[:, 0] > 0).astype(float)
        return np.column_stack([1 - first, first])

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.predict_proba(matrix).argmax(axis=1)
