"""Users' models in model-worker processes: confinement, crashes, quarantine, upload trials.

A model's crash is made two ways the test controls: the crafted out-of-range tree (a real
segmentation fault in scikit-learn's Cython), and SIGKILL of the worker pid the runtime names.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelyard.config import RegistrySettings
from modelyard.registry import landlock
from modelyard.registry.exceptions import ModelCrashed, ModelTimedOut
from modelyard.registry.sandbox import ProcessRuntime, WorkerOptions
from modelyard.registry.wire import (
    FrameError,
    decode_column,
    encode_column,
    recv_frame,
    send_frame,
)
from tests.helpers import Account, running_server
from tests.registry.factories import (
    register,
    register_ok,
    skops_classifier,
    skops_out_of_range_tree,
)
from tests.web.helpers import web_sign_in

TRUSTED = RegistrySettings().skops_trusted_types
ROW = {"X": [[0.5, 1.0, -1.0, 2.0]]}


@pytest.fixture
def serving_overrides() -> dict[str, object]:
    return {"registry": {"quarantine_crashes": 2, "quarantine_window_seconds": 600}}


def _runtime(data: bytes) -> ProcessRuntime:
    return ProcessRuntime(lambda: data, "skops", TRUSTED, WorkerOptions(memory_mb=3072))


def _worker_pids(client: TestClient) -> list[int]:
    pids = [
        pid
        for runtime in client.app.state.serving.cache.runtimes()  # type: ignore[attr-defined]
        if isinstance(runtime, ProcessRuntime)
        for pid in runtime.pids
    ]
    assert pids, "no model worker is running"
    return pids


def _killed_during(send: Callable[[], Any], pids: list[int]) -> Any:
    """``send()``'s answer when the workers ``pids`` die while they hold its request: each is
    stopped (it takes the request and never answers), then killed once the request is in.
    (Killed while idle, a worker is just started again for the next request.)"""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(send)
        time.sleep(0.5)  # the request reaches a stopped worker
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return answer.result(timeout=120)


def _predict(client: TestClient, account: Account, name: str = "m") -> Any:
    return client.post(f"/api/v1/models/{name}/predict", json=ROW, headers=account.headers)


def test_a_worker_starts_in_an_empty_folder_without_the_servers_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELYARD_AUTH_SECRET_KEY", "a-secret-the-model-must-not-see")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-one")
    runtime = _runtime(skops_classifier(4))
    try:
        about = runtime.describe()
        assert about["files"] == []
        assert os.stat(about["cwd"]).st_mode & 0o077 == 0
        assert not [name for name in about["environ"] if name.startswith("MODELYARD_")]
        assert "AWS_SECRET_ACCESS_KEY" not in about["environ"]
        assert about["limits"]["as"] == 3072 * 1024 * 1024
        assert about["pid"] != os.getpid()
        # Locked in by Landlock wherever the kernel has it (tests/registry/test_landlock.py).
        assert about["landlock"] == (landlock.abi_version() or None)
        prediction = runtime.predict(np.array([[3.0, 0, 0, 0], [-3.0, 0, 0, 0]]))
        assert prediction.predictions == [1, 0]
        assert prediction.classes == [0, 1]
        assert prediction.probabilities is not None and len(prediction.probabilities) == 2
    finally:
        runtime.close()
    assert not Path(about["cwd"]).exists()  # the folder goes with the worker


def test_the_out_of_range_tree_kills_its_worker_not_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The structure check refuses this tree at load; without it (an unknown flaw), the
    # predict crashes the worker's native code, and only the worker.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    runtime = ProcessRuntime(
        skops_out_of_range_tree,
        "skops",
        TRUSTED,
        WorkerOptions(memory_mb=3072, module="tests.registry.unchecked_worker"),
    )
    try:
        with pytest.raises(ModelCrashed, match="SIGSEGV"):
            runtime.predict(np.zeros((1, 4)))
    finally:
        runtime.close()
    good = _runtime(skops_classifier(4))  # this process goes on serving
    try:
        assert good.predict(np.zeros((1, 4))).classes == [0, 1]
    finally:
        good.close()


def test_a_hung_worker_is_killed_after_the_timeout_and_replaced() -> None:
    data = skops_classifier(4)
    runtime = ProcessRuntime(
        lambda: data, "skops", TRUSTED, WorkerOptions(predict_timeout_seconds=2)
    )
    try:
        [pid] = runtime.pids
        os.kill(pid, signal.SIGSTOP)  # it takes the request and never answers
        with pytest.raises(ModelTimedOut):
            runtime.predict(np.zeros((1, 4)))
        assert runtime.pids == []
        assert runtime.predict(np.zeros((1, 4))).classes == [0, 1]
    finally:
        runtime.close()


def test_without_pidfd_a_worker_is_watched_through_its_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A kernel before 5.3, or valgrind (the benchmarks' instruction counts), has no
    # pidfd_open: the worker still serves, its idle death is noticed, a hung one is killed.
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    data = skops_classifier(4)
    runtime = ProcessRuntime(
        lambda: data, "skops", TRUSTED, WorkerOptions(predict_timeout_seconds=2)
    )
    try:
        assert runtime.predict(np.zeros((1, 4))).classes == [0, 1]
        [pid] = runtime.pids
        os.kill(pid, signal.SIGKILL)  # idle: noticed, and started again for the next one
        deadline = time.monotonic() + 10
        while pid in runtime.pids and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid not in runtime.pids
        assert runtime.predict(np.zeros((1, 4))).classes == [0, 1]
        [pid] = runtime.pids
        os.kill(pid, signal.SIGSTOP)  # hung: killed by pid after the timeout
        with pytest.raises(ModelTimedOut):
            runtime.predict(np.zeros((1, 4)))
        deadline = time.monotonic() + 10
        while _state(pid) not in ("Z", None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(pid) in ("Z", None)
    finally:
        runtime.close()


def _state(pid: int) -> str | None:
    """A process's state letter (``Z``: ended, not yet reaped), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_the_out_of_range_tree_is_refused_at_upload_in_its_worker(
    client: TestClient, alice: Account
) -> None:
    refused = register(client, alice, "tree", skops_out_of_range_tree())
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    # Found by the structure check in the worker, and named as such across the wire.
    assert error["code"] == "unsafe_model_structure"
    assert "left child" in error["message"]
    assert client.get("/api/v1/health/live").status_code == 200
    assert client.get("/api/v1/models/tree", headers=alice.headers).status_code == 404


