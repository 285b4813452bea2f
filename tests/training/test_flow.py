"""The whole way: dataset → training job → MLflow → predict → registry → delete."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.training.helpers import (
    LABELS,
    corpus_members,
    start,
    unique,
    upload,
    wait_finished,
    zip_bytes,
)


def test_upload_train_predict_and_serve(client: TestClient, alice: Account) -> None:
    response = upload(client, alice, zip_bytes(corpus_members(prefix="corpus/")))
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["label_counts"] == {label: 30 for label in sorted(LABELS)}
    experiment = unique()
    started = start(client, alice, dataset["id"], experiment)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run = wait_finished(client, alice, run_id)
    assert run["job_state"] == "SUCCESS", run
    assert run["status"] == "FINISHED"
    assert run["progress"] == 1.0
    # MLflow's params are JSON (not Python reprs), so its UI and clients read them as data.
    assert json.loads(run["params"]["label2id"]) == {"food": 0, "space": 1, "sport": 2}
    assert json.loads(run["params"]["id2label"]) == {"0": "food", "1": "space", "2": "sport"}
    for metric in (
        "accuracy",
        "f1_macro",
        "f1_micro",
        "precision_macro",
        "recall_micro",
        "roc_auc",
    ):
        assert 0.0 <= run["metrics"][metric] <= 1.0
    assert run["metrics"]["accuracy"] > 0.8

    predicted = client.post(
        f"/api/v1/training-runs/{run_id}/predict",
        json={"texts": ["rocket orbit planet launch galaxy", "goal match team coach"]},
        headers=alice.headers,
    )
    assert predicted.status_code == 200, predicted.text
    labels = [p["label"] for p in predicted.json()]
    assert labels == ["space", "sport"]
    assert predicted.json()[0]["prediction"] == 1

    # The registry holds the same model, served through /predict of the serving domain.
    assert run["model_name"] == experiment
    version = client.get(
        f"/api/v1/models/{run['model_name']}/versions/{run['model_version']}",
        headers=alice.headers,
    )
    assert version.status_code == 200, version.text
    assert version.json()["classes"] == ["food", "space", "sport"]

    # The validation confusion matrix is one of the evaluation domain's, with its report.
    uid = run["confusion_matrix_uid"]
    matrix = client.get(f"/api/v1/confusion-matrices/{uid}", headers=alice.headers)
    assert matrix.status_code == 200, matrix.text
    report = client.get(f"/api/v1/confusion-matrices/{uid}/report", headers=alice.headers)
    assert report.status_code == 200
