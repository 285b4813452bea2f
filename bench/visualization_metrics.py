"""Benchmark: the cost of each visualization quality metric (issue 6, "Speed").

Run: ``.venv/bin/python bench/visualization_metrics.py [points ...]`` (default 5000 and 10000;
under a minute). For each size it generates points in 50 dimensions (10 Gaussian classes),
projects them to 2-D with scikit-learn's PCA (the reference: the quick baseline method, timed
in the same run) and times every metric of ``modelyard.visualization.metrics`` on that
projection, best of ``REPEATS`` runs, as milliseconds and as a ratio to the PCA projection.
``stability_score`` includes its refit (PCA of half the points, at most 1,000). When umap-learn
is installed, a UMAP projection of the same points is timed too (after a warm-up that compiles
its numba code), for scale: that is what the metrics usually accompany.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
import sklearn
from sklearn.decomposition import PCA

from modelyard.visualization import metrics

DIMS = 50
CLASSES = 10
REPEATS = 5
SEED = 7


def dataset(points: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    labels = rng.integers(0, CLASSES, size=points)
    centres = rng.normal(size=(CLASSES, DIMS)) * 4
    return centres[labels] + rng.normal(size=(points, DIMS)), labels


def best_time(call: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def pca(points: np.ndarray) -> np.ndarray:
    return np.asarray(PCA(n_components=2, random_state=SEED).fit_transform(points))


def umap_projection() -> Callable[[np.ndarray], object] | None:
    try:
        import umap  # optional and heavy: not a dependency of the metrics
    except ImportError:
        return None

    def project(points: np.ndarray) -> object:
        return umap.UMAP(n_components=2, random_state=SEED).fit_transform(points)

    project(dataset(200)[0])  # numba compilation, kept out of the timing
    return project


def run(points: int, umap_project: Callable[[np.ndarray], object] | None) -> None:
    high, labels = dataset(points)
    reference = best_time(lambda: pca(high))
    low = pca(high)
    print(f"\n{points:,} points x {DIMS} dims, {CLASSES} classes")
    print(f"{'':24} {'ms':>9} {'vs PCA':>8}")
    print(f"{'PCA projection (ref)':24} {reference * 1e3:9.1f} {1.0:7.2f}x")
    if umap_project is not None:
        start = time.perf_counter()
        umap_project(high)
        seconds = time.perf_counter() - start
        print(f"{'UMAP projection':24} {seconds * 1e3:9.1f} {seconds / reference:7.2f}x")
    total = 0.0
    for name in metrics.METRIC_NAMES:
        seconds = best_time(
            lambda name=name: metrics.compute([name], high, low, labels, seed=SEED, refit=pca)
        )
        total += seconds
        print(f"{name:24} {seconds * 1e3:9.1f} {seconds / reference:7.2f}x")
    print(f"{'all metrics':24} {total * 1e3:9.1f} {total / reference:7.2f}x")


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [5000, 10000]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )
    # Warm-up: first calls load BLAS/OpenMP thread pools and scikit-learn's compiled helpers.
    warm_high, warm_labels = dataset(500)
    metrics.compute(metrics.METRIC_NAMES, warm_high, pca(warm_high), warm_labels, seed=SEED)
    umap_project = umap_projection()
    if umap_project is None:
        print("umap-learn is not installed: no UMAP row")
    for points in sizes:
        run(points, umap_project)


if __name__ == "__main__":
    main()
