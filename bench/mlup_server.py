"""mlup's single-model server (`modelyard serve --model`) against a minimal FastAPI app.

One scikit-learn classifier (LogisticRegression, 20 float features, 3 classes), served in turn by
the reference (a FastAPI app that parses the raw body with the standard json module, calls
``predict_proba`` in a worker thread and answers; nothing else) and by `modelyard serve --model
... --public` in its direct and batching modes, each in a process of its own on 127.0.0.1. The
same asyncio client loads each one: single-row requests from 32 connections, then 100-row
requests from 8. Printed: requests/s, rows/s, p50/p99, and each figure as a ratio of the
reference's in the same run.

Run: ``.venv/bin/python bench/mlup_server.py [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

REFERENCE_APP = '''
import json, os
import anyio.to_thread
import numpy as np
import skops.io as sio
from fastapi import FastAPI, Request
from fastapi.responses import Response

model = sio.load(os.environ["BENCH_MODEL"], trusted=sio.get_untrusted_types(file=os.environ["BENCH_MODEL"]))
app = FastAPI()

@app.get("/health")
async def health():
    return {"status_code": 200}

@app.post("/predict")
async def predict(request: Request):
    rows = json.loads(await request.body())["X"]
    result = await anyio.to_thread.run_sync(model.predict_proba, np.asarray(rows, dtype=float))
    return Response(json.dumps({"predict_result": result.tolist()}), media_type="application/json")
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not become ready")


async def _load(
    url: str, bodies: list[bytes], connections: int, seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            index = offset
            while time.monotonic() < stop:
                body = bodies[index % len(bodies)]
                index += connections
                started = time.perf_counter()
                response = await client.post(
                    f"{url}/predict", content=body, headers={"Content-Type": "application/json"}
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker(i) for i in range(connections)))
    return len(latencies), latencies, errors


def _measure(url: str, bodies: list[bytes], connections: int, seconds: float) -> dict[str, float]:
    asyncio.run(_load(url, bodies, connections, min(3.0, seconds)))  # warm-up, discarded
    count, latencies, errors = asyncio.run(_load(url, bodies, connections, seconds))
    ordered = sorted(latencies)
    return {
        "rps": count / seconds,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-mlup-"))
    features, labels = make_classification(
        n_samples=20000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    model_path = work / "model.skops"
    sio.dump(LogisticRegression(max_iter=500).fit(features, labels), model_path)
    (work / "reference_app.py").write_text(REFERENCE_APP)
    rng = np.random.default_rng(0)
    pool = features[rng.integers(0, len(features), 5000)]
    single = [json.dumps({"X": [row.tolist()]}).encode() for row in pool[:1000]]
    hundred = [json.dumps({"X": pool[i : i + 100].tolist()}).encode() for i in range(0, 5000, 100)]

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "PYCM_API_"))
    }
    env.update(
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        BENCH_MODEL=str(model_path),
        MODELYARD_DATA_DIR=str(work / "data"),
        MODELYARD_LOG_LEVEL="WARNING",
    )
    modelyard = [sys.executable, "-m", "modelyard", "serve", "--model", str(model_path)]
    servers: list[tuple[str, list[str]]] = [
        (
            "reference: minimal FastAPI",
            [sys.executable, "-m", "uvicorn", "reference_app:app", "--log-level", "warning"],
        ),
        ("modelyard serve --model, direct", [*modelyard, "--public"]),
        (
            "modelyard serve --model, batching",
            [*modelyard, "--public", "--mode", "batching", "--min-batch-len", "64"]
            + ["--batch-worker-timeout", "0.002"],
        ),
    ]
    results: list[tuple[str, dict[str, float], dict[str, float]]] = []
    for name, command in servers:
        port = _free_port()
        log = work / f"{len(results)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log)
            one = _measure(url, single, 32, args.seconds)
            rows = _measure(url, hundred, 8, args.seconds)
        finally:
            process.terminate()
            process.wait(30)
        results.append((name, one, rows))
        print(f"{name}: {one['rps']:.0f} req/s single-row, {rows['rps'] * 100:.0f} rows/s")

    reference = results[0]
    print(f"\nload average: {os.getloadavg()}; {os.cpu_count()} cores")
    print("| server | 1 row x 32 conn: req/s | vs ref | p50 / p99 ms |", end="")
    print(" 100 rows x 8 conn: rows/s | vs ref | p50 / p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, one, rows in results:
        print(
            f"| {name} | {one['rps']:,.0f} | {one['rps'] / reference[1]['rps']:.2f}x "
            f"| {one['p50_ms']:.1f} / {one['p99_ms']:.1f} | {rows['rps'] * 100:,.0f} "
            f"| {rows['rps'] / reference[2]['rps']:.2f}x "
            f"| {rows['p50_ms']:.1f} / {rows['p99_ms']:.1f} "
            f"| {int(one['errors'] + rows['errors'])} |"
        )


if __name__ == "__main__":
    main()
