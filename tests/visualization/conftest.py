"""Visualization fixtures: a classifier with a training sample, logged requests, jobs.

Jobs run where the suite's settings say (in-process, or a real Celery worker when a broker is
configured, as in tests/jobs). numba's compiled code is kept in the repository's
``.cache/numba`` so only the first run ever compiles UMAP from scratch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.config import ServingSettings, Settings, VisualizationSettings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.helpers import Account, make_admin, sign_up
from tests.jobs.conftest import _jobs_settings, celery_worker  # noqa: F401 - the worker fixture
from tests.visualization.helpers import NUMBA_CACHE


@pytest.fixture
def settings(data_dir: Path, database: Database, database_url: str) -> Settings:
    visualization = VisualizationSettings(numba_cache_dir=NUMBA_CACHE, warm_up=False)
    serving = ServingSettings(log_flush_ms=20)
    return _jobs_settings(
        make_settings(data_dir, database_url, visualization=visualization, serving=serving)
    )


@pytest.fixture
def alice(client: TestClient) -> Account:
    return sign_up(client, "alice@example.com")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return sign_up(client, "bob@example.com")


@pytest.fixture
def admin(client: TestClient) -> Account:
    return make_admin(client)
