"""Every bad input the issue names, through the native API: a clear 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.evaluation.helpers import BASE, create
from tests.helpers import Account, sign_up


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"actual": [0, 1, 1], "predicted": [0, 1]}, "actual has 3 labels but predicted has 2"),
        ({"actual": [], "predicted": []}, "must not be empty"),
        ({"actual": [1, 1, 1], "predicted": [1, 1, 1]}, "one class only"),
        ({"actual": [1, "a"], "predicted": [1, 0]}, "mixes label types"),
        ({"actual": [True, 0], "predicted": [1, 0]}, "mixes label types"),
        ({"actual": [1, None], "predicted": [1, 0]}, "holds null"),
        ({"actual": [{"x": 1}, 0], "predicted": [1, 0]}, "holds dict"),
        ({"actual": [0, 1], "predicted": [0, 1], "classes": [0]}, "labels not in classes"),
        ({"matrix": [[1, 2, 3], [4, 5, 6]]}, "square"),
        ({"matrix": [[1, -2], [3, 4]]}, "not negative"),
        ({"actual": [0, 1], "predicted": [0, 1], "sample_weight": [1]}, "1 values for 2 labels"),
    ],
)
def test_bad_vectors_are_422(
    client: TestClient, owner: Account, body: dict[str, Any], message: str
) -> None:
    response = client.post(BASE, json=body, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_the_json(client: TestClient, owner: Account, literal: str) -> None:
    # Python clients send these bare words for float('nan') and float('inf').
    for field in ("actual", "predicted"):
        other = "predicted" if field == "actual" else "actual"
        body = f'{{"{field}": [0.5, {literal}], "{other}": [0.5, 1.5]}}'
        response = client.post(
            BASE, content=body, headers={**owner.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert "NaN or infinity" in response.json()["error"]["message"]


def test_errors_name_the_native_fields(client: TestClient, owner: Account) -> None:
    for body, field in (
        ({"actual": [0, 1, 1], "predicted": [0, 1]}, "predicted"),
        ({"actual": [0, None], "predicted": [0, 1]}, "actual"),
        ({"actual": [0, 1], "predicted": [0, {}]}, "predicted"),
        ({"actual": [1, 1], "predicted": [1, 1]}, "actual"),
    ):
        error = client.post(BASE, json=body, headers=owner.headers).json()["error"]
        assert "_vector" not in str(error), error
        assert error["details"][0]["loc"] == ["body", field]


def test_an_empty_body_says_what_to_send(client: TestClient, owner: Account) -> None:
    response = client.post(BASE, json={}, headers=owner.headers)
    assert response.status_code == 422, response.text
    said = str(response.json()["error"])
    assert "give actual and predicted" in said and "or matrix" in said and "not both" not in said


def test_broken_json_and_wrong_shapes(client: TestClient, owner: Account) -> None:
    broken = client.post(
        BASE, content=b"{not json", headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["details"][0]["loc"][0] == "body"
    for body in (
        {"actual": [0, 1]},
        {"actual": [0, 1], "predicted": [0, 1], "matrix": [[1, 0], [0, 1]]},
        {"actual": "01", "predicted": "01"},
        {"actual": [0, 1], "predicted": [0, 1], "surprise": True},
    ):
        assert client.post(BASE, json=body, headers=owner.headers).status_code == 422


def test_a_wrong_million_label_body_lists_few_errors(client: TestClient, owner: Account) -> None:
    body = {"actual": [0, 1] * 1000, "predicted": [0, 1] * 1000, "sample_weight": ["x"] * 2000}
    response = client.post(BASE, json=body, headers=owner.headers)
    assert response.status_code == 422 and len(response.json()["error"]["details"]) <= 20


def test_html_label_is_stored_and_escaped(client: TestClient, owner: Account) -> None:
    label = "<script>alert(1)</script>"
    uid = create(client, owner, actual=[label, "b"], predicted=["b", label])["uid"]
    assert client.get(f"{BASE}/{uid}", headers=owner.headers).json()["classes"] == [
        "<script>alert(1)</script>",
        "b",
    ]
    report = client.get(f"{BASE}/{uid}/report", headers=owner.headers).text
    assert "<script>" not in report


def test_mismatched_probability_rows(client: TestClient, owner: Account) -> None:
    for probabilities, message in (
        ([[0.1, 0.9], [0.3]], "row 1 has 1 values; expected 2"),
        ([[0.1, 0.9, 0.0], [0.3, 0.7, 0.0]], "row 0 has 3 values; expected 2"),
        ([[0.1, 0.9]], "2 samples but probabilities has 1 rows"),
        ([[0.1, 0.9], [0.3, "x"]], "must be numbers"),
    ):
        response = client.post(
            f"{BASE}/curves",
            json={"type": "ROC", "actual": [0, 1], "probabilities": probabilities},
            headers=owner.headers,
        )
        assert response.status_code == 422, response.text
        assert message in response.json()["error"]["message"]
    nan = client.post(
        f"{BASE}/curves",
        content='{"type": "PR", "actual": [0, 1], "probabilities": [[NaN, 1], [0, 1]]}',
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    unknown = client.post(
        f"{BASE}/curves",
        json={
            "type": "ROC",
            "actual": [0, 5],
            "probabilities": [[1, 0], [0, 1]],
            "classes": ["a", "b"],
        },
        headers=owner.headers,
    )
    assert unknown.status_code == 422 and "not in classes" in unknown.json()["error"]["message"]
    bad_type = client.post(
        f"{BASE}/curves",
        json={"type": "AUC", "actual": [0, 1], "probabilities": [[1, 0], [0, 1]]},
        headers=owner.headers,
    )
    assert bad_type.status_code == 422


def test_bad_multilabel(client: TestClient, owner: Account) -> None:
    for body in (
        {"actual": [], "predicted": []},
        {"actual": [["a"]], "predicted": [["a"], ["b"]]},
        {"actual": [["a", 1]], "predicted": [["a"]]},
        {"actual": [[]], "predicted": [[]]},
        {"actual": [["a"]], "predicted": [["b"]], "classes": ["a", "a"]},
    ):
        response = client.post(f"{BASE}/multilabel", json=body, headers=owner.headers)
        assert response.status_code == 422, (body, response.text)


def test_limits_from_settings(small_client: TestClient) -> None:
    account = sign_up(small_client, "limits@example.com")
    headers = account.headers

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = small_client.post(f"{BASE}{path}", json=body, headers=headers)
        assert response.status_code == 422, response.text
        error: dict[str, Any] = response.json()["error"]
        return error

    assert post("", {"actual": [0, 1] * 6, "predicted": [0, 1] * 6})["code"] == "limit_exceeded"
    assert post("", {"actual": [0, 1, 2, 3], "predicted": [0, 1, 2, 3]})["code"] == "limit_exceeded"
    assert post("", {"actual": ["a" * 9, "b"], "predicted": ["b", "b"]})["code"] == "limit_exceeded"
    assert post("", {"matrix": [[1] * 4] * 4})["code"] == "limit_exceeded"
    uids = [
        small_client.post(
            BASE, json={"actual": [0, 1], "predicted": [0, 1]}, headers=headers
        ).json()["uid"]
        for _ in range(3)
    ]
    assert post("/compare", {"uids": uids})["code"] == "limit_exceeded"
    many = [["a"]] * 4
    assert post("/multilabel", {"actual": many, "predicted": many})["code"] == "limit_exceeded"
    curve = {"type": "ROC", "actual": [0, 1] * 4, "probabilities": [[0.5, 0.5]] * 8}
    assert post("/curves", curve)["code"] == "limit_exceeded"
    thresholds = {
        "type": "ROC",
        "actual": [0, 1],
        "probabilities": [[0.5, 0.5], [0.1, 0.9]],
        "thresholds": [0.1, 0.2, 0.3, 0.4, 0.5],
    }
    assert post("/curves", thresholds)["code"] == "limit_exceeded"
