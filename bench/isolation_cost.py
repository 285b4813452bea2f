"""Benchmark: what a model worker and the durable request log cost one predict request.

Run: ``.venv/bin/python bench/isolation_cost.py [--rows 100] [--requests 1500] [--workers 2]
[--baseline-src PATH]`` (about three minutes). It starts ``modelyard serve --workers N`` as
``bench/serving.py`` does (a fresh data folder, an admin, an API key), registers the serving
benchmark's model (LogisticRegression, 20 features, 3 classes, a 20-column input schema) once
per serving-option set, and drives each version with 8 keep-alive clients sending the same
``rows``-row body. For each it reads the CPU time (user + system) of every thread of every
process under the server (the API processes, their zygote and model workers) from /proc before
and after, and prints the server's CPU per request, split into the API processes and the model
workers, and the ratio against the version with both costs turned off:

* defaults: the model in a model-worker process, the log committed before the answer;
* ``request_log: best_effort``: the worker only;
* ``in_process: true`` (an admin's choice): the durable log only;
* both: the path before issue 19.

CPU per request changes much less than requests per second when other work shares the
machine, so the split holds on a loaded machine too; the rates printed beside it do not.
``--baseline-src PATH`` also runs another checkout (its ``src``) with its defaults, first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).parent))
from serving import Modelyard

CLIENTS = 8
OPTION_SETS: dict[str, dict[str, Any]] = {
    "defaults (worker, durable log)": {},
    "request_log best_effort": {"request_log": "best_effort"},
    "in_process": {"in_process": True},
    "in_process + best_effort": {"in_process": True, "request_log": "best_effort"},
}
REFERENCE = "in_process + best_effort"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _threads_cpu(root: int) -> dict[tuple[int, int], tuple[bool, float]]:
    """(pid, tid) -> (in a model worker, CPU seconds) for every thread under ``root``."""
    found: dict[tuple[int, int], tuple[bool, float]] = {}
    pending, seen = [root], set()
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue  # ended meanwhile
        worker = b"modelyard.registry.model_worker" in command
        for task in tasks:
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                children = (task / "children").read_text().split()
            except OSError:
                continue
            found[(pid, int(task.name))] = (worker, (int(fields[11]) + int(fields[12])) / tick)
            pending.extend(int(child) for child in children)
    return found


def drive(port: int, path: str, body: bytes, headers: dict[str, str], count: int) -> float:
    """Send ``count`` requests from CLIENTS keep-alive clients; requests per second."""
    sent = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if sent[0] >= count or failures:
                    break
                sent[0] += 1
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(f"{response.status} {answer[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"a request to {path} failed: {failures[0]}")
    return count / (time.monotonic() - started)


def measure(server: Modelyard, path: str, body: bytes, count: int) -> tuple[float, float, float]:
    """Requests per second, and the server's CPU ms per request in its API processes and in
    its model workers."""
    assert server.process is not None
    drive(server.port, path, body, server.headers, max(count // 5, 50))  # warm: load, caches
    before = _threads_cpu(server.process.pid)
    rate = drive(server.port, path, body, server.headers, count)
    after = _threads_cpu(server.process.pid)
    api = workers = 0.0
    for key, (worker, seconds) in after.items():
        spent = seconds - before.get(key, (worker, 0.0))[1]
        if worker:
            workers += spent
        else:
            api += spent
    return rate, api * 1000 / count, workers * 1000 / count


def run(
    label: str, work: Path, src: Path | None, sets: dict[str, dict[str, Any]], args: Any
) -> dict[str, tuple[float, float, float]]:
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(src.resolve())
    server = Modelyard(work, free_port(), work / f"{label}.log", workers=args.workers)
    results = {}
    try:
        server.start()
        for name, options in sets.items():
            version = server.register("m", work / "model.joblib", options)
            path = f"/api/v1/models/m/versions/{version}/predict"
            results[name] = measure(server, path, args.body, args.requests)
    finally:
        if server.process is not None:
            os.killpg(server.process.pid, signal.SIGTERM)
            server.process.wait(60)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="rows per request")
    parser.add_argument("--requests", type=int, default=1500, help="measured per option set")
    parser.add_argument("--workers", type=int, default=2, help="`serve --workers`")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src folder")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 20))
    labels = (features[:, 0] > 0).astype(int) + (features[:, 1] > 0.5)
    args.body = json.dumps({"X": rng.normal(size=(args.rows, 20)).round(6).tolist()}).encode()
    print(f"# isolation_cost  {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}; {args.rows} rows, {args.requests} requests per set, "
        f"{CLIENTS} clients, serve --workers {args.workers}"
    )
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as folder:
        work = Path(folder)
        joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), work / "model.joblib")
        runs: dict[str, dict[str, tuple[float, float, float]]] = {}
        if args.baseline_src is not None:
            runs["baseline"] = run("baseline", work, args.baseline_src, {"defaults": {}}, args)
        runs["modelyard"] = run("modelyard", work, None, OPTION_SETS, args)
    reference = sum(runs["modelyard"][REFERENCE][1:])
    print(
        f"\n{'server / serving options':<46}{'req/s':>8}{'API ms':>8}{'worker ms':>10}"
        f"{'total':>8}{'x ref':>7}"
    )
    for run_name, results in runs.items():
        for name, (rate, api, workers) in results.items():
            total = api + workers
            print(
                f"{run_name + ': ' + name:<46}{rate:>8.0f}{api:>8.3f}{workers:>10.3f}"
                f"{total:>8.3f}{total / reference:>7.2f}"
            )
    print(
        f"\n(x ref: the server's CPU per request against '{REFERENCE}'; load now "
        f"{os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
