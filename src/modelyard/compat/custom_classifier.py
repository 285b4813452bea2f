"""The Custom Classifier's routes (document 002 in shared/seeds) under ``/custom_classifier``.

Kept: the paths, bodies, the response wrapper (``status {code, message}``, ``data``, ``error``,
``number_documents_treated``, ``number_documents_non_treated``, ``list_id_not_treated``), the
bare run lists of ``/job_status``, ``/runid/status`` and ``/all_experiments/last_run`` with
their dotted keys, and the ``{"status": "..."}`` answers of the delete routes (deleting what
is already deleted answers the document's ``Problem deleting ... Status deleted`` with 200).
MLflow's status strings (RUNNING, FINISHED, FAILED, KILLED; active, deleted) pass through
unchanged. The runs are named as the source named them: ``dataset_info <ts>``, then
``training_classifier<ts>`` (the newest run once ``/process`` answered), and, only with
``validation: 1``, ``validation_model_<run_id><ts>`` after the training (otherwise the
validation metrics are on the training run).

Fixed: bad input is a 4xx in the wrapper with a message, never a stack trace; ``/process``
answers at once with the run it opened and trains in a background job; ``/predict`` loads the
model once and keeps it (the source reloaded it from MLflow on every request); hard delete
goes through ``mlflow gc`` (no hand-written SQL), after which the name can be used again.
Experiments belong to the user who made them (the source had no users), so a credential is
needed, as on every other route; the token may come with or without ``Bearer``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from modelyard.auth.dependencies import LenientUser
from modelyard.db import SessionDep
from modelyard.errors import InvalidInput, ModelyardError, styled_route
from modelyard.jobs.dependencies import ExecutorDep
from modelyard.training import service
from modelyard.training.dependencies import RuntimeDep
from modelyard.training.exceptions import ExperimentAlreadyDeleted, RunAlreadyDeleted
from modelyard.training.schemas import EXPERIMENT_NAME_PATTERN, RunRead

__all__ = ["router"]

PREFIX = "/custom_classifier"
MIN_TEXT_CHARS = 11  # the source refused texts of 10 characters or fewer


def wrapped(
    data: Any, *, code: int = 200, message: str = "Success", error: str = ""
) -> dict[str, Any]:
    return {
        "status": {"code": code, "message": message},
        "data": data,
        "error": error,
        "number_documents_treated": 0,
        "number_documents_non_treated": 0,
        "list_id_not_treated": [],
    }


def custom_classifier_error_body(status: int, code: str, message: str, details: Any) -> Any:
    return wrapped(
        None if details is None else {"details": details},
        code=status,
        message="Error",
        error=message,
    )


router = APIRouter(
    prefix=PREFIX,
    route_class=styled_route(custom_classifier_error_body),
    tags=["compat: Custom Classifier"],
    responses={
        400: {"description": "A dataset that cannot be read (or no datasets root is set)."},
        404: {"description": "An unknown experiment or run (or not yours)."},
        409: {"description": "The experiment or run is in the wrong state for this."},
    },
)


class ProcessBody(BaseModel):
    labels: list[str] = Field(min_length=2, max_length=1000)
    path: str = Field(min_length=1, max_length=1000)
    experiment_name: str = Field(pattern=EXPERIMENT_NAME_PATTERN)
    validation: int = Field(
        default=0,
        ge=0,
        le=1,
        description="1: also log the validation metrics on a run of their own, "
        "validation_model_<run_id><timestamp>, after the training.",
    )


class PredictBody(BaseModel):
    runid: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=1_000_000)


class ExperimentBody(BaseModel):
    experiment_name: str = Field(min_length=1, max_length=250)


class RunBody(BaseModel):
    run_id: str = Field(min_length=1, max_length=64)


def _run_info(view: service.RunView) -> dict[str, Any]:
    info = dict(view.raw.get("info", {}))
    info.setdefault("run_uuid", view.run_id)
    return {
        key: info.get(key)
        for key in (
            "artifact_uri",
            "end_time",
            "experiment_id",
            "lifecycle_stage",
            "run_id",
            "run_name",
            "run_uuid",
            "start_time",
            "status",
            "user_id",
        )
    }


@router.post("/process")
def process(
    body: ProcessBody,
    session: SessionDep,
    user: LenientUser,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> dict[str, Any]:
    """Train a classifier on the labelled folders under ``path``; answers with the new run."""
    started = service.start_training_from_path(
        session,
        runtime,
        executor,
        user,
        path=body.path,
        labels=body.labels,
        experiment_name=body.experiment_name,
        validation_run=body.validation == 1,
    )
    view = started.view
    data = {
        "info": _run_info(view),
        "data": {"metrics": view.metrics, "params": view.params, "tags": view.tags},
    }
    return wrapped(data)


@router.post("/predict")
def predict(
    body: PredictBody, session: SessionDep, user: LenientUser, runtime: RuntimeDep
) -> dict[str, Any]:
    """Classify one text with the model of a finished run."""
    if len(body.text.strip()) < MIN_TEXT_CHARS:
        raise InvalidInput(f"The text must have more than {MIN_TEXT_CHARS - 1} characters")
    [answer] = service.predict(session, runtime, user, body.runid, [body.text])
    return wrapped(answer.model_dump())


def _status_rows(runs: list[RunRead]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run.run_id,
            "status": run.status,
            "params.label2id": service.source_label_map(
                run.params.get("label2id"), ids_are_keys=False
            ),
            "params.id2label": service.source_label_map(
                run.params.get("id2label"), ids_are_keys=True
            ),
            "tags.mlflow.runName": run.tags.get("mlflow.runName", run.run_name),
        }
        for run in runs
    ]


@router.post("/job_status")
def job_status(
    body: ExperimentBody, session: SessionDep, user: LenientUser, runtime: RuntimeDep
) -> list[dict[str, Any]]:
    """The 3 newest runs of an experiment."""
    return _status_rows(service.latest_runs(session, runtime, user, body.experiment_name))


@router.get("/runid/status")
def runid_status(
    session: SessionDep,
    user: LenientUser,
    runtime: RuntimeDep,
    experiment_name: str = Query(min_length=1, max_length=250),
) -> list[dict[str, Any]]:
    """The 3 newest runs of an experiment."""
    return _status_rows(service.latest_runs(session, runtime, user, experiment_name))


@router.get("/all_experiments/last_run")
def last_runs(session: SessionDep, user: LenientUser, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """The newest run of every experiment of yours."""
    return [
        {
            "run_id": run.run_id,
            "status": run.status,
            "experiment_name": run.experiment_name,
            "tags.mlflow.runName": run.tags.get("mlflow.runName", run.run_name),
        }
        for run in service.newest_run_per_experiment(session, runtime, user)
    ]


def _status(text: str, code: int = 200) -> JSONResponse:
    return JSONResponse({"status": text}, status_code=code)


@router.post("/experiment/soft_delete")
def experiment_soft_delete(
    body: ExperimentBody, session: SessionDep, user: LenientUser, runtime: RuntimeDep
) -> JSONResponse:
    """Delete an experiment from the UI (its runs and files stay in the store)."""
    name = body.experiment_name
    try:
        stage = service.soft_delete_experiment(session, runtime, user, name)
    except ExperimentAlreadyDeleted:
        # The document's answer, word for word.
        return _status(f"Problem deleting Experiment {name}. Status deleted")
    except ModelyardError as exc:
        return _status(f"Problem deleting Experiment {name}. {exc.message}", exc.status_code)
    return _status(f"Experiment {name} deleted. Status {stage}")


@router.post("/experiment/hard_delete")
def experiment_hard_delete(
    body: ExperimentBody, session: SessionDep, user: LenientUser, runtime: RuntimeDep
) -> JSONResponse:
    """Delete an experiment, its runs and artifacts for good (mlflow gc)."""
    name = body.experiment_name
    try:
        service.hard_delete_experiment(session, runtime, user, name)
    except ModelyardError as exc:
        return _status(f"Problem deleting Experiment {name}. {exc.message}", exc.status_code)
    return _status(f"Experiment {name} deleted. Status hard deleted")


@router.post("/run/soft_delete")
def run_soft_delete(
    body: RunBody, session: SessionDep, user: LenientUser, runtime: RuntimeDep
) -> JSONResponse:
    """Delete a run from the UI (its data stays in the store)."""
    try:
        stage = service.delete_run(session, runtime, user, body.run_id)
    except RunAlreadyDeleted:
        # The document's answer, word for word.
        return _status(f"Problem deleting run {body.run_id}. Status deleted")
    except ModelyardError as exc:
        return _status(f"Problem deleting run {body.run_id}. {exc.message}", exc.status_code)
    return _status(f"Run {body.run_id} deleted. Status {stage}")


@router.get("/health-check")
def health_check() -> dict[str, Any]:
    """Tell that the service is up."""
    return wrapped({"health": "ok"})
