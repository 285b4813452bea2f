"""Requests that miss the caches together share one lookup of their caller and version."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient

from modelyard.serving import dependencies
from modelyard.serving.service import ServingCore
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier

URL = "/api/v1/models/m/predict"
BODY = {"X": [[0, 0, 0, 0]]}


def burst(client: TestClient, headers: dict[str, str], n: int) -> list[httpx.Response]:
    """``n`` requests at once, on the app's own event loop."""

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return list(
                await asyncio.gather(
                    *(http.post(URL, json=BODY, headers=headers) for _ in range(n))
                )
            )

    answers: list[httpx.Response] = client.portal.call(send)  # type: ignore[union-attr]
    return answers


def slow_lookups(monkeypatch: Any) -> list[int]:
    calls: list[int] = []
    real = dependencies._resolve

    def counted(*args: Any) -> Any:
        calls.append(1)
        time.sleep(0.1)  # long enough for the other requests to arrive meanwhile
        return real(*args)

    monkeypatch.setattr(dependencies, "_resolve", counted)
    return calls


def test_requests_that_miss_together_share_one_lookup(
    client: TestClient, alice: Account, monkeypatch: Any
) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    calls = slow_lookups(monkeypatch)
    core: ServingCore = client.app.state.serving  # type: ignore[attr-defined]
    core.targets.clear()
    answers = burst(client, alice.headers, 8)
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.headers["X-Predict-Id"] for a in answers}) == 8
    assert len(calls) == 1


def test_a_shared_lookup_that_fails_fails_every_request_that_waited(
    client: TestClient, alice: Account, monkeypatch: Any
) -> None:
    calls = slow_lookups(monkeypatch)
    answers = burst(client, {"X-API-Key": "my_unknown"}, 4)
    assert [a.status_code for a in answers] == [401] * 4
    assert len(calls) == 1
    # Nothing is left pending: the next request looks up again.
    assert burst(client, {"X-API-Key": "my_unknown"}, 1)[0].status_code == 401
    assert len(calls) == 2
