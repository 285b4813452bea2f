"""Shared pieces of the serving tests."""

from __future__ import annotations

from typing import Any

from modelyard.registry.schemas import ServingTarget


def serving_target(**fields: Any) -> ServingTarget:
    """A ServingTarget for unit tests: model 1 "m" of user 1, version 1, a skops classifier
    of classes 0 and 1, no input schema; ``fields`` replace any of these."""
    values: dict[str, Any] = {
        "model_id": 1,
        "model_name": "m",
        "owner_id": 1,
        "version_id": 1,
        "version": 1,
        "format": "skops",
        "kind": "classifier",
        "classes": [0, 1],
        "input_schema": None,
        "artifact_key": "k",
        "sha256": "0" * 64,
    }
    return ServingTarget(**{**values, **fields})
