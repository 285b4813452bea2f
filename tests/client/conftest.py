"""One real ``modelyard serve`` for the client's tests (starting one takes tens of seconds on a
loaded machine); each test signs up its own account on it, so none sees another's objects.

With ``MODELYARD_TEST_BROKER_URL`` set, the server sends its jobs through Redis to the session's
Celery worker (tests/jobs/conftest.py), sharing the worker's data folder and queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_client import Client
from tests.conftest import TEST_BROKER_URL
from tests.helpers import PASSWORD, running_server
from tests.jobs.conftest import SESSION_QUEUE, celery_worker  # noqa: F401 - the worker fixture


@pytest.fixture(scope="package")
def server_url(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[str]:
    if TEST_BROKER_URL:
        # The worker reads datasets and models from its data folder: the server shares it.
        folder, env = data_dir, {"MODELYARD_JOBS_QUEUE_NAME": SESSION_QUEUE}
    else:
        folder, env = tmp_path_factory.mktemp("client-server"), {}
    with running_server(folder, env=env) as (url, _log):
        yield url


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the user's profiles or the environment's server: a config file of its own."""
    for name in ("MODELYARD_URL", "MODELYARD_API_KEY", "MODELYARD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config" / "modelyard.toml"
    monkeypatch.setenv("MODELYARD_CONFIG", str(path))
    return path


@pytest.fixture
def login() -> str:
    return f"client-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def client(server_url: str, login: str) -> Iterator[Client]:
    """A client of a fresh account, signed in with an API key of its own."""
    with Client(server_url) as anonymous:
        anonymous.sign_up(PASSWORD, email=login)
        anonymous.sign_in(login, PASSWORD)
        key = anonymous.create_api_key("tests").key
    with Client(server_url, api_key=key) as signed_in:
        yield signed_in
