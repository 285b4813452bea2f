"""Projection pages: start one from a form, follow it, read its scatter, metrics and downloads."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import skops.io as sio
from fastapi.testclient import TestClient
from markupsafe import escape
from sklearn.linear_model import LogisticRegression

from modelyard.visualization.metrics import METRIC_DOCS
from tests.helpers import make_admin
from tests.visualization.helpers import FEATURES, SCHEMA, blobs, model_bytes, sample_csv
from tests.web.helpers import WebUser, web_sign_in

DEADLINE_SECONDS = 120.0
_POINT = re.compile(r"<circle [^>]*class=\"pt pt-(training|production)\"[^>]*>")


def upload_model(
    user: WebUser,
    name: str = "blobs",
    *,
    sample_rows: int | None = 80,
    data: bytes | None = None,
    schema: Any = SCHEMA,
) -> None:
    files: dict[str, Any] = {"file": ("model.skops", data or model_bytes())}
    if schema is not None:
        files["input_schema"] = ("input_schema.json", json.dumps(schema))
    if sample_rows:
        files["sample"] = ("sample.csv", sample_csv(sample_rows))
    response = user.post("/ui/models", {"name": name}, files=files)
    assert response.status_code == 200, response.text
    assert f"Version 1 of {name} is registered." in response.text


def predict_rows(user: WebUser, name: str, rows: int, per_request: int = 10) -> None:
    """Send ``rows`` rows through the model page's form and wait until the log has them."""
    points, _ = blobs(rows, seed=5)
    for start in range(0, rows, per_request):
        records = [
            dict(zip(FEATURES, map(float, row), strict=True))
            for row in points[start : start + per_request]
        ]
        answer = user.post(f"/ui/models/{name}/predict", {"rows": json.dumps(records)})
        assert answer.status_code == 200 and "The prediction failed" not in answer.text
    assert user.client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def start(user: WebUser, name: str, method: str = "pca", **form: Any) -> str:
    path = f"/ui/models/{name}/versions/1/projections"
    response = user.post(path, {"method": method, **form}, token=user.csrf(path))
    assert response.status_code == 200, response.text
    assert response.url.path.startswith("/ui/projections/"), response.url
    return response.url.path.rsplit("/", 1)[1]


