"""Projections: start one for a model version, follow it, explore its scatter and metrics.

The scatter is drawn on the server (``charts.scatter_plot``); the page's script only shows a
point's tooltip, highlights its nearest neighbours and switches the colouring. The points'
neighbour lists travel in a JSON block (``<script type="application/json">``, never run).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, Response

from modelyard.errors import ModelyardError
from modelyard.jobs import service as jobs
from modelyard.registry import service as registry
from modelyard.registry.dependencies import ModelName, OwnerId, VersionRef
from modelyard.visualization import service as visualization
from modelyard.visualization.runtime import VisualizationRuntime
from modelyard.visualization.schemas import ProjectionRead
from modelyard.web.charts import PALETTE, ScatterPoint, gradient_colour, number, scatter_plot
from modelyard.web.context import CsrfChecked, PageContext, SignedIn
from modelyard.web.routing import PageRoute

__all__ = ["list_projections_of", "router", "scatter_of"]

router = APIRouter(route_class=PageRoute)

ProjectionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
FINISHED = frozenset({"SUCCESS", "ERROR", "NO_DATA", "NOT_SUPPORTED"})
# Neighbours highlighted and listed per point (the result keeps up to 100).
SHOWN_NEIGHBOURS = 10
_ORDER = ("class", "confidence", "prediction")


def _runtime(request: Request) -> VisualizationRuntime:
    runtime: VisualizationRuntime = request.app.state.visualization
    return runtime


def list_projections_of(
    page: PageContext, *, every: bool = False, limit: int = 20
) -> list[tuple[int | None, ProjectionRead]]:
    """(owner id, projection) of mine (every user's with ``every``, for an admin), newest first.

    Found through the jobs that ran them: a projection is one job of kind ``project``.
    """
    me = page.signed_in
    found = jobs.list_jobs(
        page.db, caller=me, kind=visualization.PROJECT_JOB, limit=limit * 2, offset=0
    ).items
    listed: list[tuple[int | None, ProjectionRead]] = []
    for job in found:
        if not (every or job.owner_id == me.id):
            continue
        projection_id = (job.params or {}).get("projection_id")
        if not isinstance(projection_id, str):
            continue
        try:
            listed.append((job.owner_id, visualization.get_projection(page.db, me, projection_id)))
        except ModelyardError:
            continue  # its model version was deleted
        if len(listed) >= limit:
            break
    return listed


def _version_page(
    request: Request,
    page: PageContext,
    name: str,
    version: str,
    owner_id: int | None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    me = page.signed_in
    target = visualization.native_target(page.db, me, name, version, owner_id)
    versions = registry.list_versions(page.db, me, name, target.owner_id, limit=100, offset=0)
    return page.render(
        "projections_version.html",
        status_code=status_code,
        title=f"Projections of {target.model_name} v{target.version}",
        target=target,
        versions=versions.items,
        methods=visualization.list_methods(),
        support=visualization.supported(page.db, target),
        projections=visualization.list_projections(page.db, me, target, limit=50, offset=0),
        **extra,
    )


@router.get("/projections")
def projections(page: SignedIn) -> Response:
    """List my projections and the models I can project."""
    me = page.signed_in
    models = [
        m
        for m in registry.list_models(page.db, me, limit=200, offset=0).items
        if m.owner_id == me.id and m.latest_version
    ]
    return page.render(
        "projections.html",
        title="Projections",
        projections=[read for _, read in list_projections_of(page, limit=100)],
        models=models,
    )


@router.get("/models/{name}/versions/{version}/projections")
def version_projections(
    request: Request, page: SignedIn, name: ModelName, version: VersionRef, owner_id: OwnerId = None
) -> Response:
    """A model version's projections, and a form to start one."""
    return _version_page(request, page, name, version, owner_id)


@router.post("/models/{name}/versions/{version}/projections")
def start_projection(
    request: Request,
    page: CsrfChecked,
    name: ModelName,
    version: VersionRef,
    method: Annotated[str, Form(min_length=1, max_length=64)],
    refit: Annotated[bool, Form()] = False,
    owner_id: OwnerId = None,
) -> Response:
    """Start a projection job of the version with the chosen method."""
    me = page.signed_in
    target = visualization.native_target(page.db, me, name, version, owner_id)
    try:
        read = visualization.request_projection(
            page.db,
            request.app.state.jobs,
            me,
            target,
            method,
            refit=refit,
            seed=_runtime(request).settings.visualization.seed,
        )
    except ModelyardError as exc:
        page.db.rollback()
        return _version_page(
            request,
            page,
            name,
            version,
            owner_id,
            status_code=exc.status_code,
            start_error=exc.message,
        )
    message = (
        "This input was projected already with these settings: here is that projection."
        if read.cached
        else "Projection started."
    )
    return page.redirect(f"/ui/projections/{read.id}", message)


def _get(page: PageContext, projection_id: str) -> ProjectionRead:
    """The projection, read again when it looks failed.

    The service reads the projection's row, then its job: a job that ends in between looks
    like "ERROR: the projection job failed" although its projection just finished. A fresh
    transaction reads the finished row (see notes/visualization.md, "requests from web").
    """
    read = visualization.get_projection(page.db, page.signed_in, projection_id)
    if read.state == "ERROR":
        page.db.rollback()
        read = visualization.get_projection(page.db, page.signed_in, projection_id)
    return read


def progress_of(read: ProjectionRead) -> dict[str, Any]:
    return {
        "id": read.id,
        "job_state": read.state,
        "progress": read.progress,
        "status": read.stage or ("finished" if read.state in FINISHED else "waiting"),
        "message": read.message,
        "done": read.state in FINISHED,
    }


def _colourings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each colouring of the points: its name, kind, and its legend (classes or a range)."""
    production = result.get("class_labels") or {}
    training = result.get("training_class_labels") or {}
    names = [n for n in _ORDER if n in production or n in training]
    names += sorted(n for n in {*production, *training} if n not in names)
    colourings: list[dict[str, Any]] = []
    for name in names:
        both = [production.get(name) or {}, training.get(name) or {}]
        kind = next((b.get("coloring_type") for b in both if b.get("coloring_type")), "class")
        if kind == "gradient":
            values = [v for b in both for v in b.get("data") or [] if isinstance(v, int | float)]
            low, high = (
                (0.0, 1.0)
                if name == "confidence"
                else (min(values, default=0.0), max(values, default=1.0))
            )
            legend = [
                (number(low), gradient_colour(low, low, high)),
                (number((low + high) / 2), gradient_colour((low + high) / 2, low, high)),
                (number(high), gradient_colour(high, low, high)),
            ]
            colourings.append(
                {"name": name, "kind": "gradient", "low": low, "high": high, "legend": legend}
            )
        else:
            classes: list[Any] = []
            for b in both:
                for c in [*(b.get("classes") or []), *(b.get("data") or [])]:
                    if c is not None and c not in classes:
                        classes.append(c)
            colours = {str(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
            colourings.append(
                {"name": name, "kind": "class", "colours": colours, "legend": list(colours.items())}
            )
    return colourings


def _point_style(
    colourings: list[dict[str, Any]], labels: dict[str, Any], i: int
) -> tuple[dict[str, str], dict[str, str]]:
    fills: dict[str, str] = {}
    values: dict[str, str] = {}
    for colouring in colourings:
        name = colouring["name"]
        data = (labels.get(name) or {}).get("data") or []
        value = data[i] if i < len(data) else None
        if colouring["kind"] == "gradient":
            numeric = value if isinstance(value, int | float) else None
            fills[name] = gradient_colour(numeric, colouring["low"], colouring["high"])
            values[name] = number(numeric)
        else:
            fills[name] = colouring["colours"].get(str(value), "#9ca3af")
            values[name] = "—" if value is None else str(value)
    return fills, values


def _xy(row: Any) -> tuple[float, float]:
    coords = [float(v) for v in row] if isinstance(row, list) else []
    return (coords[0] if coords else 0.0, coords[1] if len(coords) > 1 else 0.0)


def scatter_of(result: dict[str, Any], title: str) -> dict[str, Any]:
    """What the page needs to draw and explore a projection result."""
    colourings = _colourings(result)
    points: list[ScatterPoint] = []
    for source, key, labels_key in (
        ("training", "training_data", "training_class_labels"),
        ("production", "data", "class_labels"),
    ):
        labels = result.get(labels_key) or {}
        request_ids = result.get("request_ids") or []
        for i, row in enumerate(result.get(key) or []):
            x, y = _xy(row)
            fills, values = _point_style(colourings, labels, i)
            points.append(
                ScatterPoint(
                    x,
                    y,
                    source,
                    i,
                    fills,
                    values,
                    request_ids[i] if source == "production" and i < len(request_ids) else None,
                )
            )
    first = colourings[0]["name"] if colourings else ""
    neighbours = [[int(j) for j in row[:SHOWN_NEIGHBOURS]] for row in result.get("top_100") or []]
    return {
        "svg": scatter_plot(points, title=title, colouring=first) if points else None,
        "colourings": colourings,
        "first": first,
        "neighbours": neighbours,
        "n_training": len(result.get("training_data") or []),
        "n_production": len(result.get("data") or []),
    }


def _metrics_table(result: dict[str, Any]) -> list[dict[str, Any]]:
    docs = visualization.metric_docs()
    rows = []
    for name, value in (result.get("visualization_metrics") or {}).items():
        doc = docs.get(name) or docs.get(name.rsplit("_", 1)[0]) or {}
        rows.append(
            {
                "name": name,
                "value": value,
                "range": doc.get("range", ""),
                "meaning": doc.get("meaning", ""),
            }
        )
    return rows


@router.get("/projections/{projection_id}")
def projection(request: Request, page: SignedIn, projection_id: ProjectionId) -> Response:
    """One projection: its progress, then its scatter, quality metrics and downloads."""
    me = page.signed_in
    read = _get(page, projection_id)
    values: dict[str, Any] = {"scatter": None, "metrics": [], "result": None}
    if read.state == "SUCCESS":
        result = visualization.projection_result(page.db, _runtime(request).store, me, read.id)
        title = f"{read.model_name} v{read.version}: {read.method}"
        values = {
            "scatter": scatter_of(result, title),
            "metrics": _metrics_table(result),
            "result": result,
        }
    return page.render(
        "projection.html",
        title=f"Projection {read.model_name} v{read.version} · {read.method}",
        projection=read,
        progress=progress_of(read),
        **values,
    )


@router.get("/projections/{projection_id}/progress.json")
def projection_progress(page: SignedIn, projection_id: ProjectionId) -> Response:
    """The projection's progress, for the page's progress bar to poll."""
    read = _get(page, projection_id)
    return JSONResponse(progress_of(read), headers={"Cache-Control": "no-store"})


@router.get("/projections/{projection_id}/plot.png")
def projection_png(request: Request, page: SignedIn, projection_id: ProjectionId) -> Response:
    """The projection's scatter as a PNG."""
    data = visualization.projection_file(
        page.db, _runtime(request).store, page.signed_in, projection_id, "plot"
    )
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/projections/{projection_id}/data.parquet")
def projection_parquet(request: Request, page: SignedIn, projection_id: ProjectionId) -> Response:
    """The projection's points as parquet, one row per point."""
    data = visualization.projection_file(
        page.db, _runtime(request).store, page.signed_in, projection_id, "parquet"
    )
    return Response(
        data,
        media_type="application/vnd.apache.parquet",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="projection-{projection_id}.parquet"',
        },
    )
