"""Job fixtures: the executor the settings choose, and a real Celery worker when a broker is set.

With ``MODELYARD_TEST_BROKER_URL`` unset, jobs run on the in-process executor. With it set, a
``modelyard worker`` subprocess consumes the queue for the whole session, so the same tests go
through Redis and a prefork worker exactly as a deployment does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

import modelyard
from modelyard.config import Settings
from modelyard.db import Database
from modelyard.jobs.executors import JobExecutor, build_executor
from tests.conftest import NUMBA_CACHE, TEST_BROKER_URL, TEST_SECRET, make_settings
from tests.jobs.helpers import CONCURRENCY

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = Path(modelyard.__file__).resolve().parents[1]
WORKER_READY_SECONDS = 30.0
JOB_TASK_MODULES = ["tests.jobs.tasks"]
# A queue of this session's own: a worker orphaned by a killed earlier run cannot take its jobs.
SESSION_QUEUE = f"modelyard-tests-{uuid.uuid4().hex[:12]}"


def _jobs_settings(settings: Settings) -> Settings:
    modules = [*settings.jobs.task_modules]
    modules += [name for name in JOB_TASK_MODULES if name not in modules]
    jobs = settings.jobs.model_copy(update={"task_modules": modules, "queue_name": SESSION_QUEUE})
    return settings.model_copy(update={"jobs": jobs})


@pytest.fixture
def settings(data_dir: Path, database: Database, database_url: str) -> Settings:
    """The shared test settings, with this folder's job kinds and the session's queue."""
    return _jobs_settings(make_settings(data_dir, database_url))


# --- the Celery worker -------------------------------------------------------------------------


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MODELYARD_") and key != "PYTHONPATH"
    }
    env.update(
        {
            # The sources this session imported first: the shared virtualenv's editable install
            # may point at another checkout.
            "PYTHONPATH": os.pathsep.join([str(SOURCES), str(REPO_ROOT)]),
            "MODELYARD_ENVIRONMENT": "test",
            "MODELYARD_DATA_DIR": str(settings.data_dir),
            "MODELYARD_DATABASE_URL": settings.database_url,
            "MODELYARD_BROKER_URL": settings.jobs.broker_url or "",
            "MODELYARD_JOBS_QUEUE_NAME": settings.jobs.queue_name,
            "MODELYARD_JOBS_TASK_MODULES": json.dumps(settings.jobs.task_modules),
            "MODELYARD_SECRET_KEY": TEST_SECRET,
            "MODELYARD_LOG_FORMAT": "text",
            "MODELYARD_LOG_LEVEL": "INFO",
            # The worker compiles UMAP at start (in a background thread) into the cache the
            # suite keeps between runs.
            "MODELYARD_VISUALIZATION_NUMBA_CACHE_DIR": str(NUMBA_CACHE),
            # Monitor webhooks go to the tests' own server on the loopback address.
            "MODELYARD_MONITORING_ALLOW_PRIVATE_WEBHOOKS": "true",
            "MODELYARD_MONITORING_WEBHOOK_BACKOFF_SECONDS": "0.05",
        }
    )
    return env


def _purge_queue(settings: Settings, *, bindings: bool = False) -> None:
    """Empty the session's queue (and forget its bindings once the worker is gone).

    Kombu's shared "unacked" keys are left alone: they may hold another session's messages in
    flight, and a stale one only ever returns to its own session's queue.
    """
    import redis

    queue = settings.jobs.queue_name
    assert settings.jobs.broker_url is not None
    client = redis.Redis.from_url(settings.jobs.broker_url)
    try:
        names = [queue]
        if bindings:
            names += [f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
        client.delete(*names)
    finally:
        client.close()


def _wait_until_ready(settings: Settings, process: subprocess.Popen[bytes], log: Path) -> None:
    from modelyard.jobs.celery_app import make_celery

    celery = make_celery(settings)
    deadline = time.monotonic() + WORKER_READY_SECONDS
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            replies = celery.control.ping(timeout=0.5) or []
            if any(name.startswith(f"modelyard.{process.pid}@") for r in replies for name in r):
                return
    finally:
        celery.close()
    tail = log.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"the Celery worker did not become ready; its log ends with:\n{tail}")


@pytest.fixture(scope="session", autouse=True)
def celery_worker(
    migrated_database: Database, data_dir: Path, database_url: str
) -> Iterator[subprocess.Popen[bytes] | None]:
    """A real ``modelyard worker`` for the session when a broker is configured."""
    if TEST_BROKER_URL is None:
        yield None
        return
    settings = _jobs_settings(make_settings(data_dir, database_url))
    _purge_queue(settings)
    log = data_dir / "celery-worker.log"
    with log.open("wb") as log_file:
        process = _start_worker(settings, log_file)
        try:
            _wait_until_ready(settings, process, log)
            yield process
        finally:
            process.terminate()  # warm shutdown: running jobs end, then it exits
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            _purge_queue(settings, bindings=True)


def _start_worker(settings: Settings, log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "modelyard",
        "worker",
        "--concurrency",
        str(CONCURRENCY),
        "--pool",
        "prefork",
    ]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=_worker_env(settings),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


# --- executors and helpers ---------------------------------------------------------------------


@pytest.fixture
def executor(settings: Settings, database: Database) -> Iterator[JobExecutor]:
    """The executor the settings choose (Celery when a broker is set), started."""
    built = build_executor(settings, database)
    built.start()
    yield built
    built.shutdown()


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    """Make gate files for ``tests.add``; every gate opens when the test ends."""
    made: list[Path] = []

    def new_gate() -> Path:
        path = tmp_path / f"gate-{len(made)}"
        made.append(path)
        return path

    yield new_gate
    for path in made:
        path.touch()
