"""Shared fixtures: one migrated database per session, emptied after every test.

The suite runs on the embedded defaults (SQLite, in-process jobs) unless
``MODELYARD_TEST_DATABASE_URL`` and ``MODELYARD_TEST_BROKER_URL`` point it at PostgreSQL and
Redis, in which case jobs go through Celery to a real worker (see tests/jobs/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from modelyard.app import create_app
from modelyard.config import (
    AuthSettings,
    DatabaseSettings,
    JobsSettings,
    Settings,
    StorageSettings,
    VisualizationSettings,
)
from modelyard.db import Database
from modelyard.migrate import upgrade
from modelyard.models import Base

# pytest-xdist names each worker process gw0, gw1, ...; a run without it is one process.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
XDIST_WORKER_INDEX = int(XDIST_WORKER.removeprefix("gw")) if XDIST_WORKER else 0


def _per_worker_database_url(configured: str | None) -> str | None:
    """The configured PostgreSQL database, or under xdist its worker's own ``<name>_gwN``: the
    tests empty every table after each test, which must not reach another worker's rows."""
    if configured is None or XDIST_WORKER is None:
        return configured
    url = make_url(configured)
    return url.set(database=f"{url.database}_{XDIST_WORKER}").render_as_string(hide_password=False)


def _per_worker_broker_url(configured: str | None) -> str | None:
    """The configured Redis database number, or under xdist that number plus the worker's index
    (gw1 of ``redis://host/8`` uses database 9): the app's keys have one fixed prefix, so two
    workers sharing a database would read each other's cache, limits and results."""
    if configured is None or XDIST_WORKER is None:
        return configured
    base, _, number = configured.rpartition("/")
    if not number.isdigit():
        raise pytest.UsageError(
            f"MODELYARD_TEST_BROKER_URL must end in a Redis database number: {configured}"
        )
    return f"{base}/{int(number) + XDIST_WORKER_INDEX}"


CONFIGURED_DATABASE_URL = os.environ.get("MODELYARD_TEST_DATABASE_URL") or None
TEST_DATABASE_URL = _per_worker_database_url(CONFIGURED_DATABASE_URL)
TEST_BROKER_URL = _per_worker_broker_url(os.environ.get("MODELYARD_TEST_BROKER_URL") or None)
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
TEST_TASK_MODULES = ["tests.jobs.tasks"]
# numba's compiled umap-learn code, kept between runs so only the first run compiles it.
NUMBA_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "numba"


def pytest_configure(config: pytest.Config) -> None:
    """Create this worker's PostgreSQL database (from the configured one) if it is missing."""
    if CONFIGURED_DATABASE_URL is None or TEST_DATABASE_URL == CONFIGURED_DATABASE_URL:
        return
    assert TEST_DATABASE_URL is not None
    name = make_url(TEST_DATABASE_URL).database
    engine = create_engine(CONFIGURED_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def pytest_report_header(config: pytest.Config) -> str:
    backend = TEST_DATABASE_URL or "sqlite (embedded)"
    jobs = f"celery via {TEST_BROKER_URL}" if TEST_BROKER_URL else "in-process"
    return f"modelyard: database={backend} jobs={jobs}"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modelyard-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{data_dir / 'modelyard.db'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if not database.is_sqlite:
        # A leftover schema from an earlier run would hide a broken migration.
        with database.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(database)
    yield database
    database.dispose()


def _empty_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
        else:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def _empty_ephemeral_store() -> None:
    if TEST_BROKER_URL is None:
        return
    import redis

    client = redis.Redis.from_url(TEST_BROKER_URL)
    for key in client.scan_iter("modelyard:*"):
        client.delete(key)
    client.close()


@pytest.fixture
def database(migrated_database: Database) -> Iterator[Database]:
    """The session's database, emptied when the test ends."""
    yield migrated_database
    _empty_tables(migrated_database)
    _empty_ephemeral_store()


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    auth = AuthSettings(
        secret_key=TEST_SECRET,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        **overrides.pop("auth", {}),
    )
    jobs = JobsSettings(
        broker_url=TEST_BROKER_URL, task_modules=TEST_TASK_MODULES, **overrides.pop("jobs", {})
    )
    # No UMAP warm-up thread in every test's app (it would compete for the CPU); the
    # visualization tests that use UMAP wait for its compilation in their job instead.
    visualization = overrides.pop(
        "visualization", VisualizationSettings(warm_up=False, numba_cache_dir=NUMBA_CACHE)
    )
    return Settings(
        environment="test",
        visualization=visualization,
        data_dir=data_dir,
        database=DatabaseSettings(url=database_url),
        auth=auth,
        jobs=jobs,
        storage=StorageSettings(**overrides.pop("storage", {})),
        **overrides,
    )


@pytest.fixture
def settings(data_dir: Path, database: Database, database_url: str) -> Settings:
    return make_settings(data_dir, database_url)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
