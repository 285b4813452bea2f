"""Job kinds the tests run, on the in-process executor and on a real Celery worker alike.

Bodies that wait do so on a "gate" file the test creates, so a test decides when a running job
may finish; every wait is bounded so a failed test never leaves a worker busy for long.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from modelyard.jobs import JobContext, JobFailed, job_task
from modelyard.jobs.liveness import AbandonedJob, on_abandoned

WAIT_LIMIT_SECONDS = 20.0
POLL_SECONDS = 0.02


def _wait_for_gate(ctx: JobContext, gate: Path) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not gate.exists():
        ctx.raise_if_cancelled()
        if time.monotonic() > deadline:
            raise JobFailed("the gate never opened")
        time.sleep(POLL_SECONDS)


@job_task("tests.add")
def add(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.5, "adding")
    gate = ctx.params.get("gate")
    if gate:
        _wait_for_gate(ctx, Path(gate))
    return {"sum": ctx.params["a"] + ctx.params["b"], "attempt": ctx.attempt}


@job_task("tests.fail")
def fail(ctx: JobContext) -> None:
    raise ValueError(f"boom: {ctx.params.get('why', 'no reason')}\nsecond line stays in the log")


@job_task("tests.refuse")
def refuse(ctx: JobContext) -> None:
    raise JobFailed("the input has no labels")


@job_task("tests.bad_result")
def bad_result(ctx: JobContext) -> dict[str, Any]:
    return {"score": float("nan")}


@job_task("tests.wait_for_cancel")
def wait_for_cancel(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.1, "waiting")
    deadline = time.monotonic() + float(ctx.params.get("timeout", WAIT_LIMIT_SECONDS))
    while time.monotonic() < deadline:
        ctx.raise_if_cancelled()
        time.sleep(POLL_SECONDS)
    return {"timed_out": True}


@job_task("tests.polite_cancel")
def polite_cancel(ctx: JobContext) -> dict[str, Any]:
    """Checks ``cancelled`` and returns instead of raising: still ends REVOKED."""
    ctx.progress(0.1, "waiting")
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if ctx.cancelled:
            return {"stopped": True}
        time.sleep(POLL_SECONDS)
    return {"timed_out": True}


@job_task("tests.context")
def context(ctx: JobContext) -> dict[str, Any]:
    return {
        "job_id": ctx.job_id,
        "kind": ctx.kind,
        "owner_id": ctx.owner_id,
        "params": ctx.params,
        "attempt": ctx.attempt,
    }


@job_task("tests.crash_worker")
def crash_worker(ctx: JobContext) -> dict[str, Any]:
    """Kill the process running it (a Celery pool child) on the first ``crashes`` attempts."""
    if ctx.attempt <= int(ctx.params["crashes"]):
        os._exit(1)
    return {"attempt": ctx.attempt}


@on_abandoned("tests.add")
def note_abandoned(job: AbandonedJob) -> None:
    """What a domain would close (an MLflow run): here a line in the file ``params["record"]``."""
    record = job.params.get("record")
    if record:
        with Path(record).open("a") as out:
            out.write(f"{job.id} {job.state} {job.reason}\n")
