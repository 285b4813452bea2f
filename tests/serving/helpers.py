"""Shared pieces of the serving tests."""

from __future__ import annotations

from typing import Any

from modelyard.db import Database
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.log import RequestLogWriter


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


def recording_log(database: Database) -> tuple[RequestLogWriter, list[dict[str, Any]]]:
    """A request log that keeps its entries in a list instead of writing them: for tests of
    what a core logs (or of how it calls models), not of writing the log (test_log_durable)."""
    writer = RequestLogWriter(database, queue_size=1000, flush_rows=100, flush_ms=100)
    entries: list[dict[str, Any]] = []

    async def commit(entry: dict[str, Any], **_: Any) -> None:
        entries.append(entry)

    writer.submit = entries.append  # type: ignore[method-assign]
    writer.commit = commit  # type: ignore[method-assign]
    return writer, entries
