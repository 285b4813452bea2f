"""Start-up cost: ``modelyard serve`` beside ``mlflow server`` and the minimal FastAPI app.

For each server, started on a fresh data folder with its defaults:

* ready: seconds from launch until its readiness route answers 200;
* cpu: CPU seconds the server process had used by then (user + system, from /proc); tree
  cpu: its whole process tree's, ``--idle`` seconds later (the background work included);
* rss idle: resident memory ``--idle`` seconds after ready, of the server process and of its
  whole process tree (modelyard's UMAP warm-up child, MLflow's gunicorn/uvicorn workers);
* first request: one typical request (modelyard: upload a small skops model, then one
  predict; mlflow: search experiments; the minimal app: its JSON create), its seconds, and
  the RSS after it.

It prints a table and modelyard's ratios to both references. CPU time is what the machine
spent; the wall times and the first request's seconds grow with other load on the machine,
so compare figures of one quiet run.

Run: ``python bench/startup.py [--idle 10] [--only modelyard] [--numba-cache DIR]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str = ""
) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, headers=headers or {}, method=method or ("POST" if body else "GET")
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:  # noqa: S310
            data = answer.read()
            is_json = answer.headers.get_content_type() == "application/json"
            return answer.status, json.loads(data or b"null") if is_json else data.decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after the command's name


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue
    return total


def tree_rss_mb(pid: int) -> float:
    total = 0.0
    for member in tree(pid):
        try:
            total += rss_mb(member)
        except OSError:
            continue
    return total


@dataclass
class Server:
    name: str
    command: list[str]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    first_request: Callable[[str], str] | None = None
    cwd: Path | None = None


@dataclass
class Result:
    name: str
    ready_s: float
    cpu_s: float
    tree_cpu_idle: float
    rss_ready: float
    rss_idle: float
    tree_idle: float
    first_request: str = ""
    first_request_s: float = 0.0
    rss_after: float = 0.0
    tree_after: float = 0.0


def measure(server: Server, idle: float, log_dir: Path) -> Result:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (log_dir / f"{server.name.split()[0]}.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(server.env)
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter's tools
        [*server.command, "--port", str(port)],
        env=env,
        cwd=server.cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited; see {log.name}")
            try:
                if request(base + server.ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 300:
                raise RuntimeError(f"{server.name} not ready after 300 s")
            time.sleep(0.05)
        ready = time.monotonic() - started
        result = Result(
            server.name,
            ready_s=ready,
            cpu_s=cpu_seconds(process.pid),
            tree_cpu_idle=0.0,
            rss_ready=rss_mb(process.pid),
            rss_idle=0.0,
            tree_idle=0.0,
        )
        time.sleep(idle)
        result.rss_idle = rss_mb(process.pid)
        result.tree_idle = tree_rss_mb(process.pid)
        result.tree_cpu_idle = tree_cpu_seconds(process.pid)
        if server.first_request is not None:
            began = time.monotonic()
            result.first_request = server.first_request(base)
            result.first_request_s = time.monotonic() - began
            result.rss_after = rss_mb(process.pid)
            result.tree_after = tree_rss_mb(process.pid)
        return result
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


# --- the three servers ------------------------------------------------------------------------


def _skops_model() -> bytes:
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    data: bytes = sio.dumps(model)
    return data


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(f"{value}\r\n".encode())
    for name, (filename, data) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def modelyard(data_dir: Path, password: str, numba_cache: Path | None) -> Server:
    model = _skops_model()

    def upload_and_predict(base: str) -> str:
        json_headers = {"Content-Type": "application/json"}
        login = json.dumps({"login": "bench@example.com", "password": password}).encode()
        status, token = request(f"{base}/api/v1/auth/token", login, json_headers)
        assert status == 200, token
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        schema = {
            "input_schema": {"columns": [{"name": f"f{i}", "type": "numeric"} for i in range(4)]}
        }
        body, content_type = _multipart(
            {"name": "startup", "format": "skops"},
            {
                "file": ("model.skops", model),
                "input_schema": ("input_schema.json", json.dumps(schema).encode()),
            },
        )
        began = time.monotonic()
        status, version = request(
            f"{base}/api/v1/models", body, {**auth, "Content-Type": content_type}
        )
        assert status == 201, version
        uploaded = time.monotonic() - began
        began = time.monotonic()
        url = f"{base}/api/v1/models/startup/versions/{version['version']}/predict"
        status, answer = request(url, b'{"X": [[0.1, 0.2, 0.3, 0.4]]}', {**auth, **json_headers})
        assert status == 200, answer
        return f"upload {uploaded:.2f} s, predict {time.monotonic() - began:.2f} s"

    return Server(
        "modelyard serve",
        [str(BIN / "modelyard"), "serve"],
        "/api/v1/health/ready",
        env={
            "MODELYARD_DATA_DIR": str(data_dir),
            "MODELYARD_ADMIN_EMAIL": "bench@example.com",
            "MODELYARD_ADMIN_PASSWORD": password,
            "MODELYARD_LOG_LEVEL": "WARNING",
            # A fresh numba cache: the UMAP warm-up child runs, as on a fresh install (unless
            # --numba-cache names one it filled: the second start of an install).
            "MODELYARD_VISUALIZATION_NUMBA_CACHE_DIR": str(numba_cache or data_dir / "numba-cache"),
        },
        first_request=upload_and_predict,
    )


def mlflow(data_dir: Path) -> Server:
    def search(base: str) -> str:
        status, answer = request(
            f"{base}/api/2.0/mlflow/experiments/search",
            b'{"max_results": 1}',
            {"Content-Type": "application/json"},
        )
        assert status == 200, answer
        return "search experiments"

    return Server(
        "mlflow server",
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--backend-store-uri",
            f"sqlite:///{data_dir / 'mlflow.db'}",
            "--default-artifact-root",
            (data_dir / "artifacts").as_uri(),
        ],
        "/health",
        env={"MLFLOW_DISABLE_TELEMETRY": "true"},
        first_request=search,
    )


def minimal() -> Server:
    def create(base: str) -> str:
        body = b'{"api_key": "k", "actual_vector": [1, 0], "predicted_vector": [1, 1]}'
        status, answer = request(f"{base}/create", body, {"Content-Type": "application/json"})
        assert status == 200, answer
        return "JSON create"

    return Server(
        "minimal FastAPI",
        [sys.executable, "-m", "uvicorn", "minimal_app:app", "--app-dir", str(BENCH)],
        "/live",
        first_request=create,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before the RSS")
    parser.add_argument("--only", choices=["modelyard", "mlflow", "minimal"], default=None)
    parser.add_argument(
        "--numba-cache",
        type=Path,
        default=None,
        help="a numba cache the UMAP warm-up filled (default: a fresh one, so it runs)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="modelyard-startup-"))
    try:
        servers = {
            "modelyard": modelyard(root / "modelyard", secrets.token_urlsafe(16), args.numba_cache),
            "mlflow": mlflow(root / "mlflow"),
            "minimal": minimal(),
        }
        (root / "mlflow").mkdir()
        results = {}
        for key, server in servers.items():
            if args.only in (None, key):
                results[key] = measure(server, args.idle, root)
                print(f"# {vars(results[key])}", file=sys.stderr, flush=True)
        print(
            f"{'server':18s} {'ready s':>8s} {'cpu s':>6s} {'tree cpu':>8s} {'rss@ready':>9s} "
            f"{'rss idle':>8s} {'tree idle':>9s} {'rss after':>9s} {'tree after':>10s}"
            "  first request"
        )
        for r in results.values():
            print(
                f"{r.name:18s} {r.ready_s:8.2f} {r.cpu_s:6.2f} {r.tree_cpu_idle:8.2f} "
                f"{r.rss_ready:8.0f}M "
                f"{r.rss_idle:7.0f}M "
                f"{r.tree_idle:8.0f}M {r.rss_after:8.0f}M {r.tree_after:9.0f}M  "
                f"{r.first_request} ({r.first_request_s:.2f} s)"
            )
        ours = results.get("modelyard")
        for key in ("minimal", "mlflow"):
            other = results.get(key)
            if ours is None or other is None:
                continue
            print(
                f"modelyard / {other.name}: ready {ours.ready_s / other.ready_s:.2f}x, "
                f"cpu {ours.cpu_s / other.cpu_s:.2f}x, "
                f"rss idle {ours.rss_idle / other.rss_idle:.2f}x, "
                f"tree idle {ours.tree_idle / other.tree_idle:.2f}x"
            )
        print(json.dumps({k: vars(v) for k, v in results.items()}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
