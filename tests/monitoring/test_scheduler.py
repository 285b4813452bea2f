"""The monitor scheduler: a due monitor is taken by one replica only; checks other than drift
come to their state from labels, coverage and the log."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import skops.io as sio
from fastapi.testclient import TestClient

from modelyard.db import Database, utcnow
from modelyard.jobs.models import Job, JobState
from modelyard.monitoring.scheduler import submit_due
from tests.helpers import Account
from tests.jobs.helpers import wait_for
from tests.monitoring.helpers import feedback, flush, predict
from tests.registry.factories import classifier, register_ok


def _monitor(client: TestClient, account: Account, check: dict[str, Any], **extra: Any) -> int:
    response = client.post(
        "/api/v1/monitors",
        json={"name": check["kind"], "model": "m", "check": check, "min_samples": 10, **extra},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    monitor_id: int = response.json()["id"]
    return monitor_id


def test_a_due_monitor_is_submitted_once_by_racing_replicas(
    client: TestClient, alice: Account, database: Database
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)))
    monitor_id = _monitor(client, alice, {"kind": "volume_below", "threshold": 5})
    executor = client.app.state.jobs  # type: ignore[attr-defined]
    now = utcnow() + timedelta(seconds=1)
    counts: list[int] = []
    replicas = [
        threading.Thread(target=lambda: counts.append(submit_due(database, executor, now)))
        for _ in range(3)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join()
    assert sorted(counts) == [0, 0, 1]
    with database.session() as session:
        jobs = session.query(Job).filter(Job.kind == "monitoring.evaluate").all()
        assert len(jobs) == 1 and jobs[0].params["monitor_id"] == monitor_id
        job_id = jobs[0].id
    job = wait_for(database, job_id, timeout=60)
    assert job.state == JobState.SUCCESS, job.error
    # Not due again before its interval has passed.
    assert submit_due(database, executor, now + timedelta(seconds=10)) == 0


def test_accuracy_coverage_and_error_rate_checks(
    client: TestClient, alice: Account, database: Database
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)))
    answer = predict(client, alice, "m", [[3.0, 0.0]] * 40)
    failed = client.post("/api/v1/models/m/predict", json=[{"x": 1}], headers=alice.headers)
    assert failed.status_code == 422
    flush(client)
    wrong = 1 - answer["predictions"][0]  # every label says the model was wrong
    items = [{"predict_id": answer["predict_id"], "row": r, "label": wrong} for r in range(20)]
    assert feedback(client, alice, "m", items).status_code == 200
    checks = {
        "metric_below": {"kind": "metric_below", "metric": "accuracy", "threshold": 0.5},
        "coverage_below": {"kind": "coverage_below", "threshold": 0.9},
        "error_rate_above": {"kind": "error_rate_above", "threshold": 0.9},
    }
    expected = {
        "metric_below": ("alert", 0.0),
        "coverage_below": ("alert", 0.5),
        "error_rate_above": (None, 0.5),  # 1 failed of 2 requests: fewer than 10 samples
    }
    for kind, check in checks.items():
        monitor_id = _monitor(client, alice, check)
        run = client.post(f"/api/v1/monitors/{monitor_id}/run", headers=alice.headers)
        assert run.status_code == 202, run.text
        job = wait_for(database, run.json()["job_id"], timeout=60)
        assert job.state == JobState.SUCCESS, job.error
        result = job.result or {}
        state, value = expected[kind]
        assert result["value"] == value, (kind, result)
        if state is not None:
            assert result["state"] == state, (kind, result)
        else:
            assert result["state"] == "unknown", (kind, result)
