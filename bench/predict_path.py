"""Benchmark: the CPU the app spends on one predict request, without an HTTP server.

Run: ``.venv/bin/python bench/predict_path.py [--rows 100] [--requests 500] [--rounds 6]
[--threads] [--in-process] [--mode batching]`` (about a minute; ``--threads``: each thread's
CPU per request too; ``--in-process``: the model in the API process, as an admin may mark it,
instead of the model-worker process every user's model runs in; the worker's own CPU is then
not in the figures, which are the API process's). It builds
the app as ``modelyard serve`` does (a fresh data folder, the migrations, an admin, an API
key), registers the serving benchmark's model (LogisticRegression,
20 features, 3 classes, a 20-column input schema) and then calls the app's ASGI callable
itself from 8 concurrent clients on its event loop: auth, validation, the model, the request
log and the answer, everything but uvicorn and the sockets. Per round it prints the process's
CPU time per request (every thread: the worker thread and the log writer included) and, as
the reference measured in the same process and round, the library call alone on the same
bodies (``predict_proba(np.asarray(orjson.loads(body)["X"]))``), and their ratio.

The VM this was written on swings by up to 40% in CPU time between identical runs, so for a
before/after of a change count instructions instead (repeatable to about 1%): under valgrind,
``--callgrind`` turns callgrind's instrumentation on for the app's measured requests only:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python bench/predict_path.py --callgrind --requests 200 --rounds 1
    PYTHONPATH=<other tree>/src valgrind ... (the same)          # the tree to compare

and read ``I refs`` (divide by the requests) or ``callgrind_annotate`` the output file.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# As the serving benchmark runs its servers: numpy's BLAS on one thread.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

CLIENTS = 8
PASSWORD = "bench-password-1234"  # noqa: S105 - a throwaway admin of a temporary folder
PATH = "/api/v1/models/m/versions/1/predict"


def configure(data_dir: Path) -> None:
    os.environ.update(
        {
            "MODELYARD_DATA_DIR": str(data_dir),
            "MODELYARD_ADMIN_EMAIL": "bench@example.com",
            "MODELYARD_ADMIN_PASSWORD": PASSWORD,
            "MODELYARD_REGISTRY_ALLOW_ADMIN_PICKLE": "true",  # the model is a joblib file
            "MODELYARD_LOG_LEVEL": "WARNING",
            "MODELYARD_VISUALIZATION_WARM_UP": "false",  # not serving's cost
        }
    )


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads so far, by thread name (Linux)."""
    import threading

    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    seconds: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            ran = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
        name = names.get(int(task.name), "other").rstrip("0123456789_")
        seconds[name] = seconds.get(name, 0.0) + ran
    return seconds


