"""The projection job's work: data → features → projection → metrics → result files.

The job is given a projection id only; it reads the projection, the model version and its
data, and records how the projection ended: SUCCESS with its result files, NO_DATA (no training
sample and no production requests), NOT_SUPPORTED (the method's library is missing, the
version's inputs cannot be turned into features) or ERROR (data the method cannot project).
Only an unexpected failure leaves the state to the job (FAILURE, shown as ERROR).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from modelyard.db import utcnow
from modelyard.errors import ModelyardError
from modelyard.jobs import JobContext, JobState
from modelyard.jobs.liveness import AbandonedJob
from modelyard.registry import service as registry
from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget
from modelyard.serving import service as serving
from modelyard.visualization import methods, metrics, plots, repository
from modelyard.visualization.features import (
    DataError,
    Encoder,
    Points,
    fit_encoder,
    production_points,
    training_points,
)
from modelyard.visualization.runtime import VisualizationRuntime, runtime_for
from modelyard.visualization.schemas import ProjectionParams

__all__ = [
    "Outcome",
    "class_labels",
    "counterfactuals",
    "end_abandoned_projection",
    "neighbours",
    "run_projection",
]

log = logging.getLogger(__name__)

ARTIFACTS = "visualization"


@dataclass
class Outcome:
    """How a projection ended when it did not succeed."""

    state: str
    message: str


class _Stop(Exception):
    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.outcome = Outcome(state, message)


def _stages(ctx: JobContext) -> Callable[[float, str], None]:
    # A handful of stages per job: each is written (and a cancel looked for) as it starts.
    def report(fraction: float, stage: str) -> None:
        ctx.progress(fraction, stage)
        ctx.raise_if_cancelled()

    return report


def run_projection(ctx: JobContext) -> dict[str, Any]:
    """The body of ``visualization.project`` jobs (see ``tasks.py``)."""
    runtime = runtime_for(ctx.database.url)
    projection_id = str(ctx.params["projection_id"])
    try:
        done = _project(ctx, runtime, projection_id)
    except _Stop as stop:
        _finish(ctx, projection_id, stop.outcome.state, message=stop.outcome.message)
        return {"projection_id": projection_id, "state": stop.outcome.state}
    except (DataError, methods.MethodError, metrics.MetricInputError) as exc:
        _finish(ctx, projection_id, "ERROR", message=str(exc))
        return {"projection_id": projection_id, "state": "ERROR"}
    if not _finish(ctx, projection_id, "SUCCESS", message="", **done):
        # The projection went while the job ran (its model version was deleted, say): nothing
        # names the files just written any more.
        _discard(runtime, [v for k, v in done.items() if k.endswith("_key") and v])
        return {"projection_id": projection_id, "state": "GONE"}
    return {"projection_id": projection_id, "state": "SUCCESS"}


def _finish(ctx: JobContext, projection_id: str, state: str, **values: Any) -> bool:
    """Record the end; False when the projection is gone (or ended already)."""
    with ctx.database.session() as session:
        return repository.finish(
            session, projection_id, state=state, finished_at=utcnow(), **values
        )


def end_abandoned_projection(job: AbandonedJob) -> None:
    """Record the end of a projection whose job's worker died: ERROR with the reason."""
    projection_id = str(job.params.get("projection_id", ""))
    if not projection_id or job.database is None:
        # Without a database of its own (a cancel before it started) the projection shows
        # its job's end, which says the same.
        return
    message = "the projection was cancelled" if job.state == JobState.REVOKED else f"{job.reason}"
    with job.database.session() as session:
        repository.finish(
            session, projection_id, state="ERROR", finished_at=utcnow(), message=message
        )


def _discard(runtime: VisualizationRuntime, keys: list[str]) -> None:
    for key in keys:
        try:
            runtime.store.delete(key)
        except Exception:
            log.exception("could not delete artifact %s", key)


def _load_model(runtime: VisualizationRuntime, target: ServingTarget) -> ModelRuntime | None:
    try:
        return runtime.load_model(target)
    except Exception:
        # Without the model there are no labels for the training rows, and no embedding.
        log.warning("version %s: model not loaded for its projection", target.version_id)
        return None


