"""Benchmark: creating confusion matrices through the API (issue 3, "Speed").

Run: ``.venv/bin/python bench/evaluation_create.py`` (a few minutes). It starts ``modelyard serve``
on a free port with a fresh data folder (SQLite, in-process jobs, the defaults), then measures,
each against a reference measured in the same run:

1. one create from 1,000,000 actual/predicted labels over 10 classes, through the native route and
   through pycm-api's ``/cm/create``, against (a) the floor: parsing the same body with orjson
   + numpy counting + PyCM from the matrix (issue 20's definition), and
   (b) plain ``pycm.ConfusionMatrix(actual_vector=..., predict_vector=...)``;
2. small (8-label) creates per second from 8 clients through ``/cm/create``, with the server's
   CPU time per create (read from /proc: what a loaded machine changes least);
3. the time to render a report and a plot (in process, and first-time through the API);
4. the process's memory across 1,000 plots in a row.

The reference for 1. and 2. is the real pycm-api when it is given, measured the same way in the
same run: ``--pycm-api CHECKOUT`` starts it from a checkout of openscilab/pycm-api (its ``app``
folder copied to a temporary folder, where it keeps its SQLite file and matrices) under
``uvicorn app.main:app`` with one worker, run by ``--pycm-api-python`` (an interpreter with its
pinned requirements.txt installed; this one by default); ``--pycm-api-url`` takes a running one
instead. Without either, ``pycm_api_like.py``, a stand-in of pycm-api's create path. Small creates
are driven by ``wrk`` when it is installed (8 connections; a Lua script posts the body), else by
8 threads of keep-alive ``http.client`` in this process. ``--skip-rendering`` leaves out 3. and 4.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pycm

from modelyard.evaluation import plots, pycm_adapter

LABELS = 1_000_000
CLASSES = 10
REPEATS = 5
CLIENTS = 8
SMALL_SECONDS = 10.0
JSON = {"Content-Type": "application/json"}
SMALL = {"actual_vector": [1, 0, 1, 1, 0, 1, 0, 0], "predicted_vector": [1, 0, 1, 0, 0, 1, 1, 0]}


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


# The server processes started by ``serving``, by base URL: their CPU time is read from /proc.
SERVER_PIDS: dict[str, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_each(pid: int, work: Callable[[], object]) -> float:
    """The server's CPU seconds for one ``work()`` call, averaged over REPEATS calls."""
    before = cpu_seconds(pid)
    for _ in range(REPEATS):
        work()
    return (cpu_seconds(pid) - before) / REPEATS


def cpu_each(work: Callable[[], object]) -> float:
    """This process's CPU seconds for one ``work()`` call."""
    started = time.process_time()
    work()
    return time.process_time() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    ready_path: str,
    log_path: Path,
    *,
    python: str = sys.executable,
    cwd: Path | None = None,
) -> Iterator[str]:
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [python, *command, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # importing MLflow on a busy machine is slow
        while True:
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text())
            try:
                if httpx.get(f"{base}{ready_path}", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not start")
            time.sleep(0.2)
        SERVER_PIDS[base] = process.pid
        yield base
    finally:
        SERVER_PIDS.pop(base, None)
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "PYCM_"))}
    env.update(extra)
    return env


# umap-learn's compiled code, kept between runs as a data folder that lives on keeps it.
NUMBA_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "numba"
WARM_UP_TIMEOUT = 1800.0


