"""A profile's API key goes only to that profile's server: another URL gets no stored key."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard_client import Client
from modelyard_client.commands import main
from modelyard_client.config import resolve, write_profile
from modelyard_client.errors import NotFound

SECRET = "mdy_abc_SECRETKEYFORTHEREALSERVER"


class _RecordingServer(http.server.ThreadingHTTPServer):
    credentials: list[tuple[str, str | None, str | None]]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request 404 in the API's error shape, noting the credentials it carried."""

    server: _RecordingServer

    def _answer(self) -> None:
        self.server.credentials.append(
            (self.path, self.headers.get("Authorization"), self.headers.get("X-API-Key"))
        )
        body = b'{"error":{"code":"not_found","message":"nothing here"}}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[_RecordingServer]:
    server = _RecordingServer(("127.0.0.1", 0), _Recorder)
    server.credentials = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _url(server: _RecordingServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_url_not_the_profiles_gets_no_key_from_it(
    own_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("default", "https://modelyard.company.internal", SECRET)
    assert resolve("http://elsewhere:8000").api_key is None
    assert resolve("https://modelyard.company.internal/").api_key == SECRET
    assert resolve().api_key == SECRET
    monkeypatch.setenv("MODELYARD_URL", "http://elsewhere:8000")
    assert resolve().api_key is None
    # A key the caller gave goes where the caller said.
    assert resolve(api_key="given").api_key == "given"
    # An empty key is an explicit "none", not "take the profile's".
    assert resolve("https://modelyard.company.internal", "").api_key is None


def test_client_and_cli_send_no_stored_key_to_another_server(
    own_config: Path, other_server: _RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("default", "https://modelyard.company.internal", SECRET)
    url = _url(other_server)
    with Client(url) as client:
        assert client.api_key is None
        with pytest.raises(NotFound):
            client.me()
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    login = ["login", "--url", url, "--login", "me@example.com", "--password-stdin"]
    assert main(login) != 0
    assert main(["models", "list", "--url", url]) != 0
    monkeypatch.setenv("MODELYARD_URL", url)
    assert main(["models", "list"]) != 0
    assert len(other_server.credentials) >= 4
    assert all(
        authorization is None and api_key is None
        for _path, authorization, api_key in other_server.credentials
    ), other_server.credentials


def test_the_profiles_own_server_still_gets_its_key(
    own_config: Path, other_server: _RecordingServer
) -> None:
    url = _url(other_server)
    write_profile("default", url, SECRET)
    assert main(["models", "list"]) != 0
    assert main(["models", "list", "--url", url + "/"]) != 0
    assert [auth for _path, auth, _key in other_server.credentials] == [f"Bearer {SECRET}"] * 2
