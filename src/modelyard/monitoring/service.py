"""The monitoring domain's operations, transport-free: feedback, performance and drift over
time, monitors. Each piece lives in its own module; this is the face the router, the jobs and
the dashboard call."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.db import utcnow
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.service import submit_job
from modelyard.monitoring.drift_report import drift_over_time, feature_distribution
from modelyard.monitoring.feedback import record_feedback
from modelyard.monitoring.monitors import (
    create_monitor,
    delete_monitor,
    get_monitor,
    list_deliveries,
    list_evaluations,
    list_monitors,
    window_of,
)
from modelyard.monitoring.performance import performance
from modelyard.monitoring.schemas import FeedbackItem, FeedbackResult
from modelyard.monitoring.tasks import EVALUATE_JOB
from modelyard.monitoring.uploads import csv_batches, item_batches, parquet_batches, sniff_format

__all__ = [
    "create_monitor",
    "delete_monitor",
    "drift_over_time",
    "feature_distribution",
    "feedback_from_file",
    "feedback_from_items",
    "get_monitor",
    "list_deliveries",
    "list_evaluations",
    "list_monitors",
    "performance",
    "run_monitor",
]


def run_monitor(
    session: Session, executor: JobExecutor, caller: User, monitor_id: int, at: datetime | None
) -> dict[str, str]:
    """Submit the evaluation of one of the caller's monitors for the window holding ``at``."""
    monitor = get_monitor(session, caller, monitor_id)
    start = window_of(at or utcnow(), monitor.window)
    job = submit_job(
        session,
        executor,
        kind=EVALUATE_JOB,
        params={"monitor_id": monitor_id, "window_start": start.isoformat()},
        owner_id=caller.id,
    )
    return {"job_id": job.id, "window_start": start.isoformat()}


def feedback_from_items(
    session: Session,
    settings: MonitoringSettings,
    caller: User,
    name: str,
    items: list[FeedbackItem],
    *,
    owner_id: int | None,
    skip_unknown: bool,
) -> FeedbackResult:
    """Store labels sent as JSON."""
    return record_feedback(
        session,
        caller,
        name,
        item_batches(items),
        owner_id=owner_id,
        skip_unknown=skip_unknown,
        max_labels=settings.max_feedback_labels,
        report_limit=settings.max_report_ids,
    )


def feedback_from_file(
    session: Session,
    settings: MonitoringSettings,
    caller: User,
    name: str,
    file: object,
    content_type: str,
    head: bytes,
    *,
    owner_id: int | None,
    skip_unknown: bool,
) -> FeedbackResult:
    """Store labels uploaded as a CSV or parquet file, read in batches."""
    kind = sniff_format(content_type, head)
    batches = parquet_batches(file) if kind == "parquet" else csv_batches(file)  # type: ignore[arg-type]
    return record_feedback(
        session,
        caller,
        name,
        batches,
        owner_id=owner_id,
        skip_unknown=skip_unknown,
        max_labels=settings.max_feedback_labels,
        report_limit=settings.max_report_ids,
    )