@contextmanager
def server(data_dir: Path, *, wait_warm_up: bool = False, warm_up: bool = True) -> Iterator[str]:
    """``modelyard serve`` on the embedded defaults (SQLite, in-process jobs).

    ``wait_warm_up``: return only once the server's UMAP warm-up (numba compiling umap-learn
    in a background thread, 17 s with a filled cache, minutes without, at any load) has ended.
    Until then that thread holds the GIL most of the time: a small create measured during it
    cost the server 3 to 7 ms of CPU instead of about 1 ms, a start-up cost that no request
    pays once the server runs.
    """
    env = _env(
        MODELYARD_DATA_DIR=str(data_dir),
        MODELYARD_SECRET_KEY="bench-secret-that-is-long-enough-for-hs256-0123456789",  # noqa: S106
        MODELYARD_VISUALIZATION_NUMBA_CACHE_DIR=str(NUMBA_CACHE),
        MODELYARD_VISUALIZATION_WARM_UP=str(warm_up).lower(),
    )
    command = ["-m", "modelyard", "serve"]
    log_path = data_dir / "server.log"
    with serving(command, env, "/api/v1/health/ready", log_path) as base:
        if warm_up and wait_warm_up and importlib.util.find_spec("umap") is not None:
            started = time.monotonic()
            while "umap warm-up" not in log_path.read_text():
                if time.monotonic() - started > WARM_UP_TIMEOUT:
                    raise RuntimeError("the server's UMAP warm-up did not end")
                time.sleep(0.5)
            print(f"# server's UMAP warm-up ended {time.monotonic() - started:.0f} s after start")
        yield base


@contextmanager
def reference_server(data_dir: Path) -> Iterator[str]:
    """The pycm-api stand-in (bench/pycm_api_like.py) under uvicorn's defaults."""
    command = ["-m", "uvicorn", "pycm_api_like:app", "--app-dir", str(Path(__file__).parent)]
    env = _env(PYCM_LIKE_DATA=str(data_dir))
    with serving(command, env, "/docs", data_dir / "server.log") as base:
        yield base


@contextmanager
def pycm_api_server(checkout: Path, python: str, data_dir: Path) -> Iterator[str]:
    """The real pycm-api from a checkout of its repository: ``uvicorn app.main:app``, one
    worker, uvicorn's defaults (its README's command without ``--reload``)."""
    # pycm-api keeps its database and files beside its code: a copy of it for this run.
    shutil.copytree(checkout / "app", data_dir / "app")
    env = _env(PYCM_API_ADMIN="bench-admin", PYCM_API_ADMIN_PASSWORD="bench-admin-password")  # noqa: S106
    command = ["-m", "uvicorn", "app.main:app", "--app-dir", str(data_dir)]
    with serving(
        command, env, "/docs", data_dir / "server.log", python=python, cwd=data_dir
    ) as base:
        yield base


def reference_key(base: str, *, stand_in: bool) -> str:
    """An API key of the reference: pycm-api's sign-up (the stand-in's ``/user``)."""
    if stand_in:
        key: str = httpx.post(f"{base}/user").json()["api_key"]
        return key
    email = f"bench-{os.getpid()}-{time.time_ns()}@example.com"
    answer = httpx.post(f"{base}/sign_up/", json={"email": email, "password": "bench123"})
    answer.raise_for_status()
    key = answer.json()["api_key"]
    return key


def floor(body: bytes) -> pycm.ConfusionMatrix:
    """The least any service must do: parse (orjson, the fastest common JSON parser), count
    with numpy, let PyCM compute from the matrix (the floor issue 20 names)."""
    data = orjson.loads(body)
    actual = np.fromiter(data["actual_vector"], dtype=np.int64, count=len(data["actual_vector"]))
    predicted = np.fromiter(
        data["predicted_vector"], dtype=np.int64, count=len(data["predicted_vector"])
    )
    counts = np.bincount(actual * CLASSES + predicted, minlength=CLASSES * CLASSES)
    table = counts.reshape(CLASSES, CLASSES).tolist()
    classes = list(range(CLASSES))
    matrix = {
        a: dict(zip(classes, row, strict=True)) for a, row in zip(classes, table, strict=True)
    }
    return pycm.ConfusionMatrix(matrix=matrix, classes=classes)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
