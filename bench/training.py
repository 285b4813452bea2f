"""Benchmark: training and predict-by-run-id (issue 5, "Speed").

Run: ``.venv/bin/python bench/training.py`` (a few minutes; ``--no-minilm`` skips that trainer).
It starts ``modelyard serve`` on a free port with a fresh data folder (SQLite, in-process jobs,
embedded MLflow), then measures:

1. documents/s of each available trainer: the whole training job through the API (dataset
   snapshot read, split, fit, evaluation, MLflow logging, registry hand-off), and the fit alone
   in this process. ``tfidf-logreg`` on a generated corpus of 10 labels x 500 documents;
   ``minilm`` (a transformer on the CPU) on the first 40 documents of each label (400), once
   cold (the server process imports torch and loads the encoder) and once warm, plus the
   encoder's load in this process on its own. The reference is ``tfidf-logreg`` in the same
   run: the ratio of the two trainers' documents/s is printed;
2. the latency of ``POST /api/v1/training-runs/{id}/predict`` with one text (the model is
   cached after the first call), against calling the trained pipeline directly in this process,
   plus the overhead of the same server measured on its liveness route (bare HTTP) and on
   ``GET /api/v1/users/me`` (HTTP + the credential checked against the database).
"""

from __future__ import annotations

import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from modelyard.training import embedding
from modelyard.training.trainers import load_text_model, split, train

LABELS = 10
PER_LABEL = 500
MINILM_PER_LABEL = 40
MINILM_PREDICT_CALLS = 30
WORDS_PER_DOC = 60
PREDICT_CALLS = 300
TEXT = "a short text about the orbit of a distant planet and its moons"


def corpus(seed: int = 7, per_label: int = PER_LABEL) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)  # noqa: S311 - generated text, not secrets
    common = [f"w{i}" for i in range(2000)]
    texts, labels = [], []
    for label in range(LABELS):
        own = [f"l{label}t{i}" for i in range(50)]
        for _ in range(per_label):
            words = [
                rng.choice(own if rng.random() < 0.3 else common) for _ in range(WORDS_PER_DOC)
            ]
            texts.append(" ".join(words))
            labels.append(f"label{label}")
    return texts, labels


