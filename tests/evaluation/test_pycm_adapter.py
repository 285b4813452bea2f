"""The PyCM adapter: JSON-safe values, .obj files PyCM reads back, escaped reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pycm

from modelyard.evaluation import pycm_adapter


def test_undefined_values_become_none() -> None:
    value = {
        "a": "None",
        "b": float("nan"),
        "c": (1.0, float("inf")),
        1: np.float64(0.5),
        "d": np.int64(3),
        "e": "Good",
        "f": True,
    }
    assert pycm_adapter.to_json_value(value) == {
        "a": None,
        "b": None,
        "c": [1.0, None],
        "1": 0.5,
        "d": 3,
        "e": "Good",
        "f": True,
    }


def test_every_statistic_is_strict_json() -> None:
    # Class 2 is never seen: many of its statistics are undefined ("None" or NaN in PyCM).
    cm = pycm_adapter.build_matrix([0, 1, 2], np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]]))
    overall, per_class = pycm_adapter.statistics(cm)
    text = json.dumps({"overall": overall, "per_class": per_class}, allow_nan=False)
    assert '"None"' not in text
    assert per_class["PPV"]["2"] is None
    head = pycm_adapter.headline(cm)
    assert head.accuracy == 0.75 and head.precision is None


def test_obj_is_read_back_by_pycm_itself(tmp_path: Path) -> None:
    cm = pycm_adapter.build_matrix(["cat", "dog"], np.array([[5, 2], [1, 7]]))
    path = tmp_path / "m.obj"
    path.write_bytes(pycm_adapter.obj_bytes(cm.classes, cm.to_array().tolist()))
    with path.open() as handle:
        loaded = pycm.ConfusionMatrix(file=handle)
    assert loaded.classes == ["cat", "dog"]
    assert loaded.to_array().tolist() == [[5, 2], [1, 7]]
    assert loaded.Overall_ACC == cm.Overall_ACC


def test_weighted_matrix_goes_through_pycm() -> None:
    cm = pycm_adapter.build_matrix(["b", "a"], np.array([[1.5, 0.5], [0.25, 2.0]]))
    assert cm.classes == ["a", "b"]  # PyCM's order for weighted matrices
    assert cm.to_array().tolist() == [[2.0, 0.25], [0.5, 1.5]]
    assert math.isclose(cm.Overall_ACC, 3.5 / 4.25)


def test_report_escapes_labels() -> None:
    evil = "<img src=x onerror=alert(1)>"
    cm = pycm_adapter.build_matrix([evil, "ok"], np.array([[1, 2], [3, 4]]))
    page = pycm_adapter.report_html(cm)
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page or "&lt;img" in page
    assert "PyCM Report" in page


def test_compare_without_a_single_best() -> None:
    same = np.array([[3, 1], [1, 3]])
    result = pycm_adapter.compare(
        {
            "a": pycm_adapter.build_matrix([0, 1], same),
            "b": pycm_adapter.build_matrix([0, 1], same),
        }
    )
    assert result.best_name is None
    assert set(result.scores) == {"a", "b"}


def test_multilabel_per_class_and_per_sample() -> None:
    result = pycm_adapter.multilabel(
        [["class1", "class2"], ["class2"], ["class1"]],
        [["class1"], ["class2"], ["class1", "class2"]],
        ["class1", "class2"],
    )
    assert result.multihot_actual == [[1, 1], [0, 1], [1, 0]]
    assert result.by_class["class1"].to_array().tolist() == [[1, 0], [0, 2]]
    # A sample whose labels are all right still has a 2x2 matrix.
    assert result.by_sample[1].to_array().tolist() == [[1, 0], [0, 1]]
