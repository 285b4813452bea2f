"""Small helpers the tests share: accounts, tokens and headers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from modelyard.auth.service import ensure_admin
from tests.conftest import TEST_BROKER_URL, TEST_DATABASE_URL, TEST_SECRET

PASSWORD = "test123"


@dataclass
class Account:
    id: int
    login: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> Account:
    response = client.post("/api/v1/users", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return Account(response.json()["id"], email, password, token_for(client, email, password))


def token_for(client: TestClient, login: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"login": login, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def make_admin(client: TestClient, email: str = "admin@example.com") -> Account:
    app = client.app
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        user = ensure_admin(
            session,
            app.state.security,
            password=PASSWORD,
            email=email,  # type: ignore[attr-defined]
        )
        user_id = user.id
    return Account(user_id, email, PASSWORD, token_for(client, email))


def access_claims(user_id: int = 1, **overrides: object) -> dict[str, object]:
    """The claims of a valid access token; an override of None leaves that claim out."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def subprocess_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``modelyard`` child process: this one's, minus its settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "PYCM_API_"))}
    env.update(
        MODELYARD_DATA_DIR=str(data_dir),
        MODELYARD_AUTH_ARGON2_MEMORY_KIB="1024",
        MODELYARD_AUTH_ARGON2_TIME_COST="1",
        MODELYARD_AUTH_ARGON2_PARALLELISM="1",
        # No UMAP compilation competing with the child's start (see tests/conftest.py).
        MODELYARD_VISUALIZATION_WARM_UP="false",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server_process(
    data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``modelyard serve [args]`` in a child process on the suite's database, ready: its URL,
    the process (a test may kill it) and its log. Ended at the end if it still runs."""
    port = free_port()
    extra = {"MODELYARD_SECRET_KEY": TEST_SECRET, **(env or {})}
    if TEST_DATABASE_URL:
        extra["MODELYARD_DATABASE_URL"] = TEST_DATABASE_URL
    if TEST_BROKER_URL:
        extra["MODELYARD_BROKER_URL"] = TEST_BROKER_URL
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelyard", "serve", "--port", str(port), *(args or [])],
            env=subprocess_env(data_dir, **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts slowly
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/api/v1/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base, process, log_path
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


@contextmanager
def running_server(
    data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """``modelyard serve [args]`` in a child process on the suite's database; its URL and log."""
    with server_process(data_dir, env, args) as (base, _, log_path):
        yield base, log_path


def every_route(app: Any) -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route of ``app``, walking included routers.

    FastAPI 0.165 keeps an included router as one ``_IncludedRouter`` entry of ``app.routes``
    (its routes are not copied in), so the walk adds each inclusion's prefix itself.
    """

    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                yield from walk(original.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "path"):
                yield prefix + route.path, route

    yield from walk(app.routes, "")
