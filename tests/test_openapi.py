"""The OpenAPI document tells the truth: every operation lists the answers it gives, in its
route's error shape, and schemathesis finds nothing against a running server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.db import Database
from tests.helpers import PASSWORD, running_server, sign_up

CONFIG = Path(__file__).parent / "schemathesis.toml"
ERROR_COMPONENTS = {
    "Error",
    "PycmApiError",
    "MlApiError",
    "MlApiPredictError",
    "MlupError",
    "RootPredictError",
    "CustomClassifierError",
    "HydroVisualizationError",
    "InferenceError",
}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _error_ref(response: dict[str, Any]) -> str:
    return str(response["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]


def test_every_operation_lists_its_error_answers_in_its_routes_shape(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    checked = 0
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), where
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), where
        for status, response in responses.items():
            if status.startswith(("4", "5")) and "content" in response:
                # Readiness: /health/ready's 503 is its own report of what is not ready.
                allowed = ERROR_COMPONENTS | {"Message", "UserMessage", "Readiness"}
                assert _error_ref(response) in allowed, where
        checked += 1
    assert checked > 100
    paths = document["paths"]
    assert _error_ref(paths["/api/v1/users/me"]["get"]["responses"]["401"]) == "Error"
    assert _error_ref(paths["/api/v1/users"]["post"]["responses"]["409"]) == "Error"
    assert _error_ref(paths["/sign_up/"]["post"]["responses"]["422"]) == "PycmApiError"
    assert _error_ref(paths["/register-user"]["post"]["responses"]["422"]) == "MlApiError"
    assert _error_ref(paths["/v2/models/{name}/infer"]["post"]["responses"]["404"]) == (
        "InferenceError"
    )
    assert {"429", "503"} <= set(paths["/api/v1/models/{name}/predict"]["post"]["responses"])
    assert "429" in paths["/api/v1/auth/token"]["post"]["responses"]
    # The page size's bound is a setting: the document states this server's.
    (limit,) = [p for p in paths["/api/v1/jobs"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit["schema"]["anyOf"][0]["maximum"] == app.state.settings.http.max_page_size
    # pycm-api answers 422 with a string `detail` (a weak password) or validation items.
    detail = document["components"]["schemas"]["PycmApiError"]["properties"]["detail"]
    assert [kind.get("type") for kind in detail["anyOf"]] == ["string", "array"]


def test_a_405_lists_every_method_of_the_resource(client: TestClient) -> None:
    # Three routes serve /admin/users/{id}; the router's own 405 named only the first's.
    response = client.request("OPTIONS", "/api/v1/admin/users/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.json()["error"]["code"] == "method_not_allowed"
    # /cm/plot is pycm-api's GET, though /cm/{cm_uid}'s DELETE would take the path too.
    assert client.request("OPTIONS", "/cm/plot").headers["allow"] == "GET"
    # A path that is another route's with a word for an id: that route's 405, not a 422.
    response = client.get("/api/v1/datasets/from-path")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert client.get("/api/v1/datasets/not-a-number").status_code == 404


def test_an_id_no_column_holds_is_a_422_not_a_500(client: TestClient) -> None:
    # Ids are 32-bit columns on PostgreSQL, which refused to compare a larger number (500).
    headers = sign_up(client, "ids@example.com").headers
    for method, path in (("DELETE", "/api/v1/api-keys"), ("GET", "/api/v1/datasets")):
        response = client.request(method, f"{path}/2147483648", headers=headers)
        assert response.status_code == 422, response.text
        assert client.request(method, f"{path}/2147483647", headers=headers).status_code == 404
    body = {"dataset_id": 18648392214, "experiment_name": "e"}
    response = client.post("/api/v1/training-runs", json=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "validation_error")


def test_a_nul_character_in_a_text_is_stored_or_a_422_not_a_500(
    client: TestClient, database: Database
) -> None:
    headers = sign_up(client, "nul@example.com").headers
    response = client.post("/api/v1/api-keys", json={"name": "a\u0000b"}, headers=headers)
    if database.is_sqlite:  # SQLite stores it
        assert (response.status_code, response.json()["name"]) == (201, "a\x00b")
    else:  # PostgreSQL's text holds no NUL (a 500 before)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "unstorable_value"
        assert client.get("/api/v1/api-keys", headers=headers).json() == []


def _api_key(base: str) -> str:
    login = {"email": "schemathesis@example.com", "password": PASSWORD}
    assert httpx.post(f"{base}/api/v1/users", json=login).status_code == 201
    token = httpx.post(
        f"{base}/api/v1/auth/token", json={"login": login["email"], "password": PASSWORD}
    ).json()["access_token"]
    created = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "schemathesis"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


# Bounded for CI on two cores: about 10 examples per operation in each phase, two workers;
# the whole test (server start, sign-up, run) took 1.5-2 minutes here.
MAX_EXAMPLES = 10


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    tmp_path: Path, database: Database
) -> None:
    with running_server(tmp_path) as (base, _log):
        env = {**os.environ, "MODELYARD_ST_API_KEY": _api_key(base)}
        started = time.monotonic()
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "--config-file",
                str(CONFIG),
                "run",
                f"{base}/openapi.json",
                # Every check runs by default (`--checks all` on the command line would also
                # override the config file's per-operation exceptions).
                "--max-examples",
                str(MAX_EXAMPLES),
                "--workers",
                "2",
                "--seed",
                "19",
                "--generation-database",
                "none",
                "--no-color",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=270,
            check=False,
        )
        seconds = time.monotonic() - started
    print(f"schemathesis ran {seconds:.0f} s")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    selected = re.search(r"Operations:\s+(\d+) selected", result.stdout)
    assert selected is not None and int(selected.group(1)) > 100, result.stdout
