"""The projection methods, behind this one module: umap-learn, openTSNE, TriMap, PCA.

Each library is imported on first use (umap-learn and numba take seconds; TriMap brings in
torch), so importing the domain costs nothing. umap-learn compiles its numba functions on its
first call in a process (a minute and more): ``configure_numba_cache`` points numba's disk
cache into the data folder, and ``start_warm_up`` compiles them in a child process when a
server or worker starts (see ``warm_up``), so no job pays for it.

Sizes the libraries would warn about (UMAP's neighbours, t-SNE's perplexity on small data)
are lowered before the call. Warnings are not silenced here: ``warnings.catch_warnings`` swaps
process-wide state, which is not safe from the worker threads jobs run on.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.visualization import warm_up as _warm_up

__all__ = [
    "MIN_POINTS",
    "Fitted",
    "MethodError",
    "configure_numba_cache",
    "fit",
    "missing_library",
    "start_warm_up",
    "transform",
    "wait_warm",
    "warm_up",
]

log = logging.getLogger(__name__)

# Fewer points than this make no picture worth a job (and kNN-based methods cannot run).
MIN_POINTS = 10
# How long a UMAP fit waits for this process's warm-up before compiling on its own.
WARM_UP_WAIT_SECONDS = 300.0

_LIBRARIES = {"umap": "umap", "tsne": "openTSNE", "trimap": "trimap", "pca": "sklearn"}
_INSTALL = {
    "umap": "pip install umap-learn",
    "tsne": "pip install openTSNE",
    "trimap": "pip install 'modelyard[trimap]' (trimap 1.2 and torch 2.13)",
    "pca": "pip install scikit-learn",
}


class MethodError(ValueError):
    """The data cannot be projected with these parameters; the message says why."""


@dataclass
class Fitted:
    """A fitted method: the projection of the points it was fitted on, and its model."""

    method: str
    model: Any
    low: np.ndarray

    @property
    def can_transform(self) -> bool:
        return self.method != "trimap"


def missing_library(method: str) -> str | None:
    """Why ``method`` cannot run on this server, or None when its library is installed."""
    module = _LIBRARIES[method]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if method == "trimap" and found:
        try:
            found = importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):
            found = False
    if found:
        return None
    return f"{method} is not installed on this server ({_INSTALL[method]})"


def _check(method: str, x: np.ndarray, n_components: int) -> None:
    n, d = x.shape
    if n < MIN_POINTS:
        raise MethodError(f"{method} needs at least {MIN_POINTS} points; the data has {n}")
    if method == "pca" and d < n_components:
        raise MethodError(
            f"PCA to {n_components} components needs at least {n_components} features; "
            f"the data has {d}"
        )
    if np.unique(x, axis=0).shape[0] < n_components + 1:
        raise MethodError(
            f"the data has fewer than {n_components + 1} distinct points; nothing to project"
        )


Progress = Callable[[float, str], None]


def fit(
    method: str,
    parameters: dict[str, Any],
    x: np.ndarray,
    *,
    seed: int,
    progress: Progress | None = None,
) -> Fitted:
    """Fit ``method`` on ``x`` (n x d, finite) and project it.

    ``progress(fraction, stage)``: told as the fit moves (UMAP: waiting for its compile,
    neighbours, then each tenth of the layout's epochs); it may raise to stop the fit.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_components = int(parameters.get("n_components", 2))
    _check(method, x, n_components)
    n = x.shape[0]
    try:
        if method == "umap":
            return _fit_umap(parameters, x, n_components, seed, progress or _quiet)
        if method == "tsne":
            return _fit_tsne(parameters, x, n_components, seed, n)
        if method == "trimap":
            return _fit_trimap(parameters, x, n_components, seed, n)
        if method == "pca":
            from sklearn.decomposition import PCA

            model = PCA(n_components=n_components, random_state=seed)
            return Fitted(method, model, np.asarray(model.fit_transform(x), dtype=np.float64))
    except MethodError:
        raise
    except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
        # The libraries answer bad metric/data combinations with these; the message is
        # theirs, the state is ERROR, the process goes on.
        raise MethodError(f"{method} could not project the data: {exc}") from exc
    raise MethodError(f"unknown method {method!r}")


def _quiet(fraction: float, stage: str) -> None:
    pass


class _EpochProgress:
    """A file for umap-learn's tqdm bar: each tenth of the epochs becomes a progress call."""

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._last = -1

    def write(self, text: str) -> int:
        counts = self._COUNT.findall(text)
        if counts:
            done, total = (int(n) for n in counts[-1])
            tenth = 10 * done // max(total, 1)
            if tenth != self._last:
                self._last = tenth
                self._progress(
                    0.2 + 0.8 * done / max(total, 1), f"laying out: epoch {done}/{total}"
                )
        return len(text)

    def flush(self) -> None:
        pass


def _fit_umap(
    parameters: dict[str, Any], x: np.ndarray, k: int, seed: int, progress: Progress
) -> Fitted:
    # Compiling the same functions twice at once only makes both slower: wait, saying why.
    wait_warm(WARM_UP_WAIT_SECONDS, say=lambda why: progress(0.0, why))
    progress(0.0, "loading umap-learn's compiled code")
    import umap

    _warm_up.cache_compiled_code()
    progress(0.1, "finding neighbours")
    model = umap.UMAP(
        n_components=k,
        n_neighbors=min(int(parameters.get("n_neighbours", 15)), x.shape[0] - 1),
        min_dist=float(parameters.get("min_dist", 0.1)),
        metric=str(parameters.get("metric", "euclidean")),
        random_state=seed,
        transform_seed=seed,
        n_jobs=1,
        # The layout's epochs, told through tqdm's bar (its only progress hook).
        tqdm_kwds={"disable": False, "file": _EpochProgress(progress), "mininterval": 0.0},
    )
    low = model.fit_transform(x)
    # The bar's file cannot be pickled, and has nothing to say once fitted.
    model.tqdm_kwds = None
    return Fitted("umap", model, np.asarray(low, dtype=np.float64))


def _fit_tsne(parameters: dict[str, Any], x: np.ndarray, k: int, seed: int, n: int) -> Fitted:
    import openTSNE

    # openTSNE needs 3 * perplexity < n; it would lower it itself, with a warning.
    perplexity = min(float(parameters.get("perplexity", 30.0)), (n - 1) / 3.0)
    model = openTSNE.TSNE(
        n_components=k,
        perplexity=perplexity,
        metric=str(parameters.get("metric", "euclidean")),
        n_iter=int(parameters.get("n_iter", 500)),
        # openTSNE picks Barnes-Hut for small data, FFT for large; FFT works in 1-2 dimensions.
        negative_gradient_method="auto" if k <= 2 else "bh",
        random_state=seed,
        n_jobs=1,
        verbose=False,
    )
    embedding = model.fit(x)
    return Fitted("tsne", embedding, np.asarray(embedding, dtype=np.float64))


def _fit_trimap(parameters: dict[str, Any], x: np.ndarray, k: int, seed: int, n: int) -> Fitted:
    import trimap

    n_inliers = min(int(parameters.get("n_inliers", 12)), n - 2)
    model = trimap.TorchTRIMAP(
        n_dims=k,
        n_inliers=max(n_inliers, 2),
        n_outliers=min(int(parameters.get("n_outliers", 4)), n - n_inliers - 1),
        n_random=int(parameters.get("n_random", 3)),
        distance=str(parameters.get("distance", "euclidean")),
        n_iters=int(parameters.get("n_iters", 400)),
        random_state=seed,
        device="cpu",
        verbose=False,
    )
    low = model.fit_transform(x)
    values = low.detach().cpu().numpy() if hasattr(low, "detach") else np.asarray(low)
    # The fitted torch tensors are of no further use (TriMap cannot place new points).
    return Fitted("trimap", None, np.asarray(values, dtype=np.float64))


def transform(fitted: Fitted, x: np.ndarray) -> np.ndarray:
    """Place new points with a fitted method, without fitting again."""
    if not fitted.can_transform:
        raise MethodError(f"{fitted.method} cannot place new points; it must be fitted again")
    x = np.ascontiguousarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.zeros((0, fitted.low.shape[1]))
    if fitted.method == "umap":
        # An unpickled model in a new process: its compiled code comes from the cache too.
        _warm_up.cache_compiled_code()
    try:
        return np.asarray(fitted.model.transform(x), dtype=np.float64)
    except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
        raise MethodError(f"{fitted.method} could not place the new points: {exc}") from exc


# --- numba: compile once, off the jobs' clock ------------------------------------------------


def configure_numba_cache(path: Path) -> None:
    """Keep numba's compiled code in ``path``; effective only before numba is imported."""
    path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(path))


def warm_up() -> float:
    """Compile umap-learn's (and pynndescent's) numba code into the cache, here; seconds."""
    if missing_library("umap") is not None:
        return 0.0
    return _warm_up.compile_now()


def start_warm_up() -> bool:
    """Compile in a child process unless the cache is warm already; True if started."""
    if missing_library("umap") is not None:
        return False
    return _warm_up.start()


def wait_warm(timeout: float, say: Callable[[str], None] | None = None) -> bool:
    """Wait for a compile under way to end (a job about to use UMAP; the benchmark)."""
    return _warm_up.wait(timeout, say)
