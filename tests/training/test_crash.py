"""A server killed mid-training: after its restart the job and its MLflow run tell the truth.

Before, the restarted server ended the job FAILURE "gave up after 1 attempts" with the message
of the stage it was in, and the MLflow run stayed RUNNING with no end time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import TEST_BROKER_URL, TEST_DATABASE_URL, TEST_SECRET
from tests.helpers import free_port, subprocess_env
from tests.training.helpers import corpus_members, unique, zip_bytes

pytestmark = pytest.mark.skipif(
    bool(TEST_BROKER_URL or TEST_DATABASE_URL),
    reason="the embedded setup: SQLite, jobs in the server process",
)

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 120.0  # a loaded machine starts slowly

# blocking_trainer.STAGE: not imported from it, as importing that module holds every
# training of the importing process (this test process's too) for a minute.
STAGE = "fitting (held by the test)"


@contextmanager
def _server(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = subprocess_env(
        data_dir,
        MODELYARD_SECRET_KEY=TEST_SECRET,
        MODELYARD_ENVIRONMENT="test",
        MODELYARD_TRAINING_MIN_DOCS_PER_LABEL="20",
        MODELYARD_JOBS_TASK_MODULES=json.dumps(["tests.training.blocking_trainer"]),
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelyard", "serve", "--port", str(port)],
            cwd=REPO_ROOT,  # `tests` importable for the task module
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _poll(client: httpx.Client, path: str, done: Any, seconds: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(path).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{path}: {body}"
        time.sleep(0.1)


def test_a_training_killed_with_its_server_ends_failed_with_the_reason(tmp_path: Path) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "server.log", free_port()
    base = f"http://127.0.0.1:{port}"
    with _server(data_dir, port, log) as server, httpx.Client(base_url=base, timeout=30) as client:
        login = {"email": "crash@example.com", "password": "test123"}
        assert client.post("/api/v1/users", json=login).status_code == 201
        token = client.post(
            "/api/v1/auth/token", json={"login": login["email"], "password": login["password"]}
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        archive = zip_bytes(corpus_members(per_label=25))
        dataset = client.post("/api/v1/datasets", files={"file": ("d.zip", archive)})
        assert dataset.status_code == 201, dataset.text
        started = client.post(
            "/api/v1/training-runs",
            json={"dataset_id": dataset.json()["id"], "experiment_name": unique()},
        )
        assert started.status_code == 202, started.text
        run_id, job_id = started.json()["run_id"], started.json()["job_id"]
        _poll(client, f"/api/v1/jobs/{job_id}", lambda job: job["message"] == STAGE)

        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

    with _server(data_dir, port, log), httpx.Client(base_url=base, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        run = client.get(f"/api/v1/training-runs/{run_id}").json()

    # The reason is what happened; the stage it was in is kept as context, not as the reason.
    assert (job["state"], job["attempts"]) == ("FAILURE", 1)
    assert job["error"] == "the worker running it stopped"
    assert job["message"] == f"the worker running it stopped (it was at 15%: {STAGE})"
    assert (run["job_state"], run["status"]) == ("FAILURE", "FAILED")

    store = MlflowClient(tracking_uri=f"sqlite:///{data_dir.resolve() / 'mlflow' / 'mlflow.db'}")
    info = store.get_run(run_id).info
    assert info.status == "FAILED"
    assert info.end_time is not None and info.end_time >= info.start_time
