"""Benchmark: what a dashboard page costs next to the API answer it is built from.

Run: ``.venv/bin/python bench/web_pages.py`` (well under a minute). In process (TestClient, a
fresh SQLite data folder), it times, best of several:

1. a model's page (its versions, schema, one page of the request log, and the charts drawn from
   the newest 2,000 logged requests) against ``GET /api/v1/models/{name}/requests`` listing the
   largest page of the same log as JSON;
2. a confusion matrix's page (headline, the matrix, every PyCM statistic) against
   ``GET /api/v1/confusion-matrices/{uid}?statistics=true``;
3. the home page against ``GET /api/v1/users/me`` (the cost of a signed-in request).
"""

from __future__ import annotations

import platform
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from modelyard.app import create_app
from modelyard.config import AuthSettings, DatabaseSettings, Settings
from modelyard.db import Database
from modelyard.migrate import upgrade
from modelyard.serving import repository as log_repository

LOGGED = 2000
REPEATS = 15


def best_of(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def model_file() -> bytes:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] > 0).astype(int)
    data: bytes = sio.dumps(LogisticRegression().fit(features, labels))
    return data


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="modelyard-bench-web-"))
    url = f"sqlite:///{folder / 'modelyard.db'}"
    upgrade(Database(url))
    settings = Settings(
        environment="test",
        data_dir=folder,
        database=DatabaseSettings(url=url),
        auth=AuthSettings(secret_key=secrets.token_urlsafe(48)),
    )
    with TestClient(create_app(settings)) as client:
        client.post("/api/v1/users", json={"email": "b@example.com", "password": "bench123"})
        token = client.post(
            "/api/v1/auth/token", json={"login": "b@example.com", "password": "bench123"}
        ).json()["access_token"]
        api = {"Authorization": f"Bearer {token}"}
        client.post(
            "/api/v1/models", data={"name": "bench"}, files={"file": model_file()}, headers=api
        )
        app = client.app
        with app.state.database.session() as session:  # type: ignore[attr-defined]
            from modelyard.registry import repository as registry_repository

            model = registry_repository.find_model(session, 1, "bench")
            assert model is not None
            now = datetime.now(UTC)
            rows = [
                {
                    "predict_id": f"p{i}",
                    "model_id": model.id,
                    "version_id": None,
                    "model_name": "bench",
                    "version": 1,
                    "user_id": 1,
                    "source": "native",
                    "status": 200 if i % 20 else 422,
                    "error": None,
                    "n_rows": 1,
                    "input": {"X": [[0.1, 0.2, 0.3, 0.4]]},
                    "output": {"predictions": [i % 2]},
                    "latency_ms": 1.0 + (i % 7),
                    "created_at": now - timedelta(seconds=3 * i),
                }
                for i in range(LOGGED)
            ]
            log_repository.insert_logs(session, rows)
        matrix = client.post(
            "/api/v1/confusion-matrices",
            json={
                "actual": [i % 5 for i in range(1000)],
                "predicted": [(i * 7) % 5 for i in range(1000)],
                "name": "bench",
            },
            headers=api,
        ).json()
        page = client.get("/ui/sign-in").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post(
            "/ui/sign-in",
            data={"csrf_token": csrf, "login": "b@example.com", "password": "bench123"},
        )
        max_page = settings.http.max_page_size

        def get(path: str, **kwargs: object) -> None:
            response = client.get(path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 200, (path, response.status_code)

        cases = [
            (
                "model page (2,000 logged requests charted)",
                "/ui/models/bench",
                f"/api/v1/models/bench/requests?limit={max_page}",
                f"requests JSON, {max_page} rows",
            ),
            (
                "confusion matrix page (every statistic)",
                f"/ui/matrices/{matrix['uid']}",
                f"/api/v1/confusion-matrices/{matrix['uid']}?statistics=true",
                "matrix JSON with statistics",
            ),
            ("home page", "/ui/", "/api/v1/users/me", "users/me JSON"),
        ]
        print(
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
            f"Python {sys.version.split()[0]}; best of {REPEATS}"
        )
        print("| page | page time | reference | reference time | ratio |")
        print("| --- | ---: | --- | ---: | ---: |")
        for name, path, reference, reference_name in cases:
            get(path)
            get(reference, headers=api)
            page_time = best_of(lambda path=path: get(path))
            reference_time = best_of(lambda reference=reference: get(reference, headers=api))
            print(
                f"| {name} | {page_time * 1000:.1f} ms | {reference_name} | "
                f"{reference_time * 1000:.1f} ms | {page_time / reference_time:.2f}x |"
            )


if __name__ == "__main__":
    main()
