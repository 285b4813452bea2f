"""Builds the serving core of one process: model cache, request log writer, core."""

from __future__ import annotations

from modelyard.config import Settings
from modelyard.db import Database
from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget
from modelyard.registry.service import load_runtime
from modelyard.serving.cache import ModelCache
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.service import ServingCore
from modelyard.storage import ArtifactStore

__all__ = ["build_serving_core"]


def build_serving_core(settings: Settings, database: Database, store: ArtifactStore) -> ServingCore:
    """A started core; ``core.log.stop()`` at shutdown writes what is still queued."""

    def load(target: ServingTarget) -> ModelRuntime:
        return load_runtime(store.get_bytes(target.artifact_key), target.format, settings.registry)

    serving = settings.serving
    writer = RequestLogWriter(
        database,
        queue_size=serving.log_queue_size,
        flush_rows=serving.log_flush_rows,
        flush_ms=serving.log_flush_ms,
    )
    writer.start()
    cache = ModelCache(serving.model_cache_size, load)
    return ServingCore(cache, writer, max_rows=serving.max_rows_per_request)
