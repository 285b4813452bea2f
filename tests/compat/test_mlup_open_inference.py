"""The single-model server's Open Inference Protocol face: its model under its name."""

from __future__ import annotations

from typing import Any

from tests.compat.conftest import Serve
from tests.compat.mlup_support import ROWS, SlowClassifier, pickled
from tests.helpers import make_admin, sign_up
from tests.registry.factories import classifier, skops_classifier

NAME = "MyFirstMLupModel"


def _tensor(rows: list[list[Any]]) -> dict[str, Any]:
    flat = [float(value) for row in rows for value in row]
    return {
        "inputs": [{"name": "input-0", "shape": [len(rows), 6], "datatype": "FP64", "data": flat}]
    }


def test_public_the_model_is_ready_described_and_inferred_without_credentials(
    serve: Serve,
) -> None:
    client = serve(skops_classifier(6))
    for version in ("", "/versions/1", "/versions/latest", "/versions/1.0.0.0"):
        ready = client.get(f"/v2/models/{NAME}{version}/ready")
        assert (ready.status_code, ready.json()) == (200, {"name": NAME, "ready": True})
        meta = client.get(f"/v2/models/{NAME}{version}")
        assert meta.status_code == 200, meta.text
        assert meta.json()["versions"] == ["1"]
        infer = client.post(f"/v2/models/{NAME}{version}/infer", json=_tensor(ROWS))
        assert infer.status_code == 200, infer.text
        assert infer.json()["outputs"][0]["data"] == classifier(6).predict(ROWS).tolist()
    # Another version reference, or another model, is the main server's to resolve.
    assert client.get(f"/v2/models/{NAME}/versions/2.0.0.0/ready").status_code == 401
    assert client.get("/v2/models/other/ready").status_code == 401


def test_the_operators_pickle_is_ready(serve: Serve) -> None:
    # The shared loader refuses pickles; the runtime loaded at start serves them.
    client = serve(pickled(SlowClassifier(delay=0.0)))
    assert client.get(f"/v2/models/{NAME}/ready").status_code == 200
    infer = client.post(f"/v2/models/{NAME}/infer", json=_tensor(ROWS))
    assert infer.status_code == 200, infer.text
    assert infer.json()["outputs"][0]["data"] == [1, 1]


def test_without_public_any_signed_in_user_may_call_it(serve: Serve) -> None:
    client = serve(skops_classifier(6), public=False)
    anonymous = client.post(f"/v2/models/{NAME}/infer", json=_tensor(ROWS))
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"error"}
    assert client.get(f"/v2/models/{NAME}/ready").status_code == 401
    bob = sign_up(client, "bob@example.com")
    infer = client.post(f"/v2/models/{NAME}/infer", json=_tensor(ROWS), headers=bob.headers)
    assert infer.status_code == 200, infer.text
    assert client.get(f"/v2/models/{NAME}/ready", headers=bob.headers).status_code == 200
    client.app.state.serving.log.flush()
    admin = make_admin(client)
    page = client.get(f"/api/v1/models/{NAME}/requests", headers=admin.headers).json()
    (item,) = page["items"]
    assert (item["source"], item["user_id"]) == ("v2", bob.id)
    assert item["predict_id"] == infer.headers["X-Predict-Id"]
