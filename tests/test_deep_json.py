"""JSON of any depth, on every route that takes a body: a 4xx in the route's error shape.

``json.loads`` recurses once per level, so a body nested deeper than the interpreter's
recursion limit raised RecursionError, which routes reading their own body answered with a 500.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelyard.errors import native_error_body
from tests.helpers import Account, every_route, sign_up

DEPTH = 100_000
BODIES = {
    "lists": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    # Shallow enough for the parser, deep enough to recurse in whatever walks the value next.
    "lists-990": b"[" * 990 + b"]" * 990,
}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    found = []
    for path, route in every_route(app):
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods & {"POST", "PUT", "PATCH"}):
            found.append((method, path, route))
    return found


def _fill(path: str) -> str:
    # Any value of the right shape: the body is refused before the path's object is looked up,
    # or the object is not found; either way a 4xx.
    return _PARAM.sub(lambda match: "1" if "id" in match.group(1) else "x", path)


@pytest.fixture
def caller(client: TestClient) -> Account:
    return sign_up(client, "deep@example.com")


def test_the_app_has_body_routes(app: FastAPI) -> None:
    # The enumeration below must see the hydro-visualization routes that failed.
    paths = {path for _, path, _ in _routes(app)}
    assert "/visualization/jobs" in paths
    assert "/visualization/params/{method}" in paths
    assert len(paths) > 40


def _shapes(route: APIRoute, status: int) -> list[set[str]]:
    """The top-level keys of the route's error bodies, with and without details."""
    style = getattr(route, "error_style", None) or native_error_body
    details = [{"loc": ["body"], "msg": "m", "type": "t"}]
    return [
        set(style(status, code, "message", extra))
        for code in ("bad_request", "validation_error")
        for extra in (None, details)
    ]


@pytest.mark.parametrize("kind", list(BODIES))
def test_deep_json_is_a_4xx_on_every_route(
    client: TestClient, app: FastAPI, caller: Account, kind: str
) -> None:
    headers = {**caller.headers, "Content-Type": "application/json"}
    failures = []
    for method, path, route in _routes(app):
        response = client.request(method, _fill(path), content=BODIES[kind], headers=headers)
        if response.status_code >= 500:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
            continue
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        if path.startswith("/ui") or "json" not in response.headers.get("content-type", ""):
            continue  # the dashboard's forms answer pages
        body = response.json()
        shapes = _shapes(route, response.status_code)
        if not isinstance(body, dict) or set(body) not in shapes:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


def test_deep_json_in_an_uploaded_file_is_a_4xx(client: TestClient, caller: Account) -> None:
    # JSON read from a multipart part (an input schema) goes through the same parser.
    from tests.registry.factories import skops_classifier

    files = {
        "file": ("model.skops", skops_classifier(2), "application/octet-stream"),
        "input_schema": ("input_schema.json", BODIES["objects"], "application/json"),
    }
    response = client.post(
        "/api/v1/models", data={"name": "deep"}, files=files, headers=caller.headers
    )
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error"}
