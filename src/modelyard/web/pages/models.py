"""Models: list, upload, versions, input schema, try a prediction, the request log and charts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import uuid4

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from modelyard.errors import InvalidInput, ModelyardError
from modelyard.pagination import MAX_ID
from modelyard.registry import service as registry
from modelyard.registry.dependencies import ModelName, OwnerId
from modelyard.registry.schemas import MODEL_NAME_PATTERN, ModelVersionRead
from modelyard.serving import service as serving
from modelyard.serving.schemas import PredictionLogRead
from modelyard.web.charts import LATENCY_COLOURS, PALETTE, STATUS_COLOURS
from modelyard.web.context import CsrfChecked, PageContext, SignedIn
from modelyard.web.routing import PageRoute

__all__ = ["router", "traffic_charts"]

router = APIRouter(prefix="/models", route_class=PageRoute)

LOG_PAGE = 25
# The charts summarise this many of the newest requests: enough to see a trend, cheap to read.
CHART_WINDOW = 2000
_EXAMPLE = {"float": 0.0, "int": 0, "bool": False, "str": ""}


@router.get("")
def models(page: SignedIn) -> Response:
    """List my models (every model for an admin)."""
    listed = registry.list_models(page.db, page.signed_in, limit=200, offset=0)
    return page.render("models.html", title="Models", listed=listed)


def _limit(upload: UploadFile | None, limit: int, what: str) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"the {what} is larger than {limit} bytes")
    return data


@router.post("")
def upload_model(
    request: Request,
    page: CsrfChecked,
    name: Annotated[str, Form(pattern=MODEL_NAME_PATTERN)],
    file: Annotated[UploadFile, File()],
    input_schema: Annotated[UploadFile | None, File()] = None,
    sample: Annotated[UploadFile | None, File()] = None,
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Register a new version of one of my models from an uploaded file."""
    me = page.signed_in
    settings = request.app.state.settings.registry
    try:
        schema_bytes = _limit(input_schema, 1024 * 1024, "input schema")
        try:
            schema = json.loads(schema_bytes) if schema_bytes else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"the input schema is not JSON: {exc}") from exc
        upload = registry.Upload(
            name=name,
            data=_limit(file, settings.max_model_bytes, "model file") or b"",
            description=description.strip() or None,
            input_schema=schema,
            sample=_limit(sample, settings.max_sample_bytes, "training sample"),
        )
        version = registry.register_version(
            page.db, request.app.state.artifacts, settings, me, upload
        )
    except ModelyardError as exc:
        listed = registry.list_models(page.db, me, limit=200, offset=0)
        return page.render(
            "models.html",
            status_code=exc.status_code,
            title="Models",
            listed=listed,
            error=exc.message,
        )
    return page.redirect(
        f"/ui/models/{version.model_name}?owner_id={me.id}",
        f"Version {version.version} of {version.model_name} is registered.",
    )


def _bucket(span: timedelta) -> tuple[timedelta, str]:
    if span <= timedelta(hours=2):
        return timedelta(minutes=1), "%H:%M"
    if span <= timedelta(days=3):
        return timedelta(hours=1), "%d %H:00"
    return timedelta(days=1), "%m-%d"


