"""What the server answers, as typed objects.

Fields the server adds later are kept (``extra="allow"``), so a newer server never breaks an
older client; the fields named here are the ones the client relies on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AccessToken",
    "Alias",
    "ApiKey",
    "ApiKeyCreated",
    "ConfusionMatrix",
    "Dataset",
    "Job",
    "Model",
    "ModelVersion",
    "Page",
    "Prediction",
    "Projection",
    "ServingSettings",
    "TrainingRun",
    "User",
]

T = TypeVar("T")

TERMINAL_JOB_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
# A projection's own states: these end it (ERROR is its failure; NO_DATA and NOT_SUPPORTED
# are answers, not failures).
TERMINAL_PROJECTION_STATES = frozenset({"SUCCESS", "ERROR", "NO_DATA", "NOT_SUPPORTED"})


class _Read(BaseModel):
    # defer_build: each class's validator is built on its first use, not at import (a third
    # of `import modelyard_client`'s time went to building validators no call used).
    model_config = ConfigDict(extra="allow", protected_namespaces=(), defer_build=True)


class Page(_Read, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class User(_Read):
    id: int
    email: str | None = None
    username: str | None = None
    role: str
    is_active: bool
    created_at: datetime


class AccessToken(_Read):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a kind, not a secret)
    expires_in: int


class ApiKey(_Read):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKey):
    key: str


class Job(_Read):
    id: str
    kind: str
    owner_id: int | None = None
    state: str
    progress: float
    message: str | None = None
    params: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


class Model(_Read):
    name: str
    owner_id: int
    description: str | None = None
    latest_version: int | None = None
    versions: list[int] = []
    aliases: list[Any] = []
    created_at: datetime


class ModelVersion(_Read):
    id: int
    model_name: str
    version: int
    description: str | None = None
    tags: list[str] = []
    format: str
    kind: str
    classes: list[Any] | None = None
    input_schema: list[Any] | None = None
    has_sample: bool = False
    aliases: list[str] = []
    created_at: datetime


class Alias(_Read):
    alias: str
    version: int


class ServingSettings(_Read):
    model: str
    version: int
    options: dict[str, Any]
    effective: dict[str, Any]


class Prediction(_Read):
    """One answered prediction: ``predictions`` per row; ``probabilities`` per row and class."""

    predict_id: str
    model: str
    version: int
    predictions: list[Any]
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None

    def probabilities_array(self) -> Any:
        """The probabilities as a numpy array, rows by classes (needs numpy)."""
        import numpy as np

        if self.probabilities is None:
            raise ValueError(f"{self.model} v{self.version} answers no probabilities")
        return np.asarray(self.probabilities, dtype=float)

    def predictions_array(self) -> Any:
        """The predictions as a numpy array (needs numpy)."""
        import numpy as np

        return np.asarray(self.predictions)


class ConfusionMatrix(_Read):
    uid: str
    name: str | None = None
    classes: list[Any]
    matrix: list[list[float]] = []
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    statistics: dict[str, Any] | None = None
    created_at: datetime


class Dataset(_Read):
    id: int
    name: str
    source: str
    documents: int
    total_bytes: int
    label_counts: dict[str, int]
    skipped_count: int = 0
    created_at: datetime


class TrainingRun(_Read):
    run_id: str
    experiment_name: str
    dataset_id: int | None = None
    trainer: str
    job_id: str | None = None
    job_state: str | None = None
    progress: float | None = None
    message: str | None = None
    status: str
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    model_name: str | None = None
    model_version: int | None = None
    confusion_matrix_uid: str | None = None


class Projection(_Read):
    id: str
    model_name: str
    version: int
    method: str
    state: str
    message: str = ""
    progress: float = 0.0
    job_id: str | None = None
    cached: bool = False
    n_training: int | None = None
    n_production: int | None = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_PROJECTION_STATES
