"""Benchmark: serving predictions (issue 4, "Speed"), side by side with the shared harness.

Run: ``.venv/bin/python bench/serving.py`` (about 15 minutes with every peer; ``--help``).
It uses ``../shared/bench-serving`` as it is (its model, payload generator, wrk script, load
test, in-process limit and peer servers; nothing copied) after its ``setup.sh`` has made its
venvs (``BENCH_ROOT``, default /tmp/bench). The harness needs psutil, which modelyard does not:
this script re-runs itself with the harness's Python when it is started from another one.

In one run, one server at a time on 127.0.0.1, the same wrk client:

1. the in-process limit (harness ``inproc.py``: ``predict_proba``, bare and with JSON decoding),
   at the start and at the end;
2. the peers of ``servers.json`` (minimal FastAPI app plain and with orjson, BentoML, LitServe,
   MLServer, each with and without its batching), and the minimal app with orjson in two
   processes (``fastapi-orjson-w2``, against which ``modelyard serve --workers 2`` compares);
3. ``modelyard serve`` with everything on: an API key in ``X-API-Key`` on every request (auth),
   the model registered with a 20-column input schema (every row validated and coerced), the
   request log written to the database (SQLite, the default); the same LogisticRegression as
   the peers, as version 1 (``direct``) and version 2 (``batching``) of one model;
4. the batching goal: a 200-tree random forest on the same data, modelyard direct vs batching,
   and the minimal FastAPI app (orjson) serving the same forest.

Tests as the harness defines them: (i) 1-row requests at 32 connections, (ii) 100-row requests at
8 connections; req/s, rows/s, p50/p99. Every server's answer is checked against in-process
``predict_proba`` first. Results: ``<out>/results.jsonl`` and ``<out>/table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench-serving"))
if not HARNESS.is_dir():  # a worktree under /work/wt/<name>: the harness is at /work/shared
    HARNESS = ROOT.parents[1] / "shared" / "bench-serving"
BENCH_ROOT = Path(os.environ.get("BENCH_ROOT", "/tmp/bench"))  # noqa: S108 - the harness's default
HARNESS_PYTHON = BENCH_ROOT / "venv" / "bin" / "python"
MODELYARD = ROOT / ".venv" / "bin" / "modelyard"
if not MODELYARD.exists():  # a worktree under /work/wt/<name> runs on main's venv (PYTHONPATH=src)
    MODELYARD = ROOT.parents[1] / "main" / ".venv" / "bin" / "modelyard"

PEERS = [
    "fastapi",
    "fastapi-orjson",
    "fastapi-orjson-w2",
    "bentoml",
    "bentoml-batch",
    "litserve",
    "litserve-batch",
    "mlserver",
    "mlserver-pw0",
    "mlserver-batch",
]
MINIMAL = "fastapi-orjson"  # the minimal app: raw body, orjson, predict_proba
# The minimal app under `uvicorn --workers 2`: the like-for-like reference of `modelyard serve
# --workers 2` (the harness's servers.json runs every peer in one process).
MINIMAL_TWO = f"{MINIMAL}-w2"
TEMPLATE = '{"X": {ROWS}}'
KEY_ENV = "MODELYARD_BENCH_API_KEY"
INLINE_BUDGET_MS: str | None = None  # set from --inline-budget-ms
# wrk's script builds each request with wrk.format(..., headers, body); a header given with -H
# is dropped there, so this wrapper adds the key inside wrk.format, then runs the harness's
# script unchanged.
WRK_WRAPPER = """local format = wrk.format
wrk.format = function(method, path, headers, body)
  headers = headers or {{}}
  local key = os.getenv("{key_env}")
  if key then headers["X-API-Key"] = key end
  return format(method, path, headers, body)
