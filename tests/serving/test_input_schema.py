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
