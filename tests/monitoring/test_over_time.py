"""Realized and estimated performance per window, and drift against the training sample,
through the API of a served model."""

from __future__ import annotations

import numpy as np
import pycm
import skops.io as sio
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.monitoring.helpers import feedback, flush, predict
from tests.registry.factories import classifier, register_ok

SCHEMA = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]


def _sample(rows: int, seed: int = 0) -> bytes:
    data = np.random.default_rng(seed).normal(size=(rows, 2))
    return ("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in data)).encode()


def _rows(n: int, shift: float = 0.0, seed: int = 1) -> list[list[float]]:
    data = np.random.default_rng(seed).normal(loc=shift, size=(n, 2))
    return [[float(x), float(y)] for x, y in data]


def _register(client: TestClient, account: Account, name: str) -> None:
    register_ok(client, account, name, sio.dumps(classifier(2)), schema=SCHEMA, sample=_sample(600))


def test_realized_performance_is_a_stored_pycm_matrix_per_window(
    client: TestClient, alice: Account
) -> None:
    _register(client, alice, "m")
    answer = predict(client, alice, "m", _rows(200))
    predict(client, alice, "m", _rows(50, seed=9))  # predicted, never labelled
    flush(client)
    rng = np.random.default_rng(3)
    classes = answer["classes"]
    truth = [int(rng.integers(0, 2)) for _ in range(150)]
    items = [
        {"predict_id": answer["predict_id"], "row": row, "label": label}
        for row, label in enumerate(truth)
    ]
    assert feedback(client, alice, "m", items).status_code == 200

    response = client.get(
        "/api/v1/models/m/versions/1/performance?window=day", headers=alice.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["windows"]) == 1
    window = body["windows"][0]
    assert (window["predicted"], window["labelled"]) == (250, 150)
    assert window["coverage"] == 150 / 250
    expected = pycm.ConfusionMatrix(
        actual_vector=truth, predict_vector=answer["predictions"][:150], classes=classes
    )
    assert window["accuracy"] == expected.Overall_ACC
    for label in classes:
        assert window["per_class"][str(label)]["recall"] == expected.TPR[label]
    matrix = client.get(f"/api/v1/confusion-matrices/{window['matrix_uid']}", headers=alice.headers)
    assert matrix.status_code == 200, matrix.text
    assert window["estimated"]["rows"] == 250
    assert 0 <= window["estimated"]["accuracy"] <= 1

    # Unchanged labels: the same stored matrix; a late label changes it.
    again = client.get("/api/v1/models/m/versions/1/performance", headers=alice.headers).json()
    assert again["windows"][0]["matrix_uid"] == window["matrix_uid"]
    flipped = {**items[0], "label": 1 - truth[0]}
    assert feedback(client, alice, "m", [flipped]).json()["replaced"] == 1
    late = client.get("/api/v1/models/m/versions/1/performance", headers=alice.headers).json()
    assert late["windows"][0]["matrix_uid"] != window["matrix_uid"]
    assert late["windows"][0]["labelled"] == 150


def test_a_shifted_window_drifts_and_an_unshifted_one_does_not(
    client: TestClient, alice: Account
) -> None:
    _register(client, alice, "same")
    _register(client, alice, "moved")
    predict(client, alice, "same", _rows(300, seed=2))
    predict(client, alice, "moved", _rows(300, shift=1.5, seed=2))
    flush(client)

    def drift(name: str) -> dict:
        response = client.get(f"/api/v1/models/{name}/versions/1/drift", headers=alice.headers)
        assert response.status_code == 200, response.text
        body: dict = response.json()
        return body

    same, moved = drift("same"), drift("moved")
    assert same["reference"] == "training_sample" and same["reference_rows"] == 600
    (calm,), (shifted,) = same["windows"], moved["windows"]
    assert calm["rows"] == shifted["rows"] == 300
    assert [f["stattest"] for f in calm["features"]] == ["ks", "ks"]
    assert not calm["dataset_drift"] and calm["drift_share"] == 0
    assert shifted["dataset_drift"] and shifted["drift_share"] == 1
    assert all(f["psi"] is not None for f in shifted["features"])


def test_drift_needs_a_reference(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "bare", sio.dumps(classifier(2)))
    response = client.get("/api/v1/models/bare/versions/1/drift", headers=alice.headers)
    assert response.status_code == 409
    bad = client.get("/api/v1/models/bare/versions/1/drift?window=month", headers=alice.headers)
    assert bad.status_code == 422
