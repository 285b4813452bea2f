"""Training fixtures: a datasets root per test, a low min_docs_per_label, and the job worker.

MLflow's store lives in the session's data folder (``data_dir/mlflow``), shared by every test:
creating it costs seconds, so tests keep apart by unique experiment names instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.config import Settings, TrainingSettings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.helpers import Account, sign_up
from tests.jobs.conftest import _jobs_settings, celery_worker  # noqa: F401 - the worker fixture

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
    training = TrainingSettings(
        datasets_root=datasets_root,
        min_docs_per_label=MIN_DOCS,
        custom_classifier_min_docs_per_label=MIN_DOCS,
    )
    return _jobs_settings(make_settings(data_dir, database_url, training=training))


@pytest.fixture
def alice(client: TestClient) -> Account:
    return sign_up(client, "alice@example.com")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return sign_up(client, "bob@example.com")


@pytest.fixture
def trained(client: TestClient, alice: Account, datasets_root: Path) -> Iterator[dict[str, str]]:
    """A finished training run of alice's on a small generated corpus."""
    from tests.training.helpers import train_from_folder

    yield train_from_folder(client, alice, datasets_root)
