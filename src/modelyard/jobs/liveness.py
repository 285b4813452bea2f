"""Is a STARTED job still running? Heartbeats say so; a reaper ends the jobs whose stopped.

The process running a job refreshes its row's ``heartbeat_at`` every few seconds from a thread
beside the body (``Heartbeat``), whichever executor runs it. A job whose heartbeat is older
than ``MODELYARD_JOBS_STALE_SECONDS`` lost its worker (killed, out of memory, its machine gone):
the ``Reaper`` (in every server process, whichever executor) re-queues it while it has attempts
left, the lost attempt counted, or else fails it with ``WORKER_STOPPED``. Every change is one
``UPDATE ... WHERE attempts = <the lost attempt> AND heartbeat_at < cutoff``, so several
reapers (and a worker redelivered the same job) racing for one job change it once, and a job
whose heartbeat came back in the meantime is left alone.

Domains whose jobs leave state outside the job table (an MLflow run, a projection row) register
``@on_abandoned(kind)`` to close it when a job ends without its body having run to the end.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelyard.config import Settings
from modelyard.db import Database, utcnow
from modelyard.jobs import repository
from modelyard.jobs.models import Job, JobState

__all__ = [
    "WORKER_STOPPED",
    "AbandonedJob",
    "Heartbeat",
    "LostAttempt",
    "Reaper",
    "end_lost",
    "on_abandoned",
    "process_is_gone",
    "reap_stale",
    "run_abandon_hook",
    "runner_id",
]

log = logging.getLogger(__name__)

WORKER_STOPPED = "the worker running it stopped"


def runner_id() -> str:
    """Who runs a job: ``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(runner: str | None) -> bool:
    """True only when ``runner`` names a process of this host that no longer exists.

    Another host's process (or an unknown one) cannot be checked from here: only its stopped
    heartbeat tells.
    """
    if not runner:
        return False
    host, _, pid_text = runner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


# --- what a domain closes when its job is abandoned ------------------------------------------


@dataclass(frozen=True)
class AbandonedJob:
    """A job that ended without its body finishing it: its worker died, a crash left it, or it
    was cancelled before it started."""

    id: str
    kind: str
    params: dict[str, Any]
    state: str  # FAILURE, or REVOKED when its cancellation had been asked for
    reason: str
    database_url: str
    # None when the job ended inside a request's transaction (a cancel): the hook then runs
    # after that commit and has no Database of its own to write with.
    database: Database | None
    settings: Settings | None


AbandonHook = Callable[[AbandonedJob], None]
_abandon_hooks: dict[str, AbandonHook] = {}


def on_abandoned(kind: str) -> Callable[[AbandonHook], AbandonHook]:
    """Register ``hook(job)`` to close what a job of ``kind`` leaves open when it is abandoned."""

    def register(hook: AbandonHook) -> AbandonHook:
        _abandon_hooks[kind] = hook
        return hook

    return register


def run_abandon_hook(job: AbandonedJob) -> None:
    hook = _abandon_hooks.get(job.kind)
    if hook is None:
        return
    try:
        hook(job)
    except Exception:
        # The job row already tells the truth; what the hook could not close is logged.
        log.exception("job %s: closing its %s state failed", job.id, job.kind)


# --- ending a lost attempt -------------------------------------------------------------------


@dataclass(frozen=True)
class LostAttempt:
    """A STARTED row as read, so that the UPDATE can insist it is still that attempt."""

    id: str
    kind: str
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    cancel_requested: bool
    progress: float
    message: str | None

    @classmethod
    def of(cls, job: Job) -> LostAttempt:
        return cls(
            job.id,
            job.kind,
            dict(job.params),
            job.attempts,
            job.max_attempts,
            bool(job.cancel_requested),
            float(job.progress or 0.0),
            job.message,
        )


def where_it_was(progress: float, message: str | None) -> str:
    """The last progress as context: "it was at 2%: loading dataset"."""
    at = f"it was at {progress:.0%}"
    return f"{at}: {message}" if message else at


