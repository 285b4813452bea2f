"""Projections through the native API: the job's states, the result, caching, bad input, owners.

Small data (a few hundred points) and PCA wherever the method does not matter; UMAP, t-SNE
and TriMap each once. Jobs run in-process, or on a real Celery worker when the suite is
pointed at PostgreSQL and Redis.
"""

from __future__ import annotations

import io
import time
from typing import Any, ClassVar

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from modelyard.serving import repository as serving_repository
from tests.conftest import TEST_BROKER_URL
from tests.helpers import Account, make_admin
from tests.registry.factories import register_ok, skops_classifier
from tests.training.helpers import corpus_members, upload, zip_bytes
from tests.visualization.helpers import (
    CLASSES,
    DEADLINE_SECONDS,
    log_requests,
    project,
    register_model,
    set_params,
    wait_projection,
)

in_process_only = pytest.mark.skipif(
    TEST_BROKER_URL is not None, reason="replaces a part of the API process; jobs run elsewhere"
)


def _result(client: TestClient, account: Account, projection: dict[str, Any]) -> dict[str, Any]:
    response = client.get(projection["links"]["result"], headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _done(
    client: TestClient, account: Account, name: str, method: str = "pca", **kw: Any
) -> dict[str, Any]:
    code, body = project(client, account, name, method, **kw)
    assert code in (200, 202), body
    return wait_projection(client, account, body["id"])


# --- the job and its result ---------------------------------------------------------------


def test_a_projection_is_a_job_whose_result_has_the_sources_shape(
    client: TestClient, alice: Account
) -> None:
    register_model(client, alice, sample_rows=150)
    log_requests(client, alice, "blobs", 60)
    metrics = [
        "global_score", "sammon_error", "msid", "auc_score", "clustering",
        "trustworthiness", "continuity", "stability_score",
    ]  # fmt: skip
    assert (
        set_params(client, alice, "blobs", "pca", {"visualization_metrics": metrics}).status_code
        == 200
    )

    code, started = project(client, alice, "blobs", "pca")
    assert code == 202
    assert started["state"] == "PENDING" and started["cached"] is False
    assert "result" not in started["links"]
    done = wait_projection(client, alice, started["id"])
    assert done["state"] == "SUCCESS", done
    assert done["message"] == "" and done["progress"] == 1.0 and done["mode"] == "fit"
    assert (done["n_training"], done["n_production"]) == (150, 60)
    job = client.get(f"/api/v1/jobs/{done['job_id']}", headers=alice.headers).json()
    assert job["kind"] == "visualization.project" and job["state"] == "SUCCESS"
    assert job["params"] == {"projection_id": done["id"]}  # ids only

    result = _result(client, alice, done)
    assert result["data_shape"] == [60, 2] and len(result["data"]) == 60
    assert result["training_data_shape"] == [150, 2] and len(result["training_data"]) == 150
    logged = client.get("/api/v1/models/blobs/requests?limit=100", headers=alice.headers).json()
    assert set(result["request_ids"]) == {item["id"] for item in logged["items"]}
    colouring = result["class_labels"]
    assert colouring["class"]["coloring_type"] == "class"
    assert colouring["class"]["classes"] == CLASSES
    assert set(colouring["class"]["data"]) == set(CLASSES) and len(colouring["class"]["data"]) == 60
    assert colouring["confidence"]["coloring_type"] == "gradient"
    assert all(0.33 < c <= 1.0 for c in colouring["confidence"]["data"])
    assert result["training_class_labels"]["class"]["classes"] == CLASSES
    assert result["metrics"] == {}
    assert result["features"] == "inputs" and result["n_features"] == 5

    # Neighbours: 59 others each, never the point itself; counterfactuals are the ones of
    # another class, in the same order.
    labels = colouring["class"]["data"]
    for i, row in enumerate(result["top_100"]):
        assert len(row) == 59 and i not in row and len(set(row)) == 59
        assert result["counterfactuals"][i] == [j for j in row if labels[j] != labels[i]]

    quality = result["visualization_metrics"]
    assert set(quality) == {
        "global_score", "sammon_error", "msid", "auc_score", "clustering", "clustering_ari",
        "clustering_ami", "trustworthiness", "continuity", "stability_score",
    }  # fmt: skip
    assert all(isinstance(v, float) for v in quality.values()), quality
    # Three separated blobs: the classes the model gives separate in the projection.
    assert quality["auc_score"] > 0.95 and quality["clustering_ari"] > 0.8
    assert quality["global_score"] > 0.9  # PCA keeps the global layout as well as PCA


def test_the_plot_and_the_parquet_download(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=80)
    log_requests(client, alice, "blobs", 30)
    done = _done(client, alice, "blobs")
    plot = client.get(done["links"]["plot"], headers=alice.headers)
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG\r\n\x1a\n") and len(plot.content) > 5000
    parquet = client.get(done["links"]["parquet"], headers=alice.headers)
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content)).to_pydict()
    assert table["source"] == ["training"] * 80 + ["production"] * 30
    result = _result(client, alice, done)
    assert table["request_id"][80:] == result["request_ids"]
    assert table["label"][80:] == result["class_labels"]["class"]["data"]
    assert [[x, y] for x, y in zip(table["x"][80:], table["y"][80:], strict=True)] == result["data"]
    assert table["transformed_embedding"][:80] == result["training_data"]