def callgrind(pid: int, on: bool) -> None:
    subprocess.run(  # noqa: S603 - valgrind's own tool, our pid
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],  # noqa: S607
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="rows per request")
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--callgrind", action="store_true", help="under valgrind: see above")
    parser.add_argument(
        "--threads", action="store_true", help="also print each thread's CPU ms per request"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the model in the API process (an admin's in_process) instead of the model "
        "worker every user's model runs in (the default); the worker's own CPU is not counted",
    )
    parser.add_argument("--mode", choices=["direct", "queue", "batching"], default="direct")
    args = parser.parse_args()
    configure(Path(tempfile.mkdtemp(prefix="modelyard-bench-")))

    import joblib
    import numpy as np
    import orjson
    from fastapi.testclient import TestClient
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from modelyard.app import create_app, freeze_startup_objects
    from modelyard.config import Settings
    from modelyard.db import Database
    from modelyard.migrate import upgrade

    # The shared harness's model and data (../shared/bench-serving/train.py).
    features, labels = make_classification(
        n_samples=20_000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=3,
        random_state=0,
    )
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    saved = io.BytesIO()
    joblib.dump(model, saved)
    bodies = [
        json.dumps({"X": features[i * args.rows : (i + 1) * args.rows].tolist()}).encode()
        for i in range(50)
    ]

    settings = Settings()
    database = Database.from_settings(settings)  # as `modelyard migrate` does
    upgrade(database)
    database.dispose()
    app = create_app(settings)
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", json={"login": "bench@example.com", "password": PASSWORD}
        ).json()["access_token"]
        key = client.post(
            "/api/v1/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
        ).json()["key"]
        schema = {
            "input_schema": {"columns": [{"name": f"f{i}", "type": "numeric"} for i in range(20)]}
        }
        registered = client.post(
            "/api/v1/models",
            data={"name": "m", "format": "joblib"},
            files={
                "file": ("m.joblib", saved.getvalue()),
                "input_schema": ("schema.json", json.dumps(schema).encode()),
            },
            headers={"X-API-Key": key},
        )
        assert registered.status_code == 201, registered.text
        serving_options: dict[str, Any] = {"mode": args.mode}
        if args.in_process:
            serving_options["in_process"] = True
        chosen = client.put(
            "/api/v1/models/m/versions/1/serving",
            json=serving_options,
            headers={"X-API-Key": key},
        )
        assert chosen.status_code == 200, chosen.text
        first = client.post(PATH, content=bodies[0], headers={"X-API-Key": key})
        assert first.status_code == 200, first.text
        want = model.predict_proba(np.asarray(json.loads(bodies[0])["X"]))
        assert np.allclose(first.json()["probabilities"], want)

        headers = [
            (b"host", b"bench"),
            (b"x-api-key", key.encode()),
            (b"content-type", b"application/json"),
        ]

        async def one(body: bytes) -> None:
            scope: dict[str, Any] = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": PATH,
                "raw_path": PATH.encode(),
                "query_string": b"",
                "root_path": "",
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
                "app": app,
                "state": {},
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
            delivered = False

            async def receive() -> dict[str, Any]:
                nonlocal delivered
                if delivered:  # after the body: nothing more until the answer is sent
                    await asyncio.sleep(3600)
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}

            statuses: list[int] = []

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)
            assert statuses == [200], statuses

        async def drive(n: int) -> None:
            sent = 0

            async def client_loop(k: int) -> None:
                nonlocal sent
                while sent < n:
                    sent += 1
                    await one(bodies[(sent + k) % len(bodies)])

            await asyncio.gather(*(client_loop(k) for k in range(CLIENTS)))

        def library(n: int) -> None:
            for i in range(n):
                model.predict_proba(np.asarray(orjson.loads(bodies[i % len(bodies)])["X"]))

        serving = app.state.serving
        client.portal.call(drive, 200)  # warm-up: caches, the model, the first log batches
        serving.log.flush()
        freeze_startup_objects()
        print(
            f"{args.rows} rows per request ({len(bodies[0]):,} bytes), {args.requests} requests "
            f"per round, {CLIENTS} clients, {args.mode} mode, the model "
            f"{'in process' if args.in_process else 'in a model worker'}; CPU ms per request"
        )
        app_ms, lib_ms = [], []
        for round_number in range(1, args.rounds + 1):
            started = time.process_time()
            library(args.requests)
            lib_ms.append(1000 * (time.process_time() - started) / args.requests)
            if args.callgrind:
                callgrind(os.getpid(), True)
            started, per_thread = time.process_time(), thread_cpu()
            client.portal.call(drive, args.requests)
            serving.log.flush()  # the log writer's share of these requests
            app_ms.append(1000 * (time.process_time() - started) / args.requests)
            if args.threads:
                after = thread_cpu()
                shares = {n: 1000 * (t - per_thread.get(n, 0.0)) / args.requests
                          for n, t in after.items()}  # fmt: skip
                print("  threads:", ", ".join(
                    f"{n} {ms:.3f}" for n, ms in sorted(shares.items(), key=lambda x: -x[1])
                    if ms >= 0.001))  # fmt: skip
            if args.callgrind:
                callgrind(os.getpid(), False)
            print(
                f"round {round_number}: app {app_ms[-1]:.3f}  library call {lib_ms[-1]:.3f}  "
                f"app / library {app_ms[-1] / lib_ms[-1]:.2f}x"
            )
        app_median, lib_median = statistics.median(app_ms), statistics.median(lib_ms)
        print(
            f"median: app {app_median:.3f}  library call {lib_median:.3f}  "
            f"app / library {app_median / lib_median:.2f}x  (python {sys.version.split()[0]})"
        )


if __name__ == "__main__":
    main()
