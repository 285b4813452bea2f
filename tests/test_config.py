import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelyard.config import AuthSettings, ConfigError, JobsSettings, Settings, resolve_secret_key


@pytest.mark.parametrize(
    "secret", ["short", "changeme", "your-secret-key", "CHANGEME-please-" * 3, "secret"]
)
def test_weak_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(secret_key=secret)


def test_weak_secret_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_SECRET_KEY", "changeme")
    with pytest.raises(ValidationError):
        Settings()


def test_a_generated_secret_is_kept_private_and_stable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auth=AuthSettings())
    first = resolve_secret_key(settings)
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "secret_key").st_mode)
    assert mode == 0o600
    assert resolve_secret_key(settings) == first


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings())
    resolve_secret_key(settings)
    os.chmod(tmp_path / "secret_key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secret_key(settings)


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("MODELYARD_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MODELYARD_ARTIFACT_URL", "s3://bucket/prefix")
    monkeypatch.setenv("MODELYARD_ADMIN_EMAIL", "root@example.com")
    monkeypatch.setenv("MODELYARD_ADMIN_PASSWORD", "admin-pass")
    monkeypatch.setenv("MODELYARD_AUTH_LOGIN_MAX_FAILURES", "7")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.jobs.uses_celery
    assert settings.artifact_url == "s3://bucket/prefix"
    assert settings.auth.admin_email == "root@example.com"
    assert settings.auth.admin_password is not None
    assert settings.auth.admin_password.get_secret_value() == "admin-pass"
    assert "admin-pass" not in repr(settings)
    assert settings.auth.login_max_failures == 7


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url.startswith("sqlite:///") and str(tmp_path) in settings.database_url
    assert JobsSettings().uses_celery is False
    assert settings.artifact_url == str(tmp_path / "artifacts")


def test_a_job_is_not_taken_for_lost_within_two_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_JOBS_HEARTBEAT_SECONDS", "10")
    monkeypatch.setenv("MODELYARD_JOBS_STALE_SECONDS", "15")
    with pytest.raises(ValidationError, match="at least twice"):
        JobsSettings()
    monkeypatch.setenv("MODELYARD_JOBS_STALE_SECONDS", "20")
    assert (JobsSettings().heartbeat_seconds, JobsSettings().stale_seconds) == (10.0, 20.0)
