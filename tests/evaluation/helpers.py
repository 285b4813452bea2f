"""Shared steps of the evaluation tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Account

BASE = "/api/v1/confusion-matrices"
ACTUAL = [1, 0, 1, 1, 0, 1, 0, 0]
PREDICTED = [1, 0, 1, 0, 0, 1, 1, 0]


def create(client: TestClient, account: Account, **body: Any) -> dict[str, Any]:
    """Create a matrix (the document's 8-label example unless told otherwise)."""
    given = "actual" in body or "matrix" in body
    payload = body if given else {"actual": ACTUAL, "predicted": PREDICTED, **body}
    response = client.post(BASE, json=payload, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def pycm_user(client: TestClient, email: str) -> dict[str, Any]:
    """Sign up through pycm-api's route; the answer holds the API key."""
    response = client.post("/sign_up/", json={"email": email, "password": "test123"})
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()
    return user
