"""pycm-api's request and response bodies, field for field (its ``app/schemas.py``).

Labels are any JSON value here and checked by the evaluation service: pycm-api declared
``List[float]`` and so refused the strings its own document promised.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, EmailStr, Field

from modelyard.evaluation.schemas import Labels

__all__ = [
    "PycmCM",
    "PycmCMCreate",
    "PycmCMData",
    "PycmCMRead",
    "PycmCompareRequest",
    "PycmCompareResult",
    "PycmCredentials",
    "PycmCurveRequest",
    "PycmCurveResult",
    "PycmMessage",
    "PycmMultiLabelRequest",
    "PycmMultiLabelResult",
    "PycmUser",
]


class PycmCredentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=4096)


class PycmCM(BaseModel):
    uid: str


class PycmUser(BaseModel):
    id: int
    email: str | None
    api_key: str
    credit: float
    is_active: bool
    cms: list[PycmCM] = Field(default_factory=list)


class PycmMessage(BaseModel):
    message: str


class PycmCMCreate(BaseModel):
    api_key: str = Field(max_length=512)
    actual_vector: Labels
    predicted_vector: Labels


class PycmCMData(BaseModel):
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    confusion_matrix: list[list[int | float]] | None = None


class PycmCMRead(PycmCM, PycmCMData):
    pass


class PycmCompareRequest(BaseModel):
    api_key: str = Field(max_length=512)
    cm_uids: list[str]


class PycmCompareResult(BaseModel):
    cm_uids: list[str]
    best_name: str | None = None
    cm_scores: dict[str, dict[str, float | None]] | None = None
    cm_orders: list[str] | None = None


class PycmMultiLabelRequest(BaseModel):
    api_key: str = Field(max_length=512)
    actual_vector: list[list[Any]]
    predicted_vector: list[list[Any]]
    classes: list[Any] | None = None


class PycmMultiLabelResult(BaseModel):
    multihot_actual: list[list[int]]
    multihot_predicted: list[list[int]]
    classes: list[Any]
    cm_by_classes: dict[str, PycmCMData]
    cm_by_samples: dict[int, PycmCMData]


class PycmCurveRequest(BaseModel):
    api_key: str = Field(max_length=512)
    type: Literal["ROC", "PR"]
    actual_vector: list[Any]
    probability_vector: list[list[Any]]
    classes: list[Any] | None = None


class PycmCurveResult(BaseModel):
    thresholds: list[float] | None = None
    auc_trp: dict[str, float | None] | None = None