@pytest.mark.parametrize("mode", ["direct", "batching"])
def test_a_dead_worker_answers_model_crashed_with_the_predict_id_and_is_restarted(
    client: TestClient, alice: Account, mode: str
) -> None:
    version = register_ok(client, alice, "m", skops_classifier(4))
    assert version["runs_in"] == "worker" and version["origin"] == "upload"
    set_mode = client.put(
        "/api/v1/models/m/versions/1/serving",
        # A restarted worker imports scikit-learn again: many seconds on a loaded machine.
        json={"mode": mode, "client_wait_seconds": 600},
        headers=alice.headers,
    )
    assert set_mode.status_code == 200, set_mode.text
    assert _predict(client, alice).status_code == 200

    crashed = _killed_during(lambda: _predict(client, alice), _worker_pids(client))
    assert crashed.status_code == 500, crashed.text
    error = crashed.json()["error"]
    assert error["code"] == "model_crashed"
    assert error["details"]["predict_id"] == crashed.headers["X-Predict-Id"]
    assert client.get("/api/v1/health/live").status_code == 200

    again = _predict(client, alice)
    assert again.status_code == 200, again.text
    assert again.json()["classes"] == [0, 1]


def test_a_version_that_keeps_crashing_is_quarantined_until_its_owner_clears_it(
    client: TestClient, alice: Account, bob: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    for _ in range(2):  # quarantine_crashes
        assert _predict(client, alice).status_code == 200
        crashed = _killed_during(lambda: _predict(client, alice), _worker_pids(client))
        assert crashed.json()["error"]["code"] == "model_crashed"

    refused = _predict(client, alice)
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "model_quarantined"
    assert "2 crashes" in error["details"]["reason"]
    shown = client.get("/api/v1/models/m/versions/1", headers=alice.headers).json()
    assert shown["quarantined_at"] is not None
    assert "died during a prediction" in shown["quarantine_reason"]
    assert web_sign_in(client, "alice@example.com").status_code == 200
    page = client.get("/ui/models/m")
    assert page.status_code == 200, page.text
    assert 'data-quarantined="1"' in page.text and "2 crashes" in page.text

    owner_id = client.get("/api/v1/models/m", headers=alice.headers).json()["owner_id"]
    by_bob = client.delete(
        f"/api/v1/models/m/versions/1/quarantine?owner_id={owner_id}", headers=bob.headers
    )
    assert by_bob.status_code == 404, by_bob.text
    assert _predict(client, alice).status_code == 503

    cleared = client.delete("/api/v1/models/m/versions/1/quarantine", headers=alice.headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["quarantined_at"] is None
    assert _predict(client, alice).status_code == 200
    again = client.delete("/api/v1/models/m/versions/1/quarantine", headers=alice.headers)
    assert again.json()["error"]["code"] == "not_quarantined"


def test_only_an_admin_may_run_a_users_model_in_process(
    client: TestClient, alice: Account, admin: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    owner_id = client.get("/api/v1/models/m", headers=alice.headers).json()["owner_id"]
    by_owner = client.put(
        "/api/v1/models/m/versions/1/serving", json={"in_process": True}, headers=alice.headers
    )
    assert by_owner.status_code == 403, by_owner.text
    by_admin = client.put(
        f"/api/v1/models/m/versions/1/serving?owner_id={owner_id}",
        json={"in_process": True},
        headers=admin.headers,
    )
    assert by_admin.status_code == 200, by_admin.text
    shown = client.get("/api/v1/models/m/versions/1", headers=alice.headers).json()
    assert shown["runs_in"] == "process"
    assert _predict(client, alice).status_code == 200
    runtimes = client.app.state.serving.cache.runtimes()  # type: ignore[attr-defined]
    assert runtimes and not any(isinstance(r, ProcessRuntime) for r in runtimes)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
        if ppid and int(ppid.group(1)) == parent and b"modelyard.registry.model_worker" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_real_server_survives_its_model_workers_death(tmp_path: Path) -> None:
    with running_server(tmp_path) as (url, log), httpx.Client(base_url=url, timeout=120) as http:
        assert http.post(
            "/api/v1/users", json={"email": "u@example.com", "password": "secret-123"}
        ).is_success
        token = http.post(
            "/api/v1/auth/token", json={"login": "u@example.com", "password": "secret-123"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        uploaded = http.post(
            "/api/v1/models",
            data={"name": "m"},
            files={"file": ("m.skops", skops_classifier(4), "application/octet-stream")},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert http.post("/api/v1/models/m/predict", json=ROW, headers=headers).is_success

        server = int(re.findall(r"Started server process \[(\d+)\]", log.read_text())[0])
        # The server's zygote forks the workers: its children are the model's and any spare.
        workers = [pid for zygote in _children(server) for pid in _children(zygote)]
        assert workers, log.read_text()
        crashed = _killed_during(  # the model's worker, and any spare
            lambda: http.post("/api/v1/models/m/predict", json=ROW, headers=headers), workers
        )
        assert crashed.status_code == 500, crashed.text
        assert crashed.json()["error"]["code"] == "model_crashed"
        assert crashed.json()["error"]["details"]["predict_id"] == crashed.headers["X-Predict-Id"]
        assert http.get("/api/v1/health/live").status_code == 200
        again = http.post("/api/v1/models/m/predict", json=ROW, headers=headers)
        assert again.status_code == 200, again.text


def _frame_of(header: dict[str, Any], payload: bytes = b"") -> bytes:
    import struct

    import orjson

    head = orjson.dumps(header)
    return struct.pack("<IQ", len(head), len(payload)) + head + payload


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        # A pickled object array, as numpy would send one: refused by its dtype.
        ({"arrays": [{"dtype": "|O", "shape": [1]}]}, b"\x80\x05N."),
        # A shape whose product overflows 64 bits into a small number.
        ({"arrays": [{"dtype": "<f8", "shape": [2**39, 2**39]}]}, b"\0" * 8),
        ({"arrays": [{"dtype": "<f8", "shape": [1, 1, 1]}]}, b"\0" * 8),
        ({"arrays": [{"dtype": "<f8", "shape": [2]}]}, b"\0" * 8),
    ],
)
def test_the_api_reads_only_plain_numbers_from_a_worker(
    header: dict[str, Any], payload: bytes
) -> None:
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(_frame_of(header, payload))
        with pytest.raises(FrameError):
            recv_frame(ours)


def test_a_frame_carries_numbers_as_raw_buffers_and_labels_as_json() -> None:
    import socket

    ours, theirs = socket.socketpair()
    matrix = np.arange(6, dtype=np.float64).reshape(3, 2)
    with ours, theirs:
        out: list[np.ndarray] = []
        header = {"labels": encode_column(["a", "b", "c"], out), "rows": encode_column([1, 2], out)}
        send_frame(theirs, header, [matrix, *out])
        got, arrays = recv_frame(ours)
    assert got["labels"] == {"json": ["a", "b", "c"]}
    assert np.array_equal(arrays[0], matrix) and arrays[0].flags.writeable
    assert decode_column(got["rows"], arrays[1:]) == [1, 2]
