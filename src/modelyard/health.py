"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from modelyard.db import Database
from modelyard.errors import NotFound
from modelyard.migrate import current_revision, head_revision

__all__ = ["metrics_router", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["system"])
metrics_router = APIRouter(tags=["system"])


@router.get("/live")
def live() -> dict[str, str]:
    """Answer while the process is up."""
    return {"status": "ok"}


# Probes often use HEAD; a route of its own keeps the OpenAPI operation ids unique.
@router.head("/live", include_in_schema=False)
def live_head() -> None:
    """Answer HEAD while the process is up."""


class Readiness(BaseModel):
    """``status`` is ``ok`` or ``unavailable``; ``checks`` names each dependency's state."""

    status: str
    checks: dict[str, str]


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready."}},
)
def ready(request: Request) -> JSONResponse:
    """Check that the database answers and its schema is at the newest migration."""
    database: Database = request.app.state.database
    checks: dict[str, Any] = {}
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(database), head_revision(database)
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        checks["database"] = "unreachable"
    ok = all(value == "ok" for value in checks.values()) and "migrations" in checks
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@metrics_router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Expose request counts and latencies in the Prometheus text format."""
    collected = request.app.state.metrics
    if collected is None:
        raise NotFound("Metrics are turned off")
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
