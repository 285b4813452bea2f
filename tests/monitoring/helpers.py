"""Shared pieces of the monitoring tests: a served model with logged predictions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Account


def flush(client: TestClient) -> None:
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def predict(
    client: TestClient, account: Account, name: str, rows: list[list[float]]
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/models/{name}/predict", json={"X": rows}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def feedback(
    client: TestClient, account: Account, name: str, items: list[dict[str, Any]], query: str = ""
) -> Any:
    return client.post(
        f"/api/v1/models/{name}/feedback{query}", json=items, headers=account.headers
    )
