"""Dependencies of the training routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelyard.training.runtime import TrainingRuntime

__all__ = ["RuntimeDep"]


async def get_runtime(request: Request) -> TrainingRuntime:
    runtime: TrainingRuntime = request.app.state.training
    return runtime


RuntimeDep = Annotated[TrainingRuntime, Depends(get_runtime)]
