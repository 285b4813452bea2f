"""``modelyard serve --workers 2``: two processes on one port, one service.

A real server as an operator starts it: what one process keeps, the other answers (async
results, sign-in throttling), and the once-per-machine start-up work is done once.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.helpers import running_server
from tests.registry.factories import skops_classifier

ADMIN = {"MODELYARD_ADMIN_EMAIL": "ops@example.com", "MODELYARD_ADMIN_PASSWORD": "ops-password-1"}
ROUNDS = 24


def _fresh(url: str) -> httpx.Client:
    # A new connection per call, so the calls spread over the processes.
    return httpx.Client(base_url=url, timeout=30, headers={"Connection": "close"})


def _started_processes(log: Path, wanted: int, timeout: float = 120) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        started = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
        if len(started) >= wanted or time.monotonic() > deadline:
            return started
        time.sleep(0.2)


def _token(url: str, password: str) -> httpx.Response:
    with _fresh(url) as client:
        return client.post(
            "/api/v1/auth/token", json={"login": "ops@example.com", "password": password}
        )


def test_two_processes_serve_one_port_and_share_what_they_keep(tmp_path: Path) -> None:
    with running_server(tmp_path, env=ADMIN, args=["--workers", "2"]) as (url, log):
        # Ready is the first process's answer; the second may still be starting on a busy
        # machine (14 s apart once, with both test suites running).
        started = _started_processes(log, 2)
        assert len(started) == 2, log.read_text()

        # The bootstrap admin exists once (both processes starting did not race to create it).
        signed_in = _token(url, "ops-password-1")
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        with _fresh(url) as client:
            registered = client.post(
                "/api/v1/models",
                data={"name": "m"},
                files={"file": ("model.skops", skops_classifier(4), "application/octet-stream")},
                headers=headers,
            )
        assert registered.status_code == 201, registered.text

        def predict_later(n: int) -> str:
            with _fresh(url) as client:
                accepted = client.post(
                    "/api/v1/models/m/predict?async=true",
                    json={"X": [[n, 1, -1, 2]]},
                    headers=headers,
                )
            assert accepted.status_code == 202, accepted.text
            predict_id: str = accepted.json()["predict_id"]
            return predict_id

        def fetch(predict_id: str) -> httpx.Response:
            with _fresh(url) as client:
                return client.get(f"/api/v1/predictions/{predict_id}", headers=headers)

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(predict_later, range(ROUNDS)))
            fetched = list(pool.map(fetch, ids))
        # Whichever process took the fetch, it found what the other one stored.
        assert [r.status_code for r in fetched] == [200] * ROUNDS, [r.text for r in fetched]
        assert [r.json()["predict_id"] for r in fetched] == ids

        # Failed sign-ins are counted across both processes: after the limit's five failures,
        # whichever took them, this client address is held for the account, even with the
        # right password.
        statuses = [_token(url, "wrong-password").status_code for _ in range(5)]
        assert statuses == [401] * 5, statuses
        for _ in range(4):
            assert _token(url, "ops-password-1").status_code == 429


def test_a_connection_is_closed_after_its_keepalive_requests(tmp_path: Path) -> None:
    env = {**ADMIN, "MODELYARD_HTTP_KEEPALIVE_REQUESTS": "3"}
    with running_server(tmp_path, env=env, args=["--workers", "2"]) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        request = f"GET /api/v1/health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            answers = []
            for _ in range(3):
                sock.sendall(request)
                response = http.client.HTTPResponse(sock)
                response.begin()
                response.read()
                answers.append((response.status, response.getheader("connection")))
            # The server closed the connection after its third answer, as that answer said.
            assert sock.recv(1) == b""
        assert answers == [(200, None), (200, None), (200, "close")]
