"""The request log's compact form of ``{"X": rows}`` of numbers: a float64 matrix in base64,
read back as the body that was sent; anything it would not give back exactly is stored raw."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from modelyard.db import Database
from modelyard.registry.loaders import Prediction
from modelyard.serving.cache import ModelCache
from modelyard.serving.models import LOG_MARKER, decode_logged
from modelyard.serving.service import ServingCore
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier
from tests.serving.helpers import recording_log, serving_target


def stored_inputs(client: TestClient) -> list[str]:
    """The log's input column as the database holds it, oldest first."""
    state: Any = client.app.state  # type: ignore[attr-defined]
    assert state.serving.log.flush()
    with state.database.session() as session:
        return list(
            session.scalars(text("SELECT CAST(input AS TEXT) FROM prediction_logs ORDER BY id"))
        )


def logged_inputs(client: TestClient, account: Account) -> list[Any]:
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    page = client.get("/api/v1/models/m/requests?limit=100", headers=account.headers).json()
    return [item["input"] for item in reversed(page["items"])]


def post_body(client: TestClient, account: Account, body: bytes) -> None:
    """Predict with ``body`` sent as these very bytes (not encoded again by the client)."""
    answered = client.post(
        "/api/v1/models/m/predict",
        content=body,
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert answered.status_code == 200, answered.text


def test_a_body_of_floats_is_stored_as_a_matrix_and_read_back_as_sent(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(3))
    rows = np.random.default_rng(0).normal(size=(50, 3)).tolist()
    rows[0] = [-0.0, 1.5e-300, 1.7976931348623157e308]  # the sign of zero, the extremes
    body = json.dumps({"X": rows}).encode()
    post_body(client, alice, body)

    [stored] = stored_inputs(client)
    assert json.loads(stored)[LOG_MARKER] == "float64"
    assert len(stored) < 0.6 * len(body)
    [logged] = logged_inputs(client, alice)
    assert logged == {"X": rows}
    assert str(logged["X"][0][0]) == "-0.0"
    exported = client.get("/api/v1/models/m/requests.csv", headers=alice.headers)
    assert exported.status_code == 200, exported.text
    [row] = csv.DictReader(io.StringIO(exported.text))
    assert json.loads(row["input"]) == {"X": rows}


@pytest.mark.parametrize(
    "body",
    [
        b'{"X": [[1, 2, 3]]}',  # integers: a float64 matrix would give them back as 1.0
        b'{"X": [[1.5, 2.5, 1e3]]}',  # a float with no fraction: counted as not one
        b'{"X": [[1.5, true, 2.5]]}',
        b'{"X": [["1.5", 2.5, 3.5]]}',  # a numeric string, which the model took as 1.5
        b'{"X": [[1.5, 2.5, 3.5]], "X": [[1.5, 2.5, 3.5]]}',  # the key twice: counted quotes
    ],
)
def test_a_body_the_matrix_would_not_give_back_is_stored_as_sent(
    client: TestClient, alice: Account, body: bytes
) -> None:
    register_ok(client, alice, "m", skops_classifier(3))
    post_body(client, alice, body)
    [stored] = stored_inputs(client)
    assert LOG_MARKER not in stored
    assert logged_inputs(client, alice) == [json.loads(body)]


def test_a_body_that_holds_the_logs_own_key_reads_back_as_it_came(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(1))
    # What the compact form of {"X": [[1.0]]} looks like, sent as a body: refused, and logged
    # as it was, not as the matrix it describes.
    crafted = {
        LOG_MARKER: "float64",
        "key": "X",
        "shape": [1, 1],
        "base64": base64.b64encode(np.array([1.0]).tobytes()).decode(),
    }
    refused = client.post("/api/v1/models/m/predict", json=crafted, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    assert logged_inputs(client, alice) == [crafted]


@pytest.mark.parametrize(
    "stored",
    [
        {LOG_MARKER: "float64", "key": "X", "shape": [1, 2], "base64": "AAAAAAAA8D8="},  # 8 bytes
        {LOG_MARKER: "float64", "key": "X", "shape": [1, 1], "base64": "not base64!"},
        {LOG_MARKER: "float64", "key": "X", "shape": [1, -1], "base64": ""},
        {LOG_MARKER: "float64", "key": "Y", "shape": [1, 1], "base64": "AAAAAAAA8D8="},
        {LOG_MARKER: "float64", "key": "X", "shape": "1x1", "base64": "AAAAAAAA8D8="},
        {LOG_MARKER: "json", "value": 1, "other": 2},
        {LOG_MARKER: "something else"},
    ],
)
def test_a_stored_form_that_does_not_hold_together_reads_back_as_stored(
    stored: dict[str, Any],
) -> None:
    assert decode_logged(stored) == stored


def test_the_forms_decode() -> None:
    one = {LOG_MARKER: "float64", "key": "X", "shape": [1, 1], "base64": "AAAAAAAA8D8="}
    assert decode_logged(one) == {"X": [[1.0]]}
    assert decode_logged({LOG_MARKER: "json", "value": {LOG_MARKER: 1}}) == {LOG_MARKER: 1}
    assert decode_logged([1, 2]) == [1, 2]


class DoublesItsInput:
    """A model that changes its input in place (a careless custom transformer would)."""

    kind = "classifier"
    n_features = 2
    feature_names = None
    classes = (0, 1)

    def predict(self, matrix: np.ndarray) -> Prediction:
        matrix *= 2
        n = len(matrix)
        return Prediction([0] * n, [[1.0, 0.0]] * n, [0, 1])


def test_the_log_keeps_the_input_the_model_was_given_not_what_it_made_of_it(
    database: Database,
) -> None:
    writer, entries = recording_log(database)
    model = DoublesItsInput()
    core = ServingCore(
        ModelCache(4, lambda target: model),  # type: ignore[arg-type, return-value]
        writer,
        max_rows=100,
    )

    async def main() -> None:
        await core.predict(
            serving_target(), b'{"X": [[1.5, 2.5]]}', predict_id="p", user_id=1, source="native"
        )
        await core.close()

    asyncio.run(main())
    [entry] = entries
    assert decode_logged(json.loads(entry["input"].json())) == {"X": [[1.5, 2.5]]}
