"""Benchmark: the request log writer's CPU per entry (serving/log.py -> repository.insert_logs).

Run: ``PYTHONPATH=src .venv/bin/python bench/request_log.py`` (a few seconds; ``--help``).
A fresh SQLite database in a temporary folder, built as the app builds it (``Database``, the
migrations), one user and one model; then entries shaped as ``ServingCore`` makes them (the
request's JSON body kept as its raw bytes, the encoded output) written in batches through the
real ``RequestLogWriter._write``, in this thread. Prints user and system CPU per entry
(``os.times``: every thread of the process, the writer's commit and checkpoint included).

``--rows 100`` is the serving benchmark's 100-row request (a ~41 KB body); ``--rows 1`` its
single-row one. ``--pragma-before`` / ``--pragma-after`` add PRAGMAs to every connection,
before or after the app's own (``page_size`` must come before ``journal_mode=WAL``), to try
settings without editing db.py. Compare trees back to back with ``PYTHONPATH=<tree>/src``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pydantic_core

import modelyard.db as db_module
from modelyard.auth.models import User
from modelyard.db import Database, utcnow
from modelyard.migrate import upgrade
from modelyard.registry.models import RegisteredModel
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.models import RawJSON


def _with_pragmas(before: list[str], after: list[str]) -> None:
    original = db_module._sqlite_pragmas

    def patched(busy_ms: int) -> Any:
        inner = original(busy_ms)

        def set_pragmas(connection: Any, record: Any) -> None:
            for pragma in before:
                connection.execute(f"PRAGMA {pragma}")
            inner(connection, record)
            for pragma in after:
                connection.execute(f"PRAGMA {pragma}")

        return set_pragmas

    db_module._sqlite_pragmas = patched  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=3000, help="entries measured per round")
    parser.add_argument("--batch", type=int, default=100, help="entries per write (commit)")
    parser.add_argument("--rows", type=int, default=100, help="rows of 20 numbers per request")
    parser.add_argument("--prefill", type=int, default=0, help="entries written before measuring")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pragma-before", action="append", default=[])
    parser.add_argument("--pragma-after", action="append", default=[])
    args = parser.parse_args()
    _with_pragmas(args.pragma_before, args.pragma_after)

    folder = Path(tempfile.mkdtemp(prefix="modelyard-log-bench-"))
    database = Database(f"sqlite:///{folder / 'modelyard.db'}")
    upgrade(database)
    with database.session() as session:
        user = User(email="bench@example.com", username="bench", password_hash="x")  # noqa: S106 - never signs in
        session.add(user)
        session.flush()
        model = RegisteredModel(owner_id=user.id, name="m")
        session.add(model)
        session.flush()
        user_id, model_id = user.id, model.id

    rng = random.Random(1)  # noqa: S311 - payload numbers, not secrets
    rows = [[rng.gauss(0, 1) for _ in range(20)] for _ in range(args.rows)]
    body = json.dumps({"X": rows}).encode()  # ", " separators, as the harness's payloads
    # The harness's LogisticRegression has 3 classes.
    weights = [[rng.random() for _ in range(3)] for _ in range(args.rows)]
    probabilities = [[w / sum(row) for w in row] for row in weights]
    output = pydantic_core.to_json(
        {
            "predictions": [row.index(max(row)) for row in probabilities],
            "probabilities": probabilities,
        }
    )

    def entries(count: int) -> list[dict[str, Any]]:
        return [
            {
                "predict_id": str(uuid.uuid4()),
                "model_id": model_id,
                "version_id": None,
                "model_name": "m",
                "version": 1,
                "user_id": user_id,
                "source": "native",
                "status": 200,
                "error": None,
                "n_rows": args.rows,
                "input": RawJSON(body),
                "output": RawJSON(output),
                "latency_ms": 1.234,
                "created_at": utcnow(),
            }
            for _ in range(count)
        ]

    writer = RequestLogWriter(database, queue_size=1, flush_rows=args.batch, flush_ms=200)

    def write(count: int) -> tuple[float, float]:
        batch = entries(count)
        start = os.times()
        for index in range(0, count, args.batch):
            writer._write(batch[index : index + args.batch])
        end = os.times()
        return (end.user - start.user) / count * 1e6, (end.system - start.system) / count * 1e6

    for index in range(0, args.prefill, 1000):
        writer._write(entries(min(1000, args.prefill - index)))
    write(min(args.entries, 500))  # warm: the first checkpoint, the page cache
    print(
        f"input {len(body)} B, output {len(output)} B, batch {args.batch}, "
        f"pragmas {args.pragma_before} {args.pragma_after}, load {os.getloadavg()[0]:.2f}"
    )
    for _ in range(args.rounds):
        started = time.perf_counter()
        user, system = write(args.entries)
        wall = (time.perf_counter() - started) / args.entries * 1e6
        print(
            f"per entry: cpu {user + system:4.0f} us (user {user:3.0f}, sys {system:3.0f}), "
            f"wall {wall:4.0f} us"
        )
    database.dispose()


if __name__ == "__main__":
    main()
