"""Job bodies by stable name.

A domain registers its bodies in its ``tasks.py`` with ``@job_task("domain.name")``; the
executor imports those modules when it is built (API process) or when a worker starts, so a
name in the job table always finds its body. Names, not import paths, are what the table and
the broker carry: moving a function does not strand the jobs already queued.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from modelyard.config import ConfigError, Settings
from modelyard.jobs.context import JobContext

__all__ = [
    "TASK_MODULES",
    "JobBody",
    "get_body",
    "is_known",
    "job_task",
    "known_kinds",
    "load_task_modules",
    "on_worker_start",
    "run_worker_start_hooks",
]

JobBody = Callable[[JobContext], dict[str, Any] | None]

# The package's own task modules, imported by every executor and worker. A domain that
# gains background jobs adds its ``modelyard.<domain>.tasks`` here.
TASK_MODULES: tuple[str, ...] = (
    "modelyard.training.tasks",
    "modelyard.visualization.tasks",
    "modelyard.monitoring.tasks",
)

log = logging.getLogger(__name__)

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_KIND_MAX = 100  # the width of jobs.kind

_bodies: dict[str, JobBody] = {}
# Called with the worker's settings when a worker process starts (before it takes jobs), so a
# domain can prepare what its jobs would otherwise pay for (visualization compiles numba code).
StartHook = Callable[[Settings], None]
_start_hooks: dict[str, StartHook] = {}


def job_task(kind: str) -> Callable[[JobBody], JobBody]:
    """Register the decorated function as the body of jobs of ``kind`` ("domain.name")."""
    if len(kind) > _KIND_MAX or not _KIND.match(kind):
        raise ValueError(f"job kind {kind!r} must look like 'domain.name' (lowercase, dotted)")

    def register(body: JobBody) -> JobBody:
        existing = _bodies.get(kind)
        # Re-importing a module (reload, a test runner) registers an equal function again;
        # two different functions under one name would make the table ambiguous.
        if existing is not None and _origin(existing) != _origin(body):
            raise ValueError(f"job kind {kind!r} is already registered by {_origin(existing)}")
        _bodies[kind] = body
        return body

    return register


def _origin(body: JobBody) -> str:
    return f"{body.__module__}.{getattr(body, '__qualname__', repr(body))}"


def get_body(kind: str) -> JobBody | None:
    return _bodies.get(kind)


def is_known(kind: str) -> bool:
    return kind in _bodies


def known_kinds() -> list[str]:
    return sorted(_bodies)


def load_task_modules(extra: Iterable[str] = ()) -> None:
    """Import the package's task modules and ``extra`` ones, registering their bodies."""
    for name in (*TASK_MODULES, *extra):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import job task module {name!r}: {exc}") from exc


def on_worker_start(hook: StartHook) -> StartHook:
    """Register ``hook(settings)`` to run in each worker process as it starts."""
    _start_hooks[_hook_origin(hook)] = hook
    return hook


def _hook_origin(hook: StartHook) -> str:
    return f"{hook.__module__}.{getattr(hook, '__qualname__', repr(hook))}"


def run_worker_start_hooks(settings: Settings) -> None:
    """Run every registered start hook; one that fails is logged, never stops the worker."""
    for name, hook in list(_start_hooks.items()):
        try:
            hook(settings)
        except Exception:
            log.exception("worker start hook %s failed", name)