def wait_done(client: TestClient, projection_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        progress = client.get(f"/ui/projections/{projection_id}/progress.json")
        assert progress.status_code == 200, progress.text
        body: dict[str, Any] = progress.json()
        if body["done"]:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def neighbours_of(page: str) -> list[list[int]]:
    found = re.search(
        r'<script type="application/json" id="projection-neighbours">(.*?)</script>', page, re.S
    )
    assert found, "no neighbour data in the page"
    data: list[list[int]] = json.loads(found.group(1))
    return data


def test_empty_pages_say_so(client: TestClient, alice: WebUser) -> None:
    listing = client.get("/ui/projections")
    assert listing.status_code == 200
    assert "You have no projections yet." in listing.text
    assert "You have no models yet" in listing.text
    assert "You have no projections yet." in client.get("/ui/").text
    assert 'href="/ui/projections"' in listing.text.split("<main>")[0]  # in the navigation
    upload_model(alice, sample_rows=None)
    version = client.get("/ui/models/blobs/versions/1/projections")
    assert "No projections of this version yet." in version.text
    # No sample and no requests: the page says so before anyone starts a job.
    assert "no training data sample and no logged production requests" in version.text


def test_a_pca_projection_from_the_form_to_its_scatter(client: TestClient, alice: WebUser) -> None:
    upload_model(alice, sample_rows=80)
    predict_rows(alice, "blobs", 30)
    model = client.get("/ui/models/blobs")
    assert 'data-projections="1"' in model.text and "(80-row sample)" in model.text
    version = client.get("/ui/models/blobs/versions/1/projections")
    for method in ("umap", "tsne", "trimap", "pca"):
        assert f'<option value="{method}"' in version.text
    projection_id = start(alice, "blobs", "pca")
    finished = wait_done(client, projection_id)
    assert finished["job_state"] == "SUCCESS" and finished["progress"] == 1.0
    page = client.get(f"/ui/projections/{projection_id}")
    assert page.status_code == 200 and 'data-done="true"' in page.text
    points = _POINT.findall(page.text)
    assert points.count("training") == 80 and points.count("production") == 30
    # Every production point names its request; class and confidence colourings both exist.
    production = [m for m in re.findall(r"<circle [^>]*>", page.text) if "pt-production" in m]
    assert all(re.search(r'data-request="\d+"', c) for c in production)
    assert all('data-fill-class="#' in c and 'data-fill-confidence="#' in c for c in production)
    assert all(re.search(r'data-class="(blue|green|red)"', c) for c in production)
    assert 'type="radio" name="colouring" value="confidence"' in page.text
    neighbours = neighbours_of(page.text)
    assert len(neighbours) == 30
    for i, row in enumerate(neighbours):
        assert len(row) == 10 and i not in row and all(0 <= j < 30 for j in row)
    # The quality metrics, each with its meaning and range.
    assert 'data-metric="global_score"' in page.text
    assert str(escape(METRIC_DOCS["global_score"].range)) in page.text
    assert str(escape(METRIC_DOCS["global_score"].meaning[:40])) in page.text
    png = client.get(f"/ui/projections/{projection_id}/plot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    parquet = client.get(f"/ui/projections/{projection_id}/data.parquet")
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 110
    # Listed where I look for it; asking again for the same input gives the same projection.
    assert projection_id[:10] in client.get("/ui/projections").text
    assert projection_id in client.get("/ui/").text
    assert projection_id[:10] in client.get("/ui/models/blobs/versions/1/projections").text
    again = alice.post(
        "/ui/models/blobs/versions/1/projections",
        {"method": "pca"},
        token=alice.csrf("/ui/models/blobs/versions/1/projections"),
    )
    assert again.url.path == f"/ui/projections/{projection_id}"
    assert "projected already" in again.text


def test_hostile_class_names_are_escaped(client: TestClient, alice: WebUser) -> None:
    points, labels = blobs(200, seed=1)
    names = {"blue": '<script>alert("x")</script>', "green": "a&b", "red": "it's"}
    hostile = np.asarray([names[str(label)] for label in labels], dtype=object)
    data = sio.dumps(LogisticRegression(max_iter=500).fit(points, hostile))
    upload_model(alice, "hostile", sample_rows=40, data=data)
    projection_id = start(alice, "hostile", "pca")
    assert wait_done(client, projection_id)["job_state"] == "SUCCESS"
    page = client.get(f"/ui/projections/{projection_id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count('<script type="application/json"') == 1
    neighbours_of(page)  # the data block still parses


def test_a_projection_without_data_says_so(client: TestClient, alice: WebUser) -> None:
    upload_model(alice, "empty", sample_rows=None)
    projection_id = start(alice, "empty", "pca")
    finished = wait_done(client, projection_id)
    assert finished["job_state"] in ("NO_DATA", "NOT_SUPPORTED"), finished["message"]
    page = client.get(f"/ui/projections/{projection_id}")
    assert 'role="alert"' in page.text
    assert finished["message"] and str(escape(finished["message"])) in page.text
    assert 'svg class="chart scatter"' not in page.text
    assert client.get(f"/ui/projections/{projection_id}/plot.png").status_code == 404


def test_a_failed_projection_says_why(client: TestClient, alice: WebUser) -> None:
    upload_model(alice, "tiny", sample_rows=6)
    projection_id = start(alice, "tiny", "pca")
    finished = wait_done(client, projection_id)
    assert finished["job_state"] == "ERROR", finished["message"]
    page = client.get(f"/ui/projections/{projection_id}")
    assert "The projection failed: pca needs at least 10 points; the data has 6" in page.text
    assert 'class="state state-error"' in page.text
    listing = client.get("/ui/projections").text
    assert projection_id[:10] in listing and "pca needs at least 10 points" in listing


def test_a_refused_start_says_why(client: TestClient, alice: WebUser) -> None:
    upload_model(alice)
    path = "/ui/models/blobs/versions/1/projections"
    unknown = alice.post(path, {"method": "lda"}, token=alice.csrf(path))
    assert unknown.status_code == 400
    assert "The projection could not start: unknown method" in unknown.text
    assert client.post(path, data={"method": "pca"}).status_code == 403  # no CSRF token
    assert client.get("/ui/models/blobs/versions/7/projections").status_code == 404
    assert client.get("/ui/projections/nothing-here").status_code == 404


def test_another_users_projection_is_not_found(
    client: TestClient, other_client: TestClient, alice: WebUser, bob: WebUser
) -> None:
    upload_model(alice)
    projection_id = start(alice, "blobs", "pca")
    wait_done(client, projection_id)
    for suffix in ("", "/progress.json", "/plot.png", "/data.parquet"):
        answer = other_client.get(f"/ui/projections/{projection_id}{suffix}")
        assert answer.status_code == 404, suffix
    assert "Not found" in other_client.get(f"/ui/projections/{projection_id}").text
    assert other_client.get("/ui/models/blobs/versions/1/projections").status_code == 404
    path = "/ui/models/blobs/versions/1/projections"
    refused = bob.post(path, {"method": "pca"}, token=bob.csrf("/ui/projections"))
    assert refused.status_code == 404
    assert projection_id[:10] not in other_client.get("/ui/projections").text
    assert projection_id not in other_client.get("/ui/").text
    # An admin sees every projection.
    admin = make_admin(client)
    web_sign_in(other_client, admin.login)
    page = other_client.get("/ui/admin")
    assert page.status_code == 200
    assert f'data-projection="{projection_id}"' in page.text
    assert other_client.get(f"/ui/projections/{projection_id}").status_code == 200
