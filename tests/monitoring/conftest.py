"""Monitoring fixtures: the registry's accounts, jobs where the suite's settings say (in-process,
or the session's real Celery worker when a broker is configured, as in tests/jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import MonitoringSettings, ServingSettings, Settings
from modelyard.db import Database
from tests.conftest import make_settings
from tests.jobs.conftest import _jobs_settings, celery_worker  # noqa: F401 - the worker fixture
from tests.registry.fixtures import admin, alice, bob  # noqa: F401 - the accounts


@pytest.fixture
def monitoring_settings() -> MonitoringSettings:
    """Override in a test module to change the monitoring settings."""
    return MonitoringSettings(scheduler_enabled=False)


@pytest.fixture
def settings(
    data_dir: Path, database: Database, database_url: str, monitoring_settings: MonitoringSettings
) -> Settings:
    serving = ServingSettings(log_flush_ms=20)
    return _jobs_settings(
        make_settings(data_dir, database_url, serving=serving, monitoring=monitoring_settings)
    )
