"""Monitor webhooks: the URL checked against SSRF, the body signed, each try recorded.

A webhook URL must be http(s) and every address its host resolves to must be public: no
loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved,
multicast or unspecified address, unless the operator allows them
(``MODELYARD_MONITORING_ALLOW_PRIVATE_WEBHOOKS``). The check runs when the monitor is created
and again before each delivery try, which then connects to the very address it checked (the
name goes in ``Host`` and in TLS SNI and the certificate check), so a name that resolves to an
inner address the second time (DNS rebinding) never reaches it. Redirects are not followed; no
proxy is taken from the environment. A try lasts at most the webhook timeout in all and reads
at most a few KB of the answer, so a receiver that drips or floods cannot hold a job thread.

A delivery is a POST of JSON, signed with HMAC-SHA256 over ``<timestamp>.<body>`` with the
monitor's secret: headers ``X-Modelyard-Timestamp`` and ``X-Modelyard-Signature:
sha256=<hex>`` (the receiver recomputes it and compares in constant time; the timestamp lets
it refuse replays). A try that fails (no answer, or a status other than 2xx) is retried after
``backoff``, doubled each time, up to ``attempts`` tries.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import orjson

from modelyard.monitoring.exceptions import UnsafeWebhook

__all__ = ["Attempt", "check_url", "deliver", "sign"]

SIGNATURE_HEADER = "X-Modelyard-Signature"
TIMESTAMP_HEADER = "X-Modelyard-Timestamp"
Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeWebhook(f"the webhook host {host!r} cannot be resolved: {exc}") from exc
    return [str(info[4][0]) for info in infos]


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo, IPv4-compatible):
    the one a packet to it reaches in the end, so the one to check."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in _NAT64) or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the address checked, connected to as is (no second lookup)."""

    url: str
    host: str
    name: str
    address: str


def _target(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhook("the webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeWebhook("the webhook URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhook(f"the webhook URL's port is invalid: {exc}") from exc
    # ``_resolve`` looked up at call time, so that a test can stand in for DNS.
    addresses = (resolve or _resolve)(parts.hostname, port)
    refused = [a for a in addresses if not _public(a)]
    if not addresses or (refused and not allow_private):
        raise UnsafeWebhook(
            f"the webhook host {parts.hostname!r} resolves to a private, loopback or "
            "link-local address; an operator may allow it",
            details={"addresses": refused},
        )
    address = addresses[0].split("%")[0]
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    ip_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url=ip_url, host=parts.netloc, name=parts.hostname, address=address)


def check_url(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> str:
    """The URL, if a webhook may be sent to it; ``UnsafeWebhook`` (422) otherwise."""
    parts = urlsplit(url)
    if allow_private and parts.scheme in ("http", "https") and parts.hostname:
        # Allowed inner hosts need not resolve from the API process (only syntax is checked).
        if parts.username or parts.password:
            raise UnsafeWebhook("the webhook URL must not carry credentials")
        try:
            _ = parts.port
        except ValueError as exc:
            raise UnsafeWebhook(f"the webhook URL's port is invalid: {exc}") from exc
        return url
    _target(url, allow_private=allow_private, resolve=resolve)
    return url


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True)
class Attempt:
    attempt: int
    status_code: int | None
    error: str | None
    ok: bool


def deliver(
    url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    attempts: int,
    backoff: float,
    timeout: float,
    allow_private: bool,
    record: Callable[[Attempt], None],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``payload`` until a 2xx answer or ``attempts`` tries; each try is ``record``ed.

    Each try resolves the host once, checks every address and connects to the checked one
    (the name goes in ``Host`` and, for https, in SNI and the certificate check), so a DNS
    answer that changes between check and connect cannot reach an inner address. A try
    lasts at most ``timeout`` seconds in all, however slowly the receiver answers, and
    reads at most ``MAX_ANSWER_BYTES`` of the answer.
    """
    body = orjson.dumps(payload)
    wait = backoff
    for attempt in range(1, attempts + 1):
        status: int | None = None
        error: str | None = None
        try:
            target = _target(url, allow_private=allow_private)
            status = _post_once(target, _signed_headers(secret, body), body, timeout)
            if not 200 <= status < 300:
                error = f"answered {status}"
        except UnsafeWebhook as exc:
            error = exc.message
        except (*_HTTP_ERRORS, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        ok = error is None
        record(Attempt(attempt, status, error, ok))
        if ok:
            return True
        if attempt < attempts:
            sleep(wait)
            wait *= 2
    return False


MAX_ANSWER_BYTES = 4096
_HTTP_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def _signed_headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "User-Agent": "modelyard-monitor",
    }


def _post_once(target: Target, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """One POST to the checked address; its status. Never longer than ``timeout`` in all."""
    deadline = time.monotonic() + timeout
    extensions: dict[str, Any] = {
        "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    }
    if target.url.startswith("https:"):
        extensions["sni_hostname"] = target.name
    # httpcore, not httpx: no proxy or netrc from the environment, and a network backend whose
    # every read and write is cut to the time left (a receiver dripping one byte a second
    # would otherwise reset a per-read timeout forever).
    with (
        httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=_DeadlineBackend(deadline),
            max_connections=1,
        ) as pool,
        pool.stream(
            "POST",
            target.url,
            headers=[*headers.items(), ("Host", target.host)],
            content=body,
            extensions=extensions,
        ) as response,
    ):
        read = 0
        for chunk in response.iter_stream():
            read += len(chunk)
            if read >= MAX_ANSWER_BYTES:
                break
        return int(response.status)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the webhook's time is up")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the webhook's time is up")
        stream = super().connect_tcp(
            host,
            port,
            left if timeout is None else min(timeout, left),
            local_address,
            socket_options,
        )
        return _DeadlineStream(stream, self._deadline)
