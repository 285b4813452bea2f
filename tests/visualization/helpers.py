"""Small generated models and data for the visualization tests (no downloads)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from tests.conftest import NUMBA_CACHE
from tests.helpers import Account
from tests.registry.factories import register_ok

__all__ = ["NUMBA_CACHE"]
FEATURES = ["f0", "f1", "f2", "f3", "f4"]
SCHEMA = [{"name": name, "type": "float"} for name in FEATURES]
CLASSES = ["blue", "green", "red"]
# Generous: a worker's first UMAP job waits for its compilation, slow on a busy machine.
DEADLINE_SECONDS = 600.0


def blobs(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated clusters in 5 dimensions, with their class names."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(42).normal(scale=3.0, size=(3, 5))
    labels = rng.integers(0, 3, size=rows)
    points = centres[labels] + rng.normal(scale=0.6, size=(rows, 5))
    return points, np.asarray(CLASSES, dtype=object)[labels]


def model_bytes() -> bytes:
    points, labels = blobs(300, seed=1)
    data: bytes = sio.dumps(LogisticRegression(max_iter=500).fit(points, labels))
    return data


def sample_csv(
    rows: int, seed: int = 2, *, cells: dict[tuple[int, str], str] | None = None
) -> bytes:
    points, _ = blobs(rows, seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FEATURES)
    for i, row in enumerate(points):
        writer.writerow(
            [
                (cells or {}).get((i, name), f"{value:.5f}")
                for name, value in zip(FEATURES, row, strict=True)
            ]
        )
    return buffer.getvalue().encode()


def register_model(
    client: TestClient,
    account: Account,
    name: str = "blobs",
    *,
    sample_rows: int | None = 150,
    **kw: Any,
) -> dict[str, Any]:
    sample = sample_csv(sample_rows, **kw) if sample_rows else None
    return register_ok(client, account, name, model_bytes(), schema=SCHEMA, sample=sample)


def log_requests(
    client: TestClient,
    account: Account,
    name: str,
    rows: int,
    *,
    per_request: int = 10,
    seed: int = 5,
) -> None:
    """Send ``rows`` rows as predictions of ``name`` and wait until the log has them."""
    points, _ = blobs(rows, seed)
    for start in range(0, rows, per_request):
        records = [
            dict(zip(FEATURES, map(float, row), strict=True))
            for row in points[start : start + per_request]
        ]
        response = client.post(
            f"/api/v1/models/{name}/versions/latest/predict", json=records, headers=account.headers
        )
        assert response.status_code == 200, response.text
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def wait_projection(client: TestClient, account: Account, projection_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = client.get(f"/api/v1/projections/{projection_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] not in ("PENDING", "STARTED"):
            return body
        assert time.monotonic() < deadline, f"projection still {body['state']}: {body}"
        time.sleep(0.1)


def project(
    client: TestClient,
    account: Account,
    name: str,
    method: str = "pca",
    *,
    refit: bool = False,
    version: str = "latest",
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        f"/api/v1/models/{name}/versions/{version}/projections",
        json={"method": method, "refit": refit},
        headers=account.headers,
    )
    return response.status_code, response.json()


def set_params(
    client: TestClient, account: Account, name: str, method: str, body: dict[str, Any]
) -> Any:
    return client.put(
        f"/api/v1/models/{name}/versions/latest/projection-params/{method}",
        json=body,
        headers=account.headers,
    )
