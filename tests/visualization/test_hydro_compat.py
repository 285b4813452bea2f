"""hydro-visualization's routes under /visualization: paths, bodies and states as documented.

Also what the source got wrong and is fixed: an unknown method is a 400, the two sample sizes
are stored apart, the requested metrics are in the result, an unknown task id is a 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.visualization.helpers import DEADLINE_SECONDS, log_requests, register_model

DOC_PARAMS = {
    "parameters": {"metric": "euclidean", "min_dist": 0.1, "n_components": 2, "n_neighbours": 15},
    "production_data_sample_size": 500,
    "training_data_sample_size": 5000,
    "visualization_metrics": ["global_score"],
}


def _poll(client: TestClient, account: Account, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = client.get(f"/visualization/jobs?task_id={task_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] == "PENDING":
            assert body == {"state": "PENDING", "task_id": task_id}
        elif body["state"] == "STARTED":
            assert set(body) == {"state", "task_id", "description", "progress"}
        else:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _version(client: TestClient, account: Account, **kw: Any) -> int:
    version_id: int = register_model(client, account, **kw)["id"]
    return version_id


@pytest.mark.timeout(900)  # a worker compiles UMAP first: minutes on a busy machine
def test_the_documented_flow_with_umap(client: TestClient, alice: Account) -> None:
    version_id = _version(client, alice, sample_rows=100)
    log_requests(client, alice, "blobs", 30)
    body = {**DOC_PARAMS, "visualization_metrics": ["global_score", "sammon_error", "msid"]}
    body["parameters"] = {**DOC_PARAMS["parameters"], "n_neighbours": 10}  # type: ignore[dict-item]
    stored = client.post(
        f"/visualization/params/umap?model_version_id={version_id}",
        json=body,
        headers=alice.headers,
    )
    assert stored.status_code == 200 and stored.json() == body

    started = client.post(
        f"/visualization/plottable_embeddings/umap?model_version_id={version_id}",
        headers=alice.headers,
    )
    assert started.status_code == 202
    assert list(started.json()) == ["task_id"]
    task_id = started.json()["task_id"]
    done = _poll(client, alice, task_id)
    assert set(done) == {"result", "state", "task_id", "description"}
    assert (done["state"], done["task_id"], done["description"]) == ("SUCCESS", task_id, "")
    result = done["result"]
    assert result["data_shape"] == [30, 2] and len(result["data"]) == 30
    assert len(result["request_ids"]) == 30
    assert result["class_labels"]["class"]["coloring_type"] == "class"
    assert result["class_labels"]["confidence"]["coloring_type"] == "gradient"
    assert result["metrics"] == {}
    assert [len(row) for row in result["top_100"]] == [29] * 30
    quality = result["visualization_metrics"]
    # The source's were always empty; its example names msid "msid_score".
    assert set(quality) == {"global_score", "sammon_error", "msid", "msid_score"}
    assert all(isinstance(v, float) for v in quality.values())
    assert quality["msid_score"] == quality["msid"]

    # The same input again: the same task, already done.
    again = client.post(
        "/visualization/plottable_embeddings/umap",
        json={"model_version_id": version_id},
        headers=alice.headers,
    )
    assert again.status_code == 200 and again.json() == {"task_id": task_id}
    # A refit is a new task.
    refit = client.post(
        f"/visualization/jobs/umap?model_version_id={version_id}", headers=alice.headers
    )
    assert refit.status_code == 202 and refit.json()["task_id"] != task_id
    assert _poll(client, alice, refit.json()["task_id"])["state"] == "SUCCESS"


def test_every_metric_with_the_neighbours_and_counterfactuals(
    client: TestClient, alice: Account
) -> None:
    version_id = _version(client, alice, sample_rows=80)
    log_requests(client, alice, "blobs", 40)
    every = [
        "global_score", "sammon_error", "msid", "auc_score", "stability_score", "clustering",
        "trustworthiness", "continuity",
    ]  # fmt: skip
    body = {**DOC_PARAMS, "parameters": {"n_components": 2}, "visualization_metrics": every}
    query = f"?model_version_id={version_id}"
    stored = client.post(f"/visualization/params/pca{query}", json=body, headers=alice.headers)
    assert stored.status_code == 200, stored.text
    started = client.post(f"/visualization/plottable_embeddings/pca{query}", headers=alice.headers)
    assert started.status_code == 202
    done = _poll(client, alice, started.json()["task_id"])
    assert done["state"] == "SUCCESS", done
    result = done["result"]
    assert result["data_shape"] == [40, 2] and result["training_data_shape"] == [80, 2]
    quality = result["visualization_metrics"]
    # Every requested metric under its documented name, beside the extra names.
    assert set(quality) == {
        "global_score", "sammon_error", "msid", "msid_score", "auc_score", "stability_score",
        "clustering", "clustering_ari", "clustering_ami", "clustering_random_score",
        "clustering_mutual_info", "trustworthiness", "continuity",
    }  # fmt: skip
    assert all(isinstance(v, float) for v in quality.values()), quality
    assert quality["clustering"] == quality["clustering_ari"] == quality["clustering_random_score"]
    assert quality["clustering_mutual_info"] == quality["clustering_ami"]
    assert quality["clustering"] > 0.8  # three separated blobs
    assert quality["auc_score"] > 0.95 and 0.9 < quality["trustworthiness"] <= 1.0
    labels = result["class_labels"]["class"]["data"]
    assert len(set(labels)) == 3
    for i, row in enumerate(result["top_100"]):
        assert len(row) == 39 and i not in row
        assert result["counterfactuals"][i] == [j for j in row if labels[j] != labels[i]]
    assert any(result["counterfactuals"])


def test_data_too_small_for_the_method_is_an_error_with_its_reason(
    client: TestClient, alice: Account
) -> None:
    version_id = _version(client, alice, sample_rows=6)
    task = client.post(
        f"/visualization/plottable_embeddings/tsne?model_version_id={version_id}",
        headers=alice.headers,
    ).json()["task_id"]
    assert _poll(client, alice, task) == {
        "state": "ERROR",
        "task_id": task,
        "description": "tsne needs at least 10 points; the data has 6",
    }


def test_the_version_id_in_the_query_or_the_body(client: TestClient, alice: Account) -> None:
    version_id = _version(client, alice, sample_rows=40)
    for url, kwargs in (
        (f"/visualization/jobs/?model_version_id={version_id}", {}),
        ("/visualization/jobs", {"json": {"model_version_id": version_id, "method": "pca"}}),
        ("/visualization/jobs/pca", {"json": {"model_version_id": str(version_id)}}),
    ):
        response = client.post(url, headers=alice.headers, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 202, (url, response.text)
        assert _poll(client, alice, response.json()["task_id"])["state"] == "SUCCESS"


def test_params_default_then_stored_with_the_sample_sizes_apart(
    client: TestClient, alice: Account
) -> None:
    version_id = _version(client, alice, sample_rows=40)
    url = f"/visualization/params/?model_version_id={version_id}"
    assert client.get(url, headers=alice.headers).json() == DOC_PARAMS
    changed = {**DOC_PARAMS, "production_data_sample_size": 20, "training_data_sample_size": 30}
    assert client.post(url, json=changed, headers=alice.headers).status_code == 200
    shown = client.get(
        f"/visualization/params/umap?model_version_id={version_id}", headers=alice.headers
    )
    assert shown.json()["production_data_sample_size"] == 20
    assert shown.json()["training_data_sample_size"] == 30
    tsne = client.get(
        f"/visualization/params/tsne?model_version_id={version_id}", headers=alice.headers
    )
    assert tsne.json()["parameters"] == {
        "n_components": 2, "metric": "euclidean", "perplexity": 30.0, "n_iter": 500,
    }  # fmt: skip


def test_bad_params_are_4xx_naming_the_field(client: TestClient, alice: Account) -> None:
    version_id = _version(client, alice, sample_rows=40)
    url = f"/visualization/params/umap?model_version_id={version_id}"
    for body, loc in (
        ({"parameters": {"min_dist": 2}}, ["body", "parameters", "min_dist"]),
        ({"production_data_sample_size": 6000}, ["body", "production_data_sample_size"]),
        ({"training_data_sample_size": 5}, ["body", "training_data_sample_size"]),
        ({"visualization_metrics": ["happiness"]}, ["body", "visualization_metrics", 0]),
    ):
        response = client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 422, response.text
        assert set(response.json()) == {"message", "code", "details"}
        assert response.json()["details"][0]["loc"] == loc
    not_json = client.post(url, content=b"{nope", headers=alice.headers)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["message"]
    nan = client.post(url, content=b'{"parameters": {"min_dist": NaN}}', headers=alice.headers)
    assert nan.status_code == 400


def test_an_unknown_method_is_400(client: TestClient, alice: Account) -> None:
    version_id = _version(client, alice, sample_rows=40)
    for method, path in (
        ("post", f"/visualization/plottable_embeddings/isomap?model_version_id={version_id}"),
        ("post", f"/visualization/jobs/isomap?model_version_id={version_id}"),
        ("get", f"/visualization/params/isomap?model_version_id={version_id}"),
        ("post", f"/visualization/params/isomap?model_version_id={version_id}"),
    ):
        response = client.request(method, path, headers=alice.headers, json={})
        assert response.status_code == 400, (path, response.text)
        assert response.json()["message"] == (
            "unknown method 'isomap'; use one of ['umap', 'tsne', 'trimap', 'pca']"
        )


def test_a_missing_bad_unknown_or_foreign_version_id(
    client: TestClient, alice: Account, bob: Account
) -> None:
    version_id = _version(client, alice, sample_rows=40)
    path = "/visualization/plottable_embeddings/pca"
    missing = client.post(path, headers=alice.headers)
    assert missing.status_code == 400
    assert (
        missing.json()["message"]
        == "model_version_id is required (in the query string or the body)"
    )
    for bad in ("abc", "0", "-3", "99999999999999"):
        response = client.post(f"{path}?model_version_id={bad}", headers=alice.headers)
        assert response.status_code == 400, (bad, response.text)
    assert (
        client.post(
            f"{path}?model_version_id={version_id + 100}", headers=alice.headers
        ).status_code
        == 404
    )
    for method, url in (
        ("post", f"{path}?model_version_id={version_id}"),
        ("get", f"/visualization/params/umap?model_version_id={version_id}"),
        ("get", f"/visualization/supported?model_version_id={version_id}"),
    ):
        response = client.request(method, url, headers=bob.headers)
        assert response.status_code == 404, url
        assert response.json()["message"] == f"model version {version_id} not found"
    task = client.post(f"{path}?model_version_id={version_id}", headers=alice.headers).json()[
        "task_id"
    ]
    assert client.get(f"/visualization/jobs?task_id={task}", headers=bob.headers).status_code == 404


def test_polling_an_unknown_task_is_404(client: TestClient, alice: Account) -> None:
    response = client.get(
        "/visualization/jobs?task_id=22e86484-7d90-49fd-a3e1-329b978ee18c", headers=alice.headers
    )
    assert response.status_code == 404
    assert (
        response.json()["message"] == "projection '22e86484-7d90-49fd-a3e1-329b978ee18c' not found"
    )
    assert client.get("/visualization/jobs", headers=alice.headers).status_code == 422


def test_no_data_is_a_state_with_a_description(client: TestClient, alice: Account) -> None:
    version_id = _version(client, alice, sample_rows=None)
    supported = client.get(
        f"/visualization/supported?model_version_id={version_id}", headers=alice.headers
    )
    assert supported.json() == {
        "supported": False,
        "message": "this model version has no training data sample and no logged production "
        "requests yet",
    }
    task = client.post(
        f"/visualization/plottable_embeddings/umap?model_version_id={version_id}",
        headers=alice.headers,
    ).json()["task_id"]
    done = _poll(client, alice, task)
    assert done == {
        "state": "NO_DATA",
        "task_id": task,
        "description": "this model version has no training data sample and no logged production "
        "requests",
    }
    log_requests(client, alice, "blobs", 20)
    supported = client.get(
        f"/visualization/supported?model_version_id={version_id}", headers=alice.headers
    )
    assert supported.json() == {"supported": True, "message": ""}


def test_health_and_credentials(client: TestClient, alice: Account) -> None:
    health = client.get("/visualization/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "methods": {"umap": True, "tsne": True, "trimap": True, "pca": True},
    }
    assert client.get("/visualization/supported?model_version_id=1").status_code == 401
    # The token alone, without "Bearer", as older clients send it.
    version_id = _version(client, alice, sample_rows=40)
    lenient = client.get(
        f"/visualization/supported?model_version_id={version_id}",
        headers={"Authorization": alice.token},
    )
    assert lenient.status_code == 200 and lenient.json()["supported"] is True


def test_the_routes_are_in_openapi_under_their_tag(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = {
        path
        for path, ops in spec["paths"].items()
        if any("compat: hydro-visualization" in op["tags"] for op in ops.values())
    }
    assert paths == {
        "/visualization/plottable_embeddings/{method}", "/visualization/jobs/{method}",
        "/visualization/jobs", "/visualization/params/{method}", "/visualization/params",
        "/visualization/supported", "/visualization/health",
    }  # fmt: skip


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_async_routes_do_their_database_work_off_the_event_loop(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.visualization import service

    version_id = _version(client, alice, sample_rows=40)
    calls: list[tuple[str, bool]] = []

    def watched(name: str) -> Callable[..., Any]:
        real = getattr(service, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, _on_an_event_loop()))
            return real(*args, **kwargs)

        return call

    for name in ("target_by_id", "request_projection", "set_params"):
        monkeypatch.setattr(service, name, watched(name))
    query = f"?model_version_id={version_id}"
    for path, body in (
        (f"/visualization/params/pca{query}", {**DOC_PARAMS, "parameters": {"n_components": 2}}),
        (f"/visualization/params{query}", DOC_PARAMS),
        (f"/visualization/plottable_embeddings/pca{query}", None),
        (f"/visualization/jobs/pca{query}", None),
        ("/visualization/jobs", {"model_version_id": version_id, "method": "pca"}),
    ):
        response = client.post(path, json=body, headers=alice.headers)
        assert response.status_code in (200, 202), (path, response.text)
        if "task_id" in response.json():
            assert _poll(client, alice, response.json()["task_id"])["state"] == "SUCCESS"
    assert {name for name, _ in calls} == {"target_by_id", "request_projection", "set_params"}
    assert [c for c in calls if c[1]] == []  # none of them ran on the event loop
