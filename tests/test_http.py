"""The one error format, request ids, body limits and redacted logs."""

import logging
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import HttpSettings, Settings
from modelyard.http import KeepAliveLimit
from tests.helpers import PASSWORD, sign_up


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    ok = client.get("/api/v1/health/live")
    assert len(ok.headers["X-Request-ID"]) == 32
    echoed = client.get("/api/v1/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    hostile = client.get("/api/v1/health/live", headers={"X-Request-ID": 'a" onload=x'})
    assert hostile.headers["X-Request-ID"] != 'a" onload=x'


def test_unknown_route_uses_the_native_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": None}
    }
    assert "X-Request-ID" in response.headers


def test_wrong_method(client: TestClient) -> None:
    response = client.delete("/api/v1/health/live")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/users",
        content=b'{"email": "a@example.com", "password":',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_validation_errors_do_not_echo_the_input(client: TestClient) -> None:
    response = client.post("/api/v1/users", json={"email": "a@example.com", "password": "x" * 5000})
    assert response.status_code == 422
    assert "xxxxxxxx" not in response.text


@pytest.fixture
def small_body_client(settings: Settings) -> TestClient:
    settings = settings.model_copy(update={"http": HttpSettings(max_body_bytes=2048)})
    with TestClient(create_app(settings)) as test_client:
        yield test_client  # type: ignore[misc]


def test_oversized_body_declared_is_413(small_body_client: TestClient) -> None:
    body = '{"email": "a@example.com", "password": "' + "x" * 4000 + '"}'
    response = small_body_client.post(
        "/api/v1/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_oversized_body_streamed_is_413(small_body_client: TestClient) -> None:
    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(10):
            yield b"x" * 1000

    response = small_body_client.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_oversized_compat_body_uses_the_compat_shape(small_body_client: TestClient) -> None:
    body = '{"email": "a@example.com", "password": "' + "x" * 4000 + '"}'
    response = small_body_client.post(
        "/sign_up/", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "detail" in response.json()


def _app_with_a_failing_route(settings: Settings) -> FastAPI:
    app = create_app(settings)
    router = APIRouter()

    @router.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    app.include_router(router)
    return app


def test_unexpected_errors_are_a_bare_500(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(_app_with_a_failing_route(settings)) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Internal server error", "details": None}
    }
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert "X-Request-ID" in response.headers
    logged = [r for r in caplog.records if r.name == "modelyard.errors"]
    assert logged and logged[0].exc_info is not None
    assert logged[0].request_id == response.headers["X-Request-ID"]  # type: ignore[attr-defined]


def test_secrets_in_query_strings_and_paths_never_reach_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.access")
    account = sign_up(client, "logs@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=account.headers).json()["key"]
    client.get("/api/v1/users/me", params={"api_key": key, "page": "2"})
    client.get(f"/token_status/{account.token}")
    client.post("/sign_in/", json={"email": "logs@example.com", "password": PASSWORD})
    access_lines = [r.getMessage() for r in caplog.records if r.name == "modelyard.access"]
    assert any("api_key=***" in line and "page=2" in line for line in access_lines)
    assert any("/token_status/***" in line for line in access_lines)
    everything = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert key not in everything
    assert account.token not in everything
    assert PASSWORD not in everything


def _closes(responses: list[Any]) -> list[int]:
    return [n for n, r in enumerate(responses, 1) if r.headers.get("connection") == "close"]


def test_with_several_processes_a_connection_closes_after_its_keepalive_requests(
    settings: Settings,
) -> None:
    # TestClient's requests all come from one client address and port: one connection.
    several = settings.model_copy(update={"http": HttpSettings(workers=2, keepalive_requests=3)})
    with TestClient(create_app(several)) as test_client:
        responses = [test_client.get("/api/v1/health/live") for _ in range(7)]
        # Any route's answer counts on the connection, a refused predict's too (the 8th).
        predict = test_client.post("/api/v1/models/none/predict", json={"X": [[1]]})
    assert [r.status_code for r in responses] == [200] * 7
    assert _closes(responses) == [3, 6]
    assert predict.status_code == 401
    assert _closes([*responses, predict]) == [3, 6]  # the 8th request: the count went on


def test_one_process_never_closes_a_connection_for_its_requests(settings: Settings) -> None:
    one = settings.model_copy(update={"http": HttpSettings(workers=1, keepalive_requests=2)})
    with TestClient(create_app(one)) as test_client:
        responses = [test_client.get("/api/v1/health/live") for _ in range(5)]
    assert _closes(responses) == []
    unbounded = settings.model_copy(update={"http": HttpSettings(workers=2, keepalive_requests=0)})
    with TestClient(create_app(unbounded)) as test_client:
        responses = [test_client.get("/api/v1/health/live") for _ in range(5)]
    assert _closes(responses) == []


def test_the_keepalive_limit_counts_each_connection_and_forgets_the_oldest() -> None:
    limit = KeepAliveLimit(2, remembered=2)

    def request(port: int) -> bool:
        return limit.closes({"type": "http", "client": ("10.0.0.1", port)})

    assert [request(1), request(2), request(1)] == [False, False, True]
    assert request(1) is False  # a new connection on a reused port starts again
    assert request(3) is False  # a third connection: the oldest (port 2) is forgotten
    assert request(2) is False
    assert request(3) is True
    assert limit.closes({"type": "http", "client": None}) is False  # a Unix socket
    with pytest.raises(ValueError, match="at least 1"):
        KeepAliveLimit(0)
