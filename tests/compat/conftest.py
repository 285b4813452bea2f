"""The single-model app as `modelyard serve --model` builds it, for the mlup tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.compat.mlup import create_single_model_app, prepare_served_model
from modelyard.compat.mlup_config import build_config
from modelyard.config import Settings

Serve = Callable[..., Any]


@pytest.fixture
def serve(settings: Settings, tmp_path: Path) -> Iterator[Serve]:
    """``serve(data, public=True, schema=None, **mlup_names)`` → a TestClient on the app."""
    stack: list[Any] = []

    @contextmanager
    def running(data: bytes, *, public: bool = True, schema: Any = None, **names: Any) -> Any:
        path = tmp_path / "model.bin"
        path.write_bytes(data)
        schema_path = None
        if schema is not None:
            schema_path = tmp_path / "schema.json"
            schema_path.write_text(json.dumps(schema))
        config = build_config(None, names)
        served = prepare_served_model(
            settings, config, model=path, schema=schema_path, public=public
        )
        with TestClient(create_single_model_app(settings, served)) as client:
            yield client

    def start(data: bytes, **kw: Any) -> TestClient:
        context = running(data, **kw)
        client = context.__enter__()
        stack.append(context)
        return client

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
