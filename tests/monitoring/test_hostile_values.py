"""Hostile values in monitoring requests get a 4xx, never a 500: naive times (UTC), huge
integers, times at the ends of the calendar, an infinite threshold, IPv6 forms of loopback."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.monitoring.helpers import flush, predict
from tests.registry.factories import register_ok, skops_classifier

MONITOR: dict[str, Any] = {
    "name": "n",
    "model": "m",
    "check": {"kind": "volume_below", "threshold": 1},
}
BIG = 2**63
VERSION = "/api/v1/models/m/versions/1"

# (method, path, JSON body or raw text, expected status); {monitor} is a monitor's id.
CASES: list[tuple[str, str, Any, int]] = [
    ("GET", f"{VERSION}/performance?since=2026-01-01T00:00:00", None, 200),
    ("GET", f"{VERSION}/performance?until=2026-01-01T00:00:00&window=week", None, 200),
    # Times past the data's range are clamped to 1970 .. 2999 (any date-time the OpenAPI
    # document allows is answered): windows that cannot overflow, empty ones (409: an empty
    # reference window).
    ("GET", f"{VERSION}/performance?since=0001-01-01T00:00:00Z&window=week", None, 200),
    ("GET", f"{VERSION}/drift?window=hour&reference_start=9999-12-31T23:00:00Z", None, 409),
    ("GET", f"{VERSION}/drift?window=week&reference_start=0001-01-01T00:00:00Z", None, 409),
    ("GET", f"{VERSION}/drift?window=week&reference_start=0001-01-01T00:00:00%2B23:00", None, 409),
    ("POST", "/api/v1/monitors/{monitor}/run?at=0001-01-01T00:00:00", None, 202),
    ("POST", "/api/v1/monitors/{monitor}/run?at=9999-12-31T23:59:59", None, 202),
    ("POST", "/api/v1/monitors", {**MONITOR, "min_samples": BIG}, 422),
    ("POST", "/api/v1/monitors", {**MONITOR, "min_samples": 10**20}, 422),
    ("POST", "/api/v1/monitors", {**MONITOR, "version": BIG}, 422),
    ("POST", "/api/v1/monitors", {**MONITOR, "owner_id": BIG}, 422),
    (
        "POST",
        "/api/v1/monitors",
        '{"name": "n", "model": "m", "check": {"kind": "volume_below", "threshold": Infinity}}',
        422,
    ),
    (
        "POST",
        "/api/v1/monitors",
        '{"name": "n", "model": "m", "check": {"kind": "volume_below", "threshold": NaN}}',
        422,
    ),
    ("POST", "/api/v1/monitors", {**MONITOR, "webhook_url": "http://[64:ff9b::7f00:1]/"}, 422),
    ("POST", "/api/v1/monitors", {**MONITOR, "webhook_url": "http://[2002:7f00:1::]/"}, 422),
    ("POST", "/api/v1/monitors", {**MONITOR, "webhook_url": "http://[::127.0.0.1]/"}, 422),
    (
        "POST",
        "/api/v1/monitors",
        {**MONITOR, "webhook_url": "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/"},
        422,
    ),
    ("POST", "/api/v1/models/m/feedback", [{"predict_id": "p", "row": BIG, "label": 1}], 422),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES)
def test_hostile_values_get_a_4xx_not_a_500(
    client: TestClient, alice: Account, method: str, path: str, body: Any, expected: int
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    predict(client, alice, "m", [[1.0, 0.5]])
    flush(client)
    if "{monitor}" in path:
        created = client.post("/api/v1/monitors", json=MONITOR, headers=alice.headers)
        assert created.status_code == 201, created.text
        path = path.format(monitor=created.json()["id"])
    if isinstance(body, str):
        headers = {**alice.headers, "Content-Type": "application/json"}
        response = client.request(method, path, content=body, headers=headers)
    else:
        response = client.request(method, path, json=body, headers=alice.headers)
    assert response.status_code == expected, response.text[:300]
    if expected >= 400:
        assert "error" in response.json()
