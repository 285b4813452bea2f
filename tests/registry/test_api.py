"""Registering, reading, aliasing and deleting model versions through /api/v1/models."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.registry.factories import (
    HEART_FEATURES,
    HEART_SCHEMA,
    heart_classifier,
    onnx_classifier,
    register,
    register_ok,
    skops_classifier,
)


def test_versions_are_numbered_per_model_and_described(client: TestClient, alice: Account) -> None:
    first = register_ok(
        client, alice, "iris", skops_classifier(), tags=["a,b", "c"], description="first"
    )
    second = register_ok(client, alice, "iris", skops_classifier())
    other = register_ok(client, alice, "other", skops_classifier())

    assert (first["version"], second["version"], other["version"]) == (1, 2, 1)
    assert first["tags"] == ["a", "b", "c"]
    assert first["description"] == "first"
    assert first["format"] == "skops"
    assert first["kind"] == "classifier"
    assert first["classes"] == [0, 1]
    assert first["schema_source"] == "inferred"
    assert [c["name"] for c in first["input_schema"]] == ["x0", "x1", "x2", "x3"]
    assert second["aliases"] == ["latest"]

    model = client.get("/api/v1/models/iris", headers=alice.headers).json()
    assert model["versions"] == [1, 2]
    assert model["latest_version"] == 2
    assert model["aliases"] == [{"alias": "latest", "version": 2}]

    listed = client.get("/api/v1/models", headers=alice.headers).json()
    assert [m["name"] for m in listed["items"]] == ["iris", "other"]
    assert listed["total"] == 2

    versions = client.get("/api/v1/models/iris/versions", headers=alice.headers).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    got = client.get("/api/v1/models/iris/versions/1", headers=alice.headers).json()
    assert got["sha256"] == first["sha256"]
    latest = client.get("/api/v1/models/iris/versions/latest", headers=alice.headers).json()
    assert latest["version"] == 2


def test_both_schema_forms_are_accepted(client: TestClient, alice: Account) -> None:
    ml_api = register_ok(client, alice, "heart", heart_classifier(), schema=HEART_SCHEMA)
    assert ml_api["schema_source"] == "given"
    assert [c["name"] for c in ml_api["input_schema"]] == HEART_FEATURES
    assert ml_api["input_schema"][6]["type"] == "bool"

    mlup = [
        {"name": "a", "type": "float"},
        {"name": "b", "type": "int", "required": False, "default": 3},
        {"name": "c", "type": "float", "required": True},
        {"name": "d", "type": "bool", "default": False},
    ]
    body = register_ok(client, alice, "mlup", skops_classifier(), schema=mlup)
    assert body["input_schema"][1] == {"name": "b", "type": "int", "required": False, "default": 3}


def test_onnx_schema_is_inferred_from_its_inputs(client: TestClient, alice: Account) -> None:
    body = register_ok(client, alice, "onnx", onnx_classifier(3))
    assert body["format"] == "onnx"
    assert body["kind"] == "classifier"
    assert body["classes"] == [0, 1]
    assert [c["name"] for c in body["input_schema"]] == ["x0", "x1", "x2"]


def test_training_sample_is_stored_with_the_version(client: TestClient, alice: Account) -> None:
    sample = b"x0,x1,x2,x3,label\n1,2,3,4,0\n5,6,7,8,1\n"
    body = register_ok(client, alice, "m", skops_classifier(), sample=sample)
    assert body["has_sample"] is True
    assert body["sample_rows"] == 2

    bad = register(client, alice, "m", skops_classifier(), sample=b"a,b\n1,2\n")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_input_schema"


def test_aliases_point_at_versions(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier())
    register_ok(client, alice, "m", skops_classifier())
    put = client.put(
        "/api/v1/models/m/aliases/production", json={"version": 1}, headers=alice.headers
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"alias": "production", "version": 1}
    got = client.get("/api/v1/models/m/versions/production", headers=alice.headers)
    assert got.json()["version"] == 1
    assert got.json()["aliases"] == ["production"]

    latest = client.put(
        "/api/v1/models/m/aliases/latest", json={"version": 1}, headers=alice.headers
    )
    assert latest.status_code == 422
    missing = client.put(
        "/api/v1/models/m/aliases/staging", json={"version": 9}, headers=alice.headers
    )
    assert missing.status_code == 404

    assert (
        client.delete("/api/v1/models/m/aliases/production", headers=alice.headers).status_code
        == 204
    )
    gone = client.get("/api/v1/models/m/versions/production", headers=alice.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "model_alias_not_found"


def test_deleting_a_version_removes_its_row_file_and_aliases(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(), sample=b"x0,x1,x2,x3\n1,2,3,4\n")
    register_ok(client, alice, "m", skops_classifier())
    client.put("/api/v1/models/m/aliases/production", json={"version": 1}, headers=alice.headers)
    store = client.app.state.artifacts  # type: ignore[attr-defined]
    keys_before = set(store.list_keys())
    assert len(keys_before) >= 3

    response = client.delete("/api/v1/models/m/versions/1", headers=alice.headers)
    assert response.status_code == 204

    assert len(keys_before - set(store.list_keys())) == 2  # the model file and the sample
    assert client.get("/api/v1/models/m/versions/1", headers=alice.headers).status_code == 404
    model = client.get("/api/v1/models/m", headers=alice.headers).json()
    assert model["versions"] == [2]
    assert model["aliases"] == [{"alias": "latest", "version": 2}]
    # Numbers are never reused: the next upload is 3.
    assert register_ok(client, alice, "m", skops_classifier())["version"] == 3


def test_another_users_model_is_not_found(
    client: TestClient, alice: Account, bob: Account, admin: Account
) -> None:
    register_ok(client, alice, "secret", skops_classifier())
    for method, path in [
        ("GET", "/api/v1/models/secret"),
        ("GET", "/api/v1/models/secret/versions"),
        ("GET", "/api/v1/models/secret/versions/1"),
        ("DELETE", "/api/v1/models/secret/versions/1"),
        ("GET", "/api/v1/models/secret/requests"),
        ("GET", f"/api/v1/models/secret?owner_id={alice.id}"),
    ]:
        response = client.request(method, path, headers=bob.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/api/v1/models", headers=bob.headers).json()["total"] == 0

    # Bob's own model of the same name is his alone.
    assert register_ok(client, bob, "secret", skops_classifier())["version"] == 1

    # An admin sees every model; a name two users share needs owner_id.
    assert client.get("/api/v1/models", headers=admin.headers).json()["total"] == 2
    ambiguous = client.get("/api/v1/models/secret", headers=admin.headers)
    assert ambiguous.status_code == 409
    chosen = client.get(f"/api/v1/models/secret?owner_id={alice.id}", headers=admin.headers)
    assert chosen.status_code == 200
    assert chosen.json()["owner_id"] == alice.id


def test_routes_need_credentials(client: TestClient) -> None:
    assert client.get("/api/v1/models").status_code == 401
    response = client.post("/api/v1/models", data={"name": "m"}, files={"file": ("m", b"x")})
    assert response.status_code == 401
