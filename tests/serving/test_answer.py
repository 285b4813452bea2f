"""The answer and the log's output are encoded once, from the same bytes, as strict JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from modelyard.registry.loaders import Prediction
from modelyard.serving.cache import ModelCache
from modelyard.serving.models import RawJSON
from modelyard.serving.service import (
    PredictResult,
    ServingCore,
    encode_output,
    predict_response,
    predict_response_json,
)
from tests.serving.helpers import serving_target

TARGET = serving_target(version=3, kind="regressor", classes=None)


def strict(raw: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(raw, parse_constant=refuse)


@pytest.mark.parametrize(
    "prediction",
    [
        Prediction(["a", "b"], [[0.25, 0.75], [1.0, 0.0]], ["a", "b"]),
        Prediction([1.5, -2.0]),
        Prediction([], [], ["x"]),
        # A label orjson refuses, which pydantic-core's encoder writes instead.
        Prediction([2**70, 1], [[0.5, 0.5], [1.0, 0.0]], [2**70, 1]),
    ],
)
def test_the_json_answer_is_the_answer(prediction: Prediction) -> None:
    result = PredictResult("p1", TARGET, prediction, encode_output(prediction))
    assert strict(predict_response_json(result)) == predict_response(result)
    # Without the encoded output (an adapter that made its own result), the same answer.
    assert strict(predict_response_json(PredictResult("p1", TARGET, prediction))) == (
        predict_response(result)
    )


def test_nan_and_infinity_from_a_model_become_null() -> None:
    prediction = Prediction([float("nan"), float("inf")], [[float("-inf"), 1.0]] * 2, [0, 1])
    result = PredictResult("p1", TARGET, prediction, encode_output(prediction))
    answer = strict(predict_response_json(result))
    assert answer["predictions"] == [None, None]
    assert strict(encode_output(prediction))["predictions"] == [None, None]
    assert answer["probabilities"] == [[None, 1.0], [None, 1.0]]


class Log:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def submit(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    async def commit(self, entry: dict[str, Any], **_: Any) -> None:
        self.entries.append(entry)


class Regressor:
    kind = "regressor"
    classes = None
    n_features = 2
    feature_names = None

    def predict(self, matrix: np.ndarray) -> Prediction:
        return Prediction(matrix[:, 0].tolist())


def test_the_log_keeps_the_very_bytes_of_the_answer() -> None:
    log = Log()
    core = ServingCore(ModelCache(1, lambda t: Regressor()), log, max_rows=10)  # type: ignore[arg-type, return-value]

    async def main() -> PredictResult:
        result = await core.predict(
            TARGET, b'{"X": [[1, 2], [3, 4]]}', predict_id="p1", user_id=1, source="native"
        )
        await core.close()
        return result

    result = asyncio.run(main())
    (entry,) = log.entries
    assert isinstance(entry["output"], RawJSON)
    assert entry["output"] == result.output_json
    assert strict(entry["output"]) == {"predictions": [1.0, 3.0]}
    assert strict(predict_response_json(result))["predictions"] == [1.0, 3.0]
