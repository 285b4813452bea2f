"""The visualization domain's operations: parameters, projection jobs, results. No HTTP.

A model version is named by the caller's model name and version (native API) or by its row
id (hydro-visualization's ``model_version_id``); either way another user's version is not
found. Projections belong to the user who asked for them.

Caching: a projection's ``cache_key`` is a hash of the method, its parameters, the sample
sizes, the metrics asked for, the training sample and the production log up to its newest
request. Asking again for the same key gives back the projection that has it (finished or
still running) instead of a new job; a refit always makes a new one. When only the production
data changed, the job places it with the transformer fitted before (no new fit).

Deleting a model version deletes its projections (the foreign key's cascade) and, through the
registry's ``on_version_delete``, their files.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.auth.models import User
from modelyard.jobs import service as jobs
from modelyard.jobs.exceptions import JobNotFound
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import JobState
from modelyard.registry import service as registry
from modelyard.registry.schemas import ServingTarget
from modelyard.schemas import Page
from modelyard.serving import service as serving
from modelyard.storage import ArtifactStore
from modelyard.visualization import methods, repository
from modelyard.visualization.exceptions import (
    InvalidParameters,
    NoResult,
    ProjectionNotFound,
    UnknownMethod,
)
from modelyard.visualization.metrics import METRIC_DOCS
from modelyard.visualization.models import Projection, ProjectionConfig
from modelyard.visualization.schemas import (
    METHOD_PARAMETERS,
    METHODS,
    ProjectionParams,
    ProjectionParamsRead,
    ProjectionRead,
    SupportedRead,
)
from modelyard.visualization.tasks import PROJECT_JOB

__all__ = [
    "PROJECT_JOB",
    "check_method",
    "get_params",
    "get_projection",
    "list_methods",
    "list_projections",
    "native_target",
    "projection_file",
    "projection_result",
    "request_projection",
    "set_params",
    "supported",
    "target_by_id",
    "validate_params",
]

_FINISHED = frozenset({"SUCCESS", "ERROR", "NO_DATA", "NOT_SUPPORTED"})

registry.on_version_delete("visualization", repository.file_keys)
# Projections a user made of another user's model go with the user.
auth.on_user_delete("visualization", repository.owner_file_keys)


# --- names ------------------------------------------------------------------------------------


def check_method(method: str) -> str:
    """``method`` if it is one of the supported names; a clear 400 otherwise."""
    if method not in METHODS:
        raise UnknownMethod(
            f"unknown method {method!r}; use one of {list(METHODS)}",
            details={"method": method, "supported": list(METHODS)},
        )
    return method


def native_target(
    session: Session, caller: User, name: str, ref: str, owner_id: int | None = None
) -> ServingTarget:
    return registry.serving_target(session, caller, name, ref, owner_id)


def target_by_id(session: Session, caller: User, model_version_id: int) -> ServingTarget:
    return registry.version_target(session, model_version_id, caller)


# --- parameters -------------------------------------------------------------------------------


def validate_params(method: str, body: ProjectionParams) -> ProjectionParams:
    """The body with the method's parameters checked and their defaults filled in."""
    schema = METHOD_PARAMETERS[check_method(method)]
    try:
        parameters = schema.model_validate(body.parameters)
    except ValidationError as exc:
        raise InvalidParameters(
            f"invalid {method} parameters",
            details=[
                {
                    "loc": ["body", "parameters", *err.get("loc", ())],
                    "msg": err.get("msg", ""),
                    "type": err.get("type", ""),
                }
                for err in exc.errors()
            ],
        ) from exc
    return body.model_copy(update={"parameters": parameters.model_dump()})


def _defaults(method: str) -> ProjectionParams:
    return validate_params(method, ProjectionParams())


def _params_read(method: str, params: ProjectionParams, is_default: bool) -> ProjectionParamsRead:
    return ProjectionParamsRead(method=method, is_default=is_default, **params.model_dump())


def _current(session: Session, target: ServingTarget, method: str) -> tuple[ProjectionParams, bool]:
    stored = repository.get_config(session, target.version_id, method)
    if stored is None:
        return _defaults(method), True
    params = ProjectionParams(
        parameters=stored.parameters,
        production_data_sample_size=stored.production_data_sample_size,
        training_data_sample_size=stored.training_data_sample_size,
        visualization_metrics=stored.visualization_metrics,
    )
    # Parameters stored by an older release may lack a field added since: fill it in.
    return validate_params(method, params), False


