"""Monitors: a version, a check and a schedule; evaluated once per window, as a job.

A monitor's run evaluates one window (the last complete one, for a scheduled run). The run
first records its evaluation row, unique per monitor and window, and commits it: of two
replicas or workers that try the same window, one inserts and evaluates, the other finds it
taken and stops, so a window is never evaluated (nor an alert sent) twice.

The check's value decides the state: ``alert`` when it crosses the threshold, else ``ok``;
with fewer rows than ``min_samples`` the state stays as it was (a window of 3 rows never
pages anyone). A change of state to or from ``alert`` fires the webhook, unless the monitor
fired less than ``quiet_seconds`` ago.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.db import Database, utcnow
from modelyard.errors import ModelyardError
from modelyard.evaluation import service as evaluation
from modelyard.monitoring import repository, webhooks
from modelyard.monitoring.drift import DEFAULT_THRESHOLDS
from modelyard.monitoring.drift_report import drift_of
from modelyard.monitoring.exceptions import InvalidMonitor, MonitorNotFound
from modelyard.monitoring.models import Monitor, MonitorEvaluation, WebhookDelivery
from modelyard.monitoring.performance import performance_of
from modelyard.monitoring.runtime import MonitoringRuntime
from modelyard.monitoring.schemas import MonitorCreate, MonitorRead
from modelyard.monitoring.windows import WINDOW_SECONDS, from_epoch
from modelyard.registry import service as registry
from modelyard.registry.schemas import ServingTarget

__all__ = [
    "create_monitor",
    "delete_monitor",
    "evaluate_monitor",
    "get_monitor",
    "last_complete_window",
    "list_deliveries",
    "list_evaluations",
    "list_monitors",
    "window_of",
]

log = logging.getLogger(__name__)

ALERT, OK, UNKNOWN, RUNNING = "alert", "ok", "unknown", "running"


def window_of(at: datetime, window: str) -> datetime:
    """The start of the window holding ``at``."""
    size = WINDOW_SECONDS[window]
    origin = 4 * 86400 if window == "week" else 0
    seconds = int(at.timestamp())
    return from_epoch((seconds - origin) // size * size + origin)


def last_complete_window(now: datetime, window: str) -> datetime:
    return window_of(now, window) - timedelta(seconds=WINDOW_SECONDS[window])


def _read(monitor: Monitor, target: ServingTarget, secret: str | None = None) -> MonitorRead:
    read = MonitorRead.model_validate(
        {
            **{c: getattr(monitor, c) for c in _COLUMNS},
            "model": target.model_name,
            "version": target.version,
        }
    )
    read.webhook_secret = secret
    return read


_COLUMNS = (
    "id",
    "name",
    "check",
    "window",
    "interval_seconds",
    "min_samples",
    "quiet_seconds",
    "webhook_url",
    "enabled",
    "state",
    "value",
    "next_run_at",
    "last_run_at",
    "last_fired_at",
)


def create_monitor(
    session: Session, settings: MonitoringSettings, caller: User, body: MonitorCreate
) -> MonitorRead:
    """Add a monitor of one of the caller's versions; the webhook secret is shown only now."""
    target = registry.serving_target(session, caller, body.model, str(body.version), body.owner_id)
    check = body.check
    if check.kind == "metric_below" and check.metric is None:
        raise InvalidMonitor("a metric_below check names its metric (accuracy, estimated_accuracy)")
    if check.kind in ("coverage_below", "error_rate_above", "drift_share") and check.threshold > 1:
        raise InvalidMonitor(f"a {check.kind} threshold is a share, from 0 to 1")
    if check.kind in ("metric_below", "coverage_below") and not target.classes:
        raise InvalidMonitor("the version has no classes, so it has no accuracy or coverage")
    if check.kind == "drift_share" and not target.input_schema:
        raise InvalidMonitor("the version has no input schema, so its drift cannot be measured")
    if body.interval_seconds > 0 and body.window == "week" and body.interval_seconds < 3600:
        raise InvalidMonitor("a weekly window checked more often than hourly is never new")
    secret: str | None = None
    if body.webhook_url is not None:
        webhooks.check_url(body.webhook_url, allow_private=settings.allow_private_webhooks)
        secret = body.webhook_secret or secrets.token_urlsafe(32)
    monitor = Monitor(
        owner_id=target.owner_id,
        version_id=target.version_id,
        name=body.name,
        check=check.model_dump(),
        window=body.window,
        interval_seconds=body.interval_seconds,
        min_samples=body.min_samples,
        quiet_seconds=body.quiet_seconds,
        webhook_url=body.webhook_url,
        webhook_secret=secret,
        state=UNKNOWN,
        next_run_at=utcnow(),
    )
    repository.add(session, monitor)
    return _read(monitor, target, secret)