def _project(ctx: JobContext, runtime: VisualizationRuntime, projection_id: str) -> dict[str, Any]:
    report = _stages(ctx)
    report(0.02, "loading data")
    settings = runtime.settings.visualization
    seed = settings.seed
    with ctx.database.session() as session:
        projection = repository.get_projection(session, projection_id)
        if projection is None:
            raise _Stop("ERROR", f"projection {projection_id} is gone")
        method = projection.method
        config = ProjectionParams.model_validate(projection.config)
        try:
            target = registry.version_target(session, projection.model_version_id)
        except ModelyardError as exc:
            raise _Stop("ERROR", exc.message) from exc
        logs = serving.production_requests(
            session,
            target.model_id,
            target.version,
            until_id=projection.production_until_id,
            max_rows=config.production_data_sample_size,
        )
        previous = None
        if not projection.refit:
            previous = repository.latest_transformer(
                session, projection.model_version_id, projection.fit_key
            )
        previous_key = previous.transformer_key if previous is not None else None

    missing = methods.missing_library(method)
    if missing is not None:
        raise _Stop("NOT_SUPPORTED", missing)
    model = _load_model(runtime, target)
    embedded = model is not None and callable(getattr(model, "embed", None))
    if target.input_schema is None and not embedded:
        raise _Stop(
            "NOT_SUPPORTED",
            "this model version has no input schema, so its inputs cannot be turned into features",
        )
    columns = target.input_schema

    training = Points()
    if target.sample_key is not None:
        sample = runtime.store.get_bytes(target.sample_key)
        training = training_points(
            sample, columns, config.training_data_sample_size, seed=seed, runtime=model
        )
    production, notes = production_points(logs, columns, config.production_data_sample_size)
    if not training and not production:
        raise _Stop(
            "NO_DATA",
            "this model version has no training data sample and no logged production requests",
        )

    report(0.15, "building features")
    parameters = dict(config.parameters)
    fitted: methods.Fitted | None = None
    encoder: Encoder | None = None
    mode = "fit"
    if previous_key is not None and training:
        try:
            bundle = pickle.loads(runtime.store.get_bytes(previous_key))  # noqa: S301 - written by this server
            encoder, fitted, mode = bundle["encoder"], bundle["fitted"], "transform"
        except Exception:
            log.warning("projection %s: stored transformer unreadable; fitting", projection_id)
    if encoder is None:
        encoder = fit_encoder(
            columns,
            training if training else production,
            runtime=model,
            max_categories=settings.max_categories,
        )
    train_x, train_notes = encoder.encode(training, model)
    prod_x, prod_notes = encoder.encode(production, model)
    # Done with the model: a user's model's worker process ends now (on an early exit above,
    # when the runtime is collected).
    close = getattr(model, "close", None)
    if callable(close):
        close()
    notes += [f"training: {n}" for n in train_notes] + [f"production: {n}" for n in prod_notes]
    width = train_x.shape[1] if len(training) else prod_x.shape[1]

    report(0.25, f"projecting with {method}" if mode == "fit" else "placing new points")

    def fitting(fraction: float, stage: str) -> None:
        report(0.25 + 0.35 * fraction, f"projecting with {method}: {stage}")

    transformer_key = None
    if fitted is not None:
        train_low, prod_low = fitted.low, methods.transform(fitted, prod_x)
    elif training and method != "trimap":
        # As hydro-visualization: fitted on the training data, production placed on it; the
        # transformer is kept, so newer production data is placed without fitting again.
        fitted = methods.fit(method, parameters, train_x, seed=seed, progress=fitting)
        train_low, prod_low = fitted.low, methods.transform(fitted, prod_x)
        transformer_key = runtime.store.new_key(ARTIFACTS, ".transformer.pkl")
        runtime.store.put_bytes(
            transformer_key, pickle.dumps({"encoder": encoder, "fitted": fitted})
        )
    else:
        stacked = _stack(train_x, prod_x, width)
        both = methods.fit(method, parameters, stacked, seed=seed, progress=fitting)
        train_low, prod_low = both.low[: len(training)], both.low[len(training) :]

    report(0.6, "computing metrics")
    high = _stack(train_x, prod_x, width)
    low = np.vstack([train_low, prod_low])
    labels = _metric_labels(target, training.labels + production.labels)
    wanted: list[str] = list(config.visualization_metrics)
    quality = _metrics(method, parameters, wanted, high, low, labels, seed, notes)

    report(0.8, "finding neighbours")
    top = neighbours(prod_x, settings.neighbours)
    k = low.shape[1]
    production_colours = class_labels(target, production)
    training_colours = class_labels(target, training)
    result = {
        "data_shape": [len(production), k],
        "data": _round(prod_low),
        "request_ids": production.request_ids,
        "class_labels": production_colours,
        "metrics": {},
        "top_100": top,
        "counterfactuals": counterfactuals(top, production.labels),
        "visualization_metrics": quality,
        "training_data_shape": [len(training), k],
        "training_data": _round(train_low),
        "training_class_labels": training_colours,
        "method": method,
        "parameters": parameters,
        "mode": mode,
        "features": "embedding" if encoder.embedding else "inputs",
        "n_features": int(width),
        "notes": notes,
    }

    report(0.9, "writing results")
    store = runtime.store
    keys = {
        "result_key": store.new_key(ARTIFACTS, ".json"),
        "parquet_key": store.new_key(ARTIFACTS, ".parquet"),
        "plot_key": store.new_key(ARTIFACTS, ".png"),
    }
    store.put_bytes(keys["result_key"], json.dumps(result, allow_nan=False).encode())
    store.put_bytes(keys["parquet_key"], plots.parquet_bytes(result))
    title = f"{target.model_name} v{target.version}: {method}"
    store.put_bytes(
        keys["plot_key"],
        plots.scatter_png(
            train_low,
            prod_low,
            production.labels or None,
            title=title,
            training_labels=training.labels or None,
            classes=plots.class_order(
                production_colours.get("class") or {}, training_colours.get("class") or {}
            ),
        ),
    )
    return {
        **keys,
        "transformer_key": transformer_key,
        "mode": mode,
        "n_training": len(training),
        "n_production": len(production),
    }


