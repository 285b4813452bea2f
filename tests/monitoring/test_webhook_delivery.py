"""Webhook delivery against hostile receivers: a DNS answer that changes between check and
connect (rebinding), an answer dripped a byte at a time, an answer of many megabytes."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from modelyard.monitoring import webhooks
from modelyard.monitoring.webhooks import Attempt

PUBLIC = "93.184.216.34"


class _Receiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.requests_seen: list[bytes] = []
        self.sent = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(socketserver.BaseRequestHandler):
    server: _Receiver

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            head += chunk
        self.server.requests_seen.append(head)
        with suppress(OSError):  # the client hung up: what a bounded client does
            self.server.answer(self.request)


@contextmanager
def receiver(answer: Callable[[socket.socket], None]) -> Iterator[_Receiver]:
    server = _Receiver(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def ok_answer(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def deliver(url: str, *, allow_private: bool, timeout: float = 2.0) -> list[Attempt]:
    attempts: list[Attempt] = []
    webhooks.deliver(
        url,
        "s" * 16,
        {"alert": 1},
        attempts=1,
        backoff=0,
        timeout=timeout,
        allow_private=allow_private,
        record=attempts.append,
    )
    return attempts


def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The system resolver itself is stood in for (for this one name), so that every lookup
    # (the check's and any the HTTP client would make) sees the rebinding answers.
    real_getaddrinfo = socket.getaddrinfo
    lookups = [0]

    def rebinding_dns(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "rebind.attacker.test":
            return list(real_getaddrinfo(host, port, *args, **kwargs))
        lookups[0] += 1
        address = PUBLIC if lookups[0] == 1 else "127.0.0.1"  # TTL 0: public, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    with receiver(ok_answer) as server:
        attempts = deliver(f"http://rebind.attacker.test:{server.port}/x", allow_private=False)
    assert server.requests_seen == []
    assert not attempts[0].ok
    assert lookups[0] == 1


def test_the_checked_address_is_connected_to_with_the_name_as_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(webhooks, "_resolve", resolve)
    with receiver(ok_answer) as server:
        attempts = deliver(f"http://hooks.internal.test:{server.port}/x", allow_private=True)
    assert attempts[0].ok, attempts
    assert looked_up == ["hooks.internal.test"]
    assert f"host: hooks.internal.test:{server.port}".encode() in server.requests_seen[0].lower()


def drip_body(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(100):
        sock.sendall(b"x")
        time.sleep(0.1)


def drip_headers(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100):
        sock.sendall(b"X-Drip: 1\r\n")
        time.sleep(0.1)


@pytest.mark.parametrize("answer", [drip_body, drip_headers])
def test_a_dripping_receiver_cannot_hold_a_try_past_its_timeout(
    answer: Callable[[socket.socket], None],
) -> None:
    with receiver(answer) as server:
        started = time.monotonic()
        attempts = deliver(f"http://127.0.0.1:{server.port}/x", allow_private=True, timeout=0.5)
        took = time.monotonic() - started
    assert took < 3, took  # the drip lasts 10 s; each read alone would never time out
    assert len(attempts) == 1


def test_a_huge_answer_is_not_read() -> None:
    size = 64 * 1024 * 1024
    block = b"A" * 65536
    sent = [0]

    def huge(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        while sent[0] < size:
            sock.sendall(block)
            sent[0] += len(block)

    with receiver(huge) as server:
        attempts = deliver(f"http://127.0.0.1:{server.port}/x", allow_private=True)
    assert attempts[0].ok, attempts
    assert sent[0] < 16 * 1024 * 1024, sent[0]  # socket buffers, not the 64 MB