def _owned(session: Session, caller: User, monitor_id: int) -> tuple[Monitor, ServingTarget]:
    monitor = session.get(Monitor, monitor_id)
    if monitor is None or (monitor.owner_id != caller.id and not caller.is_admin):
        raise MonitorNotFound(f"monitor {monitor_id} not found")
    return monitor, registry.version_target(session, monitor.version_id)


def get_monitor(session: Session, caller: User, monitor_id: int) -> MonitorRead:
    monitor, target = _owned(session, caller, monitor_id)
    return _read(monitor, target)


def list_monitors(session: Session, caller: User) -> list[MonitorRead]:
    owner = None if caller.is_admin else caller.id
    return [
        _read(m, registry.version_target(session, m.version_id))
        for m in repository.list_monitors(session, owner)
    ]


def delete_monitor(session: Session, caller: User, monitor_id: int) -> None:
    monitor, _ = _owned(session, caller, monitor_id)
    repository.delete_monitor(session, monitor)


def list_evaluations(
    session: Session, caller: User, monitor_id: int, limit: int
) -> Sequence[MonitorEvaluation]:
    _owned(session, caller, monitor_id)
    return repository.list_evaluations(session, monitor_id, limit)


def list_deliveries(
    session: Session, caller: User, monitor_id: int, limit: int
) -> Sequence[WebhookDelivery]:
    _owned(session, caller, monitor_id)
    return repository.list_deliveries(session, monitor_id, limit)


# --- evaluating -------------------------------------------------------------------------------


def _measure(
    session: Session,
    runtime: MonitoringRuntime,
    monitor: Monitor,
    target: ServingTarget,
    begin: datetime,
    end: datetime,
) -> tuple[float | None, int, bool, dict[str, Any]]:
    """(value, samples, fires, detail) of the monitor's check over ``[begin, end)``."""
    check = monitor.check
    kind, threshold = check["kind"], float(check["threshold"])
    settings = runtime.settings.monitoring
    if kind == "drift_share":
        found = drift_of(
            session,
            runtime.store,
            settings,
            target,
            window=monitor.window,
            since=begin,
            until=end,
            reference_start=None,
            thresholds=DEFAULT_THRESHOLDS,
            drift_share=0.5,
        )
        if not found.windows:
            return None, 0, False, {}
        window = found.windows[0]
        drifted = [f.feature for f in window.features if f.drifted]
        share = window.drift_share
        return share, window.rows, share >= threshold, {"drifted_features": drifted}
    if kind in ("metric_below", "coverage_below"):
        estimate = check.get("metric") == "estimated_accuracy"
        ev = evaluation.Evaluation(runtime.store, runtime.settings.evaluation)
        found_perf = performance_of(
            session,
            ev,
            settings,
            target,
            window=monitor.window,
            since=begin,
            until=end,
            estimate=estimate,
        )
        if not found_perf.windows:
            return None, 0, False, {}
        row = found_perf.windows[0]
        value: float | None
        if kind == "coverage_below":
            value, samples = row.coverage, row.predicted
        elif estimate:
            value = (row.estimated or {}).get("accuracy")
            samples = int((row.estimated or {}).get("rows", 0))
        else:
            value, samples = row.accuracy, row.labelled
        detail = {
            "matrix_uid": row.matrix_uid,
            "labelled": row.labelled,
            "predicted": row.predicted,
        }
        return value, samples, value is not None and value < threshold, detail
    requests, failed = repository.count_requests(
        session, target.model_id, target.version, begin, end
    )
    if kind == "volume_below":
        rows = repository.count_logged_rows(session, target.model_id, target.version, begin, end)
        # Volume is the one check whose alert is about too few rows: no minimum applies.
        return float(rows), max(rows, monitor.min_samples), rows < threshold, {"requests": requests}
    rate = failed / requests if requests else None
    return rate, requests, rate is not None and rate > threshold, {"failed": failed}