def get_params(session: Session, target: ServingTarget, method: str) -> ProjectionParamsRead:
    """The parameters in force for ``method`` on the version (defaults when none were set)."""
    params, is_default = _current(session, target, check_method(method))
    return _params_read(method, params, is_default)


def set_params(
    session: Session, target: ServingTarget, method: str, body: ProjectionParams
) -> ProjectionParamsRead:
    """Store the parameters for ``method`` on the version; both sample sizes are kept apart."""
    params = validate_params(method, body)
    stored = repository.get_config(session, target.version_id, method)
    if stored is None:
        stored = ProjectionConfig(model_version_id=target.version_id, method=method)
        stored.parameters = params.parameters
        stored.production_data_sample_size = params.production_data_sample_size
        stored.training_data_sample_size = params.training_data_sample_size
        stored.visualization_metrics = list(params.visualization_metrics)
        repository.add(session, stored)
    else:
        stored.parameters = params.parameters
        stored.production_data_sample_size = params.production_data_sample_size
        stored.training_data_sample_size = params.training_data_sample_size
        stored.visualization_metrics = list(params.visualization_metrics)
        session.flush()
    return _params_read(method, params, False)


# --- projections ------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def request_projection(
    session: Session,
    executor: JobExecutor,
    caller: User,
    target: ServingTarget,
    method: str,
    *,
    refit: bool = False,
    seed: int = 0,
) -> ProjectionRead:
    """Start a projection job, or give back the projection of exactly this input.

    The job is handed to the executor once the request's transaction commits.
    """
    params, _ = _current(session, target, check_method(method))
    count, newest = serving.production_log_mark(session, target.model_id, target.version)
    fit_input = {
        "method": method,
        "parameters": params.parameters,
        "training": [target.sample_key, target.sample_rows, params.training_data_sample_size],
        "seed": seed,
    }
    fit_key = _digest(fit_input)
    cache_key = _digest(
        {
            **fit_input,
            "production": [count, newest, params.production_data_sample_size],
            "metrics": sorted(params.visualization_metrics),
        }
    )
    if not refit:
        cached = repository.cached_projection(session, target.version_id, method, cache_key)
        # A job that died without recording its end (a crash) is not worth reusing.
        if cached is not None and _state(session, caller, cached)[0] != "ERROR":
            return _read(session, caller, cached, target, cached=True)
    projection = Projection(
        id=uuid.uuid4().hex,
        owner_id=caller.id,
        model_version_id=target.version_id,
        method=method,
        config=params.model_dump(),
        cache_key=cache_key,
        fit_key=fit_key,
        refit=refit,
        production_until_id=newest,
    )
    repository.add(session, projection)
    job = jobs.submit_job(
        session,
        executor,
        kind=PROJECT_JOB,
        params={"projection_id": projection.id},
        owner_id=caller.id,
        max_attempts=1,
    )
    projection.job_id = job.id
    session.flush()
    return _read(session, caller, projection, target)


def _owned(session: Session, caller: User, projection_id: str) -> Projection:
    projection = repository.get_projection(session, projection_id)
    if projection is None or not (caller.is_admin or projection.owner_id == caller.id):
        raise ProjectionNotFound(f"projection {projection_id!r} not found")
    return projection


def _state(
    session: Session, caller: User, projection: Projection
) -> tuple[str, str, float, str | None]:
    """(state, message, progress, stage) from the projection and, while it runs, its job."""
    if projection.state in _FINISHED:
        return projection.state, projection.message or "", 1.0, None
    job = None
    if projection.job_id is not None:
        try:
            job = jobs.get_job(session, projection.job_id, caller=caller)
        except JobNotFound:
            job = None
    if job is None:
        return "ERROR", "the projection's job is gone", 0.0, None
    if job.state in JobState.FINISHED:
        # The job body records the projection's end before the job's own: a projection read
        # just before that commit and its job just after is simply read again.
        session.refresh(projection)
        if projection.state in _FINISHED:
            return projection.state, projection.message or "", 1.0, None
    if job.state == JobState.PENDING:
        return "PENDING", "", job.progress, job.message
    if job.state == JobState.STARTED:
        return "STARTED", "", job.progress, job.message
    if job.state == JobState.REVOKED:
        return "ERROR", "the projection was cancelled", job.progress, None
    return "ERROR", job.error or "the projection job failed", job.progress, None