def test_progress_is_visible_while_the_job_runs(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=200)
    code, started = project(client, alice, "blobs", "tsne")
    assert code == 202
    seen: list[tuple[str, float, str | None]] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/projections/{started['id']}", headers=alice.headers).json()
        seen.append((body["state"], body["progress"], body["stage"]))
        if body["state"] not in ("PENDING", "STARTED"):
            break
        time.sleep(0.05)
    states = [s for s, _, _ in seen]
    assert states[-1] == "SUCCESS"
    order = ["PENDING", "STARTED", "SUCCESS"]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    running = [(p, stage) for s, p, stage in seen if s == "STARTED"]
    assert running, "the job was never seen running"
    # Just claimed, a job is STARTED at 0 with no stage yet; then each stage says how far it is.
    assert all(0.0 <= p < 1.0 for p, _ in running)
    assert any(stage == "projecting with tsne" and p == 0.25 for p, stage in running)
    staged = [p for p, stage in running if stage]
    assert staged == sorted(staged)


# --- caching, transform, refit ------------------------------------------------------------


def test_the_same_input_is_answered_from_the_earlier_projection(
    client: TestClient, alice: Account
) -> None:
    register_model(client, alice, sample_rows=100)
    log_requests(client, alice, "blobs", 20)
    first = _done(client, alice, "blobs")
    code, again = project(client, alice, "blobs", "pca")
    assert code == 200 and again["cached"] is True and again["id"] == first["id"]
    jobs = client.get("/api/v1/jobs?kind=visualization.project", headers=alice.headers).json()
    assert jobs["total"] == 1

    # New production data: the stored transformer places it, without a new fit.
    log_requests(client, alice, "blobs", 20, seed=9)
    placed = _done(client, alice, "blobs")
    assert placed["id"] != first["id"] and placed["mode"] == "transform"
    assert placed["n_production"] == 40
    before, after = _result(client, alice, first), _result(client, alice, placed)
    assert after["training_data"] == before["training_data"]
    assert after["data_shape"] == [40, 2]

    # A refit fits again, whatever is cached.
    code, refit = project(client, alice, "blobs", "pca", refit=True)
    assert code == 202 and refit["id"] not in (first["id"], placed["id"])
    refitted = wait_projection(client, alice, refit["id"])
    assert refitted["state"] == "SUCCESS" and refitted["mode"] == "fit" and refitted["refit"]

    # Other parameters: another projection.
    set_params(client, alice, "blobs", "pca", {"parameters": {"n_components": 3}})
    three = _done(client, alice, "blobs")
    assert three["id"] not in (first["id"], placed["id"], refit["id"])
    assert _result(client, alice, three)["data_shape"] == [40, 3]
    listed = client.get("/api/v1/models/blobs/versions/1/projections", headers=alice.headers).json()
    assert listed["total"] == 4 and listed["items"][0]["id"] == three["id"]


