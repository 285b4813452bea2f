"""429 and 503 are sent again after the server's Retry-After; other errors are not.

The server here is httpx's MockTransport: what is tested is the client's own loop (how long it
waits, how often it tries), which a real server cannot be made to answer on cue.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from modelyard_client import (
    AsyncClient,
    Client,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    _async_client,
    _sync_client,
)
from modelyard_client.retry import retry_after_seconds


def _answers(*responses: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), sent


def _busy(status: int, retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": {"code": "queue_full", "message": "busy", "details": None}}
    return httpx.Response(status, json=body, headers={**headers, "X-Request-ID": "r-1"})


def test_retry_after_is_honoured_and_the_request_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(_sync_client.time, "sleep", waits.append)
    transport, sent = _answers(
        _busy(429, "2"), _busy(503, "1"), httpx.Response(200, json={"status": "ok"})
    )
    with Client("http://modelyard.test", "k", transport=transport) as client:
        assert client.live() == {"status": "ok"}
    assert waits == [2.0, 1.0] and len(sent) == 3
    assert sent[0].headers["Authorization"] == "Bearer k"


def test_after_the_last_try_the_typed_error_carries_the_servers_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(_sync_client.time, "sleep", waits.append)
    transport, sent = _answers(*(_busy(503, "100") for _ in range(3)))
    policy = RetryPolicy(attempts=3, max_wait=5)
    with (
        Client("http://modelyard.test", transport=transport, retry=policy) as client,
        pytest.raises(ServiceUnavailable) as refused,
    ):
        client.live()
    assert waits == [5.0, 5.0]  # Retry-After capped at max_wait
    assert len(sent) == 3
    error = refused.value
    assert (error.code, error.message, error.request_id) == ("queue_full", "busy", "r-1")


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sync_client.time, "sleep", lambda _: pytest.fail("no wait expected"))
    body = {"error": {"code": "model_not_found", "message": "no such model", "details": None}}
    transport, sent = _answers(httpx.Response(404, json=body))
    with (
        Client("http://modelyard.test", transport=transport) as client,
        pytest.raises(NotFound) as missing,
    ):
        client.get_model("x")
    assert missing.value.code == "model_not_found" and len(sent) == 1


def test_without_retry_after_the_backoff_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(_async_client.asyncio, "sleep", record)
    transport = httpx.MockTransport(
        lambda request: _busy(503, None) if len(waits) < 3 else httpx.Response(200, json={})
    )

    async def scenario() -> None:
        policy = RetryPolicy(attempts=4, backoff=1.0)
        async with AsyncClient("http://modelyard.test", transport=transport, retry=policy) as c:
            await c.live()

    asyncio.run(scenario())
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0


def test_retry_after_as_an_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    response = httpx.Response(503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    seconds = retry_after_seconds(response)
    assert seconds is not None and 25 <= seconds <= 30
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "soon"})) is None
