"""pycm-api's confusion-matrix routes, as its clients call them (shared/seeds/000)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.evaluation.helpers import pycm_user
from tests.evaluation.pycm_api_document import CURL, WORKFLOW
from tests.helpers import PASSWORD, make_admin

CM_FIELDS = {"uid", "accuracy", "precision", "recall", "f1", "confusion_matrix"}
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_74ceedfe3e915843.txt"


def _create(client: TestClient, api_key: str, actual: list[Any], predicted: list[Any]) -> str:
    response = client.post(
        "/cm/create",
        json={"api_key": api_key, "actual_vector": actual, "predicted_vector": predicted},
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"uid"}
    uid: str = response.json()["uid"]
    return uid


def test_create_and_read(client: TestClient) -> None:
    key = pycm_user(client, "a@example.com")["api_key"]
    uid = _create(client, key, [1, 0, 1, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 1, 1, 0])
    response = client.get("/cm/", params={"api_key": key, "cm_uid": uid})
    assert response.status_code == 200
    assert response.json() == {
        "uid": uid,
        "accuracy": 0.75,
        "precision": 0.75,
        "recall": 0.75,
        "f1": 0.75,
        "confusion_matrix": [[3, 1], [1, 3]],
    }


def test_string_labels_are_accepted_as_the_document_promises(client: TestClient) -> None:
    key = pycm_user(client, "s@example.com")["api_key"]
    uid = _create(client, key, ["cat", "dog", "cat"], ["cat", "cat", "cat"])
    body = client.get("/cm/", params={"api_key": key, "cm_uid": uid}).json()
    assert body["confusion_matrix"] == [[2, 0], [1, 0]]
    assert body["precision"] is None  # "dog" is never predicted: undefined, not "None"


def test_the_user_object_lists_real_matrices(client: TestClient) -> None:
    key = pycm_user(client, "u@example.com")["api_key"]
    uids = [_create(client, key, [0, 1], [0, 1]) for _ in range(2)]
    signed_in = client.post("/sign_in/", json={"email": "u@example.com", "password": "test123"})
    assert signed_in.json()["cms"] == [{"uid": uid} for uid in uids]
    admin = make_admin(client, "root@example.com")
    basic = base64.b64encode(f"{admin.login}:{PASSWORD}".encode()).decode()
    users = client.get("/users/", headers={"Authorization": f"Basic {basic}"}).json()
    assert next(u for u in users if u["email"] == "u@example.com")["cms"] == signed_in.json()["cms"]


# Every route whose credential is pycm-api's ``api_key`` (a body field or a query parameter);
# tests/auth/test_every_route.py checks that this covers every such route of the app.
API_KEY_ROUTES = [
    ("POST", "/cm/create", "body"),
    ("GET", "/cm/", "query"),
    ("POST", "/cm/update", "body"),
    ("DELETE", "/cm/{cm_uid}", "query"),
    ("GET", "/cm/report", "query"),
    ("GET", "/cm/plot", "query"),
    ("POST", "/compare/", "body"),
    ("POST", "/mlcm/", "body"),
    ("POST", "/curve", "body"),
]


@pytest.mark.parametrize(("method", "path", "where"), API_KEY_ROUTES)
def test_an_invalid_api_key(client: TestClient, method: str, path: str, where: str) -> None:
    key = pycm_user(client, "k@example.com")["api_key"]
    uid = _create(client, key, [0, 1], [0, 1])
    body: dict[str, Any] = {
        "actual_vector": [0, 1],
        "predicted_vector": [0, 1],
        "cm_uids": [uid, uid],
        "type": "ROC",
        "probability_vector": [[1, 0], [0, 1]],
    }
    if path == "/mlcm/":
        body.update(actual_vector=[["a"]], predicted_vector=[["a"]])
    params = {"cm_uid": uid}  # /cm/update's query parameter; the others ignore it
    for bad in ("not-a-key", key + "x", ""):
        url = path.format(cm_uid=uid)
        if where == "body":
            response = client.request(method, url, params=params, json={**body, "api_key": bad})
        else:
            response = client.request(method, url, params={**params, "api_key": bad})
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"detail": "Invalid API key"}


def test_missing_api_key_is_fastapis_422(client: TestClient) -> None:
    response = client.get("/cm/", params={"cm_uid": "x"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
        "query",
        "api_key",
    ]


def test_unknown_foreign_and_deleted_matrices(client: TestClient) -> None:
    mine = pycm_user(client, "me@example.com")["api_key"]
    theirs = pycm_user(client, "them@example.com")["api_key"]
    uid = _create(client, mine, [0, 1], [0, 1])
    not_found = {"detail": "Confusion matrix not found"}
    for key, cm_uid in ((mine, "no-such-uid"), (theirs, uid)):
        for path in ("/cm/", "/cm/report", "/cm/plot"):
            response = client.get(path, params={"api_key": key, "cm_uid": cm_uid})
            assert (response.status_code, response.json()) == (404, not_found)
        update = client.post(
            f"/cm/update?cm_uid={cm_uid}",
            json={"api_key": key, "actual_vector": [1, 0], "predicted_vector": [1, 1]},
        )
        assert (update.status_code, update.json()) == (404, not_found)
        deleted = client.delete(f"/cm/{cm_uid}", params={"api_key": key})
        assert (deleted.status_code, deleted.json()) == (404, not_found)
    # The owner's matrix survived the stranger's update and delete.
    body = client.get("/cm/", params={"api_key": mine, "cm_uid": uid}).json()
    assert body["confusion_matrix"] == [[1, 0], [0, 1]]
    gone = client.delete(f"/cm/{uid}", params={"api_key": mine})
    assert gone.status_code == 200 and gone.json() == {"message": "Confusion matrix deleted"}
    again = client.get("/cm/", params={"api_key": mine, "cm_uid": uid})
    assert (again.status_code, again.json()) == (404, not_found)


def test_update_refreshes_report_and_plot_and_delete_removes_files(client: TestClient) -> None:
    key = pycm_user(client, "up@example.com")["api_key"]
    store = client.app.state.artifacts  # type: ignore[attr-defined]
    existing = set(store.list_keys("evaluation"))
    uid = _create(client, key, [0, 1, 0], [0, 1, 1])
    query = {"api_key": key, "cm_uid": uid}
    report = client.get("/cm/report", params=query)
    plot = client.get("/cm/plot", params=query)
    assert report.headers["content-type"].startswith("text/html") and "PyCM Report" in report.text
    assert report.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert plot.headers["content-type"] == "image/png" and plot.content.startswith(b"\x89PNG")
    updated = client.post(
        f"/cm/update?cm_uid={uid}",
        json={"api_key": key, "actual_vector": ["x", "y"], "predicted_vector": ["y", "y"]},
    )
    assert updated.status_code == 200 and updated.json() == {"uid": uid}
    assert client.get("/cm/report", params=query).text != report.text
    assert client.get("/cm/plot", params=query).content != plot.content
    assert len(set(store.list_keys("evaluation")) - existing) == 2  # the new report and plot
    client.delete(f"/cm/{uid}", params={"api_key": key})
    assert set(store.list_keys("evaluation")) - existing == set()


def test_compare(client: TestClient) -> None:
    key = pycm_user(client, "c@example.com")["api_key"]
    good = _create(client, key, [0, 1, 0, 1], [0, 1, 0, 1])
    bad = _create(client, key, [0, 1, 0, 1], [0, 1, 1, 0])
    response = client.post("/compare/", json={"api_key": key, "cm_uids": [good, bad]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"cm_uids", "best_name", "cm_scores", "cm_orders"}
    assert body["cm_uids"] == [good, bad] and body["best_name"] == good
    assert body["cm_orders"] == [good, bad] and set(body["cm_scores"][good]) == {"class", "overall"}
    one = client.post("/compare/", json={"api_key": key, "cm_uids": [good]})
    # A 422 in FastAPI's validation shape, as the OpenAPI document says.
    assert one.status_code == 422 and "at least two" in one.json()["detail"][0]["msg"]
    unknown = client.post("/compare/", json={"api_key": key, "cm_uids": [good, "another_cm_uid"]})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": "Confusion matrix not found",
        "cm_uids": [good, "another_cm_uid"],
        "best_name": None,
        "cm_scores": None,
        "cm_orders": None,
    }


def test_multilabel_as_documented(client: TestClient) -> None:
    key = pycm_user(client, "m@example.com")["api_key"]
    response = client.post(
        "/mlcm/",
        json={
            "api_key": key,
            "actual_vector": [["class1", "class2"], ["class2"], ["class1"]],
            "predicted_vector": [["class1"], ["class2"], ["class1", "class2"]],
            "classes": ["class1", "class2"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "multihot_actual",
        "multihot_predicted",
        "classes",
        "cm_by_classes",
        "cm_by_samples",
    }
    assert body["multihot_actual"] == [[1, 1], [0, 1], [1, 0]]
    assert body["multihot_predicted"] == [[1, 0], [0, 1], [1, 1]]
    assert set(body["cm_by_samples"]) == {"0", "1", "2"}
    assert set(body["cm_by_classes"]["class1"]) == CM_FIELDS - {"uid"}
    assert (
        client.post("/sign_in/", json={"email": "m@example.com", "password": "test123"}).json()[
            "cms"
        ]
        == []
    )


def test_the_documents_curve_example_answers_an_auc_per_class(client: TestClient) -> None:
    key = pycm_user(client, "r@example.com")["api_key"]
    example = {
        "api_key": key,
        "type": "ROC",
        "actual_vector": [0, 1, 0, 1, 1],
        "probability_vector": [[0.1, 0.9], [0.3, 0.7], [0.2, 0.8], [0.4, 0.6], [0.5, 0.5]],
        "classes": ["class0", "class1"],
    }
    roc = client.post("/curve", json=example)
    assert roc.status_code == 200, roc.text
    assert set(roc.json()) == {"thresholds", "auc_trp"}
    assert set(roc.json()["auc_trp"]) == {"class0", "class1"}
    assert roc.json()["thresholds"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    pr = client.post("/curve", json={**example, "type": "PR"})
    assert pr.status_code == 200 and pr.json()["auc_trp"] != roc.json()["auc_trp"]


def test_integer_classes_and_undefined_aucs_serialise(client: TestClient) -> None:
    key = pycm_user(client, "i@example.com")["api_key"]
    response = client.post(
        "/curve",
        json={
            "api_key": key,
            "type": "PR",
            "actual_vector": [0, 0, 1],
            "probability_vector": [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]],
            "classes": [0, 1],
        },
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["auc_trp"]) == {"0", "1"}
    assert "NaN" not in response.text


def test_admin_lists_every_matrix(client: TestClient) -> None:
    admin = make_admin(client, "root@example.com")
    key = pycm_user(client, "x@example.com")["api_key"]
    uids = [_create(client, key, [0, 1], [1, 1]) for _ in range(3)]
    basic = base64.b64encode(f"{admin.login}:{PASSWORD}".encode()).decode()
    listed = client.get(
        "/cms/", params={"skip": 1, "limit": 1}, headers={"Authorization": f"Basic {basic}"}
    )
    assert listed.status_code == 200
    assert [cm["uid"] for cm in listed.json()] == [uids[1]]
    assert set(listed.json()[0]) == CM_FIELDS
    denied = client.get(
        "/cms/",
        headers={"Authorization": "Basic " + base64.b64encode(b"x@example.com:test123").decode()},
    )
    assert denied.status_code == 401 and denied.json() == {"detail": "Unauthorized access"}


def test_the_copies_are_verbatim() -> None:
    if not SEED.exists():
        pytest.skip("shared/seeds is not beside this checkout")
    text = SEED.read_text()
    assert WORKFLOW.strip() in text and CURL.strip() in text


def test_the_workflow_example_runs_verbatim(
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The script's `import requests` gets the test client, which takes the same calls.
    fake = ModuleType("requests")
    fake.post = client.post  # type: ignore[attr-defined]
    fake.get = client.get  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "requests", fake)
    monkeypatch.chdir(tmp_path)
    exec(compile(WORKFLOW, "workflow.py", "exec"), {})  # noqa: S102 - the document's own code
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("API Key: mdy_")
    assert printed[1].startswith("Confusion Matrix UID: ") and len(printed[1]) > 30
    assert printed[2:] == [
        "Accuracy: 0.75",
        "Precision: 0.75",
        "Recall: 0.75",
        "F1-Score: 0.75",
        "Best model: None",  # it compares with "another_cm_uid", which does not exist
    ]
    assert "PyCM Report" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")
