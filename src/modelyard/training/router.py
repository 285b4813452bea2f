"""HTTP face of training: datasets, training runs, predictions, experiments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep, run_and_commit
from modelyard.jobs.dependencies import ExecutorDep
from modelyard.pagination import IntId, PageParamsDep
from modelyard.schemas import Page
from modelyard.training import service
from modelyard.training.dependencies import RuntimeDep
from modelyard.training.schemas import (
    EXPERIMENT_NAME_PATTERN,
    DatasetFromPath,
    DatasetRead,
    ExperimentRead,
    PredictBody,
    PredictionRead,
    RunRead,
    TrainingCreate,
    TrainingRunRead,
)

__all__ = ["router"]

router = APIRouter(tags=["training"])

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ExperimentName = Annotated[str, Path(pattern=EXPERIMENT_NAME_PATTERN)]


@router.post("/datasets", response_model=DatasetRead, status_code=status.HTTP_201_CREATED)
def upload_dataset(
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="zip or tar.gz: one folder per label.")],
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> DatasetRead:
    """Upload an archive whose top-level folders are the labels and files the documents."""
    return service.create_dataset_from_archive(
        session, runtime, user, name or file.filename or "dataset", file.file
    )


@router.post("/datasets/from-path", response_model=DatasetRead, status_code=201)
def register_dataset_path(
    body: DatasetFromPath, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> DatasetRead:
    """Read a folder under the server's datasets root as a dataset (a snapshot)."""
    return service.create_dataset_from_path(
        session, runtime, user, body.path, name=body.name, labels=body.labels
    )


@router.get("/datasets", response_model=Page[DatasetRead])
def list_datasets(
    session: SessionDep, user: CurrentUser, runtime: RuntimeDep, page: PageParamsDep
) -> Page[DatasetRead]:
    """List your datasets, newest first."""
    return service.list_datasets(session, runtime, user, limit=page.limit, offset=page.offset)


# ":int": GET /datasets/from-path is that POST route's 405, not a dataset id that is not a number.
@router.get("/datasets/{dataset_id:int}", response_model=DatasetRead)
def get_dataset(
    dataset_id: IntId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> DatasetRead:
    """Show a dataset: documents per label, sizes, skipped files and why."""
    return service.get_dataset(session, runtime, user, dataset_id)


@router.post(
    "/training-runs",
    response_model=TrainingRunRead,
    status_code=202,
    responses={
        404: {"description": "The dataset is not found (or not yours)."},
        422: {
            "description": "Too few documents in a label (not_enough_documents): the error "
            "names min_docs_per_label and the setting that changes it."
        },
        409: {"description": "The experiment name is another's, or the experiment is deleted."},
    },
)
def start_training(
    body: TrainingCreate,
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    executor: ExecutorDep,
) -> TrainingRunRead:
    """Train a classifier on a dataset as a background job; follow it here or in /jobs."""
    started = service.start_training(
        session,
        runtime,
        executor,
        user,
        dataset_id=body.dataset_id,
        experiment_name=body.experiment_name,
        trainer=body.trainer,
        min_docs_per_label=body.min_docs_per_label,
    )
    return service.get_training_run(session, runtime, user, started.run.run_id)


@router.get("/training-runs/newest-per-experiment", response_model=list[RunRead])
def newest_runs(session: SessionDep, user: CurrentUser, runtime: RuntimeDep) -> list[RunRead]:
    """Show the newest training run of each of your active experiments (ids of /training-runs)."""
    return service.newest_run_per_experiment(session, runtime, user, training_only=True)


@router.get("/training-runs/{run_id}", response_model=TrainingRunRead)
def get_training_run(
    run_id: RunId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> TrainingRunRead:
    """Show a training run: job progress, MLflow status, params, metrics, registered model."""
    return service.get_training_run(session, runtime, user, run_id)


@router.post(
    "/training-runs/{run_id}/predict",
    response_model=list[PredictionRead],
    responses={409: {"description": "The run has not finished: no model yet."}},
)
async def predict(
    run_id: RunId, body: PredictBody, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> list[PredictionRead]:
    """Classify texts with a finished run's model (loaded once, then cached)."""
    # The ownership check, the prediction and the end of the session in one thread-pool trip.
    return await run_and_commit(
        session, lambda: service.predict(session, runtime, user, run_id, body.texts)
    )


@router.delete("/training-runs/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_run(
    run_id: RunId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Soft delete a run in MLflow (restore it with /restore)."""
    service.delete_run(session, runtime, user, run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/training-runs/{run_id}/restore",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Not deleted."}},
)
def restore_run(
    run_id: RunId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Restore a soft-deleted run."""
    service.restore_run(session, runtime, user, run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/experiments", response_model=list[ExperimentRead])
def list_experiments(
    session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> list[ExperimentRead]:
    """List your experiments, deleted ones included (see lifecycle_stage)."""
    return service.list_experiments(session, runtime, user)


@router.get("/experiments/{name}/runs", response_model=list[RunRead])
def experiment_runs(
    name: ExperimentName,
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 3,
) -> list[RunRead]:
    """Show an experiment's newest runs (3 unless limit says otherwise)."""
    return service.latest_runs(session, runtime, user, name, limit)


@router.delete(
    "/experiments/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Already deleted."}},
)
def delete_experiment(
    name: ExperimentName,
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    hard: Annotated[bool, Query(description="Remove runs and artifacts (mlflow gc).")] = False,
) -> Response:
    """Soft delete an experiment, or with hard=true remove it for good (its name is freed)."""
    if hard:
        service.hard_delete_experiment(session, runtime, user, name)
    else:
        service.soft_delete_experiment(session, runtime, user, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/experiments/{name}/restore",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Not deleted."}},
)
def restore_experiment(
    name: ExperimentName, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Restore a soft-deleted experiment."""
    service.restore_experiment(session, runtime, user, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
