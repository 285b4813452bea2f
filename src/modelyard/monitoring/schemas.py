"""Request and response models of the monitoring API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelyard.pagination import MAX_ID

__all__ = [
    "DriftRead",
    "DriftWindow",
    "FeatureDrift",
    "FeedbackItem",
    "FeedbackResult",
    "MonitorCheck",
    "MonitorCreate",
    "MonitorEvaluationRead",
    "MonitorRead",
    "PerformanceRead",
    "PerformanceWindowRead",
    "WebhookDeliveryRead",
    "WindowKind",
]

WindowKind = Literal["hour", "day", "week"]
PredictId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_LABEL_LENGTH = 200
Label = Annotated[str, StringConstraints(max_length=MAX_LABEL_LENGTH)] | int | float | bool


class FeedbackItem(BaseModel):
    """The right answer for one row of a logged prediction."""

    model_config = ConfigDict(extra="forbid")

    predict_id: PredictId = Field(description="The X-Predict-Id of the prediction.")
    row: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ID,
        description="The row of a multi-row request (0-based); may be left out for one row.",
    )
    label: Label = Field(description="The right class: one of the version's classes.")


class FeedbackProblem(BaseModel):
    predict_id: str
    row: int | None = None
    reason: str


class FeedbackResult(BaseModel):
    """What a feedback request did."""

    received: int = Field(description="Labels in the request.")
    stored: int = Field(description="Labels stored for rows that had none.")
    replaced: int = Field(description="Labels that replaced an earlier label of the same row.")
    unknown: int = Field(description="Labels whose predict id is not in the model's log.")
    unknown_ids: list[FeedbackProblem] = Field(
        default_factory=list, description="The first of them, with the reason."
    )
    versions: dict[int, int] = Field(
        default_factory=dict, description="Labels stored per version number."
    )


class PerformanceWindowRead(BaseModel):
    """One window's realized (from labels) and estimated (CBPE) performance."""

    start: datetime
    end: datetime
    predicted: int = Field(description="Rows answered in the window.")
    labelled: int = Field(description="Of those, rows with a label.")
    coverage: float | None = Field(description="labelled / predicted.")
    matrix_uid: str | None = Field(
        description="The window's confusion matrix in /api/v1/confusion-matrices."
    )
    accuracy: float | None = None
    per_class: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="precision, recall and F1 of each class."
    )
    estimated: dict[str, Any] | None = Field(
        default=None, description="CBPE: the expected accuracy and matrix before labels."
    )


class PerformanceRead(BaseModel):
    model: str
    version: int
    window: WindowKind
    classes: list[Any]
    validation_matrix_uid: str | None = Field(
        default=None, description="The validation matrix of the training run, if trained here."
    )
    windows: list[PerformanceWindowRead]


class FeatureDrift(BaseModel):
    feature: str
    kind: Literal["num", "cat"]
    stattest: str
    statistic: float | None
    threshold: float
    drifted: bool
    psi: float | None = None
    reference_rows: int
    current_rows: int


class DriftWindow(BaseModel):
    start: datetime
    end: datetime
    rows: int
    drift_share: float
    dataset_drift: bool
    features: list[FeatureDrift]
    prediction: FeatureDrift | None = Field(default=None, description="Drift of the classes.")
    confidence: FeatureDrift | None = Field(default=None, description="Drift of max probability.")


class DriftRead(BaseModel):
    model: str
    version: int
    window: WindowKind
    reference: str = Field(description="training_sample or window:<start>.")
    reference_rows: int
    drift_share_threshold: float
    windows: list[DriftWindow]


CheckKind = Literal[
    "drift_share", "metric_below", "coverage_below", "volume_below", "error_rate_above"
]


class MonitorCheck(BaseModel):
    """What a monitor measures and when it fires."""

    model_config = ConfigDict(extra="forbid")

    kind: CheckKind
    threshold: float = Field(
        ge=0, allow_inf_nan=False, description="The value past which the monitor fires."
    )
    metric: Literal["accuracy", "estimated_accuracy"] | None = Field(
        default=None, description="metric_below: which metric."
    )


class MonitorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    model: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    version: (
        Annotated[int, Field(ge=1, le=MAX_ID)]
        | Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ) = Field(default="latest", description="A version number, an alias or latest.")
    owner_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Admins: whose model.")
    check: MonitorCheck
    window: WindowKind = "day"
    interval_seconds: int = Field(
        default=3600, ge=60, le=31 * 86400, description="How often it runs (60 s to 31 days)."
    )
    min_samples: int = Field(
        default=30, ge=1, le=MAX_ID, description="Fewer rows: no state change."
    )
    quiet_seconds: int = Field(
        default=0, ge=0, le=31 * 86400, description="After firing, stay silent this long."
    )
    webhook_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    webhook_secret: Annotated[str, StringConstraints(min_length=16, max_length=128)] | None = Field(
        default=None, description="Signs each delivery (HMAC-SHA256); generated when left out."
    )


class MonitorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    model: str
    version: int
    check: dict[str, Any]
    window: str
    interval_seconds: int
    min_samples: int
    quiet_seconds: int
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None, description="Shown once, when the monitor is created."
    )
    enabled: bool
    state: str
    value: float | None
    next_run_at: datetime
    last_run_at: datetime | None
    last_fired_at: datetime | None


class MonitorEvaluationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    window_start: datetime
    window_end: datetime
    state: str
    value: float | None
    samples: int
    detail: dict[str, Any]
    fired: bool
    created_at: datetime


class WebhookDeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    evaluation_id: int | None
    attempt: int
    status_code: int | None
    error: str | None
    ok: bool
    created_at: datetime
