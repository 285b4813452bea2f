"""Landlock as a model worker uses it: what a locked-in process can and cannot reach.

Each case runs in a child process, as the lock is for good."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelyard.registry import landlock

pytestmark = pytest.mark.skipif(
    landlock.abi_version() < 1, reason="this kernel has no Landlock (the worker runs unlocked)"
)


def _locked(tmp_path: Path, body: str) -> list[str]:
    """Run ``body`` in a child locked into the import path and system libraries (read) and
    ``tmp_path/own`` (write); its printed lines."""
    own = tmp_path / "own"
    own.mkdir()
    script = textwrap.dedent(
        f"""
        import os, sys
        from modelyard.registry import landlock
        read_only = [p for p in sys.path if os.path.isabs(p)] + [sys.prefix, sys.base_prefix]
        read_only += ["/usr", "/lib", "/lib64"]
        print("abi", landlock.restrict(read_only, [{str(own)!r}]))
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _attempt(expression: str) -> str:
    return textwrap.dedent(
        f"""
        try:
            {expression}
            print("allowed")
        except OSError as exc:
            print("refused", type(exc).__name__)
        """
    )


def test_a_locked_process_reads_no_file_outside_its_paths(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("the server's signing key")
    lines = _locked(tmp_path, _attempt(f"open({str(secret)!r}).read()"))
    assert lines == [f"abi {landlock.abi_version()}", "refused PermissionError"]


def test_a_locked_process_reads_no_other_process_memory_or_environment(tmp_path: Path) -> None:
    parent = os.getpid()
    lines = _locked(
        tmp_path,
        _attempt(f"open('/proc/{parent}/mem', 'rb').read(1)")
        + _attempt(f"open('/proc/{parent}/environ', 'rb').read(1)"),
    )
    assert lines[1:] == ["refused PermissionError", "refused PermissionError"]


def test_a_locked_process_writes_its_own_folder_and_imports_lazily(tmp_path: Path) -> None:
    lines = _locked(
        tmp_path,
        _attempt(f"open({str(tmp_path / 'own' / 'x')!r}, 'w').write('ok')")
        + _attempt(f"open({str(tmp_path / 'elsewhere')!r}, 'w').write('no')")
        + _attempt("import sklearn.svm"),
    )
    assert lines[1:] == ["allowed", "refused PermissionError", "allowed"]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(landlock.abi_version() < 4, reason="TCP rules came with Landlock ABI 4")
def test_a_locked_process_opens_no_tcp_connection(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        lines = _locked(
            tmp_path, _attempt(f"__import__('socket').create_connection(('127.0.0.1', {port}))")
        )
    assert lines[1:] == ["refused PermissionError"]
