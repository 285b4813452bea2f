"""Small generated corpora, archives made of them, and waiting for a training to end."""

from __future__ import annotations

import io
import random
import tarfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import Account

LABELS = {
    "sport": ["match", "goal", "team", "coach", "league", "score", "player", "stadium"],
    "space": ["orbit", "rocket", "planet", "galaxy", "launch", "comet", "nebula", "moon"],
    "food": ["recipe", "bake", "flavour", "kitchen", "spice", "dinner", "sauce", "bread"],
}
COMMON = ["the", "a", "with", "today", "about", "many", "some", "very", "new", "old"]
# The first job of each Celery worker child imports skops, and with it torch (seconds; far more
# on a loaded machine): a deadline for a stuck job, not a speed test.
DEADLINE_SECONDS = 180.0


def documents(
    per_label: int = 30, labels: dict[str, list[str]] | None = None, seed: int = 7
) -> Iterator[tuple[str, str, str]]:
    rng = random.Random(seed)
    for label, words in (labels or LABELS).items():
        for index in range(per_label):
            text = " ".join(rng.choice(words if rng.random() < 0.6 else COMMON) for _ in range(25))
            yield label, f"doc{index:03d}.txt", text


def write_folder(root: Path, name: str = "dataset1", **kwargs: Any) -> Path:
    folder = root / name
    for label, filename, text in documents(**kwargs):
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / filename).write_text(text)
    return folder


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def corpus_members(prefix: str = "", **kwargs: Any) -> dict[str, bytes]:
    return {
        f"{prefix}{label}/{filename}": text.encode()
        for label, filename, text in documents(**kwargs)
    }


def unique(name: str = "exp") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def upload(client: TestClient, account: Account, data: bytes, filename: str = "d.zip") -> Any:
    return client.post(
        "/api/v1/datasets", files={"file": (filename, data)}, headers=account.headers
    )


def wait_finished(
    client: TestClient, account: Account, run_id: str, seconds: float = DEADLINE_SECONDS
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(f"/api/v1/training-runs/{run_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["job_state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            return body
        assert time.monotonic() < deadline, f"training did not finish: {body}"
        time.sleep(0.05)


def start(
    client: TestClient,
    account: Account,
    dataset_id: int,
    experiment: str,
    trainer: str = "tfidf-logreg",
) -> Any:
    return client.post(
        "/api/v1/training-runs",
        json={"dataset_id": dataset_id, "experiment_name": experiment, "trainer": trainer},
        headers=account.headers,
    )


def train_from_folder(client: TestClient, account: Account, root: Path) -> dict[str, str]:
    write_folder(root)
    response = client.post(
        "/api/v1/datasets/from-path", json={"path": "dataset1"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    experiment = unique()
    started = start(client, account, response.json()["id"], experiment)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    finished = wait_finished(client, account, run_id)
    assert finished["job_state"] == "SUCCESS", finished
    return {"run_id": run_id, "experiment": experiment}
