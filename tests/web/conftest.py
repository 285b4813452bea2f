"""Web fixtures: signed-in browsers-by-TestClient, a datasets root, the job worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.config import Settings, TrainingSettings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.jobs.conftest import _jobs_settings, celery_worker  # noqa: F401 - the worker fixture
from tests.web.helpers import WebUser, web_sign_up

MIN_DOCS = 20


@pytest.fixture
def datasets_root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    root.mkdir()
    return root


@pytest.fixture
def settings(
    data_dir: Path, database: Database, database_url: str, datasets_root: Path
) -> Settings:
    training = TrainingSettings(datasets_root=datasets_root, min_docs_per_label=MIN_DOCS)
    return _jobs_settings(make_settings(data_dir, database_url, training=training))


def _client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=True) as client:
        yield client


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    yield from _client(app)


@pytest.fixture
def other_client(app: FastAPI, client: TestClient) -> Iterator[TestClient]:
    """A second browser on the same server (its own cookies); ``client`` runs the lifespan."""
    yield TestClient(app, follow_redirects=True)


@pytest.fixture
def alice(client: TestClient) -> WebUser:
    return web_sign_up(client, "alice@example.com")


@pytest.fixture
def bob(other_client: TestClient) -> WebUser:
    return web_sign_up(other_client, "bob@example.com")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    # Lets a browser fixture know, when it tears down, whether its test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