def archive(texts: list[str], labels: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        for index, (text, label) in enumerate(zip(texts, labels, strict=True)):
            handle.writestr(f"{label}/{index}.txt", text)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(data_dir: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(
        MODELYARD_DATA_DIR=str(data_dir),
        MODELYARD_SECRET_KEY="bench-secret-that-is-long-enough-for-hs256-0123456789",  # noqa: S106
        MODELYARD_LOG_LEVEL="WARNING",
        # No UMAP warm-up: it compiles numba code in the server for a minute or more of CPU
        # after a start (visualization's, not this benchmark's), which would be timed here.
        MODELYARD_VISUALIZATION_WARM_UP="false",
        # The minilm corpus has MINILM_PER_LABEL documents a label, fewer than the default 75.
        MODELYARD_TRAINING_MIN_DOCS_PER_LABEL=str(MINILM_PER_LABEL),
    )
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "modelyard", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise RuntimeError(log_path.read_text())
                try:
                    if httpx.get(f"{base}/api/v1/health/ready", timeout=1).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("modelyard serve did not start")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def train_via_api(
    http: httpx.Client,
    headers: dict[str, str],
    texts: list[str],
    labels: list[str],
    trainer: str,
    experiment: str,
) -> tuple[float, dict[str, Any]]:
    """Upload the corpus, train on it, wait for the end; the training's seconds and run."""
    dataset = http.post(
        "/api/v1/datasets",
        files={"file": ("corpus.zip", archive(texts, labels))},
        headers=headers,
    ).json()
    started = time.perf_counter()
    response = http.post(
        "/api/v1/training-runs",
        json={"dataset_id": dataset["id"], "experiment_name": experiment, "trainer": trainer},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    run = response.json()
    while run.get("job_state") not in ("SUCCESS", "FAILURE", "REVOKED"):
        time.sleep(0.1)
        run = http.get(f"/api/v1/training-runs/{run['run_id']}", headers=headers).json()
    seconds = time.perf_counter() - started
    assert run["job_state"] == "SUCCESS", run
    return seconds, run


def hard_delete(
    http: httpx.Client, headers: dict[str, str], data_dir: Path, texts: list[str], labels: list[str]
) -> None:
    """Hard delete through the API (MLflow's gc in the server process) against the reference:
    ``python -m mlflow gc`` as a child process, as it ran before, on the same store."""
    names = [f"bench-delete-{i}" for i in range(3)]
    for name in names:
        train_via_api(http, headers, texts, labels, "tfidf-logreg", name)
    ids = {
        e["name"]: e["experiment_id"]
        for e in http.get("/api/v1/experiments", headers=headers).json()
    }
    for attempt, name in (("first (imports MLflow's CLI module)", names[0]), ("second", names[1])):
        started = time.perf_counter()
        response = http.delete(f"/api/v1/experiments/{name}?hard=true", headers=headers)
        assert response.status_code == 204, response.text
        print(f"hard delete via the API, {attempt}: {time.perf_counter() - started:.2f} s")
    assert http.delete(f"/api/v1/experiments/{names[2]}", headers=headers).status_code == 204
    store = f"sqlite:///{(data_dir / 'mlflow' / 'mlflow.db').resolve()}"
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "mlflow",
            "gc",
            "--backend-store-uri",
            store,
            "--tracking-uri",
            store,
            "--experiment-ids",
            ids[names[2]],
        ],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
    )
    print(f"reference: mlflow gc as a child process: {time.perf_counter() - started:.2f} s")


def main() -> None:
    with_minilm = "--no-minilm" not in sys.argv[1:] and not embedding.missing_requirements()
    texts, labels = corpus()
    documents = len(texts)
    print(f"corpus: {LABELS} labels x {PER_LABEL} documents of {WORDS_PER_DOC} words")

    parts = split(texts, labels, fraction=0.2, seed=42)
    started = time.perf_counter()
    model_bytes = train("tfidf-logreg", parts, seed=42, progress=lambda f, s: None)
    fit_seconds = time.perf_counter() - started
    tfidf_fit_rate = len(parts.train_texts) / fit_seconds
    print(
        f"tfidf-logreg fit alone, in process: {fit_seconds:.2f} s, "
        f"{tfidf_fit_rate:,.0f} training documents/s"
    )
    small_texts, small_labels = corpus(per_label=MINILM_PER_LABEL)
    minilm_bytes = b""
    if with_minilm:
        started = time.perf_counter()
        embedding.embed(["load the encoder"])
        print(
            "minilm encoder load in this process (torch import + weights, once per process): "
            f"{time.perf_counter() - started:.2f} s"
        )
        small = split(small_texts, small_labels, fraction=0.2, seed=42)
        started = time.perf_counter()
        minilm_bytes = train("minilm", small, seed=42, progress=lambda f, s: None)
        seconds = time.perf_counter() - started
        rate = len(small.train_texts) / seconds
        print(
            f"minilm fit alone, in process ({len(small.train_texts)} documents): {seconds:.2f} s, "
            f"{rate:,.1f} training documents/s; {rate / tfidf_fit_rate:.4f}x tfidf-logreg's"
        )
    else:
        print("minilm: skipped (--no-minilm, or modelyard[minilm] is not installed)")

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp, server(Path(tmp)) as base:
        http = httpx.Client(base_url=base, timeout=120)
        http.post("/api/v1/users", json={"email": "bench@example.com", "password": "bench123"})
        token = http.post(
            "/api/v1/auth/token", json={"login": "bench@example.com", "password": "bench123"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        job_seconds, run = train_via_api(http, headers, texts, labels, "tfidf-logreg", "bench")
        tfidf_job_rate = documents / job_seconds
        print(
            f"tfidf-logreg whole training job via the API: {job_seconds:.2f} s, "
            f"{tfidf_job_rate:,.0f} documents/s "
            f"(validation accuracy {run['metrics']['accuracy']:.3f})"
        )

        url = f"/api/v1/training-runs/{run['run_id']}/predict"
        first = time.perf_counter()
        assert http.post(url, json={"texts": [TEXT]}, headers=headers).status_code == 200
        first_ms = (time.perf_counter() - first) * 1000
        print(f"predict by run id, first call (loads the model): {first_ms:.1f} ms")
        api: list[float] = []
        for _ in range(PREDICT_CALLS):
            started = time.perf_counter()
            http.post(url, json={"texts": [TEXT]}, headers=headers)
            api.append(time.perf_counter() - started)
        overhead: list[float] = []
        for _ in range(PREDICT_CALLS):
            started = time.perf_counter()
            http.get("/api/v1/health/live")
            overhead.append(time.perf_counter() - started)
        # What every signed-in call pays before its own work: the credential checked against
        # the database, one transaction.
        signed_in: list[float] = []
        for _ in range(PREDICT_CALLS):
            started = time.perf_counter()
            http.get("/api/v1/users/me", headers=headers)
            signed_in.append(time.perf_counter() - started)

        minilm_api: list[float] = []
        if with_minilm:
            small_documents = len(small_texts)
            for attempt, experiment in (("cold", "bench-minilm-1"), ("warm", "bench-minilm-2")):
                seconds, minilm_run = train_via_api(
                    http, headers, small_texts, small_labels, "minilm", experiment
                )
                rate = small_documents / seconds
                print(
                    f"minilm whole training job via the API, {attempt} "
                    f"({small_documents} documents): {seconds:.2f} s, {rate:,.1f} documents/s; "
                    f"{rate / tfidf_job_rate:.4f}x tfidf-logreg's "
                    f"(validation accuracy {minilm_run['metrics']['accuracy']:.3f})"
                )
            url = f"/api/v1/training-runs/{minilm_run['run_id']}/predict"
            assert http.post(url, json={"texts": [TEXT]}, headers=headers).status_code == 200
            for _ in range(MINILM_PREDICT_CALLS):
                started = time.perf_counter()
                http.post(url, json={"texts": [TEXT]}, headers=headers)
                minilm_api.append(time.perf_counter() - started)

        hard_delete(http, headers, Path(tmp), small_texts, small_labels)

    model = load_text_model(model_bytes)
    direct: list[float] = []
    for _ in range(PREDICT_CALLS):
        started = time.perf_counter()
        model.predict([TEXT])
        direct.append(time.perf_counter() - started)
    print(
        f"predict by run id, cached, median of {PREDICT_CALLS}: {median_ms(api):.2f} ms; "
        f"direct pipeline call: {median_ms(direct):.2f} ms; "
        f"HTTP overhead (liveness route): {median_ms(overhead):.2f} ms"
    )
    print(f"signed-in overhead (GET /api/v1/users/me): {median_ms(signed_in):.2f} ms")
    for what, cost in (("HTTP", overhead), ("signed-in HTTP", signed_in)):
        bound = 2 * median_ms(direct) + median_ms(cost)
        verdict = "within" if median_ms(api) <= bound else "NOT within"
        print(f"{verdict} 2x the direct call plus the {what} overhead ({bound:.2f} ms)")
    if minilm_api:
        minilm_model = load_text_model(minilm_bytes)
        minilm_direct: list[float] = []
        for _ in range(MINILM_PREDICT_CALLS):
            started = time.perf_counter()
            minilm_model.predict([TEXT])
            minilm_direct.append(time.perf_counter() - started)
        print(
            f"minilm predict by run id, cached, median of {MINILM_PREDICT_CALLS}: "
            f"{median_ms(minilm_api):.2f} ms; direct call: {median_ms(minilm_direct):.2f} ms"
        )


if __name__ == "__main__":
    main()