def _read(
    session: Session,
    caller: User,
    projection: Projection,
    target: ServingTarget,
    *,
    cached: bool = False,
) -> ProjectionRead:
    state, message, progress, stage = _state(session, caller, projection)
    base = f"/api/v1/projections/{projection.id}"
    links = {"self": base}
    if state == "SUCCESS":
        links |= {
            "result": f"{base}/result",
            "plot": f"{base}/plot.png",
            "parquet": f"{base}/data.parquet",
        }
    return ProjectionRead(
        id=projection.id,
        model_name=target.model_name,
        version=target.version,
        model_version_id=projection.model_version_id,
        method=projection.method,
        state=state,
        message=message,
        progress=progress,
        stage=stage,
        job_id=projection.job_id,
        mode=projection.mode,
        refit=projection.refit,
        cached=cached,
        params=ProjectionParams.model_validate(projection.config),
        n_training=projection.n_training,
        n_production=projection.n_production,
        created_at=projection.created_at,
        finished_at=projection.finished_at,
        links=links,
    )


def get_projection(session: Session, caller: User, projection_id: str) -> ProjectionRead:
    """One of the caller's projections: state, progress, message and links."""
    projection = _owned(session, caller, projection_id)
    target = registry.version_target(session, projection.model_version_id)
    return _read(session, caller, projection, target)


def list_projections(
    session: Session, caller: User, target: ServingTarget, *, limit: int, offset: int
) -> Page[ProjectionRead]:
    """The projections of one version, newest first."""
    items = repository.list_projections(session, target.version_id, limit=limit, offset=offset)
    visible = [p for p in items if caller.is_admin or p.owner_id == caller.id]
    return Page[ProjectionRead](
        items=[_read(session, caller, p, target) for p in visible],
        total=repository.count_projections(session, target.version_id),
        limit=limit,
        offset=offset,
    )


def _file_key(projection: Projection, kind: str) -> str | None:
    keys = {
        "result": projection.result_key,
        "plot": projection.plot_key,
        "parquet": projection.parquet_key,
    }
    return keys[kind]


def projection_file(
    session: Session, store: ArtifactStore, caller: User, projection_id: str, kind: str
) -> bytes:
    """The bytes of a finished projection's ``result`` (JSON), ``plot`` (PNG) or ``parquet``."""
    projection = _owned(session, caller, projection_id)
    key = _file_key(projection, kind)
    if projection.state != "SUCCESS" or key is None:
        state, message, _, _ = _state(session, caller, projection)
        raise NoResult(
            f"projection {projection_id} is {state}" + (f": {message}" if message else ""),
            details={"state": state},
        )
    return store.get_bytes(key)


def projection_result(
    session: Session, store: ArtifactStore, caller: User, projection_id: str
) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        projection_file(session, store, caller, projection_id, "result")
    )
    return data


def supported(session: Session, target: ServingTarget, method: str | None = None) -> SupportedRead:
    """Whether the version's data can be projected (with ``method``, when one is named)."""
    if method is not None:
        missing = methods.missing_library(check_method(method))
        if missing is not None:
            return SupportedRead(supported=False, message=missing)
    if target.input_schema is None:
        return SupportedRead(
            supported=False,
            message="this model version has no input schema, so its inputs cannot be "
            "turned into features",
        )
    count, _ = serving.production_log_mark(session, target.model_id, target.version)
    if target.sample_key is None and count == 0:
        return SupportedRead(
            supported=False,
            message="this model version has no training data sample and no logged "
            "production requests yet",
        )
    return SupportedRead(supported=True, message="")


def list_methods() -> list[dict[str, Any]]:
    """Each method: whether it runs here, its parameters' JSON schema; and every metric."""
    return [
        {
            "method": method,
            "available": methods.missing_library(method) is None,
            "message": methods.missing_library(method) or "",
            "can_place_new_points": method != "trimap",
            "parameters_schema": METHOD_PARAMETERS[method].model_json_schema(),
            "defaults": _defaults(method).model_dump(),
        }
        for method in METHODS
    ]


def metric_docs() -> dict[str, dict[str, str]]:
    return {name: {"range": doc.range, "meaning": doc.meaning} for name, doc in METRIC_DOCS.items()}
