"""The label maps logged as JSON params, shown by the Custom Classifier's routes as its reprs."""

from __future__ import annotations

import pytest

from modelyard.training.service import source_label_map


@pytest.mark.parametrize(
    ("param", "ids_are_keys", "shown"),
    [
        ('{"food": 0, "space": 1}', False, "{'food': 0, 'space': 1}"),
        ('{"0": "food", "1": "space"}', True, "{0: 'food', 1: 'space'}"),
        # A label that looks like a number stays a string key in label2id.
        ('{"1": 0, "2": 1}', False, "{'1': 0, '2': 1}"),
        # Runs logged before the params were JSON: their repr as it was.
        ("{'food': 0, 'space': 1}", False, "{'food': 0, 'space': 1}"),
        ("{0: 'food', 1: 'space'}", True, "{0: 'food', 1: 'space'}"),
        (None, True, None),
    ],
)
def test_source_label_map(param: str | None, ids_are_keys: bool, shown: str | None) -> None:
    assert source_label_map(param, ids_are_keys=ids_are_keys) == shown
