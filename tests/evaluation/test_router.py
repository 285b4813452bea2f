"""The native API, route by route: /api/v1/confusion-matrices and the analyses beside it."""

from __future__ import annotations

import json

import pycm
import pytest
from fastapi.testclient import TestClient

from modelyard.evaluation.responses import REPORT_CSP
from tests.evaluation.helpers import ACTUAL, BASE, PREDICTED, create
from tests.helpers import Account


def test_create_answers_the_headline(client: TestClient, owner: Account) -> None:
    created = create(client, owner, actual=ACTUAL, predicted=PREDICTED, name="first")
    assert created["accuracy"] == 0.75
    assert created["precision"] == created["recall"] == created["f1"] == 0.75
    assert created["matrix"] == [[3, 1], [1, 3]]
    assert created["classes"] == [0, 1] and created["name"] == "first"
    assert created["statistics"] is None and len(created["uid"]) >= 16


@pytest.mark.parametrize(
    ("actual", "predicted", "classes"),
    [
        (["cat", "dog", "cat"], ["cat", "cat", "dog"], ["cat", "dog"]),
        ([False, True, False], [False, False, True], [False, True]),
        ([0.5, 1.5, 0.5], [0.5, 0.5, 1.5], [0.5, 1.5]),
    ],
)
def test_labels_of_every_kind(
    client: TestClient,
    owner: Account,
    actual: list[object],
    predicted: list[object],
    classes: list[object],
) -> None:
    created = create(client, owner, actual=actual, predicted=predicted)
    assert created["classes"] == classes
    assert created["matrix"] == [[1, 1], [1, 0]]


def test_create_from_a_matrix_with_classes_and_weights(client: TestClient, owner: Account) -> None:
    ready = create(client, owner, matrix=[[5, 1], [2, 4]], classes=["no", "yes"])
    assert ready["matrix"] == [[5, 1], [2, 4]] and ready["classes"] == ["no", "yes"]
    weighted = create(client, owner, actual=[0, 1, 1], predicted=[0, 1, 0], sample_weight=[2, 1, 1])
    assert weighted["matrix"] == [[2.0, 0.0], [1.0, 1.0]]