@pytest.mark.timeout(900)  # a worker compiles UMAP first: minutes on a busy machine
def test_umap_in_three_dimensions_then_new_points_placed(
    client: TestClient, alice: Account
) -> None:
    register_model(client, alice, sample_rows=120)
    log_requests(client, alice, "blobs", 30)
    parameters = {"n_components": 3, "n_neighbours": 10, "min_dist": 0.2}
    body = {"parameters": parameters, "visualization_metrics": ["auc_score"]}
    set_params(client, alice, "blobs", "umap", body)
    first = _done(client, alice, "blobs", "umap")
    assert first["state"] == "SUCCESS", first
    result = _result(client, alice, first)
    assert result["data_shape"] == [30, 3] and result["training_data_shape"] == [120, 3]
    assert result["parameters"] == {
        "n_components": 3,
        "metric": "euclidean",
        "min_dist": 0.2,
        "n_neighbours": 10,
    }
    assert result["visualization_metrics"]["auc_score"] > 0.9
    log_requests(client, alice, "blobs", 10, seed=11)
    placed = _done(client, alice, "blobs", "umap")
    assert placed["mode"] == "transform" and placed["n_production"] == 40
    assert _result(client, alice, placed)["training_data"] == result["training_data"]


def test_trimap_fits_training_and_production_together(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=80)
    log_requests(client, alice, "blobs", 20)
    set_params(client, alice, "blobs", "trimap", {"parameters": {"n_iters": 100}})
    done = _done(client, alice, "blobs", "trimap")
    assert done["state"] == "SUCCESS", done
    result = _result(client, alice, done)
    assert result["data_shape"] == [20, 2] and result["training_data_shape"] == [80, 2]
    # TriMap cannot place new points: newer production data is fitted again.
    log_requests(client, alice, "blobs", 10, seed=3)
    assert _done(client, alice, "blobs", "trimap")["mode"] == "fit"


# --- data the projection cannot or need not use ------------------------------------------


