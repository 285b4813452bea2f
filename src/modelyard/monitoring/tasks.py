"""Job bodies of the monitoring domain, registered by stable name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelyard.jobs import JobContext, job_task

__all__ = ["EVALUATE_JOB", "evaluate"]

EVALUATE_JOB = "monitoring.evaluate"


@job_task(EVALUATE_JOB)
def evaluate(ctx: JobContext) -> dict[str, Any]:
    """Evaluate one monitor for one window (params: monitor_id, window_start ISO time)."""
    from modelyard.monitoring.monitors import evaluate_monitor  # the domain, on first use
    from modelyard.monitoring.runtime import runtime_for

    runtime = runtime_for(ctx.database.url)
    return evaluate_monitor(
        ctx.database,
        runtime,
        int(ctx.params["monitor_id"]),
        datetime.fromisoformat(str(ctx.params["window_start"])),
    )
