"""Dependencies of the visualization routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from modelyard.visualization.runtime import VisualizationRuntime

__all__ = ["MethodName", "ProjectionId", "RuntimeDep"]


async def get_runtime(request: Request) -> VisualizationRuntime:
    runtime: VisualizationRuntime = request.app.state.visualization
    return runtime


RuntimeDep = Annotated[VisualizationRuntime, Depends(get_runtime)]
ProjectionId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Task id.")
]
# Any text: an unknown method is the service's clear 400, not a route miss.
MethodName = Annotated[str, Path(max_length=64, description="umap, tsne, trimap or pca.")]
