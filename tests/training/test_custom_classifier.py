"""The Custom Classifier's documented requests (shared/seeds/002), verbatim, end to end."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.training.conftest import MIN_DOCS
from tests.training.helpers import DEADLINE_SECONDS, LABELS, unique, write_folder

WRAPPER_KEYS = {
    "status",
    "data",
    "error",
    "number_documents_treated",
    "number_documents_non_treated",
    "list_id_not_treated",
}
STATUS_KEYS = {"run_id", "status", "params.label2id", "params.id2label", "tags.mlflow.runName"}


def _wait_status(client: TestClient, account: Account, name: str, run_id: str) -> list[Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        rows = client.post(
            "/custom_classifier/job_status", json={"experiment_name": name}, headers=account.headers
        ).json()
        statuses = {row["run_id"]: row["status"] for row in rows}
        if statuses.get(run_id) in ("FINISHED", "FAILED", "KILLED"):
            return list(rows)
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def test_the_documented_workflow(client: TestClient, alice: Account, datasets_root: Path) -> None:
    write_folder(datasets_root, "dataset1", per_label=MIN_DOCS)
    name = unique("Custom_Classifier")
    # The document's payload, with this corpus's labels and this test's experiment name.
    payload = {"labels": sorted(LABELS), "path": "dataset1", "experiment_name": name}
    # The source's clients send the token without "Bearer".
    headers = {"Authorization": alice.token}
    response = client.post("/custom_classifier/process", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == WRAPPER_KEYS
    assert body["status"] == {"code": 200, "message": "Success"}
    assert body["error"] == ""
    assert body["number_documents_treated"] == 0
    assert body["list_id_not_treated"] == []
    info = body["data"]["info"]
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    assert info["run_name"].startswith("training_classifier")
    assert info["run_uuid"] == info["run_id"]
    assert info["end_time"] is None
    assert body["data"]["data"]["tags"]["mlflow.runName"] == info["run_name"]
    run_id = info["run_id"]

    rows = _wait_status(client, alice, name, run_id)
    assert all(set(row) == STATUS_KEYS for row in rows)
    # The newest run is the training run /process answered (no validation run unless asked).
    assert rows[0]["run_id"] == run_id
    assert len(rows) == 2
    training = next(row for row in rows if row["run_id"] == run_id)
    assert training["status"] == "FINISHED"
    assert training["params.label2id"] == "{'food': 0, 'space': 1, 'sport': 2}"
    assert training["params.id2label"] == "{0: 'food', 1: 'space', 2: 'sport'}"
    info_row = next(row for row in rows if row["tags.mlflow.runName"].startswith("dataset_info "))
    assert info_row["params.label2id"] is None
    same = client.get(
        "/custom_classifier/runid/status", params={"experiment_name": name}, headers=headers
    )
    assert same.json() == rows

    last = client.get("/custom_classifier/all_experiments/last_run", headers=headers).json()
    assert [set(row) for row in last] == [
        {"run_id", "status", "experiment_name", "tags.mlflow.runName"}
    ]
    assert last[0]["experiment_name"] == name
    assert last[0]["run_id"] == run_id
    assert last[0]["tags.mlflow.runName"] == info["run_name"]

    predicted = client.post(
        "/custom_classifier/predict",
        json={"runid": run_id, "text": "the rocket left orbit for a distant planet"},
        headers=headers,
    )
    assert predicted.status_code == 200, predicted.text
    answer = predicted.json()
    assert set(answer) == WRAPPER_KEYS
    assert answer["data"]["label"] == "space"
    assert answer["data"]["prediction"] == 1
    assert 0.0 < answer["data"]["score"] <= 1.0

    short = client.post(
        "/custom_classifier/predict", json={"runid": run_id, "text": "rocket"}, headers=headers
    )
    assert short.status_code == 422
    assert short.json()["status"]["code"] == 422
    assert "more than 10 characters" in short.json()["error"]

    deleted = client.post(
        "/custom_classifier/run/soft_delete", json={"run_id": run_id}, headers=headers
    )
    assert deleted.json() == {"status": f"Run {run_id} deleted. Status deleted"}
    # Deleting it again answers the document's body, word for word.
    again = client.post(
        "/custom_classifier/run/soft_delete", json={"run_id": run_id}, headers=headers
    )
    assert again.status_code == 200
    assert again.json() == {"status": f"Problem deleting run {run_id}. Status deleted"}
    unknown = client.post(
        "/custom_classifier/run/soft_delete", json={"run_id": "0" * 32}, headers=headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["status"].startswith(f"Problem deleting run {'0' * 32}.")

    soft = client.post(
        "/custom_classifier/experiment/soft_delete", json={"experiment_name": name}, headers=headers
    )
    assert soft.status_code == 200
    assert soft.json() == {"status": f"Experiment {name} deleted. Status deleted"}
    twice = client.post(
        "/custom_classifier/experiment/soft_delete", json={"experiment_name": name}, headers=headers
    )
    assert twice.status_code == 200
    assert twice.json() == {"status": f"Problem deleting Experiment {name}. Status deleted"}

    hard = client.post(
        "/custom_classifier/experiment/hard_delete", json={"experiment_name": name}, headers=headers
    )
    assert hard.status_code == 200, hard.text
    assert hard.json() == {"status": f"Experiment {name} deleted. Status hard deleted"}
    gone = client.post(
        "/custom_classifier/job_status", json={"experiment_name": name}, headers=headers
    )
    assert gone.status_code == 404
    assert gone.json()["status"]["code"] == 404


def test_bad_input_is_a_4xx_in_the_wrapper(
    client: TestClient, alice: Account, bob: Account, datasets_root: Path
) -> None:
    headers = {"Authorization": alice.token}
    cases = [
        ({"labels": ["a", "b"], "path": "../..", "experiment_name": "x"}, 400),
        ({"labels": ["a", "b"], "path": "missing", "experiment_name": "x"}, 400),
        ({"labels": ["a"], "path": "dataset1", "experiment_name": "x"}, 422),
        ({"path": "dataset1"}, 422),
    ]
    write_folder(datasets_root, "dataset1", per_label=3)
    for payload, status in cases:
        response = client.post("/custom_classifier/process", json=payload, headers=headers)
        assert response.status_code == status, (payload, response.text)
        body = response.json()
        assert set(body) == WRAPPER_KEYS
        assert body["status"]["code"] == status
        assert body["error"]
    too_few = client.post(
        "/custom_classifier/process",
        json={"labels": sorted(LABELS), "path": "dataset1", "experiment_name": unique()},
        headers=headers,
    )
    assert too_few.status_code == 422
    assert "at least" in too_few.json()["error"]
    unknown = client.post(
        "/custom_classifier/predict",
        json={"runid": "0" * 32, "text": "a text long enough to classify"},
        headers=headers,
    )
    assert unknown.status_code == 404
    assert unknown.json()["status"]["code"] == 404
    no_token = client.post(
        "/custom_classifier/predict", json={"runid": "0" * 32, "text": "a long enough text"}
    )
    assert no_token.status_code == 401
    assert client.get("/custom_classifier/health-check").status_code == 200


def test_a_validation_run_only_when_asked_and_newest_runs_are_training_runs(
    client: TestClient, alice: Account, datasets_root: Path
) -> None:
    write_folder(datasets_root, "dataset1", per_label=MIN_DOCS)
    headers = {"Authorization": alice.token}
    name = unique("Custom_Classifier")
    payload = {"labels": sorted(LABELS), "path": "dataset1", "experiment_name": name}
    response = client.post(
        "/custom_classifier/process", json={**payload, "validation": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    run_id = response.json()["data"]["info"]["run_id"]
    rows = _wait_status(client, alice, name, run_id)
    names = [row["tags.mlflow.runName"] for row in rows]
    # As the source: the validation run comes after the training, named after it.
    assert re.fullmatch(rf"validation_model_{run_id}\d{{4}}-\d\d-\d\d_\d{{6}}", names[0]), names
    assert rows[1]["run_id"] == run_id
    assert names[1].startswith("training_classifier")
    assert names[2].startswith("dataset_info ")

    # The native list names training runs only: ids the training-run routes take.
    newest = client.get("/api/v1/training-runs/newest-per-experiment", headers=alice.headers)
    assert newest.status_code == 200
    mine = [run for run in newest.json() if run["experiment_name"] == name]
    assert [run["run_id"] for run in mine] == [run_id]
    for run in newest.json():
        url = f"/api/v1/training-runs/{run['run_id']}"
        assert client.get(url, headers=alice.headers).status_code == 200
        predicted = client.post(
            f"{url}/predict", json={"texts": ["the rocket left orbit"]}, headers=alice.headers
        )
        assert predicted.status_code == 200, predicted.text
    shown = client.get(f"/api/v1/training-runs/{run_id}", headers=alice.headers).json()
    assert shown["metrics"]["accuracy"] > 0

    for bad in (2, -1, "yes"):
        refused = client.post(
            "/custom_classifier/process", json={**payload, "validation": bad}, headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["status"]["code"] == 422
