"""Celery, behind this one module: the app, the executor that sends to it, and the worker.

The broker carries job ids only, under one stable task name; the job table holds parameters,
state and results, so no result backend is configured. Messages are acknowledged after the
job ran (``acks_late``), so a worker that dies before it claimed a job loses no message.

What the broker does with a dead worker's message is not enough on its own: a killed pool
child's message comes back at once (``task_reject_on_worker_lost``), but a killed worker's
only after Redis's visibility timeout (12 h here), and a message may also come back while its
job still runs elsewhere (a job longer than that timeout). So the job table decides: the
process running a job marks it alive every few seconds (``liveness.Heartbeat``); a redelivered
message takes over a STARTED job only when its worker is known to be gone (heartbeat stopped,
or its process on this host no longer exists), with an ``UPDATE`` on the lost attempt number
that only one delivery can win; and the reaper of every server process re-queues or fails the
jobs whose heartbeat stopped, without waiting for the broker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init, worker_process_shutdown

from modelyard.config import ConfigError, Settings
from modelyard.db import Database, utcnow
from modelyard.jobs import repository
from modelyard.jobs.liveness import Reaper
from modelyard.jobs.registry import load_task_modules, run_worker_start_hooks
from modelyard.jobs.runner import run_job
from modelyard.logs import configure_logging

__all__ = ["RUN_JOB_TASK", "CeleryExecutor", "make_celery", "run_worker"]

log = logging.getLogger(__name__)

RUN_JOB_TASK = "modelyard.jobs.run"

# Redis gives an unacknowledged message to another worker after this long, even if the first
# is still busy with it; a job running longer would run twice. Longer than any job should
# take, shorter than forever (it is also how long a message of a killed worker waits).
VISIBILITY_TIMEOUT_SECONDS = 12 * 3600

# A PENDING job older than this at start-up is taken to have missed the broker.
STALE_PENDING_SECONDS = 60


class _ProcessDatabase:
    """One Database per process, built on first use.

    A prefork worker forks its children after the app is built; an engine made before the
    fork would share its sockets with every child.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._database: Database | None = None

    def get(self) -> Database:
        with self._lock:
            if self._database is None or self._pid != os.getpid():
                self._database = Database.from_settings(self._settings)
                self._pid = os.getpid()
            return self._database

    def dispose(self) -> None:
        with self._lock:
            if self._database is not None and self._pid == os.getpid():
                self._database.dispose()
            self._database = None


def make_celery(settings: Settings, *, database: _ProcessDatabase | None = None) -> Celery:
    """A Celery app for ``settings``: JSON, late acks, one message prefetched per process."""
    broker_url = settings.jobs.broker_url
    if not broker_url:
        raise ConfigError("Celery needs a broker: set MODELYARD_BROKER_URL")
    app = Celery("modelyard", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=settings.jobs.queue_name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # A redelivered message may re-claim a STARTED job (its worker is taken for lost);
        # the job that was running on a lost connection must then stop, not run twice.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        enable_utc=True,
        timezone="UTC",
    )
    databases = database or _ProcessDatabase(settings)

    @app.task(name=RUN_JOB_TASK, bind=True, ignore_result=True)
    def run(task: Task, job_id: str) -> None:
        delivery_info: dict[str, Any] = task.request.delivery_info or {}
        run_job(
            databases.get(),
            job_id,
            redelivered=bool(delivery_info.get("redelivered")),
            settings=settings,
        )

    return app


class CeleryExecutor:
    """Sends job ids to Celery workers; the workers run them with the shared runner."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._queue = settings.jobs.queue_name
        self._max_attempts = settings.jobs.max_attempts
        self._database = database
        self._app = make_celery(settings)
        # The jobs of a worker that died (its process killed, its machine gone) stop beating;
        # the broker would hand their messages back only after the visibility timeout.
        self._reaper = Reaper(database, settings, self.submit)

    @property
    def max_attempts(self) -> int:
        return self._max_attempts

    @property
    def celery(self) -> Celery:
        return self._app

    def start(self) -> None:
        """Send again the jobs whose hand-off failed (the broker was down at commit time).

        Workers recover their own work (the broker gives back a lost worker's messages); what
        the broker never received is only in the table, still PENDING. Sending a job twice is
        harmless: only one claim of it can win.
        """
        cutoff = utcnow() - timedelta(seconds=STALE_PENDING_SECONDS)
        with self._database.session() as session:
            stale = list(repository.pending_ids(session, created_before=cutoff))
        for job_id in stale:
            try:
                self.submit(job_id)
            except Exception:
                log.exception("could not send pending job %s", job_id, extra={"job_id": job_id})
                break
        if stale:
            log.warning("sent %d pending jobs again", len(stale))
        self._reaper.start()

    def submit(self, job_id: str) -> None:
        # task_id = job id: the broker's view and the table's name the same thing.
        self._app.send_task(RUN_JOB_TASK, args=[job_id], task_id=job_id, queue=self._queue)

    def shutdown(self) -> None:
        self._reaper.stop()
        self._app.close()


def run_worker(
    settings: Settings, *, concurrency: int, pool: str = "prefork", hostname: str | None = None
) -> None:
    """Run a Celery worker for the job queue until it is told to stop (``modelyard worker``)."""
    configure_logging(settings.log_level, settings.log_format)
    load_task_modules(settings.jobs.task_modules)
    databases = _ProcessDatabase(settings)
    app = make_celery(settings, database=databases)

    def _dispose(**_: Any) -> None:
        databases.dispose()

    def _prepare(**_: Any) -> None:
        run_worker_start_hooks(settings)

    worker_process_shutdown.connect(_dispose, weak=False)
    if pool == "prefork":
        # Each child process runs jobs; the parent only hands them out.
        worker_process_init.connect(_prepare, weak=False)
    else:
        run_worker_start_hooks(settings)
    worker = app.Worker(
        hostname=hostname or f"modelyard.{os.getpid()}@{socket.gethostname()}",
        concurrency=concurrency,
        pool_cls=pool,
        queues=[settings.jobs.queue_name],
        loglevel=settings.log_level.upper(),
        quiet=True,
        without_gossip=True,
        without_mingle=True,
    )
    try:
        worker.start()
    finally:
        worker_process_shutdown.disconnect(_dispose)
        worker_process_init.disconnect(_prepare)
        databases.dispose()
    if worker.exitcode:
        raise SystemExit(worker.exitcode)
