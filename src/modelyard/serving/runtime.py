"""Builds the serving core of one process: model cache, request log writer, async results."""

from __future__ import annotations

import logging

from modelyard.config import Settings
from modelyard.db import Database
from modelyard.kv import EphemeralStore, MemoryStore
from modelyard.registry import service as registry
from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.cache import ModelCache
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.modes import ModeOptions
from modelyard.serving.results import AsyncResults
from modelyard.serving.service import ServingCore
from modelyard.serving.targets import TargetCache
from modelyard.storage import ArtifactStore

__all__ = ["build_serving_core", "default_mode_options"]

log = logging.getLogger(__name__)


def default_mode_options(settings: Settings) -> ModeOptions:
    """The serving options of a version that sets none (``MODELYARD_SERVING_*``)."""
    serving = settings.serving
    return ModeOptions(
        mode=serving.mode,
        max_queue_size=serving.max_queue_size,
        workers=serving.workers,
        max_batch_rows=serving.max_batch_rows,
        max_wait_ms=serving.max_wait_ms,
        max_concurrent_requests=serving.max_concurrent_requests,
        max_request_rows=serving.max_request_rows,
        client_wait_seconds=serving.client_wait_seconds,
        result_ttl_seconds=serving.result_ttl_seconds,
        retry_after_seconds=serving.queue_retry_after_seconds,
        max_threads=serving.max_threads,
    )


def build_serving_core(
    settings: Settings,
    database: Database,
    store: ArtifactStore,
    ephemeral: EphemeralStore | None = None,
) -> ServingCore:
    """A started core; at shutdown ``await core.close()`` then ``core.log.stop()`` (which
    writes what is still queued). Async results go to ``ephemeral`` (in-process if None)."""

    def load(target: ServingTarget) -> ModelRuntime:
        def crashed(reason: str) -> None:
            # In the database, so every server process (``serve --workers N``) adds to one
            # count; the commit moves the target cache on, so this process sees the quarantine
            # at its next request.
            with database.session() as session:
                if registry.record_crash(session, target.version_id, reason, settings.registry):
                    log.warning(
                        "model %r version %s quarantined: %s",
                        target.model_name,
                        target.version,
                        reason,
                    )

        return registry.open_runtime(
            target,
            lambda: store.get_bytes(target.artifact_key),
            settings.registry,
            on_crash=crashed,
        )

    serving = settings.serving
    writer = RequestLogWriter(
        database,
        queue_size=serving.log_queue_size,
        flush_rows=serving.log_flush_rows,
        flush_ms=serving.log_flush_ms,
    )
    writer.start()
    cache = ModelCache(serving.model_cache_size, load)
    return ServingCore(
        cache,
        writer,
        max_rows=serving.max_rows_per_request,
        defaults=default_mode_options(settings),
        results=AsyncResults(ephemeral or MemoryStore()),
        targets=TargetCache(serving.target_cache_seconds),
        inline_budget_seconds=serving.inline_budget_ms / 1000,
    )
