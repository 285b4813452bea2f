"""What visualization needs of its process: settings, the artifact store, a model loader.

The API process builds one at start-up and registers it for the jobs it runs in-process; a
Celery worker builds one from the environment on first use (as training's runtime does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.config import Settings
from modelyard.db import normalize_database_url
from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget
from modelyard.registry.service import open_runtime
from modelyard.storage import ArtifactStore, build_artifact_store
from modelyard.visualization import methods

__all__ = [
    "VisualizationRuntime",
    "build_runtime",
    "numba_cache_dir",
    "prepare_process",
    "register_runtime",
    "runtime_for",
]

ModelLoader = Callable[[ServingTarget], ModelRuntime]


@dataclass
class VisualizationRuntime:
    settings: Settings
    store: ArtifactStore
    # Replaceable (tests hand in a runtime with an ``embed`` method).
    load_model: ModelLoader = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.load_model is None:
            self.load_model = self._load

    def _load(self, target: ServingTarget) -> ModelRuntime:
        # A user's model in a model-worker process, as when it is served.
        return open_runtime(
            target, lambda: self.store.get_bytes(target.artifact_key), self.settings.registry
        )


def numba_cache_dir(settings: Settings) -> Path:
    return settings.visualization.numba_cache_dir or settings.data_dir / "numba-cache"


def prepare_process(settings: Settings, *, runs_jobs: bool = True) -> None:
    """Point numba's cache into the data folder and, if enabled, start the UMAP warm-up.

    A process that runs no projection job (an API server whose jobs go to Celery workers)
    compiles nothing: the workers warm themselves up when they start.
    """
    methods.configure_numba_cache(numba_cache_dir(settings))
    if settings.visualization.warm_up and runs_jobs:
        methods.start_warm_up()


def build_runtime(settings: Settings, store: ArtifactStore | None = None) -> VisualizationRuntime:
    return VisualizationRuntime(settings=settings, store=store or build_artifact_store(settings))


_lock = threading.Lock()
_runtimes: dict[str, VisualizationRuntime] = {}


def register_runtime(runtime: VisualizationRuntime) -> None:
    """Let in-process job bodies on this database use ``runtime``."""
    with _lock:
        _runtimes[normalize_database_url(runtime.settings.database_url)] = runtime


def runtime_for(database_url: str) -> VisualizationRuntime:
    """The registered runtime of this database, or one built from the environment (a worker)."""
    with _lock:
        runtime = _runtimes.get(database_url)
        if runtime is None:
            settings = Settings()
            methods.configure_numba_cache(numba_cache_dir(settings))
            runtime = _runtimes[database_url] = build_runtime(settings)
        return runtime
