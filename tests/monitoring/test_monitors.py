"""Monitors: evaluated once per window as a job, a webhook signed with HMAC-SHA256 received by
a real local HTTP server, retried, recorded; SSRF and impossible schedules refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient

from modelyard.config import MonitoringSettings
from modelyard.db import Database
from modelyard.jobs.models import JobState
from tests.helpers import Account
from tests.jobs.helpers import wait_for
from tests.monitoring.helpers import flush, predict
from tests.registry.factories import classifier, register_ok

SCHEMA = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]


@pytest.fixture
def monitoring_settings() -> MonitoringSettings:
    # The receiver below listens on the loopback address, which only an operator may allow.
    return MonitoringSettings(
        scheduler_enabled=False, allow_private_webhooks=True, webhook_backoff_seconds=0.05
    )


class Receiver:
    """A real HTTP server that answers each POST with the next status of ``statuses``."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                if status == 200:
                    receiver.got.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver([500])  # the first try fails: the delivery is retried
    yield found
    found.server.shutdown()
    found.server.server_close()


def _sample(rows: int) -> bytes:
    data = np.random.default_rng(0).normal(size=(rows, 2))
    return ("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in data)).encode()


def _shifted(n: int) -> list[list[float]]:
    data = np.random.default_rng(1).normal(loc=2.0, size=(n, 2))
    return [[float(x), float(y)] for x, y in data]


def _run(
    client: TestClient, account: Account, database: Database, monitor_id: int
) -> dict[str, Any]:
    response = client.post(f"/api/v1/monitors/{monitor_id}/run", headers=account.headers)
    assert response.status_code == 202, response.text
    job = wait_for(database, response.json()["job_id"], timeout=60)
    assert job.state == JobState.SUCCESS, (job.state, job.error)
    result: dict[str, Any] = job.result or {}
    return result


def test_a_drift_alert_calls_a_signed_webhook_once_per_window(
    client: TestClient, alice: Account, database: Database, receiver: Receiver
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)), schema=SCHEMA, sample=_sample(500))
    predict(client, alice, "m", _shifted(200))
    flush(client)
    created = client.post(
        "/api/v1/monitors",
        json={
            "name": "inputs moved",
            "model": "m",
            "version": 1,
            "check": {"kind": "drift_share", "threshold": 0.5},
            "window": "day",
            "min_samples": 50,
            "webhook_url": receiver.url,
        },
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    monitor = created.json()
    secret = monitor["webhook_secret"]
    assert secret and monitor["state"] == "unknown"
    assert (
        client.get(f"/api/v1/monitors/{monitor['id']}", headers=alice.headers).json()[
            "webhook_secret"
        ]
        is None
    )

    result = _run(client, alice, database, monitor["id"])
    assert (result["state"], result["fired"], result["value"]) == ("alert", True, 1.0)
    assert receiver.got.wait(10)
    assert len(receiver.received) == 2  # a 500, then the retry
    headers, body = receiver.received[-1]
    expected = hmac.new(
        secret.encode(), headers["X-Modelyard-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["X-Modelyard-Signature"], f"sha256={expected}")
    payload = json.loads(body)
    assert (payload["state"], payload["previous_state"], payload["model"]) == (
        "alert",
        "unknown",
        "m",
    )
    assert sorted(payload["detail"]["drifted_features"]) == ["a", "b"]

    deliveries = client.get(
        f"/api/v1/monitors/{monitor['id']}/deliveries", headers=alice.headers
    ).json()
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in deliveries] == [
        (2, 200, True),
        (1, 500, False),
    ]
    # The same window again: not evaluated twice, no second webhook.
    again = _run(client, alice, database, monitor["id"])
    assert "evaluated already" in again["skipped"]
    assert len(receiver.received) == 2
    evaluations = client.get(
        f"/api/v1/monitors/{monitor['id']}/evaluations", headers=alice.headers
    ).json()
    assert [(e["state"], e["fired"]) for e in evaluations] == [("alert", True)]
    assert (
        client.get(f"/api/v1/monitors/{monitor['id']}", headers=alice.headers).json()["state"]
        == "alert"
    )
    metrics = client.get("/metrics").text
    assert (
        f'modelyard_monitor_alert{{monitor="inputs moved",monitor_id="{monitor["id"]}"}} 1.0'
        in metrics
    )


def test_a_window_with_too_few_rows_changes_nothing(
    client: TestClient, alice: Account, database: Database, receiver: Receiver
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)), schema=SCHEMA, sample=_sample(500))
    predict(client, alice, "m", _shifted(3))
    flush(client)
    created = client.post(
        "/api/v1/monitors",
        json={
            "name": "few",
            "model": "m",
            "check": {"kind": "drift_share", "threshold": 0.5},
            "min_samples": 30,
            "webhook_url": receiver.url,
        },
        headers=alice.headers,
    ).json()
    result = _run(client, alice, database, created["id"])
    assert (result["state"], result["fired"]) == ("unknown", False)
    assert receiver.received == []
    (evaluation,) = client.get(
        f"/api/v1/monitors/{created['id']}/evaluations", headers=alice.headers
    ).json()
    assert evaluation["state"] == "insufficient" and evaluation["samples"] == 3


def test_monitors_belong_to_their_owner(client: TestClient, alice: Account, bob: Account) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)))
    body = {"name": "v", "model": "m", "check": {"kind": "volume_below", "threshold": 10}}
    assert client.post("/api/v1/monitors", json=body, headers=bob.headers).status_code == 404
    created = client.post("/api/v1/monitors", json=body, headers=alice.headers).json()
    assert client.get(f"/api/v1/monitors/{created['id']}", headers=bob.headers).status_code == 404
    assert client.get("/api/v1/monitors", headers=bob.headers).json() == []
    assert (
        client.delete(f"/api/v1/monitors/{created['id']}", headers=bob.headers).status_code == 404
    )
    assert (
        client.delete(f"/api/v1/monitors/{created['id']}", headers=alice.headers).status_code == 204
    )
