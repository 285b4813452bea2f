"""Request and response bodies of the native evaluation API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

__all__ = [
    "CompareRequest",
    "CompareResult",
    "ConfusionMatrixBrief",
    "ConfusionMatrixCreate",
    "ConfusionMatrixRead",
    "ConfusionMatrixSummary",
    "ConfusionMatrixUpdate",
    "CurveRead",
    "CurveRequest",
    "Headline",
    "LabelList",
    "Labels",
    "MatrixStats",
    "MultiLabelRead",
    "MultiLabelRequest",
]


class LabelList(list[Any]):
    """A list of labels whose one kind ("int", "str", "bool", "float") the schema has checked."""

    kind: str = ""


def _kind(kind: str) -> Callable[[list[Any]], LabelList]:
    def mark(values: list[Any]) -> LabelList:
        marked = LabelList(values)
        marked.kind = kind
        return marked

    return mark


# fail_fast: a list that is not all of one kind stops at its first odd label. The common cases
# are recognised while pydantic parses (in Rust), so a million labels are not walked again to
# learn their kind; anything else (mixed, null, nested) is taken as it is and the service says
# what is wrong with it.
_FAST = Field(fail_fast=True)
Labels = Annotated[
    Annotated[list[StrictInt], _FAST, AfterValidator(_kind("int"))]
    | Annotated[list[StrictStr], _FAST, AfterValidator(_kind("str"))]
    | Annotated[list[StrictBool], _FAST, AfterValidator(_kind("bool"))]
    | Annotated[list[StrictFloat], _FAST, AfterValidator(_kind("float"))]
    | list[Any],
    Field(union_mode="left_to_right"),
]
Number = int | float


class ConfusionMatrixCreate(BaseModel):
    """Vectors ``actual`` and ``predicted``, or a ready ``matrix`` (rows are actual classes)."""

    model_config = ConfigDict(extra="forbid")

    actual: Labels | None = Field(default=None, description="Actual labels.")
    predicted: Labels | None = Field(default=None, description="Predicted labels.")
    matrix: list[list[Number]] | None = Field(
        default=None, description="A ready matrix instead of vectors."
    )
    classes: Labels | None = Field(
        default=None, description="Class labels in display order; may add classes not seen."
    )
    sample_weight: list[float] | None = Field(default=None, description="One weight per label.")
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _vectors_or_matrix(self) -> ConfusionMatrixCreate:
        has_vectors = self.actual is not None or self.predicted is not None
        if not has_vectors and self.matrix is None:
            raise ValueError("give actual and predicted (two lists of labels), or matrix")
        if has_vectors and self.matrix is not None:
            raise ValueError("give actual and predicted vectors, or a matrix, not both")
        if has_vectors and (self.actual is None or self.predicted is None):
            raise ValueError("give both actual and predicted")
        if self.matrix is not None and self.sample_weight is not None:
            raise ValueError("sample_weight goes with vectors, not with a matrix")
        return self


class ConfusionMatrixUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)


class Headline(BaseModel):
    accuracy: float | None = Field(description="Overall accuracy.")
    precision: float | None = Field(description="Macro precision (PPV); null when undefined.")
    recall: float | None = Field(description="Macro recall (TPR); null when undefined.")
    f1: float | None = Field(description="Macro F1; null when undefined.")


class MatrixStats(BaseModel):
    overall: dict[str, Any] = Field(description="Every overall statistic PyCM has.")
    per_class: dict[str, dict[str, Any]] = Field(
        description="Each statistic by class (class labels as text)."
    )


class ConfusionMatrixSummary(Headline):
    uid: str
    name: str | None
    classes: list[Any]
    created_at: datetime
    updated_at: datetime


class ConfusionMatrixRead(ConfusionMatrixSummary):
    matrix: list[list[Number]] = Field(description="Rows are actual classes, columns predicted.")
    statistics: MatrixStats | None = Field(
        default=None, description="Present when asked for with ?statistics=true."
    )


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uids: list[str] = Field(min_length=1, description="The matrices to compare (yours).")
    class_weight: dict[str, float] | None = Field(
        default=None, description="A weight per class (class labels as text)."
    )
    class_benchmark_weight: dict[str, float] | None = None
    overall_benchmark_weight: dict[str, float] | None = None


class CompareResult(BaseModel):
    uids: list[str]
    names: dict[str, str] = Field(
        description="Each uid's key in scores and order: the matrix's name, or its uid when it "
        "has no name or shares it with another compared matrix."
    )
    scores: dict[str, dict[str, float | None]] = Field(
        description="Per matrix (keyed as in names): the 'class' and 'overall' scores."
    )
    order: list[str] = Field(description="The matrices (keyed as in names), best first.")
    best_name: str | None = Field(
        description="The single best matrix's key (its name), or null when there is none."
    )
    best_uid: str | None = Field(description="The single best matrix's uid, or null.")


class MultiLabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actual: list[list[Any]] = Field(description="Per sample, its actual labels.")
    predicted: list[list[Any]] = Field(description="Per sample, its predicted labels.")
    classes: Labels | None = None
    store: bool = Field(
        default=False, description="Also store each class's 2x2 matrix as a confusion matrix."
    )
    name: str | None = Field(default=None, max_length=150)


class ConfusionMatrixBrief(Headline):
    matrix: list[list[Number]]


class MultiLabelRead(BaseModel):
    classes: list[Any]
    multihot_actual: list[list[int]]
    multihot_predicted: list[list[int]]
    by_class: dict[str, ConfusionMatrixBrief]
    by_sample: list[ConfusionMatrixBrief]
    stored: dict[str, str] | None = Field(
        default=None, description="With store=true: the uid of each class's stored matrix."
    )


class CurveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ROC", "PR"] = Field(description="ROC (FPR/TPR) or PR (recall/precision).")
    actual: Labels
    probabilities: list[list[Any]] = Field(description="Per sample, one score per class.")
    classes: Labels | None = Field(
        default=None,
        description="Class labels in the probability columns' order; integer actual labels "
        "0..k-1 are read as positions in this list.",
    )
    thresholds: list[float] | None = None
    sample_weight: list[float] | None = None


class CurveRead(BaseModel):
    type: Literal["ROC", "PR"]
    x_axis: str
    y_axis: str
    classes: list[Any]
    thresholds: list[float]
    points: dict[str, dict[str, list[float | None]]] = Field(
        description="Per class: the x and y value at each threshold."
    )
    auc: dict[str, float | None] = Field(description="Area under each class's curve.")
