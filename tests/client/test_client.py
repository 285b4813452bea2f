"""The synchronous client against a real ``modelyard serve``: the user's own objects in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard_client import (
    Client,
    InvalidInput,
    NotFound,
    ServerAnswerError,
    Unauthenticated,
)
from tests.helpers import PASSWORD
from tests.training.helpers import write_folder


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series, LogisticRegression]:
    data = load_iris(as_frame=True)
    features = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = LogisticRegression(max_iter=500).fit(features, data.target)
    return features, data.target, model


def test_users_keys_and_the_errors_the_server_gives(server_url: str, login: str) -> None:
    with Client(server_url) as client:
        user = client.sign_up(PASSWORD, email=login)
        assert user.email == login and user.role == "user"
        with pytest.raises(Unauthenticated) as refused:
            client.me()
        assert refused.value.status_code == 401 and refused.value.code == "missing_credentials"
        assert refused.value.request_id  # the server's X-Request-ID, to find it in its log
        assert refused.value.request_id in str(refused.value)

        token = client.sign_in(login, PASSWORD)
        assert token.access_token and client.me().id == user.id
        created = client.create_api_key("laptop")
        assert created.key.startswith("mdy_")
        assert [key.name for key in client.list_api_keys()] == ["laptop"]

    with Client(server_url, api_key=created.key) as by_key:
        assert by_key.me().email == login
        by_key.revoke_api_key(created.id)
        with pytest.raises(Unauthenticated):
            by_key.me()


def test_push_an_estimator_and_predict_arrays_frames_and_records(
    client: Client, iris: tuple[pd.DataFrame, pd.Series, LogisticRegression]
) -> None:
    features, _labels, model = iris
    version = client.push_model("iris", model, sample=features, tags=["demo"])
    assert (version.model_name, version.version, version.format) == ("iris", 1, "skops")
    assert version.classes == [0, 1, 2] and version.has_sample and version.tags == ["demo"]

    from_frame = client.predict("iris", features.head(5))
    assert from_frame.predictions == model.predict(features.head(5)).tolist()
    probabilities = from_frame.probabilities_array()
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities, model.predict_proba(features.head(5)), atol=1e-6)

    from_array = client.predict("iris", features.head(3).to_numpy(), version=1)
    assert from_array.predictions == from_frame.predictions[:3]
    from_records = client.predict("iris", features.head(2).to_dict(orient="records"))
    assert from_records.predictions == from_frame.predictions[:2]

    pending = client.predict_async("iris", features.tail(4))
    answered = pending.result(timeout=60)
    assert answered.predictions == model.predict(features.tail(4)).tolist()
    assert answered.predict_id == pending.predict_id

    with pytest.raises(InvalidInput) as refused:
        client.predict("iris", [[1.0, 2.0]])  # two values where the model takes four
    assert refused.value.status_code == 422 and refused.value.details


def test_versions_aliases_serving_and_pages(
    client: Client, iris: tuple[pd.DataFrame, pd.Series, LogisticRegression]
) -> None:
    features, _labels, model = iris
    for name in ("a-model", "b-model", "c-model"):
        client.push_model(name, model)
    client.push_model("a-model", model, description="second")

    page = client.list_models(limit=2)
    assert page.total == 3 and len(page.items) == 2
    assert sorted(m.name for m in client.iter_models(page_size=1)) == [
        "a-model",
        "b-model",
        "c-model",
    ]
    assert sorted(v.version for v in client.iter_versions("a-model", page_size=1)) == [1, 2]
    assert client.get_version("a-model").version == 2  # latest
    assert client.get_model("a-model").latest_version == 2

    alias = client.set_alias("a-model", "production", 1)
    assert (alias.alias, alias.version) == ("production", 1)
    assert client.get_version("a-model", "production").version == 1
    assert client.predict("a-model", features.head(1)).version == 1  # production first
    client.delete_alias("a-model", "production")
    assert client.predict("a-model", features.head(1)).version == 2

    serving = client.set_serving("a-model", 2, mode="batching", max_batch_rows=16)
    assert serving.options["mode"] == "batching" and serving.options["max_batch_rows"] == 16
    assert client.get_serving("a-model", 2).options["max_batch_rows"] == 16

    client.delete_version("a-model", 1)
    with pytest.raises(NotFound) as missing:
        client.get_version("a-model", 1)
    assert missing.value.code.endswith("not_found")
    with pytest.raises(NotFound):
        client.get_model("nobody-has-this")


def test_the_request_log_as_pages_a_frame_and_files(
    client: Client, iris: tuple[pd.DataFrame, pd.Series, LogisticRegression], tmp_path: Path
) -> None:
    features, _labels, model = iris
    client.push_model("logged", model)
    answers = [client.predict("logged", features.iloc[i : i + 2]) for i in range(0, 10, 2)]

    entries = list(client.iter_requests("logged", page_size=2))
    assert sorted(e["predict_id"] for e in entries) == sorted(a.predict_id for a in answers)
    frame = client.requests_dataframe("logged")
    assert sorted(frame["predict_id"]) == sorted(a.predict_id for a in answers)
    assert set(frame["n_rows"]) == {2}

    csv_path = client.export_requests("logged", tmp_path / "log.csv", format="csv")
    assert csv_path == tmp_path / "log.csv"
    assert len(pd.read_csv(csv_path)) == 5
    assert not list(tmp_path.glob("*.part"))  # written whole, then renamed


def test_confusion_matrices_from_arrays_series_and_a_matrix(client: Client, tmp_path: Path) -> None:
    actual = pd.Series([0, 1, 2, 1, 0, 2, 1])
    predicted = np.array([0, 1, 1, 1, 0, 2, 2])
    made = client.create_confusion_matrix(actual, predicted, name="first")
    assert made.classes == [0, 1, 2] and made.name == "first"
    assert made.accuracy == pytest.approx(5 / 7)
    counts = np.array([[2, 0, 0], [0, 2, 1], [0, 1, 1]])  # 7, as the first
    from_matrix = client.create_confusion_matrix(matrix=counts, classes=[0, 1, 2])
    assert from_matrix.matrix == counts.tolist()

    detailed = client.get_confusion_matrix(made.uid, statistics=True)
    assert detailed.statistics
    assert client.rename_confusion_matrix(made.uid, "renamed").name == "renamed"
    assert sorted(m.uid for m in client.iter_confusion_matrices(page_size=1)) == sorted(
        [made.uid, from_matrix.uid]
    )

    report = client.download_report(made.uid, tmp_path / "report.html")
    assert isinstance(report, Path) and b"<html" in report.read_bytes().lower()
    plot = client.download_plot(made.uid, tmp_path / "plot.png", normalized=True)
    assert isinstance(plot, Path) and plot.read_bytes().startswith(b"\x89PNG")
    statistics = client.download_statistics_csv(made.uid)
    assert isinstance(statistics, bytes) and b"," in statistics
    assert isinstance(client.download_matrix_obj(made.uid), bytes)

    compared = client.compare([made.uid, from_matrix.uid])
    assert "best_name" in compared
    curves = client.curves([0, 1, 1, 0], np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]]))
    assert curves
    png = client.download_curve_plot([0, 1, 1, 0], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    assert client.multilabel([["a", "b"], ["a"]], [["a"], ["a", "b"]])

    replaced = client.replace_confusion_matrix(made.uid, [1, 1, 0], [1, 0, 0])
    assert replaced.classes == [0, 1]
    client.delete_confusion_matrix(made.uid)
    with pytest.raises(NotFound):
        client.get_confusion_matrix(made.uid)


def test_a_dataset_folder_trained_with_the_jobs_progress_followed(
    client: Client, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path, per_label=80)
    dataset = client.push_dataset(folder, name="news")
    assert dataset.documents == 240 and set(dataset.label_counts) == {"sport", "space", "food"}
    assert client.get_dataset(dataset.id).name == "news"
    assert [d.id for d in client.iter_datasets()] == [dataset.id]

    seen: list[tuple[float, str | None]] = []
    run = client.train(
        dataset.id,
        experiment_name="client-news",
        wait=True,
        progress=lambda fraction, message: seen.append((fraction, message)),
        timeout=300,
    )
    assert run.job_state == "SUCCESS" and run.model_name and run.model_version
    assert seen and seen[-1][0] == pytest.approx(1.0)
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions)  # the bar only moves forward
    assert run.job_id is not None
    job = client.get_job(run.job_id)
    assert job.done and job.state == "SUCCESS"
    assert client.wait(run).id == client.wait(job).id == run.job_id  # ended: answers at once
    assert run.job_id in [j.id for j in client.iter_jobs(kind=job.kind)]

    labelled = client.predict_texts(run.run_id, ["the rocket reached orbit"])
    assert labelled[0]["label"] == "space"
    assert any(e["name"] == "client-news" for e in client.list_experiments())
    assert run.run_id in [r["run_id"] for r in client.experiment_runs("client-news")]


def test_a_projection_waited_for_read_as_a_frame_and_plotted(
    client: Client, iris: tuple[pd.DataFrame, pd.Series, LogisticRegression], tmp_path: Path
) -> None:
    features, _labels, model = iris
    client.push_model("projected", model, sample=features)
    client.predict("projected", features.sample(40, random_state=1))
    assert client.projection_support("projected", 1, method="pca")
    methods = {m["method"]: m for m in client.projection_methods()["methods"]}
    assert methods["pca"]["available"]
    params = client.set_projection_params("projected", 1, "pca", production_data_sample_size=100)
    assert params["production_data_sample_size"] == 100
    assert client.get_projection_params("projected", 1, "pca")["production_data_sample_size"] == 100

    projection = client.project("projected", 1, method="pca", timeout=300)
    assert projection.state == "SUCCESS", projection.message
    frame = client.projection_dataframe(projection.id)
    assert len(frame) == projection.n_training + projection.n_production
    plot = client.download_projection_plot(projection.id, tmp_path / "p.png")
    assert Path(plot).read_bytes().startswith(b"\x89PNG")
    assert client.get_projection(projection.id).id == projection.id
    assert [p.id for p in client.list_projections("projected", 1).items] == [projection.id]


def test_an_admin_only_route_answers_its_typed_error(client: Client) -> None:
    with pytest.raises(ServerAnswerError) as refused:
        client.list_users()
    assert refused.value.status_code == 403 and refused.value.code