def _claim(database: Database, monitor_id: int, begin: datetime, end: datetime) -> int | None:
    """Record the evaluation of this window as running; None if it is another's already."""
    try:
        with database.session() as session:
            if repository.get_evaluation(session, monitor_id, begin) is not None:
                return None
            row = MonitorEvaluation(
                monitor_id=monitor_id,
                window_start=begin,
                window_end=end,
                state=RUNNING,
                samples=0,
                detail={},
            )
            repository.add(session, row)
            return row.id
    except sa_exc.IntegrityError:
        return None  # the other one inserted it between our look and our insert


def evaluate_monitor(
    database: Database, runtime: MonitoringRuntime, monitor_id: int, begin: datetime
) -> dict[str, Any]:
    """Evaluate one monitor for the window starting at ``begin`` (see the module)."""
    with database.session() as session:
        monitor = session.get(Monitor, monitor_id)
        if monitor is None:
            return {"skipped": "the monitor was deleted"}
        window = monitor.window
    begin = window_of(begin, window)
    end = begin + timedelta(seconds=WINDOW_SECONDS[window])
    evaluation_id = _claim(database, monitor_id, begin, end)
    if evaluation_id is None:
        return {"skipped": "this window was evaluated already", "window_start": begin.isoformat()}
    with database.session() as session:
        monitor = session.get(Monitor, monitor_id)
        row = session.get(MonitorEvaluation, evaluation_id)
        if monitor is None or row is None:
            return {"skipped": "the monitor was deleted"}
        target: ServingTarget | None = None
        try:
            target = registry.version_target(session, monitor.version_id)
            value, samples, fires, detail = _measure(session, runtime, monitor, target, begin, end)
        except ModelyardError as exc:
            value, samples, fires, detail = None, 0, False, {"error": exc.message}
        previous = monitor.state
        enough = samples >= monitor.min_samples and value is not None
        state = (ALERT if fires else OK) if enough else previous
        if not enough:
            detail["note"] = f"{samples} rows, fewer than the minimum of {monitor.min_samples}"
        now = utcnow()
        changed = state != previous and ALERT in (state, previous)
        quiet = (
            monitor.last_fired_at is not None
            and (now - monitor.last_fired_at).total_seconds() < monitor.quiet_seconds
        )
        fire = changed and not quiet and monitor.webhook_url is not None
        if changed and quiet:
            detail["quiet"] = "fired less than quiet_seconds ago: no webhook"
        row.state, row.value, row.samples, row.detail, row.fired = (
            state if enough else "insufficient",
            value,
            samples,
            detail,
            fire,
        )
        monitor.state, monitor.last_run_at = state, now
        if enough:
            monitor.value = value
        if fire:
            monitor.last_fired_at = now
        payload = {
            "monitor": {"id": monitor.id, "name": monitor.name},
            "model": target.model_name if target is not None else None,
            "version": target.version if target is not None else None,
            "check": monitor.check,
            "state": state,
            "previous_state": previous,
            "value": value,
            "samples": samples,
            "window": {"start": begin.isoformat(), "end": end.isoformat()},
            "detail": detail,
            "evaluated_at": now.isoformat(),
        }
        url, secret = monitor.webhook_url, monitor.webhook_secret
    if fire and url is not None and secret is not None:
        _send(
            database, runtime.settings.monitoring, monitor_id, evaluation_id, url, secret, payload
        )
    return {"window_start": begin.isoformat(), "state": state, "value": value, "fired": fire}


def _send(
    database: Database,
    settings: MonitoringSettings,
    monitor_id: int,
    evaluation_id: int,
    url: str,
    secret: str,
    payload: dict[str, Any],
) -> None:
    def record(attempt: webhooks.Attempt) -> None:
        with database.session() as session:
            repository.add(
                session,
                WebhookDelivery(
                    monitor_id=monitor_id,
                    evaluation_id=evaluation_id,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    ok=attempt.ok,
                ),
            )

    delivered = webhooks.deliver(
        url,
        secret,
        payload,
        attempts=settings.webhook_attempts,
        backoff=settings.webhook_backoff_seconds,
        timeout=settings.webhook_timeout_seconds,
        allow_private=settings.allow_private_webhooks,
        record=record,
    )
    if not delivered:
        log.warning(
            "monitor %s: webhook not delivered after %d tries",
            monitor_id,
            settings.webhook_attempts,
        )
