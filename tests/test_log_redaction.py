"""No credential reaches a log line: in paths no route matched, query strings, error texts,
headers someone logged; in the access log (caught as records) and in what the service's log
handler writes (both formats)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelyard.logs import configure_logging, redact
from tests.helpers import PASSWORD, Account, sign_up


@pytest.fixture(params=["json", "text"])
def written(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[io.StringIO]:
    """What the service's own log handler writes, in each format."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", request.param)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_modelyard", False):
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def account(client: TestClient) -> Account:
    return sign_up(client, "redact@example.com")


def _api_key(client: TestClient, account: Account) -> str:
    created = client.post("/api/v1/api-keys", json={"name": "k"}, headers=account.headers)
    key: str = created.json()["key"]
    return key


def test_credentials_in_unrouted_paths_and_queries_are_redacted(
    client: TestClient, account: Account, written: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.access")
    key = _api_key(client, account)
    token = account.token
    # A JWT in a path that matches no route was logged whole.
    assert client.get(f"/token_status/{token}/x").status_code == 404
    client.get(f"/nothing/here/{key}")
    client.get("/api/v1/users/me", params={"access_token": token, "sessionToken": "s3", "q": key})
    client.get("/api/v1/models", headers={"Authorization": f"Bearer {token}", "X-API-Key": key})
    records = "\n".join(r.getMessage() for r in caplog.records if r.name == "modelyard.access")
    output = written.getvalue()
    assert "/token_status/***/x" in records and "/token_status/***/x" in output
    for text in (records, output):
        assert token not in text
        assert key not in text and key.split("_", 1)[1] not in text
        assert "s3" not in text.replace("s3://", "")


def test_credentials_in_any_logged_text_are_redacted(
    account: Account, written: io.StringIO
) -> None:
    log = logging.getLogger("modelyard.tests.redaction")
    log.error("upstream refused Authorization: Bearer %s", account.token)
    log.warning("body was %s", {"login": "x", "password": PASSWORD})
    log.warning("retrying https://example.com/hook?token=abc123&api_key=mdy_abcdef123456")
    log.warning("broker redis://:brokerpw@127.0.0.1:6379/0 and postgresql://me:dbpw@db/x down")
    try:
        raise ValueError(f"cannot use key mdy_0123456789ab_{'z' * 43}")
    except ValueError:
        log.exception("failed")
    output = written.getvalue()
    assert account.token not in output
    assert f"'password': '{PASSWORD}'" not in output and "abc123" not in output
    assert "abcdef123456" not in output and "z" * 43 not in output
    assert "brokerpw" not in output and "dbpw" not in output
    assert "redis://:***@127.0.0.1:6379/0" in output
    assert "Authorization: Bearer ***" in output


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("GET /api/v1/models/heart/versions/2 200", "GET /api/v1/models/heart/versions/2 200"),
        ('"token_type": "bearer"', '"token_type": "bearer"'),
        (
            "request log batch failed; writing its 3 rows",
            "request log batch failed; writing its 3 rows",
        ),
    ],
)
def test_ordinary_lines_are_left_alone(text: str, kept: str) -> None:
    assert redact(text) == kept