end
dofile("{script}")
"""


def _reexec_with_harness_python() -> None:
    try:
        import psutil  # noqa: F401
    except ImportError:
        if not HARNESS_PYTHON.exists():
            sys.exit(f"run {HARNESS}/setup.sh first (BENCH_ROOT={BENCH_ROOT}): no {HARNESS_PYTHON}")
        os.execv(HARNESS_PYTHON, [str(HARNESS_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str = ""
) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 - loopback only, checked by the harness
        url, data=body, headers=headers or {}, method=method or ("POST" if body else "GET")
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        chunks.append(f"{head}{value}\r\n".encode())
    for name, (filename, data) in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class Modelyard:
    """``modelyard serve`` on a fresh data folder, with an admin, an API key and the models."""

    def __init__(self, work: Path, port: int, log_path: Path, workers: int = 1) -> None:
        self.port = port
        self.workers = workers
        self.base = f"http://127.0.0.1:{port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
        self.log_path = log_path
        self.password = secrets.token_urlsafe(16)
        self.work = work
        self.process: subprocess.Popen[bytes] | None = None
        self.key = ""

    def start(self) -> float:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MODELYARD_DATA_DIR": str(self.data_dir),
            "MODELYARD_ADMIN_EMAIL": "bench@example.com",
            "MODELYARD_ADMIN_PASSWORD": self.password,
            # The harness's model files are joblib; an admin may upload them with this setting.
            "MODELYARD_REGISTRY_ALLOW_ADMIN_PICKLE": "true",
            "MODELYARD_LOG_LEVEL": "WARNING",
            # On a fresh data folder the UMAP warm-up compiles umap-learn's numba code in the
            # server process for minutes (once: a kept data folder has it cached). Not serving's
            # cost, yet it shared the CPU and the GIL with every request measured here.
            "MODELYARD_VISUALIZATION_WARM_UP": "false",
        }
        if INLINE_BUDGET_MS is not None:  # --inline-budget-ms: direct mode's opt-in inline calls
            env["MODELYARD_SERVING_INLINE_BUDGET_MS"] = INLINE_BUDGET_MS
        started = time.time()
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [str(MODELYARD), "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.time() - started < 180:
            if self.process.poll() is not None:
                raise RuntimeError(f"modelyard exited; see {self.log_path}")
            try:
                if request(f"{self.base}/api/v1/health/live")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("modelyard not ready after 180 s")
        status, token = request(
            f"{self.base}/api/v1/auth/token",
            json.dumps({"login": "bench@example.com", "password": self.password}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, token
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        status, key = request(
            f"{self.base}/api/v1/api-keys",
            b'{"name": "bench"}',
            {**auth, "Content-Type": "application/json"},
        )
        assert status == 201, key
        self.key = key["key"]
        return time.time() - started

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key, "Content-Type": "application/json"}

    def register(self, name: str, model_file: Path, options: dict[str, Any]) -> int:
        schema = {
            "input_schema": {"columns": [{"name": f"f{i}", "type": "numeric"} for i in range(20)]}
        }
        body, content_type = multipart(
            {"name": name, "format": "joblib"},
            {
                "file": ("model.joblib", model_file.read_bytes()),
                "input_schema": ("input_schema.json", json.dumps(schema).encode()),
            },
        )
        status, version = request(
            f"{self.base}/api/v1/models",
            body,
            {"X-API-Key": self.key, "Content-Type": content_type},
        )
        assert status == 201, version
        number = int(version["version"])
        status, shown = request(
            f"{self.base}/api/v1/models/{name}/versions/{number}/serving",
            json.dumps(options).encode(),
            self.headers,
            method="PUT",
        )
        assert status == 200, shown
        return number

    def url(self, name: str, version: int) -> str:
        return f"{self.base}/api/v1/models/{name}/versions/{version}/predict"

    def stop(self) -> None:
        if self.process is not None:
            import run_all  # the harness: stops the process group, then leftovers

            run_all.stop(self.process)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def check(url: str, prefix: str, model: Any, headers: dict[str, str]) -> dict[int, float]:
    """The largest |probability difference| from in-process predict_proba, 1 and 100 rows."""
    import numpy as np

    out = {}
    for n in (1, 100):
        with open(f"{prefix}_{n}.jsonl") as bodies:
            body = bodies.readline().strip()
        status, answer = request(url, body.encode(), headers)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}: {answer}")
        got = np.asarray(answer["probabilities"])
        want = model.predict_proba(np.asarray(json.loads(body)["X"]))
        out[n] = float(np.max(np.abs(got - want)))
    return out


def train_forest(work: Path) -> Path:
    path = work / "forest.joblib"
    if not path.exists():
        import joblib
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier

        X, y = make_classification(  # the harness's data (train.py)
            n_samples=20_000, n_features=20, n_informative=10, n_redundant=4, n_classes=3,
            random_state=0,
        )  # fmt: skip
        forest = RandomForestClassifier(n_estimators=200, max_depth=8, random_state=0).fit(X, y)
        joblib.dump(forest, path)
    return path


def main() -> None:
    _reexec_with_harness_python()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, or 'none'")
    parser.add_argument("--duration", type=int, default=15, help="seconds per test")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--inline-budget-ms",
        help="MODELYARD_SERVING_INLINE_BUDGET_MS for modelyard (default: the server's, 0: off)",
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="modelyard's server processes (`serve --workers N`), one server per value: 1,2",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quiet-max-wait", type=float, default=10.0,
                        help="seconds to wait for a quiet machine before each test")  # fmt: skip
    parser.add_argument("--no-forest", action="store_true")
    parser.add_argument("--no-inproc", action="store_true")
    parser.add_argument("--batch-rows", type=int, default=64)
    parser.add_argument("--batch-wait-ms", type=float, default=2.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only-modelyard", action="store_true", help="no peers, no forest")
    parser.add_argument(
        "--serving-options",
        type=json.loads,
        default={},
        help='JSON added to every modelyard version\'s serving options, e.g. '
        '\'{"request_log": "best_effort"}\' or \'{"in_process": true}\' (the admin uploads)',
    )
    parser.add_argument(
        "--summarize", type=Path, help="only print the table of an earlier run's <out> folder"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record modelyard's process with py-spy during its tests (collapsed stacks in <out>)",
    )
    args = parser.parse_args()
    if args.summarize:
        lines = (args.summarize / "results.jsonl").read_text().splitlines()
        print(summarize([json.loads(line) for line in lines if line.strip()], args.summarize))
        return
    if args.only_modelyard:
        args.peers, args.no_forest = "none", True
    global INLINE_BUDGET_MS
    INLINE_BUDGET_MS = args.inline_budget_ms

    os.environ.setdefault("BENCH_ROOT", str(BENCH_ROOT))
    sys.path.insert(0, str(HARNESS))
    import bench_target
    import gen_payloads
    import joblib
    import numpy as np
    import run_all

    work = Path(run_all.PATHS["WORK"])
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or BENCH_ROOT / "results" / time.strftime("modelyard-%Y%m%d-%H%M%S")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    log("results ->", out, "| load average", os.getloadavg())
    if not (work / "model.joblib").exists():
        subprocess.run([sys.executable, str(HARNESS / "train.py"), "--out", str(work)], check=True)  # noqa: S603
    model = joblib.load(work / "model.joblib")
    pool = np.load(work / "X_pool.npy")
    forest_file = None if args.no_forest else train_forest(work)
    forest = joblib.load(forest_file) if forest_file else None

    # The harness's wrk script, wrapped to carry the API key (see WRK_WRAPPER).
    wrapper = out / "wrk"
    wrapper.mkdir(exist_ok=True)
    script = WRK_WRAPPER.format(key_env=KEY_ENV, script=HARNESS / "wrk_post.lua")
    (wrapper / "wrk_post.lua").write_text(script)

    results_file = out / "results.jsonl"
    records: list[dict[str, Any]] = []

    def measure(name: str, url: str, prefix: str, pid: int | None, tests: list[str],
                extra: dict[str, Any]) -> None:  # fmt: skip
        for test in tests:
            rows, conns = bench_target.TESTS[test]
            spy = None
            if args.profile and name.startswith("modelyard") and pid:
                spy = subprocess.Popen(  # noqa: S603
                    [str(MODELYARD.parent / "py-spy"), "record",
                     "--pid", str(pid), "--format", "raw", "--rate", "200", "--nonblocking",
                     "--subprocesses", "--threads",
                     "--duration", str(args.duration + args.warmup + 2),
                     "--output", str(out / f"profile-{name}-{extra.get('model')}-{test}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            result = bench_target.run_test(
                url, f"{prefix}_{rows}.jsonl", rows, conns, args.duration, args.warmup, pid,
                "auto", 0.3, args.quiet_max_wait,
            )  # fmt: skip
            if spy is not None:
                spy.wait(60)
            result.update(server=name, test=test, ts=time.time(), **extra)
            records.append(result)
            with results_file.open("a") as f:
                f.write(json.dumps(result) + "\n")
            log(
                f"{name:22s} {test:9s} {result['rps']:9.1f} req/s "
                f"{result['rows_per_s']:10.0f} rows/s p50 {result['p50_ms']:.1f} ms "
                f"p99 {result['p99_ms']:.1f} ms errors {result['errors']} "
                f"load {os.getloadavg()[0]:.1f}"
            )

    def inproc(tag: str) -> None:
        if args.no_inproc:
            return
        answer = subprocess.run(  # noqa: S603
            [sys.executable, str(HARNESS / "inproc.py"), "--work", str(work)],
            capture_output=True, text=True, env={**os.environ, **run_all.THREAD_ENV}, timeout=600,
            check=True,
        )  # fmt: skip
        (out / f"inproc-{tag}.json").write_text(answer.stdout)
        log(
            "in-process calls/s",
            tag,
            {k: round(v["calls_per_s_best"]) for k, v in json.loads(answer.stdout).items()},
        )

    json.dump(run_all.versions(), (out / "versions.json").open("w"), indent=1)
    inproc("start")
    mine = work / "payloads" / "modelyard"
    gen_payloads.write(TEMPLATE, pool, str(mine))
    wanted = [] if args.peers == "none" else args.peers.split(",")
    servers = [run_all.expand(s) for s in json.load((HARNESS / "servers.json").open())]
    servers += [two_processes(s, MINIMAL_TWO) for s in servers if s["name"] == MINIMAL]
    peers = [s for s in servers if s["name"] in wanted]
    for peer in peers:
        peer["prefix"] = f"{work}/payloads/{peer.get('format', 'rows')}"
        gen_payloads.write(gen_payloads.FORMATS[peer.get("format", "rows")], pool, peer["prefix"])

    def run_modelyard(rnd: int, workers: int) -> None:
        """One ``modelyard serve --workers N``: the LogisticRegression as v1 (direct) and v2
        (batching), the forest likewise; labels end in ``-wN`` for N > 1."""
        suffix = "" if workers == 1 else f"-w{workers}"
        server = Modelyard(work, 8010, out / "logs" / f"modelyard{suffix}-r{rnd}.log", workers)
        try:
            ready = server.start()
            batching = {"mode": "batching", "max_batch_rows": args.batch_rows,
                        "max_wait_ms": args.batch_wait_ms, "max_queue_size": 1000}  # fmt: skip
            batching.update(args.serving_options)
            direct = {"mode": "direct", **args.serving_options}
            direct_v = server.register("lr", work / "model.joblib", direct)
            batch_v = server.register("lr", work / "model.joblib", batching)
            if forest_file is not None:
                forest_direct = server.register("rf", forest_file, direct)
                forest_batch = server.register("rf", forest_file, batching)
            os.environ[KEY_ENV] = server.key
            bench_target.HERE = str(wrapper)  # run_client finds wrk_post.lua there
            pid = server.process.pid if server.process else None
            for label, version in (
                (f"modelyard{suffix}", direct_v),
                (f"modelyard-batching{suffix}", batch_v),
            ):
                url = server.url("lr", version)
                diff = check(url, str(mine), model, server.headers)
                log(f"{label}: ready in {ready:.1f} s, max|proba diff| {diff}")
                measure(
                    label,
                    url,
                    str(mine),
                    pid,
                    ["single", "batch100"],
                    {"round": rnd, "model": "lr"},
                )
            if forest_file is not None:
                for label, version in (
                    (f"modelyard{suffix}", forest_direct),
                    (f"modelyard-batching{suffix}", forest_batch),
                ):
                    url = server.url("rf", version)
                    diff = check(url, str(mine), forest, server.headers)
                    log(f"{label} (forest): max|proba diff| {diff}")
                    measure(label, url, str(mine), pid, ["single"], {"round": rnd, "model": "rf"})
        finally:
            os.environ.pop(KEY_ENV, None)
            bench_target.HERE = str(HARNESS)
            server.stop()

    for rnd in range(1, args.rounds + 1):
        for workers in (int(n) for n in args.workers.split(",")):
            run_modelyard(rnd, workers)

        for peer in peers if rnd % 2 else peers[::-1]:
            process = None
            try:
                process, ready = run_all.start(
                    peer, str(out / "logs" / f"{peer['name']}-r{rnd}.log")
                )
                diff = run_all.verify(peer, peer["prefix"], model)
                log(f"{peer['name']}: ready in {ready:.1f} s, max|proba diff| {diff}")
                tests = ["single", "batch100"]
                measure(peer["name"], peer["url"], peer["prefix"], process.pid, tests,
                        {"round": rnd, "model": "lr"})  # fmt: skip
            except Exception as error:  # a peer that fails is reported, the run goes on
                log(f"{peer['name']} FAILED: {error}")
            finally:
                if process is not None:
                    run_all.stop(process)
                    run_all.wait_port_free(peer["url"])

        if forest_file is not None and any(p["name"] == MINIMAL for p in servers):
            minimal = next(p for p in servers if p["name"] == MINIMAL)
            minimal = {**minimal, "env": {**minimal.get("env", {}), "MODEL_PATH": str(forest_file)}}
            os.environ["MODEL_PATH"] = str(forest_file)
            process = None
            try:
                saved = run_all.BASE_ENV["MODEL_PATH"]
                run_all.BASE_ENV["MODEL_PATH"] = str(forest_file)
                process, _ = run_all.start(
                    minimal, str(out / "logs" / f"minimal-forest-r{rnd}.log")
                )
                measure(MINIMAL, minimal["url"], f"{work}/payloads/rows", process.pid, ["single"],
                        {"round": rnd, "model": "rf"})  # fmt: skip
            except Exception as error:
                log(f"{MINIMAL} (forest) FAILED: {error}")
            finally:
                run_all.BASE_ENV["MODEL_PATH"] = saved
                if process is not None:
                    run_all.stop(process)
                    run_all.wait_port_free(minimal["url"])
    inproc("end")
    table = summarize(records, out)
    (out / "table.md").write_text(table)
    print(table)


def _mean(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if r.get(key) is not None]
    return sum(values) / len(values) if values else float("nan")


def _cpu_ms(records: list[dict[str, Any]]) -> float:
    """Server CPU per request: steadier than req/s when other work shares the cores."""
    values = [1000 * r["server_cpu_s"] / r["requests"] for r in records if r.get("server_cpu_s")]
    return sum(values) / len(values) if values else float("nan")


def _other(records: list[dict[str, Any]]) -> float:
    """Cores used by everything but the server and the client during the test."""
    values = [r["other_cpu_s"] / r["duration_s"] for r in records if r.get("other_cpu_s")]
    return max(values) if values else float("nan")


def two_processes(server: dict[str, Any], name: str) -> dict[str, Any]:
    """``server``'s entry of servers.json with uvicorn's ``--workers 1`` made ``2``."""
    command = list(server["cmd"])
    command[command.index("--workers") + 1] = "2"
    return {**server, "name": name, "cmd": command}


def summarize(records: list[dict[str, Any]], out: Path) -> str:
    inproc: dict[str, Any] = {}
    for tag in ("start", "end"):
        path = out / f"inproc-{tag}.json"
        if path.exists():
            for name, value in json.loads(path.read_text()).items():
                best = max(inproc.get(name, 0.0), value["rows_per_s_best"])
                inproc[name] = best
    limit_1 = inproc.get("json+predict_proba_1")
    limit_100 = inproc.get("json+predict_proba_100")

    def group(model: str, test: str) -> dict[str, list[dict[str, Any]]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            if r.get("model") == model and r["test"] == test:
                groups.setdefault(r["server"], []).append(r)
        return groups

    single, hundred = group("lr", "single"), group("lr", "batch100")
    minimal_rps = _mean(single.get(MINIMAL, []), "rps")
    minimal_rows = _mean(hundred.get(MINIMAL, []), "rows_per_s")
    lines = [
        f"In-process limit with JSON (best): {limit_1 or float('nan'):,.0f} calls/s single-row, "
        f"{limit_100 or float('nan'):,.0f} rows/s at 100 rows.",
        "",
        "| server | (i) req/s | (i) p50 ms | (i) p99 ms | (i) x minimal | (i) CPU ms/req "
        "| (ii) rows/s | (ii) p50 ms | (ii) p99 ms | (ii) x minimal | (ii) x in-proc "
        "| (ii) CPU ms/req | other cores | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for name in sorted(set(single) | set(hundred), key=lambda n: -_mean(single.get(n, []), "rps")):
        one, many = single.get(name, []), hundred.get(name, [])
        errors = sum(sum(r["errors"].values()) for r in one + many)
        rps, rows = _mean(one, "rps"), _mean(many, "rows_per_s")
        lines.append(
            f"| {name} | {rps:,.0f} | {_mean(one, 'p50_ms'):.1f} | {_mean(one, 'p99_ms'):.1f} "
            f"| {rps / minimal_rps:.2f} | {_cpu_ms(one):.2f} | {rows:,.0f} "
            f"| {_mean(many, 'p50_ms'):.1f} | {_mean(many, 'p99_ms'):.1f} "
            f"| {rows / minimal_rows:.2f} | {rows / limit_100 if limit_100 else float('nan'):.2f} "
            f"| {_cpu_ms(many):.2f} | {_other(one + many):.2f} | {errors} |"
        )
    forest = group("rf", "single")
    if forest:
        direct = _mean(forest.get("modelyard", []), "rps")
        lines += [
            "",
            "200-tree random forest, (i) 1-row requests at 32 connections:",
            "",
            "| server | req/s | p50 ms | p99 ms | x modelyard direct | CPU ms/req | other cores "
            "| errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, runs in sorted(forest.items(), key=lambda kv: -_mean(kv[1], "rps")):
            rps = _mean(runs, "rps")
            errors = sum(sum(r["errors"].values()) for r in runs)
            lines.append(
                f"| {name} | {rps:,.0f} | {_mean(runs, 'p50_ms'):.1f} "
                f"| {_mean(runs, 'p99_ms'):.1f} "
                f"| {rps / direct:.2f} | {_cpu_ms(runs):.2f} | {_other(runs):.2f} | {errors} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
