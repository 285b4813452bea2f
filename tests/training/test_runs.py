"""Training runs: bad input, ownership, prediction, experiments, soft and hard delete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from modelyard.training import trainers
from modelyard.training.models import TrainingRun
from tests.helpers import Account
from tests.training.conftest import MIN_DOCS
from tests.training.helpers import (
    corpus_members,
    start,
    unique,
    upload,
    wait_finished,
    zip_bytes,
)


def _dataset(client: TestClient, account: Account, **kwargs: object) -> int:
    response = upload(client, account, zip_bytes(corpus_members(**kwargs)))  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    dataset_id: int = response.json()["id"]
    return dataset_id


def test_a_label_with_too_few_documents(client: TestClient, alice: Account) -> None:
    members = corpus_members(per_label=MIN_DOCS)
    members.update(
        {f"tiny/{i}.txt": b"a tiny label with few documents" for i in range(MIN_DOCS - 1)}
    )
    dataset = upload(client, alice, zip_bytes(members)).json()
    response = start(client, alice, dataset["id"], unique())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_enough_documents"
    assert error["details"]["too_few"] == {"tiny": MIN_DOCS - 1}


def test_one_label_only(client: TestClient, alice: Account) -> None:
    dataset_id = _dataset(client, alice, per_label=MIN_DOCS, labels={"only": ["word", "other"]})
    response = start(client, alice, dataset_id, unique())
    assert response.status_code == 422
    assert "two labels" in response.json()["error"]["message"]


def test_unknown_trainer_and_unavailable_one(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset_id = _dataset(client, alice, per_label=MIN_DOCS)
    for trainer in ("bert-xxl", "", "MINILM", None, 3):
        response = client.post(
            "/api/v1/training-runs",
            json={"dataset_id": dataset_id, "experiment_name": unique(), "trainer": trainer},
            headers=alice.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["loc"][-1] == "trainer", response.text
    # A server installed without modelyard[minilm]: the trainer is refused before any run.
    monkeypatch.setattr(trainers, "missing_requirements", lambda: ["torch"])
    experiment = unique()
    response = start(client, alice, dataset_id, experiment, trainer="minilm")
    assert response.status_code == 422, response.text
    assert "modelyard[minilm]" in response.json()["error"]["message"]
    assert (
        client.get(f"/api/v1/experiments/{experiment}/runs", headers=alice.headers).status_code
        == 404
    )


def test_unknown_and_other_users_runs_are_not_found(
    client: TestClient, alice: Account, bob: Account, trained: dict[str, str]
) -> None:
    run_id = trained["run_id"]
    for account, rid in ((alice, "0" * 32), (bob, run_id)):
        assert (
            client.get(f"/api/v1/training-runs/{rid}", headers=account.headers).status_code == 404
        )
        predicted = client.post(
            f"/api/v1/training-runs/{rid}/predict",
            json={"texts": ["rocket orbit planet"]},
            headers=account.headers,
        )
        assert predicted.status_code == 404
        assert (
            client.delete(f"/api/v1/training-runs/{rid}", headers=account.headers).status_code
            == 404
        )
    name = trained["experiment"]
    assert client.get(f"/api/v1/experiments/{name}/runs", headers=bob.headers).status_code == 404
    assert client.delete(f"/api/v1/experiments/{name}", headers=bob.headers).status_code == 404
    assert client.get("/api/v1/experiments", headers=bob.headers).json() == []
    # Bob cannot train into Alice's experiment either: the name is hers.
    bob_dataset = _dataset(client, bob, per_label=MIN_DOCS)
    assert start(client, bob, bob_dataset, name).status_code == 409


def test_predict_is_cached_and_checks_input(
    client: TestClient, alice: Account, trained: dict[str, str]
) -> None:
    url = f"/api/v1/training-runs/{trained['run_id']}/predict"
    models = client.app.state.training.models  # type: ignore[attr-defined]
    loads = models.loads
    for _ in range(3):
        response = client.post(url, json={"texts": ["galaxy comet orbit"]}, headers=alice.headers)
        assert response.status_code == 200
        assert response.json()[0]["label"] == "space"
    assert models.loads == loads + 1
    # A deleted run's model is dropped: predicting with it is a 404, not a cached answer.
    client.delete(f"/api/v1/training-runs/{trained['run_id']}", headers=alice.headers)
    gone = client.post(url, json={"texts": ["galaxy comet orbit"]}, headers=alice.headers)
    assert gone.status_code == 404
    assert client.post(url, json={"texts": []}, headers=alice.headers).status_code == 422


def test_a_cached_run_asks_the_database_only_when_its_owner_check_is_stale(
    client: TestClient, alice: Account, bob: Account, trained: dict[str, str]
) -> None:
    url = f"/api/v1/training-runs/{trained['run_id']}/predict"
    body = {"texts": ["galaxy comet orbit"]}
    models = client.app.state.training.models  # type: ignore[attr-defined]
    engine = client.app.state.database.engine  # type: ignore[attr-defined]
    asked: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "training_runs" in statement:
            asked.append(statement)

    assert client.post(url, json=body, headers=alice.headers).status_code == 200
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert client.post(url, json=body, headers=alice.headers).status_code == 200
        assert asked == []  # vouched for moments ago: no ownership query
        # The model is loaded, but Bob was never found to own the run: asked, and refused.
        assert client.post(url, json=body, headers=bob.headers).status_code == 404
        assert len(asked) == 1
        models.owner_seconds = 0.0  # every check stale: asked on each call
        models.forget([trained["run_id"]])
        for _ in range(2):
            assert client.post(url, json=body, headers=alice.headers).status_code == 200
        assert len(asked) == 3
    finally:
        event.remove(engine, "before_cursor_execute", record)
        models.owner_seconds = 5.0


def test_predicting_with_a_run_still_training(client: TestClient, alice: Account) -> None:
    # A run whose MLflow status is RUNNING, as while its job trains.
    runtime = client.app.state.training  # type: ignore[attr-defined]
    dataset_id = _dataset(client, alice, per_label=MIN_DOCS)
    name = unique()
    experiment_id = runtime.tracker.create_experiment(name, alice.id)
    view = runtime.tracker.start_run(experiment_id, "training_classifier-now", {})
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        from modelyard.training.models import Experiment

        experiment = Experiment(owner_id=alice.id, name=name, mlflow_id=experiment_id)
        session.add(experiment)
        session.flush()
        session.add(
            TrainingRun(
                run_id=view.run_id,
                owner_id=alice.id,
                experiment_id=experiment.id,
                dataset_id=dataset_id,
                trainer="tfidf-logreg",
            )
        )
    response = client.post(
        f"/api/v1/training-runs/{view.run_id}/predict",
        json={"texts": ["rocket orbit"]},
        headers=alice.headers,
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "run_not_finished"


def test_two_trainings_at_once_share_nothing(client: TestClient, alice: Account) -> None:
    animals = {"cat": ["purr", "whisker", "meow"], "dog": ["bark", "fetch", "leash"]}
    first = _dataset(client, alice, per_label=MIN_DOCS)
    second = _dataset(client, alice, per_label=MIN_DOCS, labels=animals)
    runs = []
    for dataset_id in (first, second):
        response = start(client, alice, dataset_id, unique())
        assert response.status_code == 202, response.text
        runs.append(response.json()["run_id"])
    finished = [wait_finished(client, alice, run_id) for run_id in runs]
    assert [run["job_state"] for run in finished] == ["SUCCESS", "SUCCESS"]
    assert finished[0]["params"]["label2id"] == '{"food": 0, "space": 1, "sport": 2}'
    assert finished[1]["params"]["label2id"] == '{"cat": 0, "dog": 1}'
    answers = [
        client.post(
            f"/api/v1/training-runs/{run_id}/predict",
            json={"texts": ["bark fetch leash purr"]},
            headers=alice.headers,
        ).json()[0]["label"]
        for run_id in runs
    ]
    assert answers[1] == "dog"
    assert answers[0] in ("food", "space", "sport")


def test_experiments_soft_delete_restore_and_hard_delete(
    client: TestClient, alice: Account, trained: dict[str, str], data_dir: Path
) -> None:
    name = trained["experiment"]
    runs = client.get(f"/api/v1/experiments/{name}/runs", headers=alice.headers).json()
    names = [run["run_name"] for run in runs]
    # No validation run unless asked for: its metrics are on the training run, the newest.
    assert len(runs) == 2
    assert names[0].startswith("training_classifier")
    assert names[1].startswith("dataset_info ")
    assert runs[0]["run_id"] == trained["run_id"]
    assert runs[0]["metrics"]["accuracy"] > 0
    newest = client.get("/api/v1/training-runs/newest-per-experiment", headers=alice.headers)
    assert [(r["experiment_name"], r["run_id"]) for r in newest.json()] == [
        (name, trained["run_id"])
    ]

    assert client.delete(f"/api/v1/experiments/{name}", headers=alice.headers).status_code == 204
    again = client.delete(f"/api/v1/experiments/{name}", headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "experiment_deleted"
    [listed] = client.get("/api/v1/experiments", headers=alice.headers).json()
    assert listed["lifecycle_stage"] == "deleted"
    assert (
        client.post(f"/api/v1/experiments/{name}/restore", headers=alice.headers).status_code == 204
    )

    run_id = trained["run_id"]
    assert (
        client.delete(f"/api/v1/training-runs/{run_id}", headers=alice.headers).status_code == 204
    )
    assert (
        client.delete(f"/api/v1/training-runs/{run_id}", headers=alice.headers).status_code == 404
    )
    assert (
        client.post(f"/api/v1/training-runs/{run_id}/restore", headers=alice.headers).status_code
        == 204
    )
    restore = f"/api/v1/training-runs/{run_id}/restore"
    assert client.post(restore, headers=alice.headers).status_code == 409
    # The dataset_info run of the experiment is the owner's too.
    info_run = runs[1]["run_id"]
    assert (
        client.delete(f"/api/v1/training-runs/{info_run}", headers=alice.headers).status_code == 204
    )

    tracker = client.app.state.training.tracker  # type: ignore[attr-defined]
    assert tracker.find_experiment(name) is not None
    artifacts = data_dir / "mlflow" / "artifacts"
    run_folders = [p for p in artifacts.glob(f"*/{run_id}")]
    assert len(run_folders) == 1
    assert (run_folders[0] / "artifacts" / "model" / "model.skops").is_file()
    hard = client.delete(f"/api/v1/experiments/{name}?hard=true", headers=alice.headers)
    assert hard.status_code == 204, hard.text
    assert tracker.find_experiment(name) is None
    assert tracker.get_run(run_id) is None
    # gc removed every file of the runs (MLflow leaves their empty folders).
    assert not any(path.is_file() for path in run_folders[0].parent.rglob("*"))
    assert client.get("/api/v1/experiments", headers=alice.headers).json() == []
    assert client.get(f"/api/v1/training-runs/{run_id}", headers=alice.headers).status_code == 404

    # The name is free again.
    dataset_id = _dataset(client, alice, per_label=MIN_DOCS)
    response = start(client, alice, dataset_id, name)
    assert response.status_code == 202, response.text
    assert wait_finished(client, alice, response.json()["run_id"])["job_state"] == "SUCCESS"


def test_cancel_a_training(client: TestClient, alice: Account) -> None:
    dataset_id = _dataset(client, alice, per_label=MIN_DOCS)
    response = start(client, alice, dataset_id, unique())
    body = response.json()
    cancelled = client.post(f"/api/v1/jobs/{body['job_id']}/cancel", headers=alice.headers)
    run = wait_finished(client, alice, body["run_id"])
    if cancelled.status_code == 200 and run["job_state"] == "REVOKED":
        # Cancelled while PENDING or while training: the MLflow run ends KILLED either way
        # (before, a training cancelled before it started left its run RUNNING for ever).
        assert run["status"] == "KILLED"
    else:
        # The job finished before the cancel arrived.
        assert run["job_state"] == "SUCCESS"


def test_hard_delete_runs_mlflow_gc_in_this_process(
    client: TestClient,
    alice: Account,
    trained: dict[str, str],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    import mlflow

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a child process was started: {args}")

    # gc used to run as `python -m mlflow gc` (about 8 s, most of it importing MLflow again).
    monkeypatch.setattr(subprocess, "run", no_child)
    monkeypatch.setattr(subprocess, "Popen", no_child)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    was_set = mlflow.is_tracking_uri_set()
    name, run_id = trained["experiment"], trained["run_id"]
    [folder] = list((data_dir / "mlflow" / "artifacts").glob(f"*/{run_id}"))
    assert (folder / "artifacts" / "model" / "model.skops").is_file()

    hard = client.delete(f"/api/v1/experiments/{name}?hard=true", headers=alice.headers)
    assert hard.status_code == 204, hard.text
    tracker = client.app.state.training.tracker  # type: ignore[attr-defined]
    assert tracker.find_experiment(name) is None
    assert tracker.get_run(run_id) is None
    assert not any(path.is_file() for path in folder.parent.rglob("*"))
    # gc's process-wide tracking URI was put back as it was.
    assert mlflow.is_tracking_uri_set() == was_set
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # A second hard delete of the same name: it is gone, not a server error.
    again = client.delete(f"/api/v1/experiments/{name}?hard=true", headers=alice.headers)
    assert again.status_code == 404, again.text
