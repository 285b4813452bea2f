"""The monitoring domain's operations, transport-free: feedback, performance and drift over
time, monitors. Each piece lives in its own module; this is the face the router, the jobs and
the dashboard call."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.monitoring.drift_report import drift_over_time
from modelyard.monitoring.feedback import record_feedback
from modelyard.monitoring.performance import performance
from modelyard.monitoring.schemas import FeedbackItem, FeedbackResult
from modelyard.monitoring.uploads import csv_batches, item_batches, parquet_batches, sniff_format

__all__ = ["drift_over_time", "feedback_from_file", "feedback_from_items", "performance"]


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