def test_read_with_every_statistic_as_strict_json(client: TestClient, owner: Account) -> None:
    uid = create(client, owner, actual=[0, 1, 0, 1], predicted=[0, 0, 0, 0], classes=[0, 1, 2])[
        "uid"
    ]
    response = client.get(f"{BASE}/{uid}", params={"statistics": True}, headers=owner.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["precision"] is None  # class 1 and 2 are never predicted
    json.dumps(body, allow_nan=False)
    assert '"None"' not in response.text and "NaN" not in response.text
    assert body["statistics"]["overall"]["Overall ACC"] == 0.5
    assert set(body["statistics"]["per_class"]["TPR"]) == {"0", "1", "2"}
    plain = client.get(f"{BASE}/{uid}", headers=owner.headers).json()
    assert plain["statistics"] is None


def test_list_mine_with_pagination(client: TestClient, owner: Account, stranger: Account) -> None:
    uids = [create(client, owner)["uid"] for _ in range(3)]
    create(client, stranger)
    page = client.get(BASE, params={"limit": 2}, headers=owner.headers).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [item["uid"] for item in page["items"]] == uids[::-1][:2]
    rest = client.get(BASE, params={"limit": 2, "offset": 2}, headers=owner.headers).json()
    assert [item["uid"] for item in rest["items"]] == [uids[0]]


def _keys(client: TestClient) -> set[str]:
    # The artifact folder lives as long as the test session; tests look at what they add.
    return set(client.app.state.artifacts.list_keys("evaluation"))  # type: ignore[attr-defined]


def test_replace_refreshes_report_plot_and_files(client: TestClient, owner: Account) -> None:
    existing = _keys(client)
    uid = create(client, owner)["uid"]
    assert _keys(client) == existing  # files are written when first asked for
    first_report = client.get(f"{BASE}/{uid}/report", headers=owner.headers).text
    first_plot = client.get(f"{BASE}/{uid}/plot", headers=owner.headers).content
    client.get(f"{BASE}/{uid}/matrix.obj", headers=owner.headers)
    keys_before = _keys(client) - existing
    assert len(keys_before) == 3  # .obj, report, plot
    replaced = client.put(
        f"{BASE}/{uid}",
        json={"actual": ["x", "y", "y"], "predicted": ["x", "y", "x"]},
        headers=owner.headers,
    )
    assert replaced.status_code == 200 and replaced.json()["classes"] == ["x", "y"]
    assert not keys_before & _keys(client)  # old files are gone
    report = client.get(f"{BASE}/{uid}/report", headers=owner.headers).text
    assert report != first_report and ">x<" in report.replace(" ", "")
    assert client.get(f"{BASE}/{uid}/plot", headers=owner.headers).content != first_plot


def test_rename(client: TestClient, owner: Account) -> None:
    uid = create(client, owner)["uid"]
    renamed = client.patch(f"{BASE}/{uid}", json={"name": "better"}, headers=owner.headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "better"


def test_delete_removes_the_row_and_every_file(client: TestClient, owner: Account) -> None:
    existing = _keys(client)
    uid = create(client, owner)["uid"]
    for part in ("report", "plot", "matrix.obj"):
        client.get(f"{BASE}/{uid}/{part}", headers=owner.headers)
    assert len(_keys(client) - existing) == 3
    assert client.delete(f"{BASE}/{uid}", headers=owner.headers).status_code == 204
    assert _keys(client) - existing == set()
    gone = client.get(f"{BASE}/{uid}", headers=owner.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "confusion_matrix_not_found"
    assert client.delete(f"{BASE}/{uid}", headers=owner.headers).status_code == 404


def test_report_escapes_html_labels_and_is_served_inert(client: TestClient, owner: Account) -> None:
    evil = "<img src=x onerror=alert(1)>"
    uid = create(client, owner, actual=[evil, "ok", "ok"], predicted=[evil, evil, "ok"])["uid"]
    response = client.get(f"{BASE}/{uid}/report", headers=owner.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == REPORT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<img" not in response.text and "&lt;img" in response.text
    # The plot draws the same label as text.
    plot = client.get(f"{BASE}/{uid}/plot", headers=owner.headers)
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def test_downloads(client: TestClient, owner: Account, tmp_path: object) -> None:
    uid = create(client, owner)["uid"]
    obj = client.get(f"{BASE}/{uid}/matrix.obj", headers=owner.headers)
    assert obj.status_code == 200 and "attachment" in obj.headers["content-disposition"]
    import io

    loaded = pycm.ConfusionMatrix(file=io.StringIO(obj.text))
    assert loaded.to_array().tolist() == [[3, 1], [1, 3]]
    csv = client.get(f"{BASE}/{uid}/statistics.csv", headers=owner.headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith('Class,"0","1"')


def test_plot_options(client: TestClient, owner: Account) -> None:
    uid = create(client, owner)["uid"]
    default = client.get(f"{BASE}/{uid}/plot", headers=owner.headers)
    normalized = client.get(
        f"{BASE}/{uid}/plot", params={"normalized": True}, headers=owner.headers
    )
    viridis = client.get(
        f"{BASE}/{uid}/plot", params={"color_map": "viridis"}, headers=owner.headers
    )
    assert len({default.content, normalized.content, viridis.content}) == 3
    assert default.headers["x-content-type-options"] == "nosniff"
    bad = client.get(f"{BASE}/{uid}/plot", params={"color_map": "../../etc"}, headers=owner.headers)
    assert bad.status_code == 422 and "viridis" in bad.json()["error"]["details"]["choices"]


def test_compare(client: TestClient, owner: Account) -> None:
    good = create(client, owner)["uid"]
    worse = create(client, owner, actual=ACTUAL, predicted=[0, 1, 1, 0, 0, 1, 1, 0])["uid"]
    response = client.post(f"{BASE}/compare", json={"uids": [good, worse]}, headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["best_name"] == good and body["order"] == [good, worse]
    assert set(body["scores"][good]) == {"class", "overall"}
    weighted = client.post(
        f"{BASE}/compare",
        json={"uids": [good, worse], "class_weight": {"0": 1, "1": 3}},
        headers=owner.headers,
    )
    assert weighted.status_code == 200, weighted.text


def test_compare_is_keyed_by_the_matrices_names(client: TestClient, owner: Account) -> None:
    good = create(client, owner, name="forest")["uid"]
    worse = create(client, owner, actual=ACTUAL, predicted=[0, 1, 1, 0, 0, 1, 1, 0], name="tree")
    unnamed = create(client, owner, actual=ACTUAL, predicted=[0, 1, 1, 0, 0, 1, 0, 1])["uid"]
    body = client.post(
        f"{BASE}/compare", json={"uids": [worse["uid"], good, unnamed]}, headers=owner.headers
    ).json()
    assert body["best_name"] == "forest" and body["best_uid"] == good
    assert body["names"] == {worse["uid"]: "tree", good: "forest", unnamed: unnamed}
    assert set(body["scores"]) == {"forest", "tree", unnamed}
    assert body["order"][0] == "forest" and set(body["order"]) == set(body["scores"])


def test_compare_keys_a_shared_name_by_uid(client: TestClient, owner: Account) -> None:
    uids = [create(client, owner, name="same")["uid"] for _ in range(2)]
    body = client.post(f"{BASE}/compare", json={"uids": uids}, headers=owner.headers).json()
    assert body["names"] == {uid: uid for uid in uids} and set(body["scores"]) == set(uids)


def test_compare_without_a_single_best(client: TestClient, owner: Account) -> None:
    uids = [create(client, owner)["uid"] for _ in range(2)]
    body = client.post(f"{BASE}/compare", json={"uids": uids}, headers=owner.headers).json()
    assert body["best_name"] is None


def test_compare_errors(client: TestClient, owner: Account, stranger: Account) -> None:
    mine = create(client, owner)["uid"]
    theirs = create(client, stranger)["uid"]
    bigger = create(client, owner, actual=[0, 1] * 5, predicted=[0, 1] * 5)["uid"]
    other_classes = create(client, owner, actual=["a", "b"] * 4, predicted=["a"] * 8)["uid"]

    def post(uids: list[str], **extra: object) -> tuple[int, dict[str, object]]:
        response = client.post(
            f"{BASE}/compare", json={"uids": uids, **extra}, headers=owner.headers
        )
        return response.status_code, response.json()["error"]

    assert post([mine])[0] == 422
    assert post([mine, mine])[0] == 422
    status, error = post([mine, "no-such-uid"])
    assert status == 404 and error["details"] == {"missing": ["no-such-uid"]}
    assert post([mine, theirs])[0] == 404
    status, error = post([mine, bigger])
    assert status == 422 and "populations" in str(error["message"])
    status, error = post([mine, other_classes])
    assert status == 422 and "classes" in str(error["message"])
    status, error = post([mine, create(client, owner)["uid"]], class_weight={"7": 1})
    assert status == 422


MULTI = {
    "actual": [["class1", "class2"], ["class2"], ["class1"]],
    "predicted": [["class1"], ["class2"], ["class1", "class2"]],
    "classes": ["class1", "class2"],
}


def test_multilabel(client: TestClient, owner: Account) -> None:
    response = client.post(f"{BASE}/multilabel", json=MULTI, headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["multihot_actual"] == [[1, 1], [0, 1], [1, 0]]
    assert body["by_class"]["class1"]["matrix"] == [[1, 0], [0, 2]]
    assert len(body["by_sample"]) == 3 and body["stored"] is None
    assert client.get(BASE, headers=owner.headers).json()["total"] == 0


def test_multilabel_stored_when_asked(client: TestClient, owner: Account) -> None:
    body = client.post(
        f"{BASE}/multilabel", json={**MULTI, "store": True, "name": "tags"}, headers=owner.headers
    ).json()
    assert set(body["stored"]) == {"class1", "class2"}
    stored = client.get(f"{BASE}/{body['stored']['class2']}", headers=owner.headers).json()
    assert stored["name"] == "tags: class2" and stored["matrix"] == [[0, 1], [1, 1]]


CURVE = {
    "actual": [0, 1, 0, 1, 1, 0],
    "probabilities": [[0.9, 0.1], [0.3, 0.7], [0.8, 0.2], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4]],
}


def test_roc_and_pr_are_different_curves(client: TestClient, owner: Account) -> None:
    roc = client.post(f"{BASE}/curves", json={"type": "ROC", **CURVE}, headers=owner.headers)
    pr = client.post(f"{BASE}/curves", json={"type": "PR", **CURVE}, headers=owner.headers)
    assert roc.status_code == pr.status_code == 200, (roc.text, pr.text)
    assert (roc.json()["x_axis"], roc.json()["y_axis"]) == ("FPR", "TPR")
    assert (pr.json()["x_axis"], pr.json()["y_axis"]) == ("recall", "precision")
    assert roc.json()["auc"] == {"0": 1.0, "1": 1.0}
    assert roc.json()["points"] != pr.json()["points"]
    assert roc.json()["thresholds"] == sorted({p for row in CURVE["probabilities"] for p in row})


def test_curve_class_names_for_index_labels(client: TestClient, owner: Account) -> None:
    body = client.post(
        f"{BASE}/curves",
        json={"type": "ROC", **CURVE, "classes": ["neg", "pos"]},
        headers=owner.headers,
    ).json()
    assert body["classes"] == ["neg", "pos"] and set(body["auc"]) == {"neg", "pos"}


def test_curve_plot(client: TestClient, owner: Account) -> None:
    response = client.post(
        f"{BASE}/curves/plot", json={"type": "PR", **CURVE}, headers=owner.headers
    )
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert response.headers["content-type"] == "image/png"


def test_curve_thresholds_are_thinned_past_the_limit(small_client: TestClient) -> None:
    from tests.helpers import sign_up

    account = sign_up(small_client, "thin@example.com")
    body = small_client.post(
        f"{BASE}/curves", json={"type": "ROC", **CURVE}, headers=account.headers
    ).json()
    assert len(body["thresholds"]) == 4