"""


def small_throughput(
    base: str, api_key: str, seconds: float, path: str = "/cm/create"
) -> tuple[float, float]:
    """Creates per second, and the server's CPU milliseconds per create (load changes it less)."""
    if shutil.which("wrk") is not None:
        return _small_throughput_wrk(base, api_key, seconds, path)
    # http.client with keep-alive: a light client, so the 2 cores go to the server, not to it.
    body = json.dumps({"api_key": api_key, **SMALL}).encode()
    host, port = base.removeprefix("http://").split(":")
    done = [0] * CLIENTS
    failures = [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < stop:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done[index] += 1
            else:
                failures[index] += 1
        connection.close()

    pid = SERVER_PIDS[base]
    cpu_before = cpu_seconds(pid)
    client_before = cpu_seconds(os.getpid())
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    count = max(sum(done), 1)
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / count
    LAST_CLIENT_CPU_MS[0] = (cpu_seconds(os.getpid()) - client_before) * 1000 / count
    if sum(failures):
        print(f"  !! {sum(failures)} small creates failed")
    return sum(done) / elapsed, cpu_ms


# The benchmark's own CPU (the clients) per create in the last small_throughput run.
LAST_CLIENT_CPU_MS = [0.0]


def _small_throughput_wrk(
    base: str, api_key: str, seconds: float, path: str
) -> tuple[float, float]:
    """``small_throughput`` driven by wrk (2 threads, CLIENTS connections): a lighter client."""
    body = json.dumps({"api_key": api_key, **SMALL})
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        pid = SERVER_PIDS[base]
        cpu_before = cpu_seconds(pid)
        result = subprocess.run(  # noqa: S603 - wrk, with our own arguments
            [
                shutil.which("wrk") or "wrk",
                "-t2",
                f"-c{CLIENTS}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                f"{base}{path}",
            ],
            env={**os.environ, "BENCH_BODY": body},
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = cpu_seconds(pid) - cpu_before
    total = re.search(r"(\d+) requests in", result.stdout)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if total is None or rate is None:
        raise RuntimeError(f"wrk said: {result.stdout}{result.stderr}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if failed:
        print(f"  !! {failed.group(1)} small creates failed")
    LAST_CLIENT_CPU_MS[0] = float("nan")  # wrk's own, not measured here
    return float(rate.group(1)), cpu * 1000 / max(int(total.group(1)), 1)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pycm-api", type=Path, help="a checkout of openscilab/pycm-api")
    parser.add_argument(
        "--pycm-api-python",
        default=sys.executable,
        help="an interpreter with pycm-api's requirements.txt installed (default: this one)",
    )
    parser.add_argument("--pycm-api-url", help="a running pycm-api instead of a checkout")
    parser.add_argument(
        "--skip-rendering", action="store_true", help="leave out the report/plot times and memory"
    )
    parser.add_argument(
        "--no-umap-warm-up",
        action="store_true",
        help="start modelyard without its UMAP warm-up (a start-up cost; see server())",
    )
    return parser.parse_args()


@contextmanager
def reference(args: argparse.Namespace, data_dir: Path) -> Iterator[tuple[str, str]]:
    """The reference's URL and what it is: pycm-api (a checkout or a URL) or the stand-in."""
    if args.pycm_api_url:
        yield args.pycm_api_url.rstrip("/"), "pycm-api"
    elif args.pycm_api:
        with pycm_api_server(args.pycm_api, args.pycm_api_python, data_dir) as base:
            yield base, "pycm-api"
    else:
        with reference_server(data_dir) as base:
            yield base, "pycm-api stand-in"


def main() -> None:
    args = arguments()
    print(f"# evaluation_create  {time.strftime('%Y-%m-%d %H:%M %Z')}")
    load = os.getloadavg()[0]
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load {load:.1f}")
    print(f"# python {platform.python_version()}, numpy {np.__version__}, pycm {pycm.__version__}")
    rng = np.random.default_rng(3)
    actual = rng.integers(0, CLASSES, LABELS).tolist()
    noise = rng.integers(0, CLASSES, LABELS)
    predicted = np.where(rng.random(LABELS) < 0.7, actual, noise).tolist()
    compat_body = json.dumps({"actual_vector": actual, "predicted_vector": predicted}).encode()
    native_body = json.dumps({"actual": actual, "predicted": predicted}).encode()
    print(
        f"# body {len(compat_body) / 1e6:.1f} MB: {LABELS:,} labels per vector, {CLASSES} classes"
    )

    def keyed(key: str) -> bytes:
        return compat_body[:-1] + f', "api_key": "{key}"}}'.encode()

    floor_s = best_of(REPEATS, lambda: floor(compat_body))
    plain_s = best_of(
        2, lambda: pycm.ConfusionMatrix(actual_vector=actual, predict_vector=predicted)
    )

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as folder:
        root = Path(folder)
        (root / "modelyard").mkdir()
        (root / "reference").mkdir()
        with reference(args, root / "reference") as (ref, ref_name):
            ref_key = reference_key(ref, stand_in=ref_name != "pycm-api")
            print(f"# reference: {ref_name} at {ref}")
            with httpx.Client(base_url=ref, timeout=600) as http:
                body = keyed(ref_key)

                def ref_create() -> None:
                    response = http.post("/cm/create", content=body, headers=JSON)
                    assert response.status_code == 200, response.text

                ref_big = best_of(1, ref_create)
            if ref in SERVER_PIDS:
                small_throughput(ref, ref_key, 2.0)
                ref_rate, ref_cpu = small_throughput(ref, ref_key, SMALL_SECONDS)
            else:  # a URL: its CPU cannot be read from here
                ref_rate, ref_cpu = _rate_only(ref, ref_key, SMALL_SECONDS), float("nan")

        with server(
            root / "modelyard", wait_warm_up=True, warm_up=not args.no_umap_warm_up
        ) as base:
            key = httpx.post(
                f"{base}/sign_up/", json={"email": "bench@example.com", "password": "bench123"}
            ).json()["api_key"]
            with httpx.Client(base_url=base, timeout=120) as http:
                native_headers = {**JSON, "X-API-Key": key}
                compat = keyed(key)

                def native() -> None:
                    response = http.post(
                        "/api/v1/confusion-matrices", content=native_body, headers=native_headers
                    )
                    assert response.status_code == 201, response.text

                def compat_create() -> None:
                    response = http.post("/cm/create", content=compat, headers=JSON)
                    assert response.status_code == 200, response.text

                native()  # warm up: first PyCM call, first SQLite write
                pid = SERVER_PIDS[base]
                native_cpu = server_cpu_each(pid, native)
                compat_cpu = server_cpu_each(pid, compat_create)
                native_s = best_of(REPEATS, native)
                compat_s = best_of(REPEATS, compat_create)
                floor_again = best_of(REPEATS, lambda: floor(compat_body))
                floor_cpu = (
                    sum(cpu_each(lambda: floor(compat_body)) for _ in range(REPEATS)) / REPEATS
                )
            small_throughput(base, key, 2.0)
            load_small = os.getloadavg()[0]
            rate, rate_cpu = small_throughput(base, key, SMALL_SECONDS)
            load_after = os.getloadavg()[0]

            ten = rng.integers(0, CLASSES, 10_000).tolist()
            if args.skip_rendering:
                print_results(locals())
                return
            with httpx.Client(base_url=base, timeout=120) as http:
                made = http.post(
                    "/cm/create",
                    json={"api_key": key, "actual_vector": ten, "predicted_vector": ten[::-1]},
                ).json()
                query = {"api_key": key, "cm_uid": made["uid"]}
                first_report = best_of(1, lambda: http.get("/cm/report", params=query))
                cached_report = best_of(3, lambda: http.get("/cm/report", params=query))
                first_plot = best_of(1, lambda: http.get("/cm/plot", params=query))
                cached_plot = best_of(3, lambda: http.get("/cm/plot", params=query))

    print_results(locals())
    print_rendering(locals())


def _rate_only(base: str, api_key: str, seconds: float) -> float:
    """Creates per second of a server this process did not start (no CPU figure)."""
    SERVER_PIDS[base] = os.getpid()  # a stand-in pid: the CPU figure is discarded
    try:
        rate, _ = small_throughput(base, api_key, seconds)
    finally:
        SERVER_PIDS.pop(base)
    return rate


def print_results(v: dict[str, Any]) -> None:
    """The creates' figures (``v``: main's variables)."""
    floor_s = min(v["floor_s"], v["floor_again"])
    floor_cpu, ref_name = v["floor_cpu"], v["ref_name"]
    rate, rate_cpu, ref_rate, ref_cpu = v["rate"], v["rate_cpu"], v["ref_rate"], v["ref_cpu"]
    print("\n## one create from 1,000,000 labels (best of runs)")
    for label, seconds in (
        ("floor: orjson parse + numpy count + PyCM", floor_s),
        ("POST /api/v1/confusion-matrices", v["native_s"]),
        ("POST /cm/create (pycm-api route)", v["compat_s"]),
        ("plain pycm.ConfusionMatrix(actual, predict)", v["plain_s"]),
        (f"{ref_name}, POST /cm/create", v["ref_big"]),
    ):
        print(f"{label:<50}{ms(seconds)}   {seconds / floor_s:5.2f}x floor")
    # CPU time changes less than elapsed time on a machine that others load.
    print("CPU time of one create (the server's, all its threads; the floor's in this process):")
    for label, seconds in (
        ("floor", floor_cpu),
        ("POST /api/v1/confusion-matrices", v["native_cpu"]),
        ("POST /cm/create (pycm-api route)", v["compat_cpu"]),
    ):
        print(f"  {label:<48}{ms(seconds)}   {seconds / floor_cpu:5.2f}x floor")

    driver = "wrk" if shutil.which("wrk") else "http.client threads"
    print(
        f"\n## small (8-label) creates, {CLIENTS} connections ({driver}), "
        f"{SMALL_SECONDS:.0f} s, POST /cm/create"
    )
    print(
        f"modelyard  {rate:7.0f} /s   {rate / ref_rate:.2f}x {ref_name}; "
        f"server CPU {rate_cpu:.3f} ms per create "
        f"(load {v['load_small']:.1f} before, {v['load_after']:.1f} after)"
    )
    print(f"{ref_name}  {ref_rate:7.0f} /s   server CPU {ref_cpu:.3f} ms per create")
    print(
        f"CPU per create: modelyard's is {ref_cpu / rate_cpu:.2f}x less than {ref_name}'s; "
        f"on one core that is at most {1000 / rate_cpu:.0f}/s"
    )


def print_rendering(v: dict[str, Any]) -> None:
    """The report and plot figures and the memory check (``v``: main's variables)."""
    ten = v["ten"]
    cm = pycm.ConfusionMatrix(actual_vector=ten, predict_vector=ten[::-1])
    labels = [str(c) for c in cm.classes]
    matrix = cm.to_array()
    report_s = best_of(3, lambda: pycm_adapter.report_html(cm))
    plot_s = best_of(3, lambda: plots.matrix_png(labels, matrix))
    print("\n## rendering a 10-class matrix")
    for label, here, first, cached in (
        ("report", report_s, v["first_report"], v["cached_report"]),
        ("plot", plot_s, v["first_plot"], v["cached_plot"]),
    ):
        print(f"{label:<7} in process {ms(here)}, API first {ms(first)}, API cached {ms(cached)}")

    print("\n## memory over 1,000 plots in a row (this process)")
    for _ in range(50):
        plots.matrix_png(labels, matrix)
    before = rss_mib()
    samples = []
    started = time.perf_counter()
    for n in range(1, 1001):
        plots.matrix_png(labels, matrix)
        if n % 250 == 0:
            samples.append(rss_mib())
    each = (time.perf_counter() - started) / 1000
    shown = " / ".join(f"{sample:.1f}" for sample in samples)
    print(f"RSS after 50 warm-up plots {before:.1f} MiB; after 250/500/750/1000 more: {shown} MiB")
    print(f"growth over the 1,000: {samples[-1] - before:+.1f} MiB; {each * 1000:.0f} ms per plot")


if __name__ == "__main__":
    main()
