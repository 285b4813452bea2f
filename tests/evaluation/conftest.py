"""Fixtures of the evaluation tests: two users, and an app with small limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import EvaluationSettings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.helpers import Account, sign_up


@pytest.fixture
def owner(client: TestClient) -> Account:
    return sign_up(client, "owner@example.com")


@pytest.fixture
def stranger(client: TestClient) -> Account:
    return sign_up(client, "stranger@example.com")


@pytest.fixture
def small_client(data_dir: Path, database: Database, database_url: str) -> Iterator[TestClient]:
    """A service whose evaluation limits are tiny, to reach each one."""
    limits = EvaluationSettings(
        max_vector_length=10,
        max_classes=3,
        max_label_length=8,
        max_compare=2,
        max_multilabel_samples=3,
        max_curve_samples=6,
        max_curve_thresholds=4,
    )
    settings = make_settings(data_dir, database_url, evaluation=limits)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
