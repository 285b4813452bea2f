"""Every route of the app, enumerated from ``app.routes``, against missing and bad credentials.

A route needs credentials unless it is in ``OPEN``, an explicit allow-list that says why each is
open: a new route is checked the day it is added, and one that forgets its credentials fails
here (``test_a_route_without_credentials_is_found`` shows it). The dashboard's pages (/ui) have
tests/web/test_every_page.py.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from modelyard.auth.dependencies import require_admin
from modelyard.auth.security import Security
from modelyard.compat.pycm_api import BasicAdmin
from modelyard.web import PREFIX
from tests.conftest import TEST_SECRET
from tests.evaluation.test_pycm_api_compat import API_KEY_ROUTES
from tests.helpers import Account, access_claims, every_route, make_admin, sign_up

Route = tuple[str, str]  # (method, path template)

OPEN: dict[Route, str] = {
    ("GET", "/"): "sends a browser to the dashboard",
    ("GET", "/openapi.json"): "the API's own description",
    ("GET", "/docs"): "the API's documentation page",
    ("GET", "/docs/oauth2-redirect"): "part of the documentation page",
    ("GET", "/redoc"): "the API's documentation page",
    ("GET", "/api/v1/health/live"): "probes of the orchestrator",
    ("GET", "/api/v1/health/ready"): "probes of the orchestrator",
    ("GET", "/metrics"): "scraped by Prometheus",
    ("GET", "/v2"): "Open Inference Protocol: server metadata",
    ("GET", "/v2/health/live"): "Open Inference Protocol: health",
    ("GET", "/v2/health/ready"): "Open Inference Protocol: health",
    ("POST", "/api/v1/users"): "sign up",
    ("POST", "/api/v1/auth/token"): "sign in",
    ("POST", "/sign_up/"): "pycm-api: sign up",
    ("POST", "/sign_in/"): "pycm-api: sign in",
    ("POST", "/register-user"): "ml_api: sign up",
    ("POST", "/token"): "ml_api: sign in",
    ("GET", "/token_status/{token}"): "ml_api: the token to check is the path",
    ("GET", "/custom_classifier/health-check"): "custom classifier: health",
    ("GET", "/visualization/health"): "hydro visualization: health",
    ("GET", "/favicon.ico"): "the browser's tab icon (no data)",
}
# pycm-api's credential is an ``api_key`` field of the request: a missing one is FastAPI's 422
# and a wrong one pycm-api's 404, checked by test_pycm_api_compat.py::test_an_invalid_api_key.
KEY_IN_REQUEST: set[Route] = {(method, path) for method, path, _ in API_KEY_ROUTES}
# pycm-api's admin listings take HTTP Basic credentials of an admin (401 for anyone else).
BASIC_AUTH: set[Route] = {("GET", "/users/"), ("GET", "/cms/")}
# Routes that read their body before the credential: probed with a body they accept.
VALID_BODIES: dict[Route, dict[str, Any]] = {
    ("POST", "/api/v1/confusion-matrices"): {"actual": [0, 1], "predicted": [0, 1]},
    ("PUT", "/api/v1/confusion-matrices/{uid}"): {"actual": [0, 1], "predicted": [0, 1]},
}
# Admin routes that check the role in the handler (ml_api answers its own way), not with a
# dependency the enumeration can see.
ADMIN_IN_HANDLER: set[Route] = {
    ("PUT", "/toggle-user-permission/{user_id}/{permission}"),
    ("DELETE", "/remove-user/{user_id}"),
}


def api_routes(app: FastAPI) -> dict[Route, APIRoute]:
    """Every (method, path) of the app outside the dashboard, with its route."""
    found: dict[Route, APIRoute] = {}
    for path, route in every_route(app):
        if path.startswith(PREFIX + "/"):
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found[(method, path)] = route
    return found


def protected_routes(app: FastAPI) -> list[Route]:
    return sorted(route for route in api_routes(app) if route not in OPEN)


def header_routes(app: FastAPI) -> list[Route]:
    """The protected routes that take ``Authorization: Bearer`` or ``X-API-Key``."""
    return [
        route
        for route in protected_routes(app)
        if route not in KEY_IN_REQUEST and route not in BASIC_AUTH
    ]


def admin_routes(app: FastAPI) -> list[Route]:
    admin_checks = {require_admin, get_args(BasicAdmin)[1].dependency}
    return sorted(
        key
        for key, route in api_routes(app).items()
        if key in ADMIN_IN_HANDLER or _dependency_calls(route) & admin_checks
    )


def _dependency_calls(route: APIRoute) -> set[Any]:
    # Starlette's own routes (the documentation pages) have no dependencies.
    calls: set[Any] = set()
    pending = [route.dependant] if isinstance(route, APIRoute) else []
    while pending:
        dependant = pending.pop()
        calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def _fill(path: str, value: object = 1) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


def _call(
    client: TestClient, route: Route, headers: dict[str, str], *, path: str | None = None
) -> tuple[int, object]:
    method, template = route
    body = VALID_BODIES.get(route)
    if body is None:
        body = (
            {"name": "k"}
            if method == "POST"
            else ({"is_active": True} if method == "PATCH" else None)
        )
    response = client.request(method, path or _fill(template), headers=headers, json=body)
    try:
        answer: object = response.json()
    except ValueError:
        answer = response.text[:200]
    return response.status_code, answer


def refused(
    client: TestClient, routes: list[Route], headers: dict[str, str], status: int
) -> list[Any]:
    """The routes of ``routes`` that do not answer ``status`` with these credentials, with what
    they answered instead."""
    wrong = []
    for route in routes:
        answered, body = _call(client, route, headers)
        if answered != status:
            wrong.append((route, answered, body))
    return wrong


def test_the_allow_lists_name_real_routes(app: FastAPI) -> None:
    routes = api_routes(app)
    named = set(OPEN) | KEY_IN_REQUEST | BASIC_AUTH | set(VALID_BODIES) | ADMIN_IN_HANDLER
    assert named - set(routes) == set()  # a renamed or removed route leaves its entry behind
    assert len(header_routes(app)) >= 90  # the enumeration found the app's routes


def test_every_route_that_takes_an_api_key_field_is_checked(app: FastAPI) -> None:
    assert _taking_an_api_key_field(app.openapi()) == KEY_IN_REQUEST


def _taking_an_api_key_field(spec: dict[str, Any]) -> set[Route]:
    """The operations of ``spec`` with an ``api_key`` parameter or body property."""
    schemas = spec.get("components", {}).get("schemas", {})

    def body_fields(operation: dict[str, Any]) -> set[str]:
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return set(schema.get("properties", {}))

    return {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "api_key" in {param["name"] for param in operation.get("parameters", [])}
        or "api_key" in body_fields(operation)
    }


def test_every_protected_route_refuses_a_request_without_credentials(
    client: TestClient, app: FastAPI
) -> None:
    assert refused(client, header_routes(app), {}, 401) == []
    assert refused(client, sorted(BASIC_AUTH), {}, 401) == []


def test_a_route_without_credentials_is_found(client: TestClient, app: FastAPI) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        """A route whose author forgot the credential dependency."""
        return {"secret": "data"}

    assert ("GET", "/api/v1/forgotten") in header_routes(app)
    wrong = refused(client, header_routes(app), {}, 401)
    assert wrong == [(("GET", "/api/v1/forgotten"), 200, {"secret": "data"})]


def _token(claims: dict[str, object], key: str | None, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


BadCredential = Callable[[TestClient, Account], dict[str, str]]


def _revoked_key(client: TestClient, account: Account) -> dict[str, str]:
    created = client.post("/api/v1/api-keys", json={"name": "old"}, headers=account.headers).json()
    client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers)
    return {"X-API-Key": created["key"]}


BAD_CREDENTIALS: dict[str, tuple[BadCredential, int]] = {
    "none": (lambda client, account: {}, 401),
    "wrong-scheme": (lambda client, account: {"Authorization": f"Basic {account.token}"}, 401),
    "expired-jwt": (
        lambda client, account: {
            "Authorization": "Bearer "
            + _token(
                access_claims(account.id, exp=datetime.now(UTC) - timedelta(seconds=1)),
                TEST_SECRET,
                "HS256",
            )
        },
        401,
    ),
    "alg-none-jwt": (
        lambda client, account: {
            "Authorization": "Bearer " + _token(access_claims(account.id), None, "none")
        },
        401,
    ),
    "other-key-jwt": (
        lambda client, account: {
            "Authorization": "Bearer "
            + _token(
                access_claims(account.id), "another-secret-that-is-long-enough-0123456789", "HS256"
            )
        },
        401,
    ),
    "revoked-api-key": (_revoked_key, 401),
    "unknown-api-key": (
        lambda client, account: {"X-API-Key": "mdy_000000000000_" + "x" * 43},
        401,
    ),
}


@pytest.fixture
def victim(client: TestClient) -> Account:
    return sign_up(client, "victim@example.com")


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS))
def test_bad_credentials_are_refused_everywhere(
    client: TestClient, app: FastAPI, victim: Account, credential: str
) -> None:
    make_credential, expected = BAD_CREDENTIALS[credential]
    headers = make_credential(client, victim)
    routes = header_routes(app) + sorted(BASIC_AUTH)
    assert refused(client, routes, headers, expected) == []
    assert client.get("/api/v1/users/me", headers=victim.headers).status_code == 200


def test_a_disabled_user_is_refused_everywhere(client: TestClient, app: FastAPI) -> None:
    admin = make_admin(client)
    user = sign_up(client, "disabled@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers).json()["key"]
    client.patch(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin.headers)
    for headers in (user.headers, {"X-API-Key": key}):
        assert refused(client, header_routes(app), headers, 403) == []
    basic = {"Authorization": _basic(user.login, user.password)}
    assert refused(client, sorted(BASIC_AUTH), basic, 403) == []


def test_non_admins_are_refused_on_every_admin_route(
    client: TestClient, app: FastAPI, victim: Account
) -> None:
    routes = admin_routes(app)
    assert {route for route in api_routes(app) if "/admin/" in route[1]} <= set(routes)
    user = sign_up(client, "plain@example.com")
    assert refused(client, [r for r in routes if r not in BASIC_AUTH], user.headers, 403) == []
    basic = {"Authorization": _basic(user.login, user.password)}
    assert refused(client, [r for r in routes if r in BASIC_AUTH], basic, 401) == []
    assert client.get("/api/v1/users/me", headers=victim.headers).status_code == 200


def _basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def test_unknown_accounts_cost_one_password_verification(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up(client, "known@example.com")
    verified: list[str] = []
    original = Security.verify_password

    def counting(self: Security, password_hash: str, password: str) -> bool:
        verified.append(password)
        return original(self, password_hash, password)

    monkeypatch.setattr(Security, "verify_password", counting)
    for login in ("known@example.com", "unknown@example.com"):
        verified.clear()
        client.post("/api/v1/auth/token", json={"login": login, "password": "wrong-1"})
        assert verified == ["wrong-1"], login


HUGE = 2**64  # more than any 64-bit id column holds


def _int_path_params(route: APIRoute) -> set[str]:
    if not isinstance(route, APIRoute):
        return set()
    return {
        param.name for param in route.dependant.path_params if param.field_info.annotation is int
    }


def _fill_ids(template: str, huge: set[str]) -> str:
    """``template`` with HUGE for the parameters in ``huge`` and 1 for the others."""

    def value(match: re.Match[str]) -> str:
        return str(HUGE) if match.group(1) in huge else "1"

    return re.sub(r"\{([^}:]+)(:[a-z]+)?\}", value, template)


def test_ids_too_large_for_the_database_are_422_not_500(client: TestClient, app: FastAPI) -> None:
    admin = make_admin(client)
    wrong, checked = [], 0
    for (method, template), route in sorted(api_routes(app).items()):
        huge = _int_path_params(route)
        if not huge or (method, template) not in header_routes(app):
            continue
        path = _fill_ids(template, huge)
        checked += 1
        status, body = _call(client, (method, template), admin.headers, path=path)
        if status != 422:
            wrong.append((method, template, status, body))
    assert wrong == []
    assert checked >= 7  # the users', keys' and datasets' ids at least


@pytest.mark.parametrize("path", ["/api/v1/admin/users", "/api/v1/jobs"])
def test_offsets_too_large_for_the_database_are_422_not_500(client: TestClient, path: str) -> None:
    admin = make_admin(client)
    response = client.get(path, params={"offset": HUGE}, headers=admin.headers)
    assert response.status_code == 422, response.text


def test_pycm_admin_listing_skip_too_large_is_422_not_500(client: TestClient) -> None:
    admin = make_admin(client)
    response = client.get("/users/", params={"skip": HUGE}, auth=(admin.login, admin.password))
    assert response.status_code == 422, response.text
