"""The running executor, for routes that submit jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelyard.jobs.executors import JobExecutor

__all__ = ["ExecutorDep", "get_executor"]


async def get_executor(request: Request) -> JobExecutor:
    executor: JobExecutor = request.app.state.jobs
    return executor


ExecutorDep = Annotated[JobExecutor, Depends(get_executor)]