def _stack(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    parts = [p.reshape(-1, width) for p in (a, b) if len(p)]
    return np.vstack(parts) if parts else np.zeros((0, width))


def _round(points: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in points]


def _metric_labels(target: ServingTarget, labels: list[Any]) -> list[str] | None:
    if target.kind != "classifier" or not labels or any(v is None for v in labels):
        return None
    return [str(v) for v in labels]


def _metrics(
    method: str,
    parameters: dict[str, Any],
    wanted: list[str],
    high: np.ndarray,
    low: np.ndarray,
    labels: list[str] | None,
    seed: int,
    notes: list[str],
) -> dict[str, float | None]:
    if not wanted:
        return {}

    def refit(sample: np.ndarray) -> np.ndarray:
        return methods.fit(method, parameters, sample, seed=seed).low

    try:
        values = metrics.compute(wanted, high, low, labels, seed=seed, refit=refit)
    except metrics.MetricInputError as exc:
        if labels is None:
            raise
        # Labels the metrics cannot use (a single class, say): the others still mean something.
        notes.append(f"label-based metrics left out: {exc.message}")
        values = metrics.compute(wanted, high, low, None, seed=seed, refit=refit)
    # A metric undefined on degenerate data is no number; JSON has no NaN to say so.
    undefined = [k for k, v in values.items() if v is not None and not np.isfinite(v)]
    if undefined:
        notes.append(f"metrics undefined on this data: {undefined}")
    return {k: None if k in undefined else v for k, v in values.items()}


def neighbours(points: np.ndarray, count: int) -> list[list[int]]:
    """Each point's nearest other points in the original space, nearest first."""
    n = len(points)
    if n < 2:
        return [[] for _ in range(n)]
    k = min(count, n - 1)
    index = NearestNeighbors(n_neighbors=k + 1).fit(points)
    _, found = index.kneighbors(points)
    # Each row holds the point itself once, normally first; among duplicates it may be
    # elsewhere or missing. Keep the first k others of each row, in order.
    others = found != np.arange(n)[:, None]
    keep = others & (np.cumsum(others, axis=1) <= k)
    rows: list[list[int]] = found[keep].reshape(n, k).tolist()
    return rows


def counterfactuals(top: list[list[int]], labels: list[Any]) -> list[list[int]]:
    """Each point's neighbours (from ``top``, in its order) that the model gave another class."""
    try:
        codes: dict[Any, int] = {}
        coded = np.array([codes.setdefault(v, len(codes)) for v in labels], dtype=np.int64)
    except TypeError:  # unhashable labels (lists): compared one by one
        return [[j for j in row if labels[j] != labels[i]] for i, row in enumerate(top)]
    if not top or not top[0]:
        return [[] for _ in top]
    found = np.asarray(top, dtype=np.int64)
    other = coded[found] != coded[:, None]
    return [row[mask].tolist() for row, mask in zip(found, other, strict=True)]


def class_labels(target: ServingTarget, points: Points) -> dict[str, Any]:
    """The colourings of hydro-visualization: class (categorical) and confidence (gradient)."""
    if target.kind != "classifier":
        values = [v if isinstance(v, int | float) else None for v in points.labels]
        return {"prediction": {"data": values, "coloring_type": "gradient"}}
    seen = {v for v in points.labels if v is not None}
    known = [c for c in (target.classes or []) if c in seen]
    classes = known + sorted((v for v in seen if v not in known), key=str)
    colouring: dict[str, Any] = {
        "class": {"data": list(points.labels), "coloring_type": "class", "classes": classes}
    }
    if any(c is not None for c in points.confidences):
        colouring["confidence"] = {"data": list(points.confidences), "coloring_type": "gradient"}
    return colouring
