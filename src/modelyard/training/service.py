"""The training domain's operations: datasets, trainings, runs and experiments. No HTTP.

Ownership: datasets, experiments and runs belong to the user who made them; anyone else gets
"not found". MLflow experiment names are global, so a name another user holds is a conflict.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.auth.models import User
from modelyard.errors import ModelyardError
from modelyard.evaluation import service as evaluation
from modelyard.evaluation.schemas import ConfusionMatrixCreate
from modelyard.jobs import service as jobs
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import Job
from modelyard.registry import service as registry
from modelyard.schemas import Page
from modelyard.training import repository
from modelyard.training.datasets import (
    ArchiveLimits,
    Corpus,
    DatasetProblem,
    DatasetTooLarge,
    encode_corpus,
    read_archive,
    read_folder,
    resolve_under_root,
)
from modelyard.training.exceptions import (
    DatasetNotFound,
    ExperimentAlreadyDeleted,
    ExperimentNameTaken,
    ExperimentNotDeleted,
    ExperimentNotFound,
    InvalidDataset,
    NotEnoughDocuments,
    RunAlreadyDeleted,
    RunNotDeleted,
    RunNotFinished,
    RunNotFound,
    TrackingFailed,
    TrainerNotAvailable,
    UploadTooLarge,
)
from modelyard.training.models import Dataset, Experiment, TrainingRun
from modelyard.training.runtime import TrainingRuntime
from modelyard.training.schemas import (
    DatasetRead,
    ExperimentRead,
    PredictionRead,
    RunRead,
    TrainingRunRead,
    run_read,
)
from modelyard.training.tasks import TRAIN_JOB
from modelyard.training.tracking import GcUnavailable, RunView, TrackingError
from modelyard.training.trainers import TRAINERS, TextModel, available_trainers, load_text_model

__all__ = [
    "TRAIN_JOB",
    "create_dataset_from_archive",
    "create_dataset_from_path",
    "delete_run",
    "get_dataset",
    "get_training_run",
    "hard_delete_experiment",
    "latest_runs",
    "list_datasets",
    "list_experiments",
    "newest_run_per_experiment",
    "predict",
    "restore_experiment",
    "restore_run",
    "soft_delete_experiment",
    "start_training",
    "training_problem",
]

log = logging.getLogger(__name__)

auth.on_user_delete("training", repository.owner_file_keys)

MODEL_ARTIFACT = "model/model.skops"
# Set on every training run modelyard opens (and on no other run): what tells them apart.
TRAINER_TAG = "modelyard.trainer"
ENCODER_ARTIFACT = "model/encoder.json"
CONFUSION_MATRIX_TAG = "modelyard.confusion_matrix_uid"
WARNING_TAG = "modelyard.warning"
_UNSAFE_MODEL_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def run_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d_%H%M%S")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _tracking(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except GcUnavailable as exc:
        raise TrackingFailed(str(exc)) from exc
    except TrackingError as exc:
        raise TrackingFailed(f"MLflow: {exc}") from exc


# --- datasets -------------------------------------------------------------------------------


def _limits(runtime: TrainingRuntime) -> ArchiveLimits:
    section = runtime.settings.training
    return ArchiveLimits(
        max_members=section.max_members,
        max_bytes=section.max_extracted_bytes,
        max_document_bytes=section.max_document_bytes,
        max_labels=section.max_labels,
        max_ratio=section.max_compression_ratio,
    )


def training_problem(
    label_counts: dict[str, int], min_docs: int, *, compat: bool = False
) -> str | None:
    """Why a dataset with these counts cannot train at ``min_docs`` per label, naming what
    changes it; None when it can."""
    if len(label_counts) < 2:
        return f"training needs at least two labels; this dataset has {len(label_counts)}"
    short = {label: n for label, n in label_counts.items() if n < min_docs}
    if not short:
        return None
    if compat:
        where = "MODELYARD_TRAINING_CUSTOM_CLASSIFIER_MIN_DOCS_PER_LABEL sets it for this route"
    elif min(short.values()) < 2:
        where = "add documents: a label needs one to train and one to validate"
    else:
        where = (
            "lower it for one training with min_docs_per_label in the request body, or for "
            "the server with MODELYARD_TRAINING_MIN_DOCS_PER_LABEL"
        )
    listed = ", ".join(f"{label} has {n}" for label, n in sorted(short.items()))
    return f"each label needs at least {min_docs} documents ({listed}); {where}"


def _dataset_read(dataset: Dataset, min_docs: int) -> DatasetRead:
    read = DatasetRead.model_validate(dataset)
    read.training_problem = training_problem(dict(dataset.label_counts), min_docs)
    return read


def _save_dataset(
    session: Session, runtime: TrainingRuntime, caller: User, name: str, source: str, corpus: Corpus
) -> Dataset:
    key = runtime.store.new_key("datasets", ".jsonl.gz")
    runtime.store.put_bytes(key, encode_corpus(corpus))
    dataset = Dataset(
        owner_id=caller.id,
        name=name,
        source=source,
        artifact_key=key,
        documents=len(corpus.texts),
        total_bytes=sum(corpus.sizes.values()),
        label_counts=corpus.counts,
        label_bytes=dict(sorted(corpus.sizes.items())),
        skipped=[{"path": s.path, "reason": s.reason} for s in corpus.skipped],
        skipped_count=corpus.skipped_count,
    )
    repository.add(session, dataset)
    return dataset


def create_dataset_from_archive(
    session: Session, runtime: TrainingRuntime, caller: User, name: str, upload: BinaryIO
) -> DatasetRead:
    """Check and read an uploaded zip or tar.gz whose top-level folders are the labels."""
    limit = runtime.settings.training.max_archive_bytes
    with tempfile.NamedTemporaryFile(prefix="modelyard-dataset-") as spool:
        copied = 0
        while chunk := upload.read(1024 * 1024):
            copied += len(chunk)
            if copied > limit:
                raise UploadTooLarge(
                    f"archives are limited to {limit} bytes (MODELYARD_TRAINING_MAX_ARCHIVE_BYTES)"
                )
            spool.write(chunk)
        spool.flush()
        if copied == 0:
            raise InvalidDataset("the archive is empty")
        try:
            corpus = read_archive(Path(spool.name), _limits(runtime))
        except DatasetTooLarge as exc:
            raise UploadTooLarge(str(exc)) from exc
        except DatasetProblem as exc:
            raise InvalidDataset(str(exc)) from exc
    dataset = _save_dataset(session, runtime, caller, name, "upload", corpus)
    return _dataset_read(dataset, runtime.settings.training.min_docs_per_label)


def _from_path(
    session: Session,
    runtime: TrainingRuntime,
    caller: User,
    path: str,
    name: str | None,
    labels: list[str] | None,
) -> Dataset:
    try:
        folder = resolve_under_root(runtime.settings.training.datasets_root, path)
        corpus = read_folder(folder, _limits(runtime), labels)
    except DatasetTooLarge as exc:
        raise UploadTooLarge(str(exc)) from exc
    except DatasetProblem as exc:
        raise InvalidDataset(str(exc)) from exc
    return _save_dataset(session, runtime, caller, name or path, "path", corpus)


def create_dataset_from_path(
    session: Session,
    runtime: TrainingRuntime,
    caller: User,
    path: str,
    *,
    name: str | None = None,
    labels: list[str] | None = None,
) -> DatasetRead:
    """Read a folder under the datasets root (a snapshot: later changes are not seen)."""
    dataset = _from_path(session, runtime, caller, path, name, labels)
    return _dataset_read(dataset, runtime.settings.training.min_docs_per_label)


def _owned_dataset(session: Session, caller: User, dataset_id: int) -> Dataset:
    dataset = repository.get_dataset(session, dataset_id)
    if dataset is None or dataset.owner_id != caller.id:
        raise DatasetNotFound(f"dataset {dataset_id} not found")
    return dataset


def get_dataset(
    session: Session, runtime: TrainingRuntime, caller: User, dataset_id: int
) -> DatasetRead:
    dataset = _owned_dataset(session, caller, dataset_id)
    return _dataset_read(dataset, runtime.settings.training.min_docs_per_label)


def list_datasets(
    session: Session, runtime: TrainingRuntime, caller: User, *, limit: int, offset: int
) -> Page[DatasetRead]:
    items = repository.list_datasets(session, caller.id, limit=limit, offset=offset)
    min_docs = runtime.settings.training.min_docs_per_label
    return Page[DatasetRead](
        items=[_dataset_read(d, min_docs) for d in items],
        total=repository.count_datasets(session, caller.id),
        limit=limit,
        offset=offset,
    )


# --- experiments ----------------------------------------------------------------------------


def _owned_experiment(session: Session, caller: User, name: str) -> Experiment:
    experiment = repository.experiment_by_name(session, name)
    if experiment is None or experiment.owner_id != caller.id:
        raise ExperimentNotFound(f"experiment {name!r} not found")
    return experiment


def _experiment_for_training(
    session: Session, runtime: TrainingRuntime, caller: User, name: str
) -> Experiment:
    experiment = repository.experiment_by_name(session, name)
    if experiment is not None and experiment.owner_id != caller.id:
        raise ExperimentNameTaken(f"the experiment name {name!r} is taken")
    if experiment is None:
        found = _tracking(runtime.tracker.find_experiment, name)
        if found is not None:
            # An experiment made outside modelyard (or by an earlier deployment): not ours.
            raise ExperimentNameTaken(f"the experiment name {name!r} is taken in MLflow")
        mlflow_id = _tracking(runtime.tracker.create_experiment, name, caller.id)
        experiment = Experiment(owner_id=caller.id, name=name, mlflow_id=mlflow_id)
        repository.add(session, experiment)
        return experiment
    found = _tracking(runtime.tracker.find_experiment, name)
    if found is not None and found[1] == "deleted":
        raise ExperimentAlreadyDeleted(
            f"the experiment {name!r} is deleted; restore it or hard delete it first"
        )
    return experiment


def _stage(runtime: TrainingRuntime, experiment: Experiment) -> str:
    found = _tracking(runtime.tracker.find_experiment, experiment.name)
    return found[1] if found is not None else "deleted"


def list_experiments(
    session: Session, runtime: TrainingRuntime, caller: User
) -> list[ExperimentRead]:
    return [
        ExperimentRead(
            experiment_id=e.mlflow_id,
            name=e.name,
            lifecycle_stage=_stage(runtime, e),
            created_at=e.created_at,
        )
        for e in repository.experiments_of(session, caller.id)
    ]


def soft_delete_experiment(
    session: Session, runtime: TrainingRuntime, caller: User, name: str
) -> str:
    """Mark the experiment deleted in MLflow (its runs and files stay); return its stage."""
    experiment = _owned_experiment(session, caller, name)
    if _stage(runtime, experiment) == "deleted":
        raise ExperimentAlreadyDeleted(f"the experiment {name!r} is already deleted")
    _tracking(runtime.tracker.delete_experiment, experiment.mlflow_id)
    runtime.models.forget(
        [run.run_id for run in repository.runs_of_experiment(session, experiment.id)]
    )
    return "deleted"


def restore_experiment(session: Session, runtime: TrainingRuntime, caller: User, name: str) -> str:
    experiment = _owned_experiment(session, caller, name)
    if _stage(runtime, experiment) != "deleted":
        raise ExperimentNotDeleted(f"the experiment {name!r} is not deleted")
    _tracking(runtime.tracker.restore_experiment, experiment.mlflow_id)
    return "active"


def hard_delete_experiment(
    session: Session, runtime: TrainingRuntime, caller: User, name: str
) -> None:
    """Remove the experiment, its runs and artifacts with ``mlflow gc``; the name is free again."""
    experiment = _owned_experiment(session, caller, name)
    if _stage(runtime, experiment) != "deleted":
        _tracking(runtime.tracker.delete_experiment, experiment.mlflow_id)
    _tracking(runtime.tracker.hard_delete_experiment, experiment.mlflow_id)
    run_ids = [run.run_id for run in repository.runs_of_experiment(session, experiment.id)]
    runtime.models.forget(run_ids)
    repository.delete_experiment(session, experiment)


# --- trainings ------------------------------------------------------------------------------


def _check_trainable(dataset: Dataset, min_docs: int, *, compat: bool) -> None:
    counts: dict[str, int] = dict(dataset.label_counts)
    problem = training_problem(counts, min_docs, compat=compat)
    if problem is None:
        return
    if len(counts) < 2:
        raise NotEnoughDocuments(problem, details={"label_counts": counts})
    setting = (
        "MODELYARD_TRAINING_CUSTOM_CLASSIFIER_MIN_DOCS_PER_LABEL"
        if compat
        else "MODELYARD_TRAINING_MIN_DOCS_PER_LABEL"
    )
    details: dict[str, Any] = {
        "min_docs_per_label": min_docs,
        "too_few": {label: n for label, n in counts.items() if n < min_docs},
        "setting": setting,
    }
    if not compat:
        details["field"] = "min_docs_per_label"
    raise NotEnoughDocuments(problem, details=details)


def _log_dataset_info(runtime: TrainingRuntime, experiment_id: str, dataset: Dataset) -> int:
    """The source's ``dataset_info <timestamp>`` run: the data's statistics, before training.

    Returns its start time (ms), which the training run's must follow.
    """
    counts: dict[str, int] = dict(dataset.label_counts)
    tracker = runtime.tracker
    info: RunView = _tracking(
        tracker.start_run,
        experiment_id,
        f"dataset_info {run_stamp()}",
        {"modelyard.dataset_id": str(dataset.id)},
    )
    _tracking(
        tracker.log,
        info.run_id,
        params={
            "dataset": dataset.name,
            "labels": sorted(counts),
            "documents": dataset.documents,
            "skipped_documents": dataset.skipped_count,
        },
        metrics={f"documents_{label}": n for label, n in counts.items()},
    )
    _tracking(tracker.finish, info.run_id, "FINISHED")
    return info.start_time or 0


@dataclass
class Started:
    run: TrainingRun
    view: RunView
    job: Job


def start_training(
    session: Session,
    runtime: TrainingRuntime,
    executor: JobExecutor,
    caller: User,
    *,
    dataset_id: int,
    experiment_name: str,
    trainer: str = "tfidf-logreg",
    validation_run: bool = False,
    min_docs_per_label: int | None = None,
    compat: bool = False,
) -> Started:
    """Check the dataset, open the MLflow run (RUNNING) and submit the training job.

    The validation metrics are logged on the training run; ``validation_run`` also logs them
    on a run of their own, ``validation_model_<run id><timestamp>`` (the Custom Classifier's
    ``validation: 1``), which is then the experiment's newest run.

    ``min_docs_per_label``: this training's minimum; default the server's setting (the Custom
    Classifier's own, 75 by default, when ``compat``).
    """
    if trainer not in TRAINERS:
        raise TrainerNotAvailable(f"unknown trainer {trainer!r}; use one of {list(TRAINERS)}")
    if trainer not in available_trainers():
        raise TrainerNotAvailable(
            f"the {trainer} trainer is not installed on this server (install modelyard[{trainer}])"
        )
    dataset = _owned_dataset(session, caller, dataset_id)
    section = runtime.settings.training
    default = section.custom_classifier_min_docs_per_label if compat else section.min_docs_per_label
    min_docs = min_docs_per_label or default
    _check_trainable(dataset, min_docs, compat=compat)
    experiment = _experiment_for_training(session, runtime, caller, experiment_name)
    info_started = _log_dataset_info(runtime, experiment.mlflow_id, dataset)
    # Runs are ordered by start time (ms): the training run is the newer of the two even
    # when both open within one millisecond.
    view: RunView = _tracking(
        runtime.tracker.start_run,
        experiment.mlflow_id,
        f"training_classifier{run_stamp()}",
        {TRAINER_TAG: trainer, "modelyard.dataset_id": str(dataset.id)},
        start_time=max(_now_ms(), info_started + 1),
    )
    run = TrainingRun(
        run_id=view.run_id,
        owner_id=caller.id,
        experiment_id=experiment.id,
        dataset_id=dataset.id,
        trainer=trainer,
    )
    repository.add(session, run)
    job = jobs.submit_job(
        session,
        executor,
        kind=TRAIN_JOB,
        params={
            "run_id": run.run_id,
            "min_docs_per_label": min_docs,
            "validation_run": validation_run,
        },
        owner_id=caller.id,
        max_attempts=1,
    )
    run.job_id = job.id
    session.flush()
    return Started(run, view, job)


def start_training_from_path(
    session: Session,
    runtime: TrainingRuntime,
    executor: JobExecutor,
    caller: User,
    *,
    path: str,
    labels: list[str] | None,
    experiment_name: str,
    validation_run: bool = False,
) -> Started:
    """The Custom Classifier's ``/process``: snapshot the folder, then train on it."""
    dataset = _from_path(session, runtime, caller, path, None, labels)
    return start_training(
        session,
        runtime,
        executor,
        caller,
        dataset_id=dataset.id,
        experiment_name=experiment_name,
        validation_run=validation_run,
        compat=True,
    )


def _owned_run(session: Session, caller: User, run_id: str) -> TrainingRun:
    run = repository.get_run(session, run_id) if len(run_id) <= 64 else None
    if run is None or run.owner_id != caller.id:
        raise RunNotFound(f"run {run_id!r} not found")
    return run


def get_training_run(
    session: Session, runtime: TrainingRuntime, caller: User, run_id: str
) -> TrainingRunRead:
    run = _owned_run(session, caller, run_id)
    # The job first: it ends after the MLflow run does, so a finished job is never shown
    # beside a RUNNING run.
    job = jobs.get_job(session, run.job_id, caller=caller) if run.job_id else None
    view: RunView | None = _tracking(runtime.tracker.get_run, run_id)
    if view is None:
        raise RunNotFound(f"run {run_id!r} not found")
    experiment = repository.get_experiment(session, run.experiment_id)
    return TrainingRunRead(
        run_id=run.run_id,
        experiment_name=experiment.name if experiment else "",
        dataset_id=run.dataset_id,
        trainer=run.trainer,
        job_id=run.job_id,
        job_state=job.state if job else None,
        progress=job.progress if job else None,
        message=job.message if job else None,
        status=view.status,
        lifecycle_stage=view.lifecycle_stage,
        params=view.params,
        metrics=view.metrics,
        model_name=run.model_name,
        model_version=run.model_version,
        confusion_matrix_uid=view.tags.get(CONFUSION_MATRIX_TAG),
        warnings=[view.tags[WARNING_TAG]] if WARNING_TAG in view.tags else [],
        created_at=run.created_at,
    )


def latest_runs(
    session: Session, runtime: TrainingRuntime, caller: User, experiment_name: str, n: int = 3
) -> list[RunRead]:
    """The ``n`` newest runs of one of the caller's experiments (every kind of run)."""
    experiment = _owned_experiment(session, caller, experiment_name)
    views = _tracking(runtime.tracker.search_runs, [experiment.mlflow_id], max_results=n)
    return [run_read(v, experiment.name) for v in views]


def newest_run_per_experiment(
    session: Session, runtime: TrainingRuntime, caller: User, *, training_only: bool = False
) -> list[RunRead]:
    """The newest active run of each of the caller's active experiments, newest first.

    Every kind of run (training, ``dataset_info``, ``validation_model_``), as the Custom
    Classifier listed them; with ``training_only`` the newest training run, whose id the
    training-run routes take.
    """
    only = f"tags.`{TRAINER_TAG}` LIKE '%'" if training_only else None
    answers: list[RunRead] = []
    for experiment in repository.experiments_of(session, caller.id):
        views = _tracking(
            runtime.tracker.search_runs, [experiment.mlflow_id], max_results=1, only=only
        )
        answers.extend(run_read(v, experiment.name) for v in views)
    return sorted(answers, key=lambda r: r.start_time or 0, reverse=True)


def _owned_mlflow_run(
    session: Session, runtime: TrainingRuntime, caller: User, run_id: str
) -> RunView:
    """Any run of the caller's experiments: trainings, and their dataset_info/validation runs."""
    run = repository.get_run(session, run_id) if len(run_id) <= 64 else None
    view: RunView | None = None
    if run is None or run.owner_id == caller.id:
        view = _tracking(runtime.tracker.get_run, run_id) if len(run_id) <= 64 else None
    if view is not None and run is None:
        experiment = repository.experiment_by_mlflow_id(session, view.experiment_id)
        if experiment is None or experiment.owner_id != caller.id:
            view = None
    if view is None:
        raise RunNotFound(f"run {run_id!r} not found")
    return view


def delete_run(session: Session, runtime: TrainingRuntime, caller: User, run_id: str) -> str:
    """Soft delete: the run is hidden in MLflow, its data stays."""
    view = _owned_mlflow_run(session, runtime, caller, run_id)
    if view.lifecycle_stage == "deleted":
        raise RunAlreadyDeleted(f"run {run_id!r} is already deleted")
    _tracking(runtime.tracker.delete_run, run_id)
    runtime.models.forget([run_id])
    return "deleted"


def restore_run(session: Session, runtime: TrainingRuntime, caller: User, run_id: str) -> str:
    view = _owned_mlflow_run(session, runtime, caller, run_id)
    if view.lifecycle_stage != "deleted":
        raise RunNotDeleted(f"run {run_id!r} is not deleted")
    _tracking(runtime.tracker.restore_run, run_id)
    return "active"


# --- prediction -----------------------------------------------------------------------------


def _load(runtime: TrainingRuntime, run_id: str) -> TextModel:
    data = _tracking(runtime.tracker.read_bytes, run_id, MODEL_ARTIFACT)
    return load_text_model(data)


def predict(
    session: Session, runtime: TrainingRuntime, caller: User, run_id: str, texts: list[str]
) -> list[PredictionRead]:
    """Classify ``texts`` with a finished run's model, loaded once and kept (LRU).

    MLflow is asked about the run only when its model is not loaded yet: a FINISHED run's
    model never changes. The database is asked who owns the run at most once per
    ``credential_cache_seconds`` per caller while its model is loaded. Deleting a run or an
    experiment through this process drops its model here; another replica keeps serving it
    until its cache evicts it.
    """
    model = runtime.models.owned(run_id, caller.id)
    if model is None:
        _owned_run(session, caller, run_id)
        model = runtime.models.peek(run_id)
        if model is None:
            view: RunView | None = _tracking(runtime.tracker.get_run, run_id)
            if view is None or view.lifecycle_stage == "deleted":
                raise RunNotFound(f"run {run_id!r} not found")
            if view.status != "FINISHED":
                raise RunNotFinished(
                    f"run {run_id!r} is {view.status}; it has no model to predict with"
                )
            model = runtime.models.get(run_id, lambda: _load(runtime, run_id))
        runtime.models.vouch(run_id, caller.id)
    return [
        PredictionRead(label=label, prediction=class_id, score=score)
        for label, class_id, score in model.predict(texts)
    ]


# --- the job's hand-off to the registry -----------------------------------------------------


def model_name_for(experiment_name: str) -> str:
    name = _UNSAFE_MODEL_CHARS.sub("-", experiment_name).strip("-._") or "classifier"
    if not name[0].isalnum():
        name = f"m{name}"
    return name[:100]


def register_model(
    session: Session,
    runtime: TrainingRuntime,
    run: TrainingRun,
    data: bytes,
    metrics: dict[str, Any],
) -> tuple[str, int] | None:
    """Register the run's model as a version in the registry; None (logged) if refused."""
    owner = session.get(User, run.owner_id)
    experiment = repository.get_experiment(session, run.experiment_id)
    if owner is None or experiment is None:
        return None
    upload = registry.Upload(
        name=model_name_for(experiment.name),
        data=data,
        model_format="skops",
        description=f"Trained by modelyard run {run.run_id} ({run.trainer}).",
        tags=["training", run.trainer, f"run:{run.run_id}"],
        input_schema=[{"name": "text", "type": "str"}],
    )
    try:
        # Trained by this server from its own code: may run in the API process.
        version = registry.register_version(
            session, runtime.store, runtime.settings.registry, owner, upload, origin="training"
        )
    except ModelyardError as exc:
        log.warning("run %s: model not registered: %s", run.run_id, exc.message)
        return None
    run.model_name = version.model_name
    run.model_version = version.version
    session.flush()
    return version.model_name, version.version


def store_confusion_matrix(
    session: Session,
    runtime: TrainingRuntime,
    run: TrainingRun,
    actual: list[str],
    predicted: list[str],
    classes: list[str],
) -> str | None:
    """Keep the validation matrix in the evaluation domain (report, plot); None if refused."""
    body = ConfusionMatrixCreate(
        actual=actual, predicted=predicted, classes=classes, name=f"validation of run {run.run_id}"
    )
    context = evaluation.Evaluation(runtime.store, runtime.settings.evaluation)
    try:
        record = evaluation.create(session, context, run.owner_id, body)
    except ModelyardError as exc:
        log.warning("run %s: confusion matrix not stored: %s", run.run_id, exc.message)
        return None
    return record.uid


def label_maps(labels: list[str]) -> tuple[dict[str, int], dict[int, str]]:
    label2id = {label: index for index, label in enumerate(labels)}
    return label2id, {index: label for label, index in label2id.items()}


def source_label_map(param: str | None, *, ids_are_keys: bool) -> str | None:
    """A run's ``label2id`` or ``id2label`` (``ids_are_keys``) param as the Custom Classifier
    showed it: the Python repr of the dict (``{0: 'cooking'}``). Runs log them as JSON
    (``{"0": "cooking"}``); older runs logged the repr, which is given back as it is."""
    if param is None:
        return None
    try:
        mapping = json.loads(param)
    except ValueError:
        return param
    if not isinstance(mapping, dict):
        return param
    if ids_are_keys:
        try:
            return repr({int(k): v for k, v in mapping.items()})
        except ValueError:
            return param
    return repr(mapping)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode()
