"""What a job body is given: its parameters, the database, and a way to report and to stop."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from modelyard.db import Database
from modelyard.jobs import repository
from modelyard.jobs.exceptions import JobCancelled, JobInterrupted

__all__ = ["JobContext"]


def _never() -> bool:
    return False


class JobContext:
    """The running job as its body sees it.

    Every call that touches the database opens its own short transaction, so a body never
    holds a session (and, on SQLite, the one write lock) while it computes.
    """

    def __init__(
        self,
        *,
        job_id: str,
        kind: str,
        owner_id: int | None,
        params: dict[str, Any],
        attempt: int,
        database: Database,
        stopping: Callable[[], bool] = _never,
    ) -> None:
        self.job_id = job_id
        self.kind = kind
        self.owner_id = owner_id
        self.params = params
        self.attempt = attempt
        self.database = database
        self._stopping = stopping
        # What the body was told; the runner reads these to choose the final state even when
        # the body returns instead of raising.
        self.cancel_seen = False
        self.stop_seen = False

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Record how far the job is (0.0 to 1.0) and what it is doing; visible at once."""
        if math.isnan(fraction):
            raise ValueError("progress fraction is NaN")
        fraction = min(max(fraction, 0.0), 1.0)
        with self.database.session() as session:
            # Only this attempt's: a body whose worker was taken for lost cannot write over
            # the attempt that runs the job now.
            repository.set_progress(session, self.job_id, fraction, message, attempt=self.attempt)

    @property
    def cancelled(self) -> bool:
        """True once the job should stop: cancelled by a user, deleted, or its executor stops."""
        if self._stopping():
            self.stop_seen = True
            return True
        with self.database.session() as session:
            requested = repository.is_cancel_requested(session, self.job_id)
        # A vanished row (its owner was deleted) has nobody left to report to.
        if requested is None or requested:
            self.cancel_seen = True
            return True
        return False

    def raise_if_cancelled(self) -> None:
        """Stop the body here if the job should stop (see ``cancelled``)."""
        if not self.cancelled:
            return
        if self.stop_seen:
            raise JobInterrupted(self.job_id)
        raise JobCancelled(self.job_id)