def end_lost(
    database: Database,
    job: LostAttempt,
    *,
    cutoff: datetime | None,
    resubmit: Callable[[str], None] | None,
    settings: Settings | None,
    reason: str = WORKER_STOPPED,
) -> str | None:
    """End attempt ``job.attempts``, whose worker is gone; the job's new state, or None if
    someone else moved it first (or, with ``cutoff``, its heartbeat came back)."""
    context = where_it_was(job.progress, job.message)
    with database.session() as session:
        if job.cancel_requested or job.attempts >= job.max_attempts:
            # Ended for good: cancelled (the reason as context), or out of attempts.
            if job.cancel_requested:
                state, error = JobState.REVOKED, None
                message = f"cancelled; {reason} ({context})"
            else:
                state, error, message = JobState.FAILURE, reason, f"{reason} ({context})"
            done = repository.fail_lost(
                session,
                job.id,
                attempt=job.attempts,
                cutoff=cutoff,
                state=state,
                error=error,
                message=message,
            )
        else:
            state = JobState.PENDING
            done = repository.requeue_lost(
                session,
                job.id,
                attempt=job.attempts,
                cutoff=cutoff,
                message=f"re-queued: {reason} on attempt {job.attempts} ({context})",
            )
    if not done:
        return None
    log.warning(
        "job %s: %s; now %s",
        job.id,
        reason,
        state,
        extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts, "state": state},
    )
    if state == JobState.PENDING:
        if resubmit is not None:
            resubmit(job.id)
    else:
        run_abandon_hook(
            AbandonedJob(
                job.id, job.kind, job.params, state, reason, database.url, database, settings
            )
        )
    return state


def reap_stale(
    database: Database,
    *,
    stale_seconds: float,
    resubmit: Callable[[str], None] | None,
    settings: Settings | None = None,
) -> int:
    """End every STARTED job whose heartbeat stopped ``stale_seconds`` ago; how many this
    call ended (another reaper may have taken some)."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with database.session() as session:
        lost = [LostAttempt.of(job) for job in repository.stale_started(session, cutoff=cutoff)]
    ended = 0
    for job in lost:
        if end_lost(database, job, cutoff=cutoff, resubmit=resubmit, settings=settings):
            ended += 1
    return ended


class Reaper:
    """A daemon thread that calls ``reap_stale`` every ``reap_seconds``."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        resubmit: Callable[[str], None] | None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._resubmit = resubmit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="modelyard-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=30)

    def _loop(self) -> None:
        jobs = self._settings.jobs
        while not self._stop.wait(jobs.reap_seconds):
            try:
                reap_stale(
                    self._database,
                    stale_seconds=jobs.stale_seconds,
                    resubmit=self._resubmit,
                    settings=self._settings,
                )
            except Exception:
                # The database or broker is away for a moment: the next round tries again.
                log.exception("reaping stale jobs failed")


class Heartbeat:
    """Marks one attempt of a job alive every ``interval`` seconds while its body runs.

    ``lost`` is set once the row is no longer this attempt's (a reaper re-queued or failed it,
    or it was deleted): the body is then told to stop, as on shutdown.
    """

    def __init__(self, database: Database, job_id: str, attempt: int, interval: float) -> None:
        self._database = database
        self._job_id = job_id
        self._attempt = attempt
        self._interval = interval
        self._done = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"modelyard-heartbeat-{job_id[:8]}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=self._interval + 30)

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            try:
                with self._database.session() as session:
                    alive = repository.beat(session, self._job_id, attempt=self._attempt)
            except Exception:
                # One missed beat is within the stale margin; keep trying.
                log.warning("job %s: heartbeat failed", self._job_id, exc_info=True)
                continue
            if not alive:
                log.warning(
                    "job %s: attempt %d is no longer this worker's; stopping it",
                    self._job_id,
                    self._attempt,
                    extra={"job_id": self._job_id, "attempt": self._attempt},
                )
                self.lost.set()
                return
