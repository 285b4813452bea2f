"""A feedback upload may be larger than the server's body limit for other routes: the route
raises its own limit (http.BODY_LIMIT_KEY), and the rest keep the server's."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from modelyard.config import HttpSettings, MonitoringSettings, ServingSettings, Settings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.helpers import Account
from tests.jobs.conftest import _jobs_settings
from tests.monitoring.helpers import flush, predict
from tests.registry.factories import register_ok, skops_classifier


@pytest.fixture
def settings(data_dir: Path, database: Database, database_url: str) -> Settings:
    return _jobs_settings(
        make_settings(
            data_dir,
            database_url,
            http=HttpSettings(max_body_bytes=65536),
            serving=ServingSettings(log_flush_ms=20),
            monitoring=MonitoringSettings(scheduler_enabled=False),
        )
    )


def test_an_upload_above_the_server_limit_but_within_its_own_is_taken(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    answers = [predict(client, alice, "m", [[float(i), 0.5]] * 1000) for i in range(2)]
    flush(client)
    labels = [(a["predict_id"], row) for a in answers for row in range(1000)]
    body = ("predict_id,row,label\n" + "".join(f"{p},{r},1\n" for p, r in labels)).encode()
    assert len(body) > 65536
    response = client.post(
        "/api/v1/models/m/feedback/upload",
        content=body,
        headers={**alice.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2000
    # The JSON route keeps the server's limit.
    items = [{"predict_id": p, "row": r, "label": 1} for p, r in labels]
    refused = client.post("/api/v1/models/m/feedback", json=items, headers=alice.headers)
    assert refused.status_code == 413


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key"])
def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    client: TestClient, authorization: str | None
) -> None:
    client.app.state.settings.monitoring.max_feedback_upload_bytes = 2 * 1024 * 1024  # type: ignore[attr-defined]
    received = [0]

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            message = await receive()
            received[0] += len(message.get("body", b""))
            return message

        await client.app(scope, counted_receive, send)

    headers = {"Content-Type": "text/csv"}
    if authorization:
        headers["Authorization"] = authorization
    body = b"predict_id,label\n" + b"x,1\n" * 1_000_000  # 4 MB: past the upload limit too
    # The fixture's client ran the app's start-up; this one only counts what the app reads.
    response = TestClient(counting).post(
        "/api/v1/models/m/feedback/upload", content=body, headers=headers
    )
    assert response.status_code == 401, response.text[:300]
    assert received[0] <= 65536  # the server's own limit, not the upload's
