"""The command line, run as a user runs it: real processes, a real server on a free port."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from modelyard.db import Database
from tests.helpers import running_server, subprocess_env

REPO = Path(__file__).resolve().parents[1]


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_and_create_admin_on_a_fresh_data_folder(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path)
    migrated = _run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    created = _run(
        ["create-admin", "--email", "Root@Example.com", "--password-stdin"], env, "s3cret-pw\n"
    )
    assert created.returncode == 0, created.stderr
    assert "admin ready" in created.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'modelyard.db'}")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT email, role, password_hash FROM users")).one()
    engine.dispose()
    assert row[0] == "root@example.com" and row[1] == "admin"
    assert row[2].startswith("$argon2id$")
    secret = tmp_path / "secret_key"
    assert secret.exists() and (secret.stat().st_mode & 0o077) == 0


def test_serve_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    result = _run(
        ["serve", "--port", "1"], subprocess_env(tmp_path, MODELYARD_SECRET_KEY="changeme")
    )
    assert result.returncode == 2
    assert "placeholder" in result.stderr
    assert not (tmp_path / "modelyard.db").exists()


def test_worker_needs_a_broker(tmp_path: Path) -> None:
    result = _run(["worker"], subprocess_env(tmp_path))
    assert result.returncode == 2
    assert "MODELYARD_BROKER_URL" in result.stderr


@pytest.fixture
def server(tmp_path: Path, database: Database) -> Iterator[tuple[str, Path]]:
    """``modelyard serve`` in a child process, on the suite's database."""
    with running_server(tmp_path) as (base, log_path):
        yield base, log_path


def test_the_documents_auth_requests_work_against_a_running_server(
    server: tuple[str, Path],
) -> None:
    base, log_path = server
    # pycm-api: "Sign up" cURL, then the workflow's sign-in.
    signed_up = httpx.post(
        f"{base}/sign_up/",
        headers={"Content-Type": "application/json"},
        content='{"email": "test@example.com", "password": "test123"}',
    )
    assert signed_up.status_code == 200, signed_up.text
    api_key = signed_up.json()["api_key"]
    signed_in = httpx.post(
        f"{base}/sign_in/", json={"email": "test@example.com", "password": "test123"}
    )
    assert signed_in.status_code == 200 and signed_in.json()["id"] == signed_up.json()["id"]

    # Machine learning API: register, register again, token, raw token use.
    user_dict = {
        "username": "eligijus_bujokas",
        "password": "password",
        "email": "eligijus@testmail.com",
    }
    assert httpx.post(f"{base}/register-user", json=user_dict).status_code == 201
    again = httpx.post(f"{base}/register-user", json=user_dict)
    assert again.status_code == 409 and again.json()["message"] == "User already exists"
    token = httpx.post(f"{base}/token", json=user_dict).json()["token"]
    assert httpx.get(f"{base}/token_status/{token}").json() == {"message": "Token is valid"}

    # The native face with the same credentials.
    me = httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {api_key}"})
    assert me.status_code == 200 and me.json()["email"] == "test@example.com"
    assert httpx.get(f"{base}/api/v1/users/me", params={"api_key": api_key}).status_code == 401

    time.sleep(0.3)  # let the log lines reach the file
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "modelyard.access"]
    assert access and all(line.get("request_id") for line in access)
    text_log = log_path.read_text()
    assert api_key not in text_log and token not in text_log


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "root@example.com", "--password-stdin"], "abc\n", "at least 6 characters"),
        (["--email", "root@example.com", "--password-stdin"], "", "must not be empty"),
        (["--email", "not-an-email", "--password-stdin"], "s3cret-pw\n", "not an e-mail"),
        (["--email", "root@example.com"], "", "use --password-stdin"),
        ([], "", "give --email or --username"),
    ],
)
def test_create_admin_explains_what_is_wrong(
    tmp_path: Path, args: list[str], stdin: str, message: str
) -> None:
    result = _run(["create-admin", *args], subprocess_env(tmp_path), stdin)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_create_admin_refuses_a_malformed_username(tmp_path: Path) -> None:
    result = _run(
        ["create-admin", "--username", "../root", "--password-stdin"],
        subprocess_env(tmp_path),
        "s3cret-pw\n",
    )
    assert result.returncode == 2
    assert "username" in result.stderr and "Traceback" not in result.stderr


def test_serve_freezes_what_the_imports_made_before_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full garbage-collector pass over the service's ~330,000 startup objects took 80-250 ms,
    # paid by whichever request was running (the serving p99). `serve` freezes them first.
    import uvicorn

    from modelyard import cli

    frozen_when_served: list[int] = []
    # main() configures logging for a server process; this one is the test run's.
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **kw: frozen_when_served.append(gc.get_freeze_count())
    )
    for key, value in subprocess_env(tmp_path).items():
        if key.startswith("MODELYARD_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODELYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'modelyard.db'}")
    tracked = len(gc.get_objects())
    try:
        assert cli.main(["serve", "--port", "1"]) == 0
    finally:
        gc.unfreeze()
    assert len(frozen_when_served) == 1
    assert frozen_when_served[0] > tracked // 2
