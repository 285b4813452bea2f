"""Executors: what runs jobs. The job table says what to run; an executor only runs it.

``LocalExecutor`` (the default) runs jobs on threads inside the server process.
``CeleryExecutor`` (``modelyard.jobs.celery_app``) sends them to Celery workers on a broker.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from modelyard.config import ConfigError, Settings
from modelyard.db import Database
from modelyard.jobs.liveness import Reaper
from modelyard.jobs.registry import load_task_modules
from modelyard.jobs.runner import pending_jobs, recover_unfinished, run_job

__all__ = ["JobExecutor", "LocalExecutor", "build_executor"]

log = logging.getLogger(__name__)


class JobExecutor(Protocol):
    """Runs jobs whose rows are already committed; knows nothing of their state."""

    @property
    def max_attempts(self) -> int:
        """How many times a job may be started before it is given up (new jobs' default)."""
        ...

    def start(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """Hand over a committed PENDING job; at most once-effective, however often called."""
        ...

    def shutdown(self) -> None: ...


class LocalExecutor:
    """A thread pool inside this process; on start it takes up the work a crash left behind.

    It assumes it is the only executor of its database (the embedded setup): at start, a
    STARTED row can only be a job that was running when the previous process died. With
    ``shared`` (one of several server processes of ``modelyard serve --workers N``) the parent
    repaired the table before starting them, and a STARTED row may be another process's job:
    this one only takes up the PENDING jobs, racing the others for each claim.
    """

    def __init__(
        self,
        database: Database,
        *,
        workers: int,
        max_attempts: int,
        shared: bool = False,
        settings: Settings | None = None,
    ) -> None:
        self._database = database
        self._shared = shared
        self._workers = workers
        self._max_attempts = max_attempts
        self._settings = settings
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # With several server processes one may die alone (its jobs' heartbeats stop while
        # the others live on); a single process's own jobs end with it and are repaired at
        # its next start, but the reaper costs one query every few seconds either way.
        self._reaper = Reaper(database, settings, self.submit) if settings is not None else None

    @property
    def max_attempts(self) -> int:
        return self._max_attempts

    def start(self) -> None:
        with self._lock:
            if self._pool is not None:
                return
            self._stopping.clear()
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="modelyard-job")
        if self._shared:
            waiting = pending_jobs(self._database)
        else:
            waiting = recover_unfinished(self._database, self._settings)
        for job_id in waiting:
            self.submit(job_id)
        if self._reaper is not None:
            self._reaper.start()

    def submit(self, job_id: str) -> None:
        with self._lock:
            pool = self._pool
            if pool is None or self._stopping.is_set():
                # The row stays PENDING; the next start runs it.
                log.warning(
                    "executor not running; job %s left pending", job_id, extra={"job_id": job_id}
                )
                return
            pool.submit(self._run, job_id)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._stopping.set()
        if pool is None:
            return
        if self._reaper is not None:
            self._reaper.stop()
        # Queued jobs are dropped (they stay PENDING in the table); running bodies are told
        # to stop at their next check and go back to PENDING.
        pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str) -> None:
        try:
            run_job(self._database, job_id, stopping=self._stopping.is_set, settings=self._settings)
        except Exception:
            # A future's exception is never looked at; without this it would vanish.
            log.exception("runner failed on job %s", job_id, extra={"job_id": job_id})


def build_executor(settings: Settings, database: Database) -> JobExecutor:
    """The executor the settings ask for, with every task module imported."""
    load_task_modules(settings.jobs.task_modules)
    if settings.jobs.uses_celery:
        if not settings.jobs.broker_url:
            raise ConfigError("the Celery executor needs MODELYARD_BROKER_URL")
        # Celery is an optional extra: imported only when a deployment asks for it.
        from modelyard.jobs.celery_app import CeleryExecutor

        return CeleryExecutor(settings, database)
    return LocalExecutor(
        database,
        workers=settings.jobs.local_workers,
        max_attempts=settings.jobs.max_attempts,
        shared=settings.http.workers > 1,
        settings=settings,
    )
