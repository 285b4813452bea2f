"""The training job's work: dataset → split → train → evaluate → MLflow → evaluation, registry.

The job is given a run id only; it reads the run, its dataset and the settings of its process.
MLflow names its runs as the Custom Classifier did: ``dataset_info <timestamp>`` (the data's
statistics) and ``training_classifier<timestamp>``, both opened when the training was asked
for. The validation metrics are logged on the training run; only when the training was asked
for with a validation run (the Custom Classifier's ``validation: 1``) do they also go to a run
of their own, ``validation_model_<run id><timestamp>``, logged here, as the source did.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from modelyard.jobs import JobCancelled, JobContext, JobFailed, JobState
from modelyard.jobs.exceptions import JobInterrupted
from modelyard.jobs.liveness import AbandonedJob
from modelyard.training import repository, service
from modelyard.training.datasets import decode_corpus
from modelyard.training.plots import confusion_matrix_png
from modelyard.training.runtime import TrainingRuntime, runtime_for, tracker_for
from modelyard.training.trainers import (
    TrainerUnavailable,
    encoder_reference,
    evaluate,
    load_text_model,
    split,
    train,
)

__all__ = ["end_abandoned_run", "run_training", "thin_validation_warning"]

log = logging.getLogger(__name__)

# How often progress is written while fitting: enough to watch, few database writes.
PROGRESS_SECONDS = 0.5


def _stages(ctx: JobContext) -> Callable[[float, str], None]:
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if fraction in (0.0, 1.0) or now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            ctx.progress(fraction, stage)
        ctx.raise_if_cancelled()

    return report


def run_training(ctx: JobContext) -> dict[str, Any]:
    """The body of ``training.train`` jobs (see ``tasks.py``)."""
    runtime = runtime_for(ctx.database.url)
    run_id = str(ctx.params["run_id"])
    try:
        return _train(ctx, runtime, run_id)
    except JobInterrupted:
        # The job goes back to PENDING and trains again into this run (or, if its worker was
        # taken for lost, whoever ended the job ended the run): it is not over yet.
        raise
    except JobCancelled:
        runtime.tracker.finish(run_id, "KILLED")
        raise
    except BaseException:
        try:
            runtime.tracker.finish(run_id, "FAILED")
        except Exception:
            log.exception("run %s: could not mark the MLflow run failed", run_id)
        raise


def end_abandoned_run(job: AbandonedJob) -> None:
    """End the MLflow run of a training job whose body never got to (its worker died, or the
    server crashed under it): FAILED, or KILLED if it had been cancelled, with an end time.

    Called by whichever process noticed (a reaper, a redelivered message, the start-up repair),
    often not the one that trained: the run id is in the job's parameters, the tracking store
    in the settings. A run the body did end (it finished, then the process died before the job
    row said so) is left as it is.
    """
    run_id = str(job.params.get("run_id", ""))
    if not run_id:
        return
    tracker = tracker_for(job.database_url, job.settings)
    view = tracker.get_run(run_id)
    if view is None or view.status != "RUNNING":
        return
    tracker.finish(run_id, "KILLED" if job.state == JobState.REVOKED else "FAILED")
    log.warning(
        "run %s: its job %s was abandoned (%s); the MLflow run ended",
        run_id,
        job.id,
        job.reason,
        extra={"run_id": run_id, "job_id": job.id},
    )


def _train(ctx: JobContext, runtime: TrainingRuntime, run_id: str) -> dict[str, Any]:
    report = _stages(ctx)
    report(0.02, "loading dataset")
    with ctx.database.session() as session:
        run = repository.get_run(session, run_id)
        if run is None:
            raise JobFailed(f"run {run_id} is gone")
        dataset = repository.get_dataset(session, run.dataset_id) if run.dataset_id else None
        if dataset is None:
            raise JobFailed("the run's dataset is gone")
        experiment = repository.get_experiment(session, run.experiment_id)
        mlflow_experiment = experiment.mlflow_id if experiment else None
        trainer, key, counts = run.trainer, dataset.artifact_key, dict(dataset.label_counts)
    if mlflow_experiment is None:
        raise JobFailed("the run's experiment is gone")
    texts, labels = decode_corpus(runtime.store.get_bytes(key))
    section = runtime.settings.training
    min_docs = int(ctx.params.get("min_docs_per_label", section.min_docs_per_label))
    short = {label: n for label, n in counts.items() if n < min_docs}
    if len(counts) < 2 or short:
        raise JobFailed(f"each of at least two labels needs {min_docs} documents: {short}")

    report(0.1, "splitting")
    parts = split(texts, labels, fraction=section.validation_fraction, seed=section.seed)
    warning = thin_validation_warning(parts.valid_labels, counts, section.thin_validation_docs)
    report(0.15, "training")
    try:
        model_bytes = train(
            trainer,
            parts,
            seed=section.seed,
            progress=lambda f, stage: report(0.15 + 0.6 * f, stage),
        )
    except TrainerUnavailable as exc:
        raise JobFailed(str(exc)) from exc

    report(0.8, "evaluating")
    model = load_text_model(model_bytes)
    results = evaluate(model, parts.valid_texts, parts.valid_labels)
    label2id, id2label = service.label_maps(list(model.label2id))
    metrics = {k: v for k, v in results["metrics"].items() if v is not None}

    report(0.9, "logging to MLflow")
    tracker = runtime.tracker
    reference = encoder_reference(trainer)
    params: dict[str, Any] = {
        # JSON, so MLflow's UI and any client read them as data (the Custom Classifier's
        # routes show them as its Python reprs: service.source_label_map).
        "label2id": json.dumps(label2id, ensure_ascii=False),
        "id2label": json.dumps(id2label, ensure_ascii=False),
        "trainer": trainer,
        "seed": section.seed,
        "validation_fraction": section.validation_fraction,
        "train_documents": len(parts.train_texts),
        "validation_documents": len(parts.valid_texts),
    }
    if reference is not None:
        params.update({k: v for k, v in reference.items() if k != "model"})
    validation_counts = Counter(parts.valid_labels)
    # Beside the quality metrics, not among them: these say how far to trust them.
    sizes = {
        "validation_documents": float(len(parts.valid_labels)),
        "validation_min_documents_per_label": float(
            min(validation_counts.get(label, 0) for label in counts)
        ),
    }
    tracker.log(run_id, params=params, metrics={**metrics, **sizes})
    if warning is not None:
        tracker.set_tag(run_id, service.WARNING_TAG, warning)
    tracker.log_bytes(run_id, service.MODEL_ARTIFACT, model_bytes)
    if reference is not None:
        # The encoder's weights stay in its package; the run says which one the head needs.
        tracker.log_bytes(run_id, service.ENCODER_ARTIFACT, service.json_bytes(reference))
    tracker.log_bytes(run_id, "labels/label2id.json", service.json_bytes(label2id))
    tracker.log_bytes(run_id, "labels/id2label.json", service.json_bytes(id2label))
    matrix = results["confusion_matrix"]
    tracker.log_bytes(run_id, "validation/confusion_matrix.json", service.json_bytes(matrix))
    tracker.log_bytes(
        run_id,
        "validation/confusion_matrix.png",
        confusion_matrix_png(matrix["labels"], matrix["matrix"]),
    )
    tracker.log_bytes(
        run_id, "validation/classification_report.json", service.json_bytes(results["per_class"])
    )
    if ctx.params.get("validation_run"):
        validation = tracker.start_run(
            mlflow_experiment,
            f"validation_model_{run_id}{service.run_stamp()}",
            {"modelyard.run_id": run_id},
        )
        tracker.log(validation.run_id, metrics=metrics)
        tracker.finish(validation.run_id, "FINISHED")

    report(0.95, "registering the model")
    registered = matrix_uid = None
    with ctx.database.session() as session:
        run = repository.get_run(session, run_id)
        if run is not None:
            matrix_uid = service.store_confusion_matrix(
                session, runtime, run, results["actual"], results["predicted"], matrix["labels"]
            )
            registered = service.register_model(session, runtime, run, model_bytes, metrics)
    if matrix_uid is not None:
        tracker.set_tag(run_id, service.CONFUSION_MATRIX_TAG, matrix_uid)
    tracker.finish(run_id, "FINISHED")
    return {
        "run_id": run_id,
        "metrics": metrics,
        "model": {"name": registered[0], "version": registered[1]} if registered else None,
        "confusion_matrix_uid": matrix_uid,
        "warnings": [warning] if warning is not None else [],
    }


def thin_validation_warning(
    valid_labels: list[str], counts: dict[str, int], thin_below: int
) -> str | None:
    """A warning when some label has fewer than ``thin_below`` validation documents."""
    validation_counts = Counter(valid_labels)
    thin = {label: validation_counts.get(label, 0) for label in counts}
    thin = {label: n for label, n in sorted(thin.items()) if n < thin_below}
    if not thin:
        return None
    listed = ", ".join(f"{label} {n}" for label, n in thin.items())
    return (
        f"thin validation: fewer than {thin_below} validation documents in a label "
        f"({listed}); its metrics rest on too few documents to trust, add documents"
    )
