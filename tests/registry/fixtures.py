"""Fixtures shared by the registry and serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.config import RegistrySettings, ServingSettings, Settings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.helpers import Account, make_admin, sign_up

__all__ = ["admin", "alice", "bob", "serving_overrides", "settings"]


@pytest.fixture
def serving_overrides() -> dict[str, object]:
    """Override in a test module to change the serving or registry settings."""
    return {}


@pytest.fixture
def settings(
    data_dir: Path, database: Database, database_url: str, serving_overrides: dict[str, object]
) -> Settings:
    registry = RegistrySettings(**serving_overrides.get("registry", {}))  # type: ignore[arg-type]
    serving = ServingSettings(
        **{"log_flush_ms": 20, **serving_overrides.get("serving", {})}  # type: ignore[dict-item]
    )
    return make_settings(data_dir, database_url, registry=registry, serving=serving)


@pytest.fixture
def alice(client: TestClient) -> Account:
    return sign_up(client, "alice@example.com")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return sign_up(client, "bob@example.com")


@pytest.fixture
def admin(client: TestClient) -> Account:
    return make_admin(client)
