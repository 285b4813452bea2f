"""``create_app(settings)``: routers, middleware, error handlers and the lifespan of one service."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from modelyard import __version__
from modelyard.auth.router import admin_router, api_keys_router, auth_router, users_router
from modelyard.auth.security import Security
from modelyard.auth.service import ensure_bootstrap_admins
from modelyard.compat import custom_classifier, hydro_visualization, ml_api, pycm_api
from modelyard.compat.pycm_api_fast_path import PycmCreateFastPath
from modelyard.config import Settings, resolve_secret_key
from modelyard.db import Database
from modelyard.errors import install_error_handlers
from modelyard.evaluation.router import router as evaluation_router
from modelyard.health import metrics_router
from modelyard.health import router as health_router
from modelyard.http import HttpMetrics, KeepAliveLimit, RequestMiddleware
from modelyard.jobs.executors import build_executor
from modelyard.jobs.router import router as jobs_router
from modelyard.jobs.runner import repair_after_crash
from modelyard.kv import build_store
from modelyard.logs import configure_logging
from modelyard.monitoring.router import router as monitoring_router
from modelyard.openapi import install_openapi
from modelyard.registry.router import router as registry_router
from modelyard.registry.sandbox import start_zygote
from modelyard.serving.fast_path import PredictFastPath
from modelyard.serving.open_inference import router as open_inference_router
from modelyard.serving.router import log_router, predict_route, predict_router
from modelyard.serving.runtime import build_serving_core
from modelyard.storage import build_artifact_store
from modelyard.training.router import router as training_router
from modelyard.training.runtime import build_runtime, build_tracker, register_runtime
from modelyard.visualization.router import router as visualization_router
from modelyard.visualization.runtime import build_runtime as build_visualization_runtime
from modelyard.visualization.runtime import prepare_process as prepare_visualization
from modelyard.visualization.runtime import register_runtime as register_visualization
from modelyard.web import install as install_web

__all__ = ["create_app"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

TAGS = [
    {"name": "auth", "description": "Sign up, tokens, API keys and the current user."},
    {"name": "admin", "description": "User management for admins."},
    {"name": "jobs", "description": "Background jobs: state, progress, results, cancel."},
    {"name": "models", "description": "Model registry: versions, input schemas, aliases."},
    {"name": "serving", "description": "Predictions with registered models, and their log."},
    {
        "name": "evaluation",
        "description": "Confusion matrices, compare, multi-label, ROC/PR curves, reports, plots.",
    },
    {
        "name": "training",
        "description": "Datasets, classifier training runs tracked in MLflow, experiments.",
    },
    {
        "name": "visualization",
        "description": "Projections of training and production data (UMAP, t-SNE, TriMap, "
        "PCA) as jobs, with quality metrics, plots and parquet downloads.",
    },
    {
        "name": "monitoring",
        "description": "Feedback by predict id, realized and estimated performance and drift "
        "over time, monitors with signed webhooks.",
    },
    {"name": "system", "description": "Liveness, readiness and metrics."},
    {"name": "compat: pycm-api", "description": "pycm-api's routes, unchanged for its clients."},
    {
        "name": "compat: Machine learning API",
        "description": "The Machine learning API's routes, unchanged for its clients.",
    },
    {
        "name": "compat: Custom Classifier",
        "description": "The Custom Classifier's routes under /custom_classifier, unchanged.",
    },
    {
        "name": "compat: hydro-visualization",
        "description": "hydro-visualization's routes under /visualization, unchanged.",
    },
]


def create_app(
    settings: Settings | None = None, *, root_predict: APIRouter | None = None
) -> FastAPI:
    """Build the service. Migrations are applied by ``modelyard serve``/``migrate``, not here.

    ``root_predict``: the router answering ``POST /predict`` at the root (default: the Machine
    learning API's; the single-model server passes one that serves mlup's clients too).
    """
    settings = settings or Settings()
    secret_key = resolve_secret_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database.from_settings(settings)
        app.state.database = database
        # One of several processes (--workers N): they share the database, not their memory,
        # and the parent did the once-per-machine work (prepare_workers) before starting them.
        shared = settings.http.workers > 1
        app.state.ephemeral = build_store(
            settings.jobs.broker_url, shared=database if shared else None
        )
        app.state.artifacts = build_artifact_store(settings)
        security = app.state.security
        if not shared:
            with database.session() as session:
                ensure_bootstrap_admins(session, security, settings.auth)
        executor = build_executor(settings, database)
        app.state.jobs = executor
        executor.start()
        app.state.serving = build_serving_core(
            settings, database, app.state.artifacts, app.state.ephemeral
        )
        if settings.registry.worker_prestart:
            try:
                start_zygote()
            except OSError:
                # Serving can still start; the first model tries again (and says why).
                log.exception("the model workers' zygote did not start")
        app.state.training = build_runtime(settings, app.state.artifacts)
        app.state.training.tracker.make_store_in_background()
        register_runtime(app.state.training)  # for the jobs this process runs
        app.state.visualization = build_visualization_runtime(settings, app.state.artifacts)
        register_visualization(app.state.visualization)
        # numba's cache in the data folder; UMAP compiled into it by a child process (once per
        # install), so serving starts at once, stays small, and the first projection job
        # loads compiled code (only where jobs run: with Celery the workers do it).
        prepare_visualization(settings, runs_jobs=not settings.jobs.uses_celery)
        try:
            yield
        finally:
            await app.state.serving.close()
            app.state.serving.log.stop()
            executor.shutdown()
            app.state.ephemeral.close()
            database.dispose()

    # Swagger UI and ReDoc from files shipped in a package: no CDN, so /docs works offline.
    app = FastAPIOffline(
        title="modelyard",
        version=__version__,
        summary="Train, register, serve, log, evaluate and look at machine-learning models.",
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.security = Security(secret_key, settings.auth)
    metrics = HttpMetrics() if settings.http.metrics_enabled else None
    app.state.metrics = metrics

    install_error_handlers(app)
    # Inside the request middleware (request id, body limit, access log, metrics), in front of
    # the router: a native predict request whose caller and version were resolved moments ago
    # is answered there, without FastAPI's dependency solving (see serving/fast_path.py).
    app.add_middleware(
        PredictFastPath,
        prefix=API_PREFIX,
        routes={"latest": predict_route("latest"), "version": predict_route("version")},
    )
    # pycm-api's small creates likewise (see compat/pycm_api_fast_path.py).
    app.add_middleware(PycmCreateFastPath, route=pycm_api.create_route())
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.http.max_body_bytes,
        metrics=metrics,
        keep_alive=keep_alive_limit(settings),
    )

    # Routes are matched in order, one regular expression each, every included router walked
    # in turn: the hot paths come first, the predict routes, then pycm-api's small creates
    # (found after about 200 other routes before, 0.14 ms a request). No other route's path
    # can match these: POST /cm/create is pycm-api's, the others live under /api/v1 and /v2.
    app.include_router(predict_router, prefix=API_PREFIX)
    app.include_router(pycm_api.create_router)
    app.include_router(open_inference_router)
    for router in (
        auth_router,
        users_router,
        api_keys_router,
        admin_router,
        jobs_router,
        registry_router,
        log_router,
        training_router,
        visualization_router,
        monitoring_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(evaluation_router, prefix=API_PREFIX)
    app.include_router(health_router, prefix=API_PREFIX)
    app.include_router(metrics_router)
    app.include_router(pycm_api.router)
    app.include_router(ml_api.router)
    app.include_router(root_predict or ml_api.predict_router)
    app.include_router(custom_classifier.router)
    app.include_router(hydro_visualization.router)
    install_web(app, secret_key)  # the dashboard under /ui
    install_openapi(app)  # every operation's answers, in its route's error shape
    return app


def keep_alive_limit(settings: Settings) -> KeepAliveLimit | None:
    """How many requests a keep-alive connection carries: bounded with several processes on
    one port, where a connection stays with the process that accepted it (see
    ``KeepAliveLimit``); unbounded in a single process, which has no other to hand it to."""
    if settings.http.workers < 2 or settings.http.keepalive_requests == 0:
        return None
    return KeepAliveLimit(settings.http.keepalive_requests)


def prepare_workers(settings: Settings) -> None:
    """What every process's start would otherwise race to do once, done by ``modelyard serve
    --workers N`` before it starts them: the bootstrap admins, the repair of the jobs a crash
    left (in-process jobs), and MLflow's embedded store, which MLflow creates and migrates on
    first use."""
    database = Database.from_settings(settings)
    try:
        with database.session() as session:
            security = Security(resolve_secret_key(settings), settings.auth)
            ensure_bootstrap_admins(session, security, settings.auth)
        if not settings.jobs.uses_celery:
            repair_after_crash(database, settings)
    finally:
        database.dispose()
    build_tracker(settings).make_store()


def create_worker_app() -> FastAPI:
    """One process of ``modelyard serve --workers N`` (uvicorn's app factory): the settings
    from the environment the parent passed on (``MODELYARD_HTTP_WORKERS`` among them), logging
    as the parent's."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> int:
    """Keep what the imports made (some 330,000 objects: scikit-learn, SciPy, MLflow, ...) out
    of the garbage collector's full passes; the number of objects frozen.

    Each full pass walks every tracked object: 80-250 ms here, paid by whichever request is
    running when it comes, which made the serving p99 hundreds of milliseconds. Frozen objects
    are never collected, so the garbage is collected once first.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
