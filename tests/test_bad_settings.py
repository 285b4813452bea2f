"""A bad setting stops every command with one line naming it and exit code 2, never a traceback;
pycm-api's admin may have any name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import AuthSettings, Settings
from tests.helpers import subprocess_env

ADMIN_PASSWORD = "a-long-admin-password"

# (command, the bad setting and its value, other settings it needs)
CASES = [
    ("serve", "PYCM_API_ADMIN", "ops:admin", {"MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}),
    ("serve", "MODELYARD_ADMIN_EMAIL", "not-an-address", {"PYCM_API_ADMIN_PASSWORD": "pw-123456"}),
    ("serve", "MODELYARD_DATABASE_URL", "foo://bar", {}),
    ("serve", "MODELYARD_ARTIFACT_URL", "ftp://example.com/x", {}),
    ("serve", "MODELYARD_HTTP_MAX_BODY_BYTES", "-5", {}),
    ("worker", "MODELYARD_BROKER_URL", "http://127.0.0.1:6379", {}),
    ("worker", "MODELYARD_JOBS_EXECUTOR", "threads", {}),
    ("migrate", "MODELYARD_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/db", {}),
    ("migrate", "MODELYARD_LOG_LEVEL", "LOUD", {}),
    ("create-admin", "MODELYARD_SERVING_MODE", "turbo", {}),
    ("create-admin", "MODELYARD_TRAINING_MAX_EXTRACTED_BYTES", "-1", {}),
]


@pytest.mark.parametrize(("command", "name", "value", "others"), CASES)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, command: str, name: str, value: str, others: dict[str, str]
) -> None:
    args = {
        "serve": ["serve", "--port", "1"],
        "create-admin": ["create-admin", "--email", "root@example.com", "--password-stdin"],
    }.get(command, [command])
    result = subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=subprocess_env(tmp_path, **{name: value}, **others),
        input=f"{ADMIN_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("modelyard: ") and name in lines[0], lines
    assert "hunter2" not in result.stderr  # a password in a URL is never shown


def _basic_admin_listing(client: TestClient, login: str) -> int:
    return client.get("/users/", auth=(login, ADMIN_PASSWORD)).status_code


@pytest.mark.parametrize("pycm_admin", ["ops-admin@example.com", "ops admin", "Zoë"])
def test_pycm_api_admin_may_have_any_name(settings: Settings, pycm_admin: str) -> None:
    # PYCM_API_ADMIN beside MODELYARD_ADMIN_EMAIL: one admin, signing in by either name.
    auth = AuthSettings.model_validate(
        {
            **settings.auth.model_dump(),
            "admin_email": "root@example.com",
            "admin_username": pycm_admin,
            "admin_password": ADMIN_PASSWORD,
        }
    )
    with TestClient(create_app(settings.model_copy(update={"auth": auth}))) as client:
        assert _basic_admin_listing(client, pycm_admin) == 200
        assert _basic_admin_listing(client, "root@example.com") == 200
