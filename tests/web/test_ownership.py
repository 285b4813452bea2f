"""A user never sees another user's objects in any page; admins see every one."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.helpers import make_admin
from tests.registry.factories import HEART_FEATURES
from tests.training.helpers import unique
from tests.web.helpers import WebUser, web_sign_in
from tests.web.test_evaluation_pages import create
from tests.web.test_models_pages import upload_heart
from tests.web.test_training_pages import upload_dataset, wait_done

SECRET_NAME = "alices-private-matrix"


def _alice_owns_everything(client: TestClient, alice: WebUser) -> dict[str, str]:
    uid = create(alice, "cat dog cat bird dog cat bird bird", SECRET_NAME)
    upload_heart(alice, "alices-model")
    row = {name: 1 for name in HEART_FEATURES}
    alice.post("/ui/models/alices-model/predict", {"rows": json.dumps([row])})
    upload_dataset(alice)
    page = client.get("/ui/training")
    dataset_id = page.text.split('<option value="')[1].split('"')[0]
    experiment = unique("alices-experiment")
    started = alice.post(
        "/ui/training/runs", {"dataset_id": dataset_id, "experiment_name": experiment}
    )
    run_id = started.url.path.rsplit("/", 1)[1]
    wait_done(client, run_id)
    key = alice.post("/ui/keys", {"name": "alices-key"})
    assert key.status_code == 201
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    return {"uid": uid, "run_id": run_id, "experiment": experiment, "dataset_id": dataset_id}


def test_bob_sees_none_of_alices_objects(
    client: TestClient, other_client: TestClient, alice: WebUser, bob: WebUser
) -> None:
    owned = _alice_owns_everything(client, alice)
    alice_id = client.get("/api/v1/users/me", headers=_bearer(client, alice)).json()["id"]
    for path in (
        f"/ui/matrices/{owned['uid']}",
        f"/ui/matrices/{owned['uid']}/plot.png",
        f"/ui/matrices/{owned['uid']}/report",
        "/ui/models/alices-model",
        f"/ui/models/alices-model?owner_id={alice_id}",
        f"/ui/training/runs/{owned['run_id']}",
        f"/ui/training/runs/{owned['run_id']}/progress.json",
    ):
        response = other_client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert SECRET_NAME not in response.text
    for path in (
        "/ui/",
        "/ui/matrices",
        "/ui/models",
        "/ui/training",
        "/ui/keys",
        "/ui/matrices/compare",
    ):
        text = other_client.get(path).text
        for secret in (
            SECRET_NAME,
            "alices-model",
            owned["run_id"][:8],
            owned["experiment"],
            "alices-key",
            "topics",
        ):
            assert secret not in text, (path, secret)
    compare = other_client.get(f"/ui/matrices/compare?uid={owned['uid']}&uid={owned['uid']}")
    assert SECRET_NAME not in compare.text
    # Writes on alice's objects are refused as if they did not exist.
    assert bob.post(f"/ui/matrices/{owned['uid']}/delete").status_code == 404
    row = {name: 1 for name in HEART_FEATURES}
    assert (
        bob.post("/ui/models/alices-model/predict", {"rows": json.dumps([row])}).status_code == 404
    )
    refused = bob.post(
        "/ui/training/runs", {"dataset_id": owned["dataset_id"], "experiment_name": unique("bob")}
    )
    assert refused.status_code == 404
    key_id = client.get("/api/v1/api-keys", headers=_bearer(client, alice)).json()[0]["id"]
    assert bob.post(f"/ui/keys/{key_id}/revoke").status_code == 404
    assert client.get(f"/ui/matrices/{owned['uid']}").status_code == 200


def test_the_admin_sees_every_object(
    client: TestClient, other_client: TestClient, alice: WebUser
) -> None:
    owned = _alice_owns_everything(client, alice)
    admin = make_admin(client)
    web_sign_in(other_client, admin.login)
    page = other_client.get("/ui/admin").text
    for text in (
        SECRET_NAME,
        "alices-model",
        owned["run_id"][:12],
        "training.train",
        "alice@example.com",
    ):
        assert text in page, text
    assert "alices-model" in other_client.get("/ui/models").text


def _bearer(client: TestClient, user: WebUser) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", json={"login": user.login, "password": user.password}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
