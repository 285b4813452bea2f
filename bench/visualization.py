"""Benchmark: a projection job against the library call it wraps (issue 6, "Speed").

Run: ``.venv/bin/python bench/visualization.py [points] [production]`` (default 10,000 points and
no logged production rows; a few minutes, most of it UMAP). It builds the service in this
process on the embedded defaults (a fresh data folder, SQLite, in-process jobs), registers a
3-class logistic regression over 50 numeric features with a training sample of ``points`` rows
(10 Gaussian classes in 50 dimensions), and measures:

1. the reference: ``umap.UMAP(...).fit_transform`` and ``sklearn.decomposition.PCA`` on the
   same array, in this process, after a warm-up that compiles umap-learn's numba code;
2. a projection job of the version with the same method and parameters through the API
   (``POST .../projections`` with ``refit`` → polling ``GET /projections/{id}`` until SUCCESS),
   once with no quality metric and once with all of them. The job's time includes reading and
   sampling the CSV sample, the model's predictions on it (labels), robust scaling, the fit, the
   metrics, and writing the JSON, parquet and PNG results to the artifact store.

With ``production`` > 0 that many rows are first sent as predictions (100 per request), so the
job also places them with the fitted method and finds their ``top_100`` neighbours and
counterfactuals (the direct call still projects the training array only).

The ratio job / direct call is the service's overhead. Each figure is the best of ``REPEATS``
runs of that method: the wall time from the POST to the poll that saw SUCCESS (polled every
50 ms), the job's own run time (its ``started_at`` to ``finished_at``), and this process's CPU
time over the job (the job, the polling client and the in-process server together).
"""

from __future__ import annotations

import csv
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

DIMS = 50
CLASSES = 10
REPEATS = {"pca": 3, "umap": 1}  # UMAP at 10,000 points takes tens of seconds per run
SEED = 7
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"  # noqa: S105
ALL_METRICS = [
    "global_score", "sammon_error", "msid", "auc_score", "stability_score", "clustering",
    "trustworthiness", "continuity",
]  # fmt: skip


def dataset(points: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    labels = rng.integers(0, CLASSES, size=points)
    centres = rng.normal(size=(CLASSES, DIMS)) * 4
    return centres[labels] + rng.normal(size=(points, DIMS)), labels


def sample_csv(x: np.ndarray) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"f{i}" for i in range(DIMS)])
    writer.writerows([[f"{v:.6f}" for v in row] for row in x])
    return buffer.getvalue().encode()


