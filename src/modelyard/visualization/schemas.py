"""Request and response bodies of the visualization domain.

Parameter ranges are hydro-visualization's projector schema (``metric`` from its list,
``min_dist`` 0-0.99, ``n_components`` 2-3, ``n_neighbours`` 2-200, production sample 20-5000
default 500, training sample 20-10000 default 5000); t-SNE, TriMap and PCA get their own sets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.visualization.metrics import METRIC_NAMES

__all__ = [
    "METHODS",
    "METHOD_PARAMETERS",
    "STATES",
    "Method",
    "PcaParameters",
    "ProjectionParams",
    "ProjectionParamsRead",
    "ProjectionRead",
    "ProjectionState",
    "SupportedRead",
    "TrimapParameters",
    "TsneParameters",
    "UmapParameters",
]

Method = Literal["umap", "tsne", "trimap", "pca"]
METHODS: tuple[str, ...] = ("umap", "tsne", "trimap", "pca")
ProjectionState = Literal["PENDING", "STARTED", "SUCCESS", "ERROR", "NO_DATA", "NOT_SUPPORTED"]
STATES: tuple[str, ...] = ("PENDING", "STARTED", "SUCCESS", "ERROR", "NO_DATA", "NOT_SUPPORTED")
MetricName = Literal[
    "global_score",
    "sammon_error",
    "msid",
    "auc_score",
    "stability_score",
    "clustering",
    "trustworthiness",
    "continuity",
]
assert set(MetricName.__args__) == set(METRIC_NAMES)  # type: ignore[attr-defined]

UmapMetric = Literal[
    "euclidean",
    "manhattan",
    "chebyshev",
    "minkowski",
    "canberra",
    "braycurtis",
    "haversine",
    "mahalanobis",
    "wminkowski",
    "seuclidean",
    "cosine",
    "correlation",
    "hamming",
    "jaccard",
    "dice",
    "russellrao",
    "kulsinski",
    "rogerstanimoto",
    "sokalmichener",
    "sokalsneath",
    "yule",
]
TsneMetric = Literal[
    "euclidean", "manhattan", "chebyshev", "minkowski", "canberra", "braycurtis", "cosine",
    "correlation", "hamming", "jaccard",
]  # fmt: skip
TrimapDistance = Literal["euclidean", "manhattan", "cosine"]


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_components: int = Field(default=2, ge=2, le=3, description="Dimensions of the projection.")


class UmapParameters(_Parameters):
    """umap-learn's UMAP (hydro-visualization's projector schema)."""

    metric: UmapMetric = "euclidean"
    min_dist: float = Field(default=0.1, ge=0.0, le=0.99)
    n_neighbours: int = Field(default=15, ge=2, le=200)


class TsneParameters(_Parameters):
    """openTSNE's t-SNE; perplexity is lowered to (points - 1) / 3 on small data."""

    metric: TsneMetric = "euclidean"
    perplexity: float = Field(default=30.0, ge=2.0, le=100.0)
    n_iter: int = Field(default=500, ge=100, le=2000, description="Optimisation steps.")


class TrimapParameters(_Parameters):
    """TriMap (trimap 1.2's torch implementation)."""

    distance: TrimapDistance = "euclidean"
    n_inliers: int = Field(default=12, ge=2, le=100)
    n_outliers: int = Field(default=4, ge=1, le=50)
    n_random: int = Field(default=3, ge=0, le=20)
    n_iters: int = Field(default=400, ge=50, le=2000)


class PcaParameters(_Parameters):
    """scikit-learn's PCA: the quick linear baseline."""


METHOD_PARAMETERS: dict[str, type[_Parameters]] = {
    "umap": UmapParameters,
    "tsne": TsneParameters,
    "trimap": TrimapParameters,
    "pca": PcaParameters,
}


def _default_metrics() -> list[MetricName]:
    return ["global_score"]


class ProjectionParams(BaseModel):
    """What a projection is made with; omitted fields take their defaults."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The method's parameters (see each method's schema)."
    )
    production_data_sample_size: int = Field(default=500, ge=20, le=5000)
    training_data_sample_size: int = Field(default=5000, ge=20, le=10000)
    visualization_metrics: list[MetricName] = Field(
        default_factory=_default_metrics, max_length=len(METRIC_NAMES)
    )


class ProjectionParamsRead(BaseModel):
    """The parameters in force for a method on a version (the defaults when none were set)."""

    method: Method
    parameters: dict[str, Any]
    production_data_sample_size: int
    training_data_sample_size: int
    visualization_metrics: list[str]
    is_default: bool = Field(description="True when nobody set parameters for this method.")


class ProjectionRead(BaseModel):
    """A projection job: its state, progress and, once it succeeded, where its result is."""

    id: str = Field(description="The task id: poll it here or at /visualization/jobs.")
    model_name: str
    version: int
    model_version_id: int
    method: Method
    state: ProjectionState
    message: str = Field(description="Why it ended as it did (empty on success).")
    progress: float = Field(ge=0.0, le=1.0)
    stage: str | None = Field(description="What the job is doing now.")
    job_id: str | None
    mode: Literal["fit", "transform"] | None = Field(
        description="fit: the method was fitted; transform: new production data was placed "
        "with the stored transformer."
    )
    refit: bool
    cached: bool = Field(description="True when this answer reused an earlier projection.")
    params: ProjectionParams
    n_training: int | None
    n_production: int | None
    created_at: datetime
    finished_at: datetime | None
    links: dict[str, str] = Field(description="The result, plot and parquet downloads.")


class SupportedRead(BaseModel):
    supported: bool
    message: str
