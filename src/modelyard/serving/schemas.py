"""What the serving API shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PredictResponse", "PredictionLogRead"]


class PredictResponse(BaseModel):
    """A model's answer: one prediction per row; for a classifier, classes and probabilities."""

    predict_id: str
    model: str
    version: int
    predictions: list[Any]
    classes: list[Any] | None = Field(default=None, description="Classifiers: the class labels.")
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
