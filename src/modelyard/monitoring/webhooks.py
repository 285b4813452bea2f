"""Monitor webhooks: the URL checked against SSRF, the body signed, each try recorded.

A webhook URL must be http(s) and every address its host resolves to must be public: no
loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved,
multicast or unspecified address, unless the operator allows them
(``MODELYARD_MONITORING_ALLOW_PRIVATE_WEBHOOKS``). The check runs when the monitor is created
and again before each delivery, so a name that later resolves to an inner address (DNS
rebinding) is refused then. Redirects are not followed.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
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


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool, resolve: Resolver = _resolve) -> str:
    """The URL, if a webhook may be sent to it; ``UnsafeWebhook`` (422) otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhook("the webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeWebhook("the webhook URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeWebhook(f"the webhook URL's port is invalid: {exc}") from exc
    if allow_private:
        return url
    addresses = resolve(parts.hostname, port)
    refused = [a for a in addresses if not _public(a)]
    if refused or not addresses:
        raise UnsafeWebhook(
            f"the webhook host {parts.hostname!r} resolves to a private, loopback or "
            "link-local address; an operator may allow it",
            details={"addresses": refused},
        )
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
    """POST ``payload`` until a 2xx answer or ``attempts`` tries; each try is ``record``ed."""
    body = orjson.dumps(payload)
    wait = backoff
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                check_url(url, allow_private=allow_private)
                timestamp = str(int(time.time()))
                response = client.post(
                    url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        TIMESTAMP_HEADER: timestamp,
                        SIGNATURE_HEADER: sign(secret, timestamp, body),
                        "User-Agent": "modelyard-monitor",
                    },
                )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"answered {status}"
            except UnsafeWebhook as exc:
                error = exc.message
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            ok = error is None
            record(Attempt(attempt, status, error, ok))
            if ok:
                return True
            if attempt < attempts:
                sleep(wait)
                wait *= 2
    return False
