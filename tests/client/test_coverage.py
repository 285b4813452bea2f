"""Every native operation of the server's /openapi.json has a client method, in both clients,
and no method names an operation the server does not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from modelyard_client import AsyncClient, Client
from modelyard_client.operations import operations_of

CLIENT_ROOT = Path(__file__).resolve().parents[2] / "client"
# Operations of the native API a client has no use for, each with the reason.
EXCLUDED: dict[tuple[str, str], str] = {}


def _native_operations(document: dict[str, object]) -> set[tuple[str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (method.upper(), path)
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_native_operation_has_a_client_method(server_url: str) -> None:
    document = httpx.get(f"{server_url}/openapi.json", timeout=30).json()
    native = _native_operations(document)
    assert len(native) > 50  # the document is the whole API, not an empty one
    for cls in (Client, AsyncClient):
        covered = operations_of(cls)
        missing = sorted(native - set(covered) - set(EXCLUDED))
        assert not missing, f"{cls.__name__} has no method for {missing}"
        unknown = sorted(set(covered) - native)
        assert not unknown, f"{cls.__name__} marks operations the server lacks: {unknown}"
    assert operations_of(Client) == operations_of(AsyncClient)


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    result = subprocess.run(
        [sys.executable, str(CLIENT_ROOT / "scripts" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
