"""A feedback upload may be larger than the server's body limit for other routes: the route
raises its own limit (http.BODY_LIMIT_KEY), and the rest keep the server's."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