def test_no_training_sample_and_no_requests_is_no_data(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=None)
    done = _done(client, alice, "blobs")
    assert done["state"] == "NO_DATA"
    assert done["message"] == (
        "this model version has no training data sample and no logged production requests"
    )
    missing = client.get(f"/api/v1/projections/{done['id']}/result", headers=alice.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_result"
    assert missing.json()["error"]["details"] == {"state": "NO_DATA"}


def test_production_data_alone_is_projected(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=None)
    log_requests(client, alice, "blobs", 40)
    done = _done(client, alice, "blobs")
    assert done["state"] == "SUCCESS" and done["n_training"] == 0
    result = _result(client, alice, done)
    assert result["training_data"] == [] and result["training_data_shape"] == [0, 2]
    assert result["data_shape"] == [40, 2]


def test_data_too_small_for_the_method_is_a_clear_error(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=6)
    done = _done(client, alice, "blobs", "umap")
    assert done["state"] == "ERROR"
    assert done["message"] == "umap needs at least 10 points; the data has 6"


def test_nan_in_the_training_sample_is_filled_and_reported(
    client: TestClient, alice: Account
) -> None:
    cells = {(0, "f1"): "nan", (1, "f1"): "", (2, "f3"): "NaN", (3, "f0"): "inf", (4, "f2"): "x"}
    register_model(client, alice, sample_rows=60, cells=cells)
    log_requests(client, alice, "blobs", 20)
    done = _done(client, alice, "blobs")
    assert done["state"] == "SUCCESS", done
    result = _result(client, alice, done)
    assert np.isfinite(np.asarray(result["training_data"])).all()
    assert result["notes"] == [
        "training: column 'f0': 1 missing or non-numeric values filled with the training median",
        "training: column 'f1': 2 missing or non-numeric values filled with the training median",
        "training: column 'f2': 1 missing or non-numeric values filled with the training median",
        "training: column 'f3': 1 missing or non-numeric values filled with the training median",
    ]
    # The model cannot label rows with holes, so the training points carry no class...
    assert result["training_class_labels"]["class"]["data"] == [None] * 60
    # ...and the production ones still do.
    assert None not in result["class_labels"]["class"]["data"]


@in_process_only
def test_a_method_whose_library_is_missing_is_not_supported(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.visualization import methods

    real = methods.missing_library
    message = (
        "trimap is not installed on this server "
        "(pip install 'modelyard[trimap]' (trimap 1.2 and torch 2.13))"
    )
    monkeypatch.setattr(methods, "missing_library", lambda m: message if m == "trimap" else real(m))
    register_model(client, alice, sample_rows=50)
    done = _done(client, alice, "blobs", "trimap")
    assert (done["state"], done["message"]) == ("NOT_SUPPORTED", message)
    support = client.get(
        "/api/v1/models/blobs/versions/1/projection-support?method=trimap", headers=alice.headers
    )
    assert support.json() == {"supported": False, "message": message}
    listed = client.get("/api/v1/projection-methods", headers=alice.headers).json()
    trimap = next(m for m in listed["methods"] if m["method"] == "trimap")
    assert trimap["available"] is False and trimap["message"] == message


@in_process_only
def test_a_metric_undefined_on_the_data_is_null_with_a_note(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.visualization import metrics

    monkeypatch.setattr(metrics, "msid", lambda *args, **kwargs: float("nan"))
    register_model(client, alice, sample_rows=50)
    set_params(client, alice, "blobs", "pca", {"visualization_metrics": ["msid", "global_score"]})
    done = _done(client, alice, "blobs")
    assert done["state"] == "SUCCESS", done
    result = _result(client, alice, done)
    assert result["visualization_metrics"]["msid"] is None
    assert isinstance(result["visualization_metrics"]["global_score"], float)
    assert result["notes"] == ["metrics undefined on this data: ['msid']"]


class _TextEmbedder:
    """A text classifier whose runtime has ``embed`` (as the minilm trainer's will)."""

    kind = "classifier"
    classes: ClassVar[list[str]] = ["food", "space"]
    n_features = 1
    feature_names = None

    def embed(self, texts: list[str]) -> np.ndarray:
        words = ["rocket", "orbit", "moon", "bread", "sauce", "spice"]
        return np.array(
            [[t.split().count(w) for w in words] + [len(t) / 50] for t in texts], dtype=float
        )

    def predict(self, matrix: np.ndarray) -> Any:
        from modelyard.registry.loaders import Prediction

        labels = ["space" if "rocket" in str(row[0]) else "food" for row in matrix]
        return Prediction(labels, [[0.2, 0.8] if lab == "space" else [0.9, 0.1] for lab in labels])


@in_process_only
def test_a_models_embedding_gives_the_features(client: TestClient, alice: Account) -> None:
    version = register_ok(
        client, alice, "texts", skops_classifier(1), schema=[{"name": "text", "type": "str"}]
    )
    client.app.state.visualization.load_model = lambda target: _TextEmbedder()  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        space = i % 2 == 0
        words = ["rocket", "orbit", "moon"] if space else ["bread", "sauce", "spice"]
        text = " ".join(rng.choice(words, size=6))
        rows.append(
            {
                "predict_id": f"p{i}",
                "model_id": version["id"] and _model_id(client, version["id"]),
                "version_id": version["id"],
                "model_name": "texts",
                "version": 1,
                "user_id": alice.id,
                "source": "test",
                "status": 200,
                "n_rows": 1,
                "input": [{"text": text}],
                "output": {
                    "predictions": ["space" if space else "food"],
                    "probabilities": [[0.1, 0.9] if space else [0.8, 0.2]],
                },
                "latency_ms": 1.0,
            }
        )
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        serving_repository.insert_logs(session, rows)
    set_params(client, alice, "texts", "pca", {"visualization_metrics": ["auc_score"]})
    done = _done(client, alice, "texts")
    assert done["state"] == "SUCCESS", done
    result = _result(client, alice, done)
    assert result["features"] == "embedding" and result["n_features"] == 7
    assert result["class_labels"]["class"]["classes"] == ["food", "space"]
    assert result["visualization_metrics"]["auc_score"] > 0.95


def _model_id(client: TestClient, version_id: int) -> int:
    from modelyard.registry.models import ModelVersion

    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        version = session.get(ModelVersion, version_id)
        assert version is not None
        return version.model_id


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"parameters": {"min_dist": 1.5}}, ["body", "parameters", "min_dist"]),
        ({"parameters": {"min_dist": -0.1}}, ["body", "parameters", "min_dist"]),
        ({"parameters": {"n_components": 4}}, ["body", "parameters", "n_components"]),
        ({"parameters": {"n_components": 1}}, ["body", "parameters", "n_components"]),
        ({"parameters": {"n_neighbours": 1}}, ["body", "parameters", "n_neighbours"]),
        ({"parameters": {"n_neighbours": 201}}, ["body", "parameters", "n_neighbours"]),
        ({"parameters": {"metric": "sqeuclidean"}}, ["body", "parameters", "metric"]),
        ({"parameters": {"n_neigbours": 5}}, ["body", "parameters", "n_neigbours"]),
        ({"production_data_sample_size": 19}, ["body", "production_data_sample_size"]),
        ({"production_data_sample_size": 5001}, ["body", "production_data_sample_size"]),
        ({"training_data_sample_size": 19}, ["body", "training_data_sample_size"]),
        ({"training_data_sample_size": 10001}, ["body", "training_data_sample_size"]),
        (
            {"visualization_metrics": ["global_score", "beauty"]},
            ["body", "visualization_metrics", 1],
        ),
        ({"visualization_metrics": "global_score"}, ["body", "visualization_metrics"]),
    ],
)
def test_parameters_out_of_range_are_422_naming_the_field(
    client: TestClient, alice: Account, body: dict[str, Any], loc: list[Any]
) -> None:
    register_model(client, alice, sample_rows=30)
    response = set_params(client, alice, "blobs", "umap", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == loc
    # Nothing was stored: the defaults are still in force.
    shown = client.get(
        "/api/v1/models/blobs/versions/1/projection-params/umap", headers=alice.headers
    )
    assert shown.json()["is_default"] is True


@pytest.mark.parametrize(
    "raw",
    [
        b'{"parameters": {"min_dist": NaN}}',
        b'{"parameters": {"n_neighbours": Infinity}}',
        b'{"production_data_sample_size": NaN}',
        b'{"parameters": {"min_dist": -Infinity}}',
    ],
)
def test_nan_or_infinity_in_the_parameters_is_a_4xx_and_stores_nothing(
    client: TestClient, alice: Account, raw: bytes
) -> None:
    register_model(client, alice, sample_rows=30)
    url = "/api/v1/models/blobs/versions/1/projection-params/umap"
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = client.put(url, content=raw, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) == {"error"}
    assert client.get(url, headers=alice.headers).json()["is_default"] is True


def test_defaults_until_set_and_the_two_sample_sizes_apart(
    client: TestClient, alice: Account
) -> None:
    register_model(client, alice, sample_rows=200)
    log_requests(client, alice, "blobs", 50)
    url = "/api/v1/models/blobs/versions/1/projection-params/umap"
    assert client.get(url, headers=alice.headers).json() == {
        "method": "umap",
        "parameters": {
            "n_components": 2,
            "metric": "euclidean",
            "min_dist": 0.1,
            "n_neighbours": 15,
        },
        "production_data_sample_size": 500,
        "training_data_sample_size": 5000,
        "visualization_metrics": ["global_score"],
        "is_default": True,
    }
    body = {
        "production_data_sample_size": 25,
        "training_data_sample_size": 120,
        "parameters": {"metric": "cosine"},
    }
    stored = set_params(
        client, alice, "blobs", "pca", {k: v for k, v in body.items() if k != "parameters"}
    )
    assert stored.status_code == 200
    shown = client.get(
        "/api/v1/models/blobs/versions/1/projection-params/pca", headers=alice.headers
    ).json()
    assert (shown["production_data_sample_size"], shown["training_data_sample_size"]) == (25, 120)
    assert client.get(url, headers=alice.headers).json()["is_default"] is True  # per method
    done = _done(client, alice, "blobs")
    assert (done["n_training"], done["n_production"]) == (120, 25)


def test_an_unknown_method_is_400(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=30)
    for response in (
        client.post(
            "/api/v1/models/blobs/versions/1/projections",
            json={"method": "lle"},
            headers=alice.headers,
        ),
        client.get("/api/v1/models/blobs/versions/1/projection-params/lle", headers=alice.headers),
        set_params(client, alice, "blobs", "lle", {}),
    ):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "unknown_method"
        assert error["details"] == {"method": "lle", "supported": ["umap", "tsne", "trimap", "pca"]}


def test_an_unknown_version_or_projection_is_404(client: TestClient, alice: Account) -> None:
    register_model(client, alice, sample_rows=30)
    assert project(client, alice, "blobs", version="7")[0] == 404
    assert project(client, alice, "nothing")[0] == 404
    for path in ("", "/result", "/plot.png", "/data.parquet"):
        response = client.get(f"/api/v1/projections/0123456789abcdef{path}", headers=alice.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "projection_not_found"


def test_another_users_version_and_projections_are_404(
    client: TestClient, alice: Account, bob: Account, admin: Account
) -> None:
    register_model(client, alice, sample_rows=40)
    done = _done(client, alice, "blobs")
    prefix = "/api/v1/models/blobs/versions/1"
    for response in (
        client.post(f"{prefix}/projections", json={"method": "pca"}, headers=bob.headers),
        client.get(f"{prefix}/projections", headers=bob.headers),
        client.get(f"{prefix}/projection-params/pca", headers=bob.headers),
        client.put(f"{prefix}/projection-params/pca", json={}, headers=bob.headers),
        client.get(f"{prefix}/projection-support", headers=bob.headers),
        client.get(f"/api/v1/projections/{done['id']}", headers=bob.headers),
        client.get(f"/api/v1/projections/{done['id']}/result", headers=bob.headers),
        client.get(f"/api/v1/projections/{done['id']}/plot.png", headers=bob.headers),
    ):
        assert response.status_code == 404, response.text
    assert client.get(f"/api/v1/projections/{done['id']}", headers=admin.headers).status_code == 200
    assert client.get(f"/api/v1/projections/{done['id']}").status_code == 401


def test_a_crashed_job_is_an_error_and_is_not_reused(client: TestClient, alice: Account) -> None:
    from modelyard.registry.models import ModelVersion

    version = register_model(client, alice, sample_rows=40)
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        row = session.get(ModelVersion, version["id"])
        assert row is not None and row.sample_key is not None
        key = row.sample_key
    client.app.state.artifacts.delete(key)  # type: ignore[attr-defined]
    failed = _done(client, alice, "blobs")
    assert failed["state"] == "ERROR"
    assert failed["message"].startswith("ArtifactNotFound: artifact ")  # the job's error
    code, again = project(client, alice, "blobs", "pca")
    assert code == 202 and again["id"] != failed["id"] and again["cached"] is False


def test_a_projection_whose_worker_died_ends_error_with_the_reason(
    client: TestClient, alice: Account
) -> None:
    """Its job was taken for lost by a reaper: the projection says so, not "STARTED"."""
    from datetime import timedelta

    from modelyard.db import utcnow
    from modelyard.jobs.liveness import reap_stale
    from modelyard.jobs.models import Job, JobState
    from modelyard.visualization.models import Projection

    register_model(client, alice, sample_rows=40)
    done = _done(client, alice, "blobs")
    database = client.app.state.database  # type: ignore[attr-defined]
    beat = utcnow() - timedelta(minutes=5)
    with database.session() as session:
        # As a worker that died mid-projection leaves it: the projection open, its job STARTED.
        job = Job(
            kind="visualization.project",
            owner_id=alice.id,
            params={"projection_id": done["id"]},
            state=JobState.STARTED,
            attempts=1,
            max_attempts=1,
            progress=0.4,
            message="projecting",
            started_at=beat,
            heartbeat_at=beat,
        )
        session.add(job)
        session.flush()
        projection = session.get(Projection, done["id"])
        assert projection is not None
        projection.job_id, projection.state, projection.finished_at = job.id, None, None
    assert (
        client.get(f"/api/v1/projections/{done['id']}", headers=alice.headers).json()["state"]
        == "STARTED"
    )

    assert reap_stale(database, stale_seconds=30, resubmit=None) == 1

    ended = client.get(f"/api/v1/projections/{done['id']}", headers=alice.headers).json()
    assert (ended["state"], ended["message"]) == ("ERROR", "the worker running it stopped")
    with database.session() as session:
        # Recorded on the projection itself (its hook), not only read off its job.
        row = session.get(Projection, done["id"])
        assert row is not None and (row.state, row.message) == ("ERROR", ended["message"])
        assert row.finished_at is not None


# --- deleting the model version ---------------------------------------------------------------


def _file_keys(client: TestClient, projection_ids: list[str]) -> list[str]:
    from modelyard.visualization.models import Projection

    keys: list[str] = []
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        for projection_id in projection_ids:
            row = session.get(Projection, projection_id)
            assert row is not None
            keys += [
                k for k in (row.result_key, row.parquet_key, row.plot_key, row.transformer_key) if k
            ]
    return keys


def test_deleting_a_version_deletes_its_projections_and_their_files(
    client: TestClient, alice: Account
) -> None:
    register_model(client, alice, sample_rows=60)
    log_requests(client, alice, "blobs", 20)
    fitted = _done(client, alice, "blobs")
    log_requests(client, alice, "blobs", 10, seed=9)
    placed = _done(client, alice, "blobs")
    assert (fitted["mode"], placed["mode"]) == ("fit", "transform")
    register_model(client, alice, "other", sample_rows=40)
    kept = _done(client, alice, "other")
    store = client.app.state.artifacts  # type: ignore[attr-defined]
    keys = _file_keys(client, [fitted["id"], placed["id"]])
    kept_keys = _file_keys(client, [kept["id"]])
    # result, parquet and plot each; the fitted transformer once (the second one reused it)
    assert len(keys) == 7 and all(store.exists(k) for k in keys)

    deleted = client.delete("/api/v1/models/blobs/versions/1", headers=alice.headers)
    assert deleted.status_code == 204
    assert [k for k in keys if store.exists(k)] == []
    for projection in (fitted, placed):
        gone = client.get(f"/api/v1/projections/{projection['id']}", headers=alice.headers)
        assert gone.status_code == 404
    # Another model's projections are left alone.
    assert all(store.exists(k) for k in kept_keys)
    assert _result(client, alice, kept)["training_data_shape"] == [40, 2]


def _matrix_with_files(client: TestClient, account: Account) -> None:
    body = {"actual": [0, 1, 1, 0], "predicted": [0, 1, 0, 0]}
    uid = client.post(BASE_CM, json=body, headers=account.headers).json()["uid"]
    for part in ("report", "plot", "matrix.obj"):
        response = client.get(f"{BASE_CM}/{uid}/{part}", headers=account.headers)
        assert response.status_code == 200, response.text


BASE_CM = "/api/v1/confusion-matrices"


def test_deleting_a_user_deletes_every_file_they_own(
    client: TestClient, alice: Account, bob: Account
) -> None:
    store = client.app.state.artifacts  # type: ignore[attr-defined]
    register_model(client, bob, "bobs", sample_rows=40)
    _done(client, bob, "bobs")
    _matrix_with_files(client, bob)
    kept = store.list_keys()
    # Alice's model, its sample and a projection of it; a projection she made of a model of
    # her own only; a matrix with its .obj, report and plot; a training dataset.
    register_model(client, alice, sample_rows=60)
    log_requests(client, alice, "blobs", 20)
    _done(client, alice, "blobs")
    _matrix_with_files(client, alice)
    assert upload(client, alice, zip_bytes(corpus_members(per_label=3))).status_code == 201
    assert len(store.list_keys()) >= len(kept) + 9

    admin = make_admin(client)
    deleted = client.delete(f"/api/v1/admin/users/{alice.id}", headers=admin.headers)
    assert deleted.status_code == 204
    assert store.list_keys() == kept
    assert client.get("/api/v1/models/bobs", headers=bob.headers).status_code == 200


@in_process_only
def test_a_job_whose_version_is_deleted_while_it_runs_leaves_no_files(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from modelyard.visualization import methods

    entered, release = threading.Event(), threading.Event()
    real_fit = methods.fit

    def held_fit(*args: Any, **kwargs: Any) -> methods.Fitted:
        entered.set()
        assert release.wait(60)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(methods, "fit", held_fit)
    store = client.app.state.artifacts  # type: ignore[attr-defined]
    earlier = set(store.list_keys())  # the data folder is shared by the session's tests
    register_model(client, alice, sample_rows=60)
    versions = set(store.list_keys()) - earlier
    code, started = project(client, alice, "blobs", "pca")
    assert code == 202
    try:
        assert entered.wait(60), "the job never reached its fit"
        deleted = client.delete("/api/v1/models/blobs/versions/1", headers=alice.headers)
        assert deleted.status_code == 204
    finally:
        release.set()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = client.get(f"/api/v1/jobs/{started['job_id']}", headers=alice.headers).json()
        if job["state"] not in ("PENDING", "STARTED"):
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "SUCCESS" and job["result"]["state"] == "GONE", job
    # The version's files went with it, and the job's (written after) when it ended.
    assert len(versions) == 2  # the model file and the sample
    assert set(store.list_keys()) == earlier
