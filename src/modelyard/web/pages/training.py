"""Training: datasets, starting a run, runs with live progress, a run's metrics and matrix."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from modelyard.errors import ModelyardError
from modelyard.jobs import service as jobs
from modelyard.jobs.models import JobState
from modelyard.pagination import MAX_ID
from modelyard.training import service as training
from modelyard.training.runtime import TrainingRuntime
from modelyard.training.schemas import EXPERIMENT_NAME_PATTERN, TrainingRunRead
from modelyard.training.trainers import available_trainers
from modelyard.web.context import CsrfChecked, PageContext, SignedIn
from modelyard.web.routing import PageRoute

__all__ = ["router"]

router = APIRouter(prefix="/training", route_class=PageRoute)

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _runtime(request: Request) -> TrainingRuntime:
    runtime: TrainingRuntime = request.app.state.training
    return runtime


def _training_page(
    request: Request, page: PageContext, status_code: int = 200, **extra: Any
) -> Response:
    me = page.signed_in
    datasets = training.list_datasets(page.db, _runtime(request), me, limit=100, offset=0)
    runs = [
        j
        for j in jobs.list_jobs(
            page.db, caller=me, kind=training.TRAIN_JOB, limit=100, offset=0
        ).items
        if j.owner_id == me.id
    ]
    experiments = training.list_experiments(page.db, _runtime(request), me)
    return page.render(
        "training.html",
        status_code=status_code,
        title="Training",
        datasets=datasets,
        runs=runs,
        experiments=experiments,
        min_docs=request.app.state.settings.training.min_docs_per_label,
        trainers=available_trainers(),
        **extra,
    )


@router.get("")
def training_home(request: Request, page: SignedIn) -> Response:
    """List my datasets, experiments and training runs."""
    return _training_page(request, page)


@router.post("/datasets")
def upload_dataset(
    request: Request,
    page: CsrfChecked,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Upload a zip or tar.gz whose top-level folders are the labels."""
    me = page.signed_in
    try:
        dataset = training.create_dataset_from_archive(
            page.db, _runtime(request), me, name.strip() or file.filename or "dataset", file.file
        )
    except ModelyardError as exc:
        page.db.rollback()
        return _training_page(request, page, status_code=exc.status_code, dataset_error=exc.message)
    ready = f"Dataset {dataset.name} is ready: {dataset.documents} documents."
    if dataset.training_problem:
        ready += f" It cannot train yet: {dataset.training_problem}."
    return page.redirect("/ui/training", ready)


@router.post("/runs")
def start_run(
    request: Request,
    page: CsrfChecked,
    dataset_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    experiment_name: Annotated[str, Form(pattern=EXPERIMENT_NAME_PATTERN)],
    trainer: Annotated[str, Form(max_length=40)] = "tfidf-logreg",
) -> Response:
    """Start training a classifier on one of my datasets."""
    me = page.signed_in
    try:
        started = training.start_training(
            page.db,
            _runtime(request),
            request.app.state.jobs,
            me,
            dataset_id=dataset_id,
            experiment_name=experiment_name.strip(),
            trainer=trainer,
        )
    except ModelyardError as exc:
        page.db.rollback()
        return _training_page(request, page, status_code=exc.status_code, run_error=exc.message)
    return page.redirect(f"/ui/training/runs/{started.run.run_id}", "Training started.")


def _mlflow_link(request: Request, page: PageContext, run: TrainingRunRead) -> str | None:
    uri = request.app.state.settings.training.mlflow_uri
    if not uri or not uri.startswith(("http://", "https://")):
        return None
    experiments = training.list_experiments(page.db, _runtime(request), page.signed_in)
    found = [e.experiment_id for e in experiments if e.name == run.experiment_name]
    if not found:
        return None
    return f"{uri.rstrip('/')}/#/experiments/{found[0]}/runs/{run.run_id}"


def progress_of(run: TrainingRunRead) -> dict[str, Any]:
    state = run.job_state or "PENDING"
    return {
        "run_id": run.run_id,
        "job_state": state,
        "progress": run.progress or 0.0,
        "message": run.message,
        "status": run.status,
        "done": state in JobState.FINISHED,
    }


@router.get("/runs/{run_id}")
def run(request: Request, page: SignedIn, run_id: RunId) -> Response:
    """Show a training run: progress, metrics, parameters, the validation matrix."""
    read = training.get_training_run(page.db, _runtime(request), page.signed_in, run_id)
    job = jobs.get_job(page.db, read.job_id, caller=page.signed_in) if read.job_id else None
    return page.render(
        "run.html",
        title=f"Run {read.experiment_name}",
        run=read,
        job=job,
        progress=progress_of(read),
        mlflow_link=_mlflow_link(request, page, read),
        tracking=request.app.state.settings.training.mlflow_uri,
    )


@router.get("/runs/{run_id}/progress.json")
def run_progress(request: Request, page: SignedIn, run_id: RunId) -> Response:
    """The run's progress, for the page's progress bar to poll."""
    read = training.get_training_run(page.db, _runtime(request), page.signed_in, run_id)
    return JSONResponse(progress_of(read), headers={"Cache-Control": "no-store"})


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, page: CsrfChecked, run_id: RunId) -> Response:
    """Cancel one of my training runs that has not finished."""
    me = page.signed_in
    read = training.get_training_run(page.db, _runtime(request), me, run_id)
    if read.job_id is None:
        return page.redirect(f"/ui/training/runs/{run_id}", "This run has no job to cancel.")
    jobs.cancel_job(page.db, read.job_id, caller=me)
    return page.redirect(f"/ui/training/runs/{run_id}", "Cancellation requested.")
