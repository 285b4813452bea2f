"""Training pages: upload a dataset, start a run, follow its progress, see its results."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from modelyard.training.trainers import available_trainers
from tests.training.helpers import corpus_members, unique, zip_bytes
from tests.web.conftest import MIN_DOCS
from tests.web.helpers import WebUser


def upload_dataset(user: WebUser, per_label: int = MIN_DOCS) -> None:
    archive = zip_bytes(corpus_members(per_label=per_label))
    response = user.post(
        "/ui/training/datasets", {"name": "topics"}, files={"file": ("topics.zip", archive)}
    )
    assert response.status_code == 200, response.text
    assert f"Dataset topics is ready: {3 * per_label} documents." in response.text


def wait_done(client: TestClient, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        progress = client.get(f"/ui/training/runs/{run_id}/progress.json")
        assert progress.status_code == 200, progress.text
        body: dict[str, object] = progress.json()
        if body["done"]:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_empty_training_page_says_what_to_do(client: TestClient, alice: WebUser) -> None:
    page = client.get("/ui/training")
    for text in ("Upload a dataset first.", "No training runs yet.", "No datasets yet."):
        assert text in page.text


def test_a_run_from_upload_to_metrics_and_matrix(client: TestClient, alice: WebUser) -> None:
    upload_dataset(alice)
    page = client.get("/ui/training")
    assert "topics (60 documents)" in page.text
    dataset_id = page.text.split('<option value="')[1].split('"')[0]
    experiment = unique("web")
    started = alice.post(
        "/ui/training/runs", {"dataset_id": dataset_id, "experiment_name": experiment}
    )
    assert started.status_code == 200, started.text
    assert "Training started." in started.text
    assert 'data-progress-url="/ui/training/runs/' in started.text
    run_id = started.url.path.rsplit("/", 1)[1]
    finished = wait_done(client, run_id)
    assert finished["job_state"] == "SUCCESS" and finished["progress"] == 1.0
    run = client.get(f"/ui/training/runs/{run_id}")
    assert 'data-done="true"' in run.text
    assert 'data-metric="accuracy"' in run.text
    matrix_link = run.text.split("data-validation-matrix")[0].rsplit('href="', 1)[1].split('"')[0]
    assert matrix_link.startswith("/ui/matrices/")
    assert client.get(matrix_link).status_code == 200
    assert "embedded store" in run.text  # no MLflow server: say where the run is
    listing = client.get("/ui/training")
    assert run_id[:12] in listing.text and "state-success" in listing.text
    assert experiment in listing.text
    home = client.get("/ui/")
    assert run_id[:8] in home.text


def test_a_refused_training_says_why(client: TestClient, alice: WebUser) -> None:
    upload_dataset(alice, per_label=5)
    page = client.get("/ui/training")
    dataset_id = page.text.split('<option value="')[1].split('"')[0]
    refused = alice.post(
        "/ui/training/runs", {"dataset_id": dataset_id, "experiment_name": unique("web")}
    )
    assert refused.status_code == 422
    assert f"each label needs at least {MIN_DOCS} documents" in refused.text
    bad = alice.post("/ui/training/datasets", files={"file": ("x.zip", b"not a zip")})
    assert bad.status_code == 400 and 'class="error"' in bad.text


def test_the_form_offers_each_available_trainer_and_refuses_others(
    client: TestClient, alice: WebUser
) -> None:
    upload_dataset(alice)
    page = client.get("/ui/training")
    trainers = page.text.split('name="trainer"')[1].split("</select>")[0]
    assert [o.split('"')[0] for o in trainers.split('<option value="')[1:]] == available_trainers()
    assert '<option value="tfidf-logreg">' in trainers
    dataset_id = page.text.split('<option value="')[1].split('"')[0]
    refused = alice.post(
        "/ui/training/runs",
        {"dataset_id": dataset_id, "experiment_name": unique("web"), "trainer": "bogus"},
    )
    assert refused.status_code == 422
    assert "unknown trainer &#39;bogus&#39;" in refused.text
    assert "No training runs yet." in refused.text


def test_a_finished_run_cannot_be_cancelled_and_others_runs_not_at_all(
    client: TestClient, alice: WebUser, bob: WebUser
) -> None:
    upload_dataset(alice)
    page = client.get("/ui/training")
    dataset_id = page.text.split('<option value="')[1].split('"')[0]
    started = alice.post(
        "/ui/training/runs", {"dataset_id": dataset_id, "experiment_name": unique("web")}
    )
    run_id = started.url.path.rsplit("/", 1)[1]
    assert bob.post(f"/ui/training/runs/{run_id}/cancel").status_code == 404
    wait_done(client, run_id)
    assert "Cancel run" not in client.get(f"/ui/training/runs/{run_id}").text
    refused = alice.post(f"/ui/training/runs/{run_id}/cancel")
    assert refused.status_code == 409
    assert "already SUCCESS" in refused.text
