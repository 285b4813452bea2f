"""Parsing both schema forms and coercing rows against them."""

from __future__ import annotations

import math

import pytest

from modelyard.registry.input_schema import (
    Column,
    SchemaError,
    coerce_arrays,
    coerce_records,
    parse_input_schema,
)


def test_the_ml_api_form_maps_its_types() -> None:
    columns = parse_input_schema(
        {
            "input_schema": {
                "columns": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "boolean"}]
            }
        }
    )
    assert columns == [Column(name="a", type="float"), Column(name="b", type="bool")]


def test_the_mlup_form_keeps_required_and_default() -> None:
    columns = parse_input_schema([{"name": "a", "type": "int", "required": False, "default": "4"}])
    assert columns == [Column(name="a", type="int", required=False, default=4)]


@pytest.mark.parametrize("document", [[], {}, [{"type": "float"}], [{"name": "a", "x": 1}], [1]])
def test_bad_schemas_say_why(document: object) -> None:
    with pytest.raises(SchemaError):
        parse_input_schema(document)


def test_optional_columns_without_default_become_nan() -> None:
    columns = [Column(name="a"), Column(name="b", required=False)]
    matrix, errors = coerce_records([{"a": 1}, {"a": 2, "b": None}], columns)
    assert errors == []
    assert matrix is not None
    assert math.isnan(matrix[0, 1]) and math.isnan(matrix[1, 1])


def test_string_columns_make_an_object_matrix() -> None:
    columns = [Column(name="city", type="str"), Column(name="n", type="int")]
    matrix, errors = coerce_records([{"city": "Oslo", "n": "2"}], columns)
    assert errors == []
    assert matrix is not None
    assert matrix.dtype == object
    assert matrix.tolist() == [["Oslo", 2]]
    _, errors = coerce_records([{"city": 5, "n": 1}], columns)
    assert errors[0]["type"] == "string_type"


def test_infinite_and_overlong_values_are_refused() -> None:
    _, errors = coerce_arrays([[float("inf")], [1, 2]], [Column(name="a")])
    assert [e["type"] for e in errors] == ["finite_number", "row_length"]


def test_errors_are_capped() -> None:
    _, errors = coerce_records([{"a": "x"}] * 500, [Column(name="a")], max_errors=10)
    assert len(errors) == 10


def _cell_by_cell(rows: list[list[object]], columns: list[Column]) -> tuple[object, object]:
    # The reference: the same rows through the cell-by-cell path (a str column forces it).
    matrix, errors = coerce_arrays(
        [[*row, "s"] for row in rows], [*columns, Column(name="s", type="str")]
    )
    return (None if matrix is None else matrix[:, :-1].astype(float).tolist()), errors


@pytest.mark.parametrize(
    "row",
    [
        [1.5, 2, True],
        ["1.5", " 2 ", "1e3"],
        ["1_0", "abc", 1],
        [None, 1, 2],
        [10**400, 1, 2],
        [2**70, 1, 2],
        ["1e400", 1, 2],
        [[1], 1, 2],
        [{"a": 1}, 1, 2],
        [False, -0.0, 3.25],
    ],
)
@pytest.mark.parametrize("kinds", [("float", "float", "float"), ("int", "float", "int")])
def test_the_numeric_fast_path_agrees_with_the_cell_by_cell_path(
    row: list[object], kinds: tuple[str, str, str]
) -> None:
    columns = [Column(name=f"c{i}", type=kind) for i, kind in enumerate(kinds)]  # type: ignore[arg-type]
    matrix, errors = coerce_arrays([row, [0, 1, 2]], columns)
    want_matrix, want_errors = _cell_by_cell([row, [0, 1, 2]], columns)
    assert (None if matrix is None else matrix.tolist()) == want_matrix
    assert errors == want_errors


@pytest.mark.parametrize(
    "rows", [[[1, 2], [3]], [[1, 2], [3, 4, 5]], [[1, 2], (3, 4)], [[1, 2], 5]]
)
def test_ragged_rows_are_refused_by_row(rows: list[object]) -> None:
    matrix, errors = coerce_arrays(rows, [Column(name="a"), Column(name="b")])
    assert matrix is None
    assert [error["loc"] for error in errors] == [["rows", 1]]
