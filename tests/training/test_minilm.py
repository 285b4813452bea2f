"""The minilm trainer: packaged all-MiniLM-L6-v2 embeddings + logistic regression, offline.

Every test here runs with the Hugging Face Hub switched off (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE)
and with this process's sockets refused anything but loopback and local sockets, so a download
attempt would fail the test instead of slipping through.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from modelyard.config import RegistrySettings, Settings
from modelyard.registry.service import load_runtime
from modelyard.training import embedding, encoder
from modelyard.training.embedding import (
    EMBEDDER_TYPE,
    ENCODER_DIMENSION,
    ENCODER_PACKAGE,
    SentenceEmbeddingClassifier,
)
from modelyard.training.runtime import build_runtime
from modelyard.training.trainers import load_text_model, split, train
from tests.helpers import Account
from tests.registry.factories import register
from tests.training.conftest import MIN_DOCS
from tests.training.helpers import corpus_members, start, unique, upload, wait_finished, zip_bytes

pytestmark = pytest.mark.skipif(
    bool(embedding.missing_requirements()),
    reason=f"modelyard[minilm] is not installed: {embedding.missing_requirements()}",
)

# The first minilm job of a process imports torch and loads the encoder: slow on a busy machine.
MINILM_DEADLINE_SECONDS = 240.0
SPACE = "the rocket left orbit and flew past a distant planet and its moons"
SPORT = "the coach said the team played a great match and scored a late goal"


class NetworkRefused(OSError):
    pass


def _local(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The Hub switched off and every non-loopback connection or name lookup refused."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    attempts: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _local(address):
            attempts.append(address)
            raise NetworkRefused(f"test refused a connection to {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _local(address):
            attempts.append(address)
            raise NetworkRefused(f"test refused a connection to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _local((host if isinstance(host, str) else host.decode(),)):
            attempts.append(host)
            raise NetworkRefused(f"test refused a name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"the network was asked for: {attempts}"


def test_the_guard_refuses_the_network(offline: list[Any]) -> None:
    # TEST-NET-1 (RFC 5737) and a public name: refused before a packet could leave.
    with socket.socket() as sock, pytest.raises(NetworkRefused):
        sock.connect(("192.0.2.1", 443))
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("huggingface.co", 443)
    assert len(offline) == 2
    offline.clear()


def _texts(per_label: int = 8) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for member, data in corpus_members(per_label=per_label).items():
        labels.append(member.split("/")[0])
        texts.append(data.decode())
    return texts, labels


def test_train_embed_and_predict_in_process() -> None:
    texts, labels = _texts()
    parts = split(texts, labels, fraction=0.25, seed=42)
    stages: list[tuple[float, str]] = []
    data = train("minilm", parts, seed=42, progress=lambda f, s: stages.append((f, s)))

    # A skops file whose only type beyond skops' safe set is the classifier: no pickle.
    assert data[:4] == b"PK\x03\x04"
    assert sio.get_untrusted_types(data=data) == [EMBEDDER_TYPE]
    assert stages[0] == (0.0, "embedding")
    assert stages[-1] == (1.0, "fitted")
    assert [f for f, _ in stages] == sorted(f for f, _ in stages)

    model = load_text_model(data)
    assert sorted(model.label2id) == ["food", "space", "sport"]
    answers = model.predict([SPACE, SPORT])
    assert [label for label, _, _ in answers] == ["space", "sport"]
    assert answers[0][1] == model.label2id["space"]
    assert all(1 / 3 < score <= 1.0 for _, _, score in answers)

    assert model.embed is not None
    vectors = model.embed([SPACE, SPORT, SPACE])
    assert vectors.shape == (3, ENCODER_DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    # Close meanings lie closer than far ones.
    near = model.embed(["a spacecraft circling a planet", "a football team won the cup"])
    assert float(near[0] @ vectors[0]) > float(near[0] @ vectors[1])
    assert float(near[1] @ vectors[1]) > float(near[1] @ vectors[0])

    # A TF-IDF model has no embeddings of its own.
    tfidf = load_text_model(train("tfidf-logreg", parts, seed=42, progress=lambda f, s: None))
    assert tfidf.embed is None


def test_embeddings_are_batched_and_the_encoder_is_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [f"document number {i} about {'planets' if i % 2 else 'football'}" for i in range(10)]
    whole = embedding.embed(texts)
    monkeypatch.setattr(encoder, "CHUNK_TEXTS", 4)
    seen: list[float] = []
    chunked = embedding.embed(texts, batch_size=3, progress=seen.append)
    assert seen == [0.4, 0.8, 1.0]
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert embedding.embed([]).shape == (0, ENCODER_DIMENSION)
    assert encoder._shared_encoder() is encoder._shared_encoder()

    # Threads share the one encoder and get the same answers as one caller.
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = embedding.embed(texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for vectors in results.values():
        np.testing.assert_allclose(vectors, whole, atol=1e-5)


def _head(classes: list[str]) -> LogisticRegression:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(classes) * 4, ENCODER_DIMENSION))
    return LogisticRegression(max_iter=200).fit(features, classes * 4)


def _classifier(**state: Any) -> bytes:
    """A minilm model file made by hand (as a user could), with ``state`` over a good one."""
    model = SentenceEmbeddingClassifier(encoder_version=embedding.encoder_version())
    model.head_ = _head(["no", "yes"])
    model.classes_ = model.head_.classes_
    model.n_features_in_ = 1
    model.embedding_dimension_ = ENCODER_DIMENSION
    for key, value in state.items():
        setattr(model, key, value)
    data: bytes = sio.dumps(model)
    return data


def test_the_registry_loads_only_references_to_the_packaged_encoder(
    client: TestClient, alice: Account
) -> None:
    schema = [{"name": "text", "type": "str"}]
    good = register(client, alice, "handmade", _classifier(), schema=schema)
    assert good.status_code == 201, good.text
    predicted = client.post(
        "/api/v1/models/handmade/predict", json=[{"text": SPACE}], headers=alice.headers
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0] in ("no", "yes")

    refused = {
        "another encoder": _classifier(encoder="sentence-transformers/all-mpnet-base-v2"),
        "another version": _classifier(encoder_version="0.0.1"),
        "a huge batch": _classifier(batch_size=10**9),
        "another head": _classifier(head_=DecisionTreeClassifier().fit([[0], [1]], [0, 1])),
        "another width": _classifier(embedding_dimension_=768),
        "an extra attribute": _classifier(command="rm -rf /"),
    }
    for why, data in refused.items():
        response = register(client, alice, "handmade", data, schema=schema)
        assert response.status_code == 422, (why, response.text)
        assert response.json()["error"]["code"] != "internal_error", why
    versions = client.get("/api/v1/models/handmade/versions", headers=alice.headers).json()
    assert [v["version"] for v in versions["items"]] == [1]


def test_minilm_run_end_to_end(client: TestClient, alice: Account) -> None:
    response = upload(client, alice, zip_bytes(corpus_members(per_label=MIN_DOCS)))
    assert response.status_code == 201, response.text
    experiment = unique("minilm")
    started = start(client, alice, response.json()["id"], experiment, trainer="minilm")
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run = wait_finished(client, alice, run_id, seconds=MINILM_DEADLINE_SECONDS)
    assert run["job_state"] == "SUCCESS", run
    assert run["status"] == "FINISHED"
    assert run["params"]["trainer"] == "minilm"
    assert run["params"]["encoder"] == ENCODER_PACKAGE
    assert run["params"]["encoder_version"] == embedding.encoder_version()
    assert run["params"]["embedding_dimension"] == str(ENCODER_DIMENSION)
    assert run["metrics"]["accuracy"] > 0.8
    assert 0.0 <= run["metrics"]["roc_auc"] <= 1.0

    # MLflow holds the skops file (no pickle) and the encoder it refers to.
    tracker = client.app.state.training.tracker  # type: ignore[attr-defined]
    stored = tracker.read_bytes(run_id, "model/model.skops")
    assert sio.get_untrusted_types(data=stored) == [EMBEDDER_TYPE]
    reference = tracker.read_bytes(run_id, "model/encoder.json").decode()
    assert ENCODER_PACKAGE in reference

    predicted = client.post(
        f"/api/v1/training-runs/{run_id}/predict",
        json={"texts": [SPACE, SPORT]},
        headers=alice.headers,
    )
    assert predicted.status_code == 200, predicted.text
    assert [p["label"] for p in predicted.json()] == ["space", "sport"]

    # The registry serves the same file: through /predict, and its runtime has embed().
    assert run["model_name"] == experiment
    version = client.get(
        f"/api/v1/models/{experiment}/versions/{run['model_version']}", headers=alice.headers
    )
    assert version.status_code == 200, version.text
    assert version.json()["classes"] == ["food", "space", "sport"]
    assert "minilm" in version.json()["tags"]
    served = client.post(
        f"/api/v1/models/{experiment}/predict",
        json=[{"text": SPACE}, {"text": SPORT}],
        headers=alice.headers,
    )
    assert served.status_code == 200, served.text
    assert served.json()["predictions"] == ["space", "sport"]
    runtime = load_runtime(stored, "skops", RegistrySettings())
    assert runtime.kind == "classifier"
    embed = getattr(runtime, "embed", None)
    assert callable(embed)
    assert embed([SPACE]).shape == (1, ENCODER_DIMENSION)


def test_the_encoders_torch_threads_follow_the_setting(settings: Settings) -> None:
    import torch

    training = settings.training.model_copy(update={"encoder_threads": 2})
    try:
        build_runtime(settings.model_copy(update={"training": training}))
        embedding.embed([SPACE])
        assert torch.get_num_threads() == 2
    finally:
        build_runtime(settings)
    assert torch.get_num_threads() == settings.training.encoder_threads == 1
