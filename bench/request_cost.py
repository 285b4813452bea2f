"""Benchmark: what one request costs the server, in CPU time and in requests per second.

Run: ``.venv/bin/python bench/request_cost.py [--baseline-src PATH]`` (about two minutes). It
starts ``modelyard serve`` on the embedded defaults and, as the reference, bench/minimal_app.py
(a FastAPI app with no auth, database, middleware or log) under uvicorn, then drives each with
8 keep-alive clients (the same light client as bench/evaluation_create.py) for a few seconds
per route and reads each server's CPU time (user + system, every thread) from /proc. CPU time
per request changes much less than requests per second when other work shares the machine.

Routes: the liveness route (the HTTP stack alone), ``GET /api/v1/users/me`` with an API key and
with a JWT (what every signed-in call pays), and pycm-api's ``POST /cm/create`` with 8 labels
(issue 3's small create: key check in the body, counting, PyCM, one INSERT and its commit).

``--baseline-src PATH`` also starts a second modelyard from another checkout's ``src`` folder
(e.g. ``git archive <commit> | tar -x -C /tmp/base``), measured the same way in the same run:
the before/after of a change.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from evaluation_create import (
    SERVER_PIDS,
    SMALL,
    _env,
    cpu_seconds,
    server,
    serving,
)

CLIENTS = 8
SECONDS = 6.0
WARM_UP = 1.5


def drive(
    base: str, method: str, path: str, body: bytes | None, headers: dict[str, str], seconds: float
) -> tuple[float, float]:
    """Requests per second from CLIENTS keep-alive clients, and server CPU ms per request."""
    host, port = base.removeprefix("http://").split(":")
    done = [0] * CLIENTS
    failures = [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < stop:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status < 300:
                done[index] += 1
            else:
                failures[index] += 1
        connection.close()

    pid = SERVER_PIDS[base]
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if sum(failures):
        raise RuntimeError(f"{sum(failures)} requests to {path} failed")
    return sum(done) / elapsed, (cpu_seconds(pid) - cpu_before) * 1000 / max(sum(done), 1)


@contextmanager
def minimal_server(data_dir: Path) -> Iterator[str]:
    command = ["-m", "uvicorn", "minimal_app:app", "--app-dir", str(Path(__file__).parent)]
    command += ["--log-level", "warning"]
    with serving(command, _env(), "/live", data_dir / "minimal.log") as base:
        yield base


@contextmanager
def baseline_server(data_dir: Path, src: Path) -> Iterator[str]:
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src.resolve())
    try:
        with server(data_dir, wait_warm_up=True) as base:
            yield base
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def modelyard_cases(base: str) -> list[tuple[str, str, str, bytes | None, dict[str, str]]]:
    signed_up = httpx.post(
        f"{base}/sign_up/", json={"email": "bench@example.com", "password": "bench123"}
    ).json()
    key = signed_up["api_key"]
    token = httpx.post(
        f"{base}/api/v1/auth/token", json={"login": "bench@example.com", "password": "bench123"}
    ).json()["access_token"]
    create = json.dumps({"api_key": key, **SMALL}).encode()
    return [
        ("liveness", "GET", "/api/v1/health/live", None, {}),
        ("users/me, API key", "GET", "/api/v1/users/me", None, {"X-API-Key": key}),
        ("users/me, JWT", "GET", "/api/v1/users/me", None, {"Authorization": f"Bearer {token}"}),
        (
            "/cm/create, 8 labels",
            "POST",
            "/cm/create",
            create,
            {"Content-Type": "application/json"},
        ),
    ]


def measure(
    base: str, cases: list[tuple[str, str, str, bytes | None, dict[str, str]]]
) -> dict[str, tuple[float, float, float]]:
    results = {}
    for label, method, path, body, headers in cases:
        drive(base, method, path, body, headers, WARM_UP)
        load = os.getloadavg()[0]
        rate, cpu_ms = drive(base, method, path, body, headers, SECONDS)
        results[label] = (rate, cpu_ms, load)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src folder")
    args = parser.parse_args()
    print(f"# request_cost  {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as folder:
        root = Path(folder)
        for name in ("minimal", "modelyard", "baseline"):
            (root / name).mkdir()
        body = json.dumps({"api_key": "k", **SMALL}).encode()
        with minimal_server(root / "minimal") as ref:
            reference = measure(
                ref,
                [
                    ("liveness", "GET", "/live", None, {}),
                    (
                        "POST with a body",
                        "POST",
                        "/create",
                        body,
                        {"Content-Type": "application/json"},
                    ),
                ],
            )
        runs: dict[str, dict[str, tuple[float, float, float]]] = {}
        if args.baseline_src is not None:
            with baseline_server(root / "baseline", args.baseline_src) as base:
                runs["baseline"] = measure(base, modelyard_cases(base))
        with server(root / "modelyard", wait_warm_up=True) as base:
            runs["modelyard"] = measure(base, modelyard_cases(base))

    print(f"\n## {CLIENTS} clients, {SECONDS:.0f} s per route; CPU = the server's, per request")
    print(f"{'server / route':<42}{'per second':>11}{'CPU ms':>9}{'load':>6}")
    for label, (rate, cpu_ms, load) in reference.items():
        print(f"{'minimal FastAPI: ' + label:<42}{rate:>11.0f}{cpu_ms:>9.3f}{load:>6.1f}")
    floor_cpu = reference["liveness"][1]
    body_cpu = reference["POST with a body"][1]
    for name, results in runs.items():
        for label, (rate, cpu_ms, load) in results.items():
            print(f"{name + ': ' + label:<42}{rate:>11.0f}{cpu_ms:>9.3f}{load:>6.1f}")
    mine = runs["modelyard"]
    print("\n## against the minimal app (CPU per request; 1.00x = as cheap)")
    print(f"liveness: {mine['liveness'][1] / floor_cpu:.2f}x the minimal app's liveness")
    for label in ("users/me, API key", "users/me, JWT", "/cm/create, 8 labels"):
        print(f"{label}: {mine[label][1] / body_cpu:.2f}x the minimal app's POST with a body")
    if "baseline" in runs:
        print("\n## against the baseline checkout (CPU per request)")
        for label, (_, cpu_ms, _) in mine.items():
            before = runs["baseline"][label][1]
            print(f"{label}: {before:.3f} -> {cpu_ms:.3f} ms ({before / cpu_ms:.2f}x cheaper)")


if __name__ == "__main__":
    main()
