"""Large JSON bodies are parsed in two steps (evaluation/dependencies.py): same result, same errors.

A body above 16 KB is parsed to Python objects first and validated second, instead of
``model_validate_json``; these tests hold the two ways to the same answers, directly and
through the API (a body padded with spaces past 16 KB takes the large path).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from modelyard.compat.pycm_api_schemas import PycmCMCreate
from modelyard.evaluation.dependencies import _INLINE_PARSE_BYTES, _parse_large
from modelyard.evaluation.schemas import ConfusionMatrixCreate
from tests.evaluation.helpers import BASE
from tests.helpers import Account

PADDING = b" " * (_INLINE_PARSE_BYTES + 1)

BODIES: list[bytes] = [
    b'{"actual": [0, 1, 1, 0], "predicted": [0, 1, 0, 0], "name": "ints"}',
    b'{"actual": ["a", "b"], "predicted": ["b", "b"], "classes": ["a", "b", "c"]}',
    b'{"actual": [true, false], "predicted": [false, false]}',
    b'{"actual": [0.5, 1], "predicted": [1, 0.5], "sample_weight": [1, "2.5"]}',
    b'{"actual": [1, true], "predicted": [1, 0]}',
    b'{"actual": [1, "a"], "predicted": [1, 0]}',
    b'{"actual": [1, null], "predicted": [1, 0]}',
    b'{"actual": [NaN, 1.0], "predicted": [1.0, 1.0]}',
    b'{"actual": [123456789012345678901234567890, 1], "predicted": [1, 1]}',
    b'{"matrix": [[1, 2], [3, 4]], "classes": ["x", "y"]}',
    b'{"actual": [0, 1]}',
    b'{"actual": [0, 1], "predicted": [0, 1], "matrix": [[1]]}',
    b'{"actual": [0, 1], "predicted": [0, 1], "unknown": 1}',
    b'{"actual": [0, 1], "predicted": [0, 1], "name": 5}',
    b'{"actual": [0, 1',
    b"[0, 1]",
    b'"text"',
    b"",
    b"\xff\xfe",
]


def _outcome(parse: Any, model: type[BaseModel], raw: bytes) -> tuple[str, Any]:
    try:
        parsed = parse(model, raw)
    except ValidationError as exc:
        return "error", exc.errors(include_url=False, include_input=False, include_context=False)
    kinds = {name: getattr(value, "kind", None) for name, value in parsed}
    return "ok", (parsed.model_dump_json(), kinds)


@pytest.mark.parametrize("raw", BODIES)
def test_the_two_step_parse_answers_as_model_validate_json(raw: bytes) -> None:
    compat = raw.replace(b'"actual"', b'"actual_vector"').replace(
        b'"predicted"', b'"predicted_vector"'
    )
    for model, body in ((ConfusionMatrixCreate, raw), (PycmCMCreate, compat)):
        for given in (body, body + PADDING):
            expected = _outcome(lambda m, r: m.model_validate_json(r), model, given)
            assert _outcome(_parse_large, model, given) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"actual": [0, 1, 1, 0], "predicted": [0, 1, 0, 0], "name": "padded"},
        {"actual": [1, True], "predicted": [1, 0]},
        {"actual": [1, "a"], "predicted": [1, 0]},
        {"actual": [0, 1], "predicted": [0, 1], "unknown": 1},
        {"actual": [0, 1]},
    ],
)
def test_a_padded_body_gets_the_same_answer_through_the_api(
    client: TestClient, owner: Account, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).encode()
    headers = {**owner.headers, "Content-Type": "application/json"}
    small = client.post(BASE, content=raw, headers=headers)
    large = client.post(BASE, content=raw + PADDING, headers=headers)
    assert large.status_code == small.status_code
    volatile = {"uid", "created_at", "updated_at", "request_id"}
    if small.status_code == 201:
        answers = [{k: v for k, v in r.json().items() if k not in volatile} for r in (small, large)]
    else:
        answers = [
            {k: v for k, v in r.json()["error"].items() if k not in volatile}
            for r in (small, large)
        ]
    assert answers[0] == answers[1]


def test_malformed_json_in_a_large_body_is_a_422(client: TestClient, owner: Account) -> None:
    raw = b'{"actual": [0, 1' + PADDING
    response = client.post(
        BASE, content=raw, headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["type"] == "json_invalid"
