"""What monitoring's jobs need of their process: the settings and the artifact store.

The API process registers its own at start-up for the jobs it runs in-process; a Celery
worker builds one from the environment on first use (as visualization's runtime does).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from modelyard.config import Settings
from modelyard.db import normalize_database_url
from modelyard.storage import ArtifactStore, build_artifact_store

__all__ = ["MonitoringRuntime", "register_runtime", "runtime_for"]


@dataclass(frozen=True)
class MonitoringRuntime:
    settings: Settings
    store: ArtifactStore


_lock = threading.Lock()
_runtimes: dict[str, MonitoringRuntime] = {}


def register_runtime(runtime: MonitoringRuntime) -> None:
    with _lock:
        _runtimes[normalize_database_url(runtime.settings.database_url)] = runtime


def runtime_for(database_url: str) -> MonitoringRuntime:
    """The registered runtime of this database, or one built from the environment."""
    with _lock:
        runtime = _runtimes.get(database_url)
        if runtime is None:
            settings = Settings()
            runtime = _runtimes[database_url] = MonitoringRuntime(
                settings, build_artifact_store(settings)
            )
        return runtime
