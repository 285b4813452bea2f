"""Bad monitors: webhook URLs that point inside (SSRF), impossible schedules, wrong checks."""

from __future__ import annotations

from typing import Any

import pytest
import skops.io as sio
from fastapi.testclient import TestClient

from modelyard.monitoring.exceptions import UnsafeWebhook
from modelyard.monitoring.webhooks import check_url
from tests.helpers import Account
from tests.registry.factories import classifier, register_ok

BASE: dict[str, Any] = {
    "name": "n",
    "model": "m",
    "check": {"kind": "volume_below", "threshold": 1},
}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http://user:pass@example.com/hook",
        "not a url",
    ],
)
def test_webhooks_to_inner_addresses_are_refused(
    client: TestClient, alice: Account, url: str
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)))
    response = client.post(
        "/api/v1/monitors", json={**BASE, "webhook_url": url}, headers=alice.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unsafe_webhook"
    assert client.get("/api/v1/monitors", headers=alice.headers).json() == []


def test_a_name_that_resolves_inside_is_refused() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]  # one public, one private: refused

    with pytest.raises(UnsafeWebhook):
        check_url("https://hooks.example.com/x", allow_private=False, resolve=resolve)
    assert check_url(
        "https://hooks.example.com/x", allow_private=False, resolve=lambda h, p: ["93.184.216.34"]
    )
    assert check_url("http://127.0.0.1/x", allow_private=True)


@pytest.mark.parametrize(
    "change",
    [
        {"interval_seconds": 5},
        {"interval_seconds": 10**9},
        {"window": "month"},
        {"check": {"kind": "drift_share", "threshold": 2}},
        {"check": {"kind": "metric_below", "threshold": 0.8}},
        {"check": {"kind": "nonsense", "threshold": 1}},
        {"min_samples": 0},
        {"webhook_secret": "short"},
    ],
)
def test_impossible_monitors_are_refused(
    client: TestClient, alice: Account, change: dict[str, Any]
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)))
    response = client.post("/api/v1/monitors", json={**BASE, **change}, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert client.get("/api/v1/monitors", headers=alice.headers).json() == []
