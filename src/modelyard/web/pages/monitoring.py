"""A model version's Monitoring page: performance over time (realized and estimated), the
feedback coverage, drift per feature as a heat map (feature x window) with one feature's
distribution in one window beside the reference, and the version's monitors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from modelyard.errors import ModelyardError
from modelyard.evaluation.service import Evaluation
from modelyard.monitoring import service as monitoring
from modelyard.monitoring.drift import DEFAULT_THRESHOLDS
from modelyard.monitoring.schemas import DriftRead, PerformanceRead, WindowKind
from modelyard.registry.dependencies import ModelName, OwnerId, VersionRef
from modelyard.web.charts import bar_chart, line_chart
from modelyard.web.context import SignedIn
from modelyard.web.routing import PageRoute

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _label(moment: datetime, window: str) -> str:
    return moment.strftime("%m-%d %H:00" if window == "hour" else "%Y-%m-%d")


def _performance_chart(found: PerformanceRead) -> Any:
    labels = [_label(w.start, found.window) for w in found.windows]
    return line_chart(
        labels,
        {
            "accuracy (labels)": [w.accuracy for w in found.windows],
            "estimated (CBPE)": [(w.estimated or {}).get("accuracy") for w in found.windows],
            "coverage": [w.coverage for w in found.windows],
        },
        title="Performance and feedback coverage per window",
        y_label="share",
    )


def _distribution(
    request: Request,
    page: Any,
    name: str,
    version: str,
    owner_id: int | None,
    feature: str,
    start: datetime,
    window: str,
) -> Any:
    """The chosen feature's distribution in the chosen window beside the reference's, as
    shares of the same bins (one bin per value for a categorical feature)."""
    found = monitoring.feature_distribution(
        page.db,
        request.app.state.artifacts,
        request.app.state.settings.monitoring,
        page.signed_in,
        name,
        version,
        feature=feature,
        start=start,
        window=window,
        owner_id=owner_id,
    )
    if found is None:
        return None
    labels, reference, current = found
    return bar_chart(
        labels,
        {"reference": reference, "window": current},
        title=f"{feature}: window from {_label(start, window)} beside the reference",
        y_label="share of rows",
    )


@router.get("/models/{name}/versions/{version}/monitoring")
def monitoring_page(
    request: Request,
    page: SignedIn,
    name: ModelName,
    version: VersionRef,
    window: Annotated[WindowKind, Query()] = "day",
    feature: Annotated[str | None, Query(max_length=200)] = None,
    start: Annotated[datetime | None, Query()] = None,
    owner_id: OwnerId = None,
) -> Response:
    """Performance, coverage and drift of a version over time, and its monitors."""
    me = page.signed_in
    settings = request.app.state.settings
    ev = Evaluation(request.app.state.artifacts, settings.evaluation)
    performance: PerformanceRead | None = None
    drift: DriftRead | None = None
    problems: list[str] = []
    try:
        performance = monitoring.performance(
            page.db,
            ev,
            settings.monitoring,
            me,
            name,
            version,
            window=window,
            since=None,
            until=None,
            owner_id=owner_id,
            estimate=True,
        )
    except ModelyardError as exc:
        if exc.status_code == 404:
            raise
        problems.append(f"Performance: {exc.message}")
    try:
        drift = monitoring.drift_over_time(
            page.db,
            request.app.state.artifacts,
            settings.monitoring,
            me,
            name,
            version,
            window=window,
            since=None,
            until=None,
            reference_start=None,
            thresholds=DEFAULT_THRESHOLDS,
            drift_share=0.5,
            owner_id=owner_id,
        )
    except ModelyardError as exc:
        if exc.status_code == 404:
            raise
        problems.append(f"Drift: {exc.message}")
    distribution = None
    if drift is not None and drift.windows:
        chosen = feature or (
            drift.windows[-1].features[0].feature if drift.windows[-1].features else None
        )
        when = start or drift.windows[-1].start
        if chosen is not None:
            distribution = _distribution(
                request, page, name, version, owner_id, chosen, when, window
            )
    monitors = [
        m
        for m in monitoring.list_monitors(page.db, me)
        if m.model == name and (performance is None or m.version == performance.version)
    ]
    evaluations = {m.id: monitoring.list_evaluations(page.db, me, m.id, 10) for m in monitors}
    features = [f.feature for f in drift.windows[0].features] if drift and drift.windows else []
    return page.render(
        "monitoring.html",
        title=f"Monitoring of {name} v{version}",
        name=name,
        version=version,
        owner_id=owner_id,
        window=window,
        performance=performance,
        performance_chart=_performance_chart(performance)
        if performance and performance.windows
        else None,
        drift=drift,
        features=features,
        distribution=distribution,
        monitors=monitors,
        evaluations=evaluations,
        problems=problems,
        label=lambda moment: _label(moment, window),
    )
