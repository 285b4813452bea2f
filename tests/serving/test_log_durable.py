"""An answered prediction is in the request log, also when the server is killed (-9).

A real ``modelyard serve`` process on the suite's database (SQLite in the test's folder, or
PostgreSQL + Redis with ``MODELYARD_TEST_DATABASE_URL``/``MODELYARD_TEST_BROKER_URL``), 16
clients predicting at once, SIGKILL in the middle of the traffic, then the database opened
again: every predict id answered 200 must be there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
from sqlalchemy import select

from modelyard.db import Database
from modelyard.serving.models import PredictionLog
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import PASSWORD, server_process
from tests.registry.factories import skops_classifier

CLIENTS = 16


def set_up_models(client: httpx.Client, modes: dict[str, str]) -> None:
    """A signed-up user and one registered skops classifier per model name, served in its mode."""
    email = "durable@example.com"
    created = client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"login": email, "password": PASSWORD})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    for name, mode in modes.items():
        files = {"file": ("model.skops", skops_classifier(4), "application/octet-stream")}
        registered = client.post("/api/v1/models", data={"name": name}, files=files)
        assert registered.status_code == 201, registered.text
        serving = {"mode": mode, "max_wait_ms": 2}
        changed = client.put(f"/api/v1/models/{name}/versions/1/serving", json=serving)
        assert changed.status_code == 200, changed.text


def predict_until_killed(
    base: str,
    headers: dict[str, str],
    process: subprocess.Popen[bytes],
    models: list[str],
    kill_after: int,
) -> list[str]:
    """16 clients predict (each with every model in turn) until the server dies; it is killed
    once ``kill_after`` answers are in. The predict ids answered 200."""
    answered: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(number: int) -> None:
        body = {"X": [[number, 1, 2, 3]]}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for sent in range(1_000_000):
                model = models[(number + sent) % len(models)]
                try:
                    response = http.post(f"/api/v1/models/{model}/predict", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    with lock:
                        answered.append(response.headers["X-Predict-Id"])
                        if len(answered) >= kill_after:
                            enough.set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        assert enough.wait(120), "the server answered too few predictions"
    finally:
        # In the middle of the traffic: every client has a request in flight or on its way.
        os.kill(process.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(60)
    with lock:
        return list(answered)


def logged_ids(database_url: str) -> set[str]:
    database = Database(database_url)  # opened anew, as a restarted server would
    try:
        with database.session() as session:
            return set(session.scalars(select(PredictionLog.predict_id)).all())
    finally:
        database.dispose()


def test_every_answered_prediction_is_logged_after_kill_9(
    tmp_path: Path, database: Database
) -> None:
    # ``database``: on PostgreSQL the server shares the suite's database, emptied afterwards.
    database_url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'modelyard.db'}"
    # One server (its start is most of the test's time), a model in each mode.
    modes = {"batched": "batching", "direct": "direct"}
    with server_process(tmp_path) as (base, process, _):
        with httpx.Client(base_url=base, timeout=30) as client:
            set_up_models(client, modes)
            headers = dict(client.headers)
        answered = predict_until_killed(base, headers, process, list(modes), kill_after=400)
        assert process.wait(10) == -signal.SIGKILL
    logged = logged_ids(database_url)
    missing = [predict_id for predict_id in answered if predict_id not in logged]
    assert len(answered) >= 400
    assert missing == [], f"{len(missing)} of {len(answered)} answered predictions not logged"
