"""Monitoring's speed (issue 23, "Speed and scale").

1. Drift of one window of ``--rows`` rows x ``--features`` numeric features against a
   training-sample reference of ``--reference`` rows, through ``monitoring.drift.compare``
   (Evidently's default test, PSI, missing values left out), against the floor: the same
   statistics called directly with numpy/scipy on the same arrays, in the same run.
2. Reading the window from the request log (SQLite in a temporary folder): the cost
   ``frames.read_logged`` adds before the statistics, for ``--log-rows`` logged rows.
3. A feedback upload of ``--labels`` labels (CSV, one label per single-row prediction)
   joined to the log and stored, in process through the service (no HTTP), on SQLite.

Run: ``.venv/bin/python bench/monitoring.py [--rows 1000000] [--labels 1000000]``.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.db import Database
from modelyard.migrate import upgrade
from modelyard.monitoring import drift, service
from modelyard.monitoring.classes import ClassIndex
from modelyard.monitoring.frames import read_logged
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.serving.models import NumericInput
from modelyard.serving.repository import insert_logs


def _floor(reference: np.ndarray, current: np.ndarray) -> None:
    """Evidently's statistics for a numeric feature above 1,000 reference rows, called
    directly: normalized Wasserstein distance and PSI on Sturges bins."""
    stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    ref[ref == 0] = 0.0001
    cur[cur == 0] = 0.0001
    np.sum((ref - cur) * np.log(ref / cur))


def bench_statistics(rows: int, features: int, reference_rows: int) -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(reference_rows, features))
    current = rng.normal(loc=0.05, size=(rows, features))
    started = time.perf_counter()
    for column in range(features):
        _floor(reference[:, column], current[:, column])
    floor = time.perf_counter() - started
    started = time.perf_counter()
    for column in range(features):
        drift.compare(reference[:, column], current[:, column], "num")
    ours = time.perf_counter() - started
    print(f"drift, {rows:,} x {features} vs {reference_rows:,} reference rows")
    print(f"  numpy/scipy floor      {floor * 1000:9.0f} ms  1.00x")
    print(f"  drift.compare          {ours * 1000:9.0f} ms  {ours / floor:.2f}x")


def _database(folder: Path) -> tuple[Database, int, int, User]:
    database = Database(f"sqlite:///{folder / 'bench.db'}")
    upgrade(database)
    with database.session() as session:
        # Never signs in: the bench calls the service with this user directly.
        user = User(email="bench@example.com", password_hash="!", role="user")  # noqa: S106
        session.add(user)
        session.flush()
        model = RegisteredModel(owner_id=user.id, name="m")
        session.add(model)
        session.flush()
        version = ModelVersion(
            model_id=model.id,
            version=1,
            format="skops",
            kind="classifier",
            classes=[0, 1],
            artifact_key="k",
            artifact_size=1,
            sha256="0" * 64,
            input_schema=[{"name": f"x{i}", "type": "float"} for i in range(20)],
        )
        session.add(version)
        session.flush()
        session.expunge(user)
        return database, model.id, version.id, user


def _fill_log(
    database: Database, model_id: int, version_id: int, requests: int, rows: int
) -> list[str]:
    rng = np.random.default_rng(1)
    ids: list[str] = []
    now = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    for _ in range(requests):
        matrix = rng.normal(size=(rows, 20)) + 0.5
        raw = ('{"X":' + str(matrix.tolist()) + "}").encode()
        predict_id = str(uuid.uuid4())
        ids.append(predict_id)
        output = {
            "predictions": [int(v > 0) for v in matrix[:, 0]],
            "probabilities": [[0.4, 0.6]] * rows,
        }
        batch.append(
            {
                "predict_id": predict_id,
                "model_id": model_id,
                "version_id": version_id,
                "model_name": "m",
                "version": 1,
                "user_id": None,
                "source": "native",
                "status": 200,
                "error": None,
                "n_rows": rows,
                "input": NumericInput(raw, matrix.tobytes(), matrix.shape),
                "output": output,
                "latency_ms": 1.0,
                "created_at": now,
            }
        )
        if len(batch) >= 5000:
            with database.engine.begin() as connection:
                insert_logs(connection, batch)
            batch = []
    if batch:
        with database.engine.begin() as connection:
            insert_logs(connection, batch)
    return ids


def bench_log_and_feedback(log_rows: int, labels: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database, model_id, version_id, user = _database(Path(folder))
        requests = max(log_rows // 100, 1)
        started = time.perf_counter()
        _fill_log(database, model_id, version_id, requests, 100)
        print(
            f"\nlog: {requests:,} requests of 100 rows x 20 written in "
            f"{time.perf_counter() - started:.1f} s (setup)"
        )
        with database.session() as session:
            started = time.perf_counter()
            logged = read_logged(
                session,
                model_id,
                1,
                [f"x{i}" for i in range(20)],
                ClassIndex([0, 1]),
                None,
                None,
                max_rows=10**8,
            )
            read = time.perf_counter() - started
        print(
            f"  read_logged {len(logged):,} rows: {read * 1000:.0f} ms "
            f"({read / len(logged) * 1e6:.2f} us a row)"
        )

        ids = _fill_log(database, model_id, version_id, labels, 1)
        body = "predict_id,label\n" + "".join(f"{i},1\n" for i in ids)
        started, cpu = time.perf_counter(), time.process_time()
        with database.session() as session:
            result = service.feedback_from_file(
                session,
                MonitoringSettings(),
                user,
                "m",
                io.BytesIO(body.encode()),
                "text/csv",
                body[:4096].encode(),
                owner_id=None,
                skip_unknown=False,
            )
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"feedback upload of {labels:,} labels (CSV, SQLite): {took:.1f} s "
            f"({cpu:.1f} s of CPU), stored {result.stored:,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--log-rows", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1_000_000)
    args = parser.parse_args()
    bench_statistics(args.rows, args.features, args.reference)
    bench_log_and_feedback(args.log_rows, args.labels)


if __name__ == "__main__":
    main()