def best(call: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    production = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    data_dir = Path(tempfile.mkdtemp(prefix="modelyard-bench-vis-"))
    # numba's cache of earlier runs (the tests' one) when there is one: the warm-up is timed and
    # reported apart; the jobs never include it either way.
    cache = Path(__file__).resolve().parents[1] / ".cache" / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(cache if cache.is_dir() else data_dir / "numba-cache")
    from modelyard.app import create_app
    from modelyard.config import AuthSettings, Settings, VisualizationSettings
    from modelyard.visualization import methods

    settings = Settings(
        environment="test",
        data_dir=data_dir,
        log_level="WARNING",
        auth=AuthSettings(secret_key=SECRET, argon2_time_cost=1, argon2_memory_kib=1024),
        visualization=VisualizationSettings(warm_up=False),
    )
    x, labels = dataset(points)
    print(f"compiling umap-learn (warm-up): {methods.warm_up():.1f} s", flush=True)
    import umap

    small = np.random.default_rng(1).normal(size=(200, 8))
    started = time.perf_counter()
    umap.UMAP(n_neighbors=10, n_epochs=20, random_state=0, n_jobs=1).fit_transform(small)
    # What the warm-up keeps out of every job: after it, a small fit compiles nothing.
    print(f"a small UMAP fit after it: {time.perf_counter() - started:.2f} s", flush=True)

    umap_params = {"n_neighbours": 15, "min_dist": 0.1, "metric": "euclidean", "n_components": 2}

    def direct_umap() -> None:
        umap.UMAP(
            n_neighbors=15, min_dist=0.1, n_components=2, random_state=0, transform_seed=0, n_jobs=1
        ).fit_transform(x)

    def direct_pca() -> None:
        PCA(n_components=2, random_state=0).fit_transform(x)

    reference = {"umap": best(direct_umap, REPEATS["umap"]), "pca": best(direct_pca, 5)}
    print(
        f"direct: UMAP {reference['umap']:.2f} s, PCA {reference['pca'] * 1000:.0f} ms", flush=True
    )

    model = LogisticRegression(max_iter=300).fit(x[:2000], labels[:2000] % 3)
    from modelyard.db import Database
    from modelyard.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_settings(settings)
    upgrade(database)  # create_app does not migrate; `modelyard serve` does
    database.dispose()
    app = create_app(settings)
    with TestClient(app) as client:
        client.post("/api/v1/users", json={"email": "bench@example.com", "password": "bench123"})
        token = client.post(
            "/api/v1/auth/token", json={"login": "bench@example.com", "password": "bench123"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        schema = [{"name": f"f{i}", "type": "float"} for i in range(DIMS)]
        import json

        registered = client.post(
            "/api/v1/models",
            data={"name": "bench"},
            files={
                "file": ("m.skops", sio.dumps(model)),
                "input_schema": ("s.json", json.dumps(schema)),
                "sample": ("sample.csv", sample_csv(x)),
            },
            headers=headers,
        )
        assert registered.status_code == 201, registered.text
        names = [f"f{i}" for i in range(DIMS)]
        for start in range(0, production, 100):
            rows = [
                dict(zip(names, map(float, row), strict=True)) for row in x[start : start + 100]
            ]
            sent = client.post("/api/v1/models/bench/predict", json=rows, headers=headers)
            assert sent.status_code == 200, sent.text
        if production:
            assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]
        runs: dict[tuple[str, str], tuple[float, float]] = {}

        def job(method: str, parameters: dict[str, Any], wanted: list[str]) -> None:
            body = {
                "parameters": parameters,
                "training_data_sample_size": min(points, 10_000),
                "production_data_sample_size": min(max(production, 20), 5000),
                "visualization_metrics": wanted,
            }
            url = f"/api/v1/models/bench/versions/1/projection-params/{method}"
            assert client.put(url, json=body, headers=headers).status_code == 200
            cpu = time.process_time()
            started = client.post(
                "/api/v1/models/bench/versions/1/projections",
                json={"method": method, "refit": True},
                headers=headers,
            ).json()
            while True:
                state = client.get(f"/api/v1/projections/{started['id']}", headers=headers).json()
                if state["state"] not in ("PENDING", "STARTED"):
                    break
                time.sleep(0.05)
            cpu = time.process_time() - cpu
            assert state["state"] == "SUCCESS", state
            record = client.get(f"/api/v1/jobs/{state['job_id']}", headers=headers).json()
            run = seconds_between(record["started_at"], record["finished_at"])
            key = (method, "all metrics" if wanted else "no metrics")
            if key not in runs or run < runs[key][0]:
                runs[key] = (run, cpu)

        rows = []
        for method, parameters in (("pca", {"n_components": 2}), ("umap", umap_params)):
            for label, wanted in (("no metrics", []), ("all metrics", ALL_METRICS)):
                seconds = best(
                    lambda m=method, p=parameters, w=wanted: job(m, p, w), REPEATS[method]
                )
                rows.append((method, label, seconds, seconds / reference[method]))
                run, cpu = runs[(method, label)]
                print(
                    f"job {method} ({label}): {seconds:.2f} s wall, {run:.2f} s run, "
                    f"{cpu:.2f} s CPU",
                    flush=True,
                )

    load = os.getloadavg()
    print()
    print(
        f"{points:,} points x {DIMS} dimensions, {production:,} production rows; "
        f"{platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, umap-learn {umap.__version__}; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        "| method | direct call | job, no metrics (run, CPU) | ratio "
        "| job, all metrics (run, CPU) | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for method in ("pca", "umap"):
        cells = []
        for label in ("no metrics", "all metrics"):
            row = next(r for r in rows if r[0] == method and r[1] == label)
            run, cpu = runs[(method, label)]
            cells.append(f"{row[2]:.2f} s ({run:.2f} s, {cpu:.2f} s) | {row[3]:.2f}x")
        print(f"| {method} | {reference[method]:.3f} s | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
