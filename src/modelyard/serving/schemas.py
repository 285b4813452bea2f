"""What the serving API shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.registry.schemas import ServingOptions

__all__ = ["AsyncAccepted", "PredictResponse", "PredictionLogRead", "ServingOptionsRead"]


class PredictResponse(BaseModel):
    """A model's answer: one prediction per row; for a classifier, classes and probabilities."""

    predict_id: str
    model: str
    version: int
    classes: list[Any] | None = Field(default=None, description="Classifiers: the class labels.")
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        default=None, description="Classifiers: one probability per class, in `classes` order."
    )


class PredictionLogRead(BaseModel):
    """One logged prediction request: what came in, what went out, and how it went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    predict_id: str
    model_name: str
    version: int
    user_id: int | None
    source: str
    status: int
    error: str | None
    n_rows: int
    input: Any
    output: Any
    latency_ms: float
    created_at: datetime


class AsyncAccepted(BaseModel):
    """An accepted async prediction: fetch it with ``GET /api/v1/predictions/{predict_id}``."""

    predict_id: str


class EffectiveServing(BaseModel):
    """Every serving knob of a version, its own options merged with the server's defaults."""

    mode: str
    max_queue_size: int
    workers: int
    max_batch_rows: int
    max_wait_ms: float
    max_concurrent_requests: int | None
    max_request_rows: int | None
    client_wait_seconds: float
    result_ttl_seconds: int
    retry_after_seconds: int
    max_threads: int | None
    request_log: str


class ServingOptionsRead(BaseModel):
    """How a version is served: what it sets itself, and what applies."""

    model: str
    version: int
    options: ServingOptions
    effective: EffectiveServing
