"""A request's body read by a pure-ASGI fast path before the app sees the request, and handed on
to the app as it came when the fast path lets the request go."""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

__all__ = ["read_body", "replay"]


async def read_body(receive: Receive) -> bytes:
    """The whole body, as ``Request.body`` reads it (``ClientDisconnect`` if the client left)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then whatever the client sends next."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
