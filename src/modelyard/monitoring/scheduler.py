"""Runs due monitors: a thread in each API process that hands them to the job executor.

Every tick it looks for monitors whose ``next_run_at`` has come, and moves each one's next
run on with a compare-and-set (``repository.claim_monitor_run``): of several replicas that
see the same monitor due, one wins and submits its job; the others move on. The job runs
where jobs run (in this process by default, on Celery workers with a broker); its
evaluation row, unique per window, keeps a window from being evaluated twice even so.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from modelyard.db import Database, utcnow
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.service import submit_job
from modelyard.monitoring import repository
from modelyard.monitoring.models import Monitor
from modelyard.monitoring.monitors import last_complete_window
from modelyard.monitoring.tasks import EVALUATE_JOB

__all__ = ["MonitorScheduler", "submit_due"]

log = logging.getLogger(__name__)


def submit_due(database: Database, executor: JobExecutor, now: datetime | None = None) -> int:
    """Submit a job for each due monitor this process wins; how many it submitted."""
    now = now or utcnow()
    submitted = 0
    with database.session() as session:
        for monitor_id in repository.due_monitor_ids(session, now):
            monitor = session.get(Monitor, monitor_id)
            if monitor is None:
                continue
            next_run = now + timedelta(seconds=monitor.interval_seconds)
            if not repository.claim_monitor_run(
                session, monitor_id, monitor.next_run_at, next_run, now
            ):
                continue  # another replica took it
            submit_job(
                session,
                executor,
                kind=EVALUATE_JOB,
                params={
                    "monitor_id": monitor_id,
                    "window_start": last_complete_window(now, monitor.window).isoformat(),
                },
                owner_id=monitor.owner_id,
            )
            submitted += 1
    return submitted


class MonitorScheduler:
    def __init__(self, database: Database, executor: JobExecutor, tick_seconds: float) -> None:
        self._database = database
        self._executor = executor
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelyard-monitors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                submit_due(self._database, self._executor)
            except Exception:  # the next tick tries again; a bad tick must not end the thread
                log.exception("monitor scheduler tick failed")
