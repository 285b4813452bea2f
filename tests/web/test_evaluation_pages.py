"""Confusion matrix pages: create from pasted labels, detail, plot, report, compare."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelyard.web.pages.evaluation import parse_labels
from tests.web.helpers import WebUser

ACTUAL = "cat dog cat bird dog cat bird bird"


def create(user: WebUser, predicted: str, name: str, actual: str = ACTUAL) -> str:
    response = user.post(
        "/ui/matrices/new", {"actual": actual, "predicted": predicted, "name": name}
    )
    assert response.status_code == 200, response.text
    assert response.url.path.startswith("/ui/matrices/")
    assert "Matrix created." in response.text
    return response.url.path.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1, 2 3\n4", [1, 2, 3, 4]),
        ("0.5 1", [0.5, 1.0]),
        ("cat, 'dog' \"bird\"", ["cat", "dog", "bird"]),
        ("1 2 x", ["1", "2", "x"]),
        ('["a", 1]', ["a", 1]),
        ("[true, false]", [True, False]),
    ],
)
def test_pasted_labels_are_read_as_people_mean_them(text: str, expected: list[object]) -> None:
    assert parse_labels(text) == expected


def test_detail_shows_headline_every_statistic_and_the_plot(
    client: TestClient, alice: WebUser
) -> None:
    uid = create(alice, "cat dog dog bird dog cat cat bird", "first try")
    page = client.get(f"/ui/matrices/{uid}")
    assert "<h1>first try</h1>" in page.text
    assert 'data-metric="accuracy">0.75<' in page.text
    for statistic in ("Overall ACC", "Kappa", "TPR", "PPV", "F1"):
        assert f"<th>{statistic}</th>" in page.text
    assert f'src="/ui/matrices/{uid}/plot.png"' in page.text
    plot = client.get(f"/ui/matrices/{uid}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    report = client.get(f"/ui/matrices/{uid}/report")
    assert report.status_code == 200 and "Overall Statistics" in report.text
    listing = client.get("/ui/matrices")
    assert "first try" in listing.text and "<td>0.75</td>" in listing.text


def test_bad_vectors_are_explained_and_kept_in_the_form(client: TestClient, alice: WebUser) -> None:
    response = alice.post("/ui/matrices/new", {"actual": "1 2 3", "predicted": "1 2", "name": "x"})
    assert response.status_code == 422
    assert 'class="error"' in response.text
    assert "1 2 3</textarea>" in response.text
    not_json = alice.post("/ui/matrices/new", {"actual": "[1, 2", "predicted": "1 2"})
    assert not_json.status_code == 422
    assert "looks like JSON but is not" in not_json.text
    assert "You have no confusion matrices yet." in client.get("/ui/matrices").text


def test_names_are_escaped(client: TestClient, alice: WebUser) -> None:
    uid = create(alice, ACTUAL, "<script>alert(1)</script>")
    page = client.get(f"/ui/matrices/{uid}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_compare_shows_scores_order_and_best(client: TestClient, alice: WebUser) -> None:
    good = create(alice, "cat dog cat bird dog cat bird bird", "perfect")
    poor = create(alice, "dog dog cat cat dog bird bird cat", "poor")
    page = client.get(f"/ui/matrices/compare?uid={poor}&uid={good}")
    assert page.status_code == 200
    assert "<strong data-best>perfect</strong>" in page.text
    body = page.text.split("<h2>Result</h2>")[1]
    assert body.index("perfect") < body.index(">poor<")
    assert "<svg" in body and "Overall score" in body


def test_compare_explains_what_it_cannot_do(client: TestClient, alice: WebUser) -> None:
    assert "at least two confusion matrices" in client.get("/ui/matrices/compare").text
    one = create(alice, ACTUAL, "one")
    other = create(alice, "1 0", "other", actual="0 1")
    page = client.get(f"/ui/matrices/compare?uid={one}&uid={other}")
    assert page.status_code == 422
    assert "different classes" in page.text


def test_delete_removes_the_matrix(client: TestClient, alice: WebUser) -> None:
    uid = create(alice, ACTUAL, "gone soon")
    answer = alice.post(f"/ui/matrices/{uid}/delete")
    assert "Matrix deleted." in answer.text
    assert client.get(f"/ui/matrices/{uid}").status_code == 404