def _floor(moment: datetime, size: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // size) * size


def traffic_charts(items: list[PredictionLogRead]) -> dict[str, Any] | None:
    """Requests, latency and predicted classes per time bucket, oldest bucket first."""
    if not items:
        return None
    first = min(i.created_at for i in items)
    last = max(i.created_at for i in items)
    size, fmt = _bucket(last - first)
    start = _floor(first, size)
    count = min(60, int((last - start) // size) + 1)
    start = _floor(last, size) - size * (count - 1)
    labels = [(start + size * k).strftime(fmt) for k in range(count)]
    ok, failed = [0.0] * count, [0.0] * count
    latency_sum, latency_max = [0.0] * count, [0.0] * count
    classes: dict[str, list[float]] = {}
    totals: Counter[str] = Counter()
    for item in items:
        k = int((item.created_at - start) // size)
        if k < 0:
            continue
        (ok if item.status < 400 else failed)[k] += 1
        latency_sum[k] += item.latency_ms
        latency_max[k] = max(latency_max[k], item.latency_ms)
        predictions = item.output.get("predictions") if isinstance(item.output, dict) else None
        for value in predictions or []:
            if isinstance(value, str | int | bool):
                key = str(value)
                classes.setdefault(key, [0.0] * count)[k] += 1
                totals[key] += 1
    n = [ok[k] + failed[k] for k in range(count)]
    top = [name for name, _ in totals.most_common(8)]
    return {
        "labels": labels,
        "traffic": {"succeeded": ok, "failed": failed},
        "latency": {
            "mean ms": [latency_sum[k] / n[k] if n[k] else None for k in range(count)],
            "max ms": [latency_max[k] if n[k] else None for k in range(count)],
        },
        "classes": {name: classes[name] for name in top},
        "window": len(items),
        "bucket": size,
    }


def _example(version: ModelVersionRead | None) -> str:
    if version is None or not version.input_schema:
        return '{"X": [[0, 0, 0, 0]]}'
    return json.dumps([{c.name: _EXAMPLE.get(c.type, 0) for c in version.input_schema}], indent=1)


def _model_page(
    page: PageContext,
    name: str,
    owner_id: int | None,
    filters: dict[str, Any],
    offset: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    me = page.signed_in
    model = registry.get_model(page.db, me, name, owner_id)
    versions = registry.list_versions(page.db, me, name, owner_id, limit=100, offset=0).items
    latest = versions[0] if versions else None
    # The version a prediction without one goes to (production, else the latest): the form
    # starts on it, and the schema shown is that of the version the form will predict with.
    default = next((v for v in versions if "production" in v.aliases), latest)
    chosen = next((v for v in versions if v.version == extra.get("try_version")), default)
    log = serving.list_request_log(
        page.db, me, name, owner_id, limit=LOG_PAGE, offset=offset, **filters
    )
    recent = serving.list_request_log(
        page.db, me, name, owner_id, limit=CHART_WINDOW, offset=0
    ).items
    query = {
        k: v for k, v in filters.items() if v is not None and k in ("version", "status", "source")
    }
    query["owner_id"] = model.owner_id

    def page_link(to: int) -> str:
        return f"/ui/models/{name}?" + urlencode({**query, "offset": to})

    extra.setdefault("example", _example(chosen))
    return page.render(
        "model.html",
        status_code=status_code,
        title=f"Model {model.name}",
        model=model,
        versions=versions,
        latest=latest,
        default_version=default,
        chosen=chosen,
        log=log,
        filters=filters,
        charts=traffic_charts(recent),
        chart_colours={
            "traffic": STATUS_COLOURS,
            "latency": LATENCY_COLOURS,
            # A class's colour is the one the projection pages give it (the model's class order).
            "classes": {
                str(c): PALETTE[i % len(PALETTE)]
                for i, c in enumerate((default.classes if default else None) or [])
            },
        },
        prev_link=page_link(max(0, offset - LOG_PAGE)) if offset > 0 else None,
        next_link=page_link(offset + LOG_PAGE) if offset + LOG_PAGE < log.total else None,
        owner_id=model.owner_id,
        **extra,
    )


@router.get("/{name}")
def model(
    page: SignedIn,
    name: ModelName,
    owner_id: OwnerId = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    try_version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Show a model: versions, input schema, a prediction form, its request log and charts."""
    filters = {"version": version, "status": status, "source": source or None}
    return _model_page(page, name, owner_id, filters, offset, try_version=try_version)


@router.post("/{name}/predict")
async def predict(
    request: Request,
    page: CsrfChecked,
    name: ModelName,
    rows: Annotated[str, Form(max_length=1_000_000)],
    owner_id: OwnerId = None,
    version: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Try a prediction with the chosen version (default: production, else the latest)."""
    # An async route, so that the model runs in the serving core's own worker thread; the
    # database work before and after it goes to the thread pool, off the event loop.
    me = page.signed_in
    ref = None if version is None else str(version)
    target = await run_in_threadpool(registry.serving_target, page.db, me, name, ref, owner_id)
    core: serving.ServingCore = request.app.state.serving
    empty: dict[str, Any] = {"version": None, "status": None, "source": None}
    try:
        result = await core.predict(
            target, rows.encode(), predict_id=str(uuid4()), user_id=me.id, source="web"
        )
    except ModelyardError as exc:
        details = exc.details if isinstance(exc.details, list) else None
        return await run_in_threadpool(
            partial(
                _model_page,
                page,
                name,
                owner_id,
                empty,
                0,
                status_code=exc.status_code,
                example=rows,
                try_version=version,
                predict_error=exc.message,
                predict_details=details,
            )
        )
    return await run_in_threadpool(
        partial(
            _model_page,
            page,
            name,
            owner_id,
            empty,
            0,
            example=rows,
            try_version=target.version,
            result=result,
        )
    )
