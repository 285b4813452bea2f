"""What training needs of its process: settings, artifact store, tracking store, model cache.

The API process builds one at start-up and registers it, so the job bodies it runs in-process
use the same settings (tests build settings in code, not from the environment). A Celery
worker has no app: its job bodies build one from the environment on first use.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from modelyard.config import Settings
from modelyard.db import normalize_database_url
from modelyard.storage import ArtifactStore, build_artifact_store
from modelyard.training import encoder
from modelyard.training.tracking import Tracker, embedded_uris
from modelyard.training.trainers import TextModel

__all__ = [
    "ModelCache",
    "TrainingRuntime",
    "build_runtime",
    "register_runtime",
    "runtime_for",
    "tracker_for",
]


class ModelCache:
    """Loaded run models, least recently used evicted; each run is loaded once.

    Beside each model, who was last found to own its run and when: a caller vouched for less
    than ``owner_seconds`` ago predicts without asking the database (as auth trusts a verified
    credential for that long). Deleting a run through this process forgets both at once.
    """

    def __init__(self, capacity: int, owner_seconds: float = 5.0) -> None:
        self.capacity = capacity
        self.owner_seconds = owner_seconds
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._items: OrderedDict[str, TextModel] = OrderedDict()
        self._owners: dict[str, tuple[int, float]] = {}
        self.loads = 0

    def owned(self, run_id: str, user_id: int) -> TextModel | None:
        """The loaded model if ``user_id`` was found to own the run moments ago; else None."""
        with self._lock:
            owner = self._owners.get(run_id)
            if owner is None or owner[0] != user_id or time.monotonic() >= owner[1]:
                return None
            model = self._items.get(run_id)
            if model is not None:
                self._items.move_to_end(run_id)
            return model

    def vouch(self, run_id: str, user_id: int) -> None:
        """Record that ``user_id`` owns the run (just checked against the database)."""
        if self.owner_seconds <= 0:
            return
        with self._lock:
            if run_id in self._items:
                self._owners[run_id] = (user_id, time.monotonic() + self.owner_seconds)

    def peek(self, run_id: str) -> TextModel | None:
        """The loaded model, or None; never loads."""
        with self._lock:
            model = self._items.get(run_id)
            if model is not None:
                self._items.move_to_end(run_id)
            return model

    def get(self, run_id: str, load: Callable[[], TextModel]) -> TextModel:
        with self._lock:
            model = self._items.get(run_id)
            if model is not None:
                self._items.move_to_end(run_id)
                return model
        with self._load_lock:
            with self._lock:
                model = self._items.get(run_id)
            if model is None:
                model = load()
                self.loads += 1
            with self._lock:
                self._items[run_id] = model
                self._items.move_to_end(run_id)
                while len(self._items) > self.capacity:
                    evicted, _ = self._items.popitem(last=False)
                    self._owners.pop(evicted, None)
        return model

    def forget(self, run_ids: list[str]) -> None:
        with self._lock:
            for run_id in run_ids:
                self._items.pop(run_id, None)
                self._owners.pop(run_id, None)


@dataclass
class TrainingRuntime:
    settings: Settings
    store: ArtifactStore
    tracker: Tracker
    models: ModelCache = field(default_factory=lambda: ModelCache(8))


def build_tracker(settings: Settings) -> Tracker:
    """The tracking store the settings name: ``MODELYARD_MLFLOW_URI``, else the embedded one in
    the data folder (which MLflow creates and migrates here, when its client is made)."""
    section = settings.training
    if section.mlflow_uri:
        return Tracker(
            section.mlflow_uri, artifact_root=None, gc_store_uri=section.mlflow_gc_backend_store_uri
        )
    store_uri, artifact_root = embedded_uris(settings.data_dir)
    return Tracker(store_uri, artifact_root=artifact_root, gc_store_uri=store_uri)


def build_runtime(settings: Settings, store: ArtifactStore | None = None) -> TrainingRuntime:
    section = settings.training
    encoder.set_threads(section.encoder_threads)
    return TrainingRuntime(
        settings=settings,
        store=store or build_artifact_store(settings),
        tracker=build_tracker(settings),
        models=ModelCache(
            section.model_cache_size, owner_seconds=settings.auth.credential_cache_seconds
        ),
    )


_lock = threading.Lock()
_runtimes: dict[str, TrainingRuntime] = {}


def register_runtime(runtime: TrainingRuntime) -> None:
    """Let in-process job bodies on this database use ``runtime``."""
    with _lock:
        _runtimes[normalize_database_url(runtime.settings.database_url)] = runtime


def runtime_for(database_url: str) -> TrainingRuntime:
    """The registered runtime of this database, or one built from the environment (a worker)."""
    with _lock:
        runtime = _runtimes.get(database_url)
        if runtime is None:
            runtime = _runtimes[database_url] = build_runtime(Settings())
        return runtime


def tracker_for(database_url: str, settings: Settings | None) -> Tracker:
    """The tracking store of this database's runtime if the process has one, else the one
    ``settings`` name (the parent of ``serve --workers N`` repairs jobs before any runtime
    exists, and its settings may come from flags rather than the environment)."""
    with _lock:
        runtime = _runtimes.get(database_url)
    if runtime is not None:
        return runtime.tracker
    return build_tracker(settings if settings is not None else Settings())
