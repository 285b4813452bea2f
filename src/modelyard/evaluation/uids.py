"""Confusion matrices' uids: 128 random bits from the system's generator, read in bulk.

``secrets.token_urlsafe(16)`` reads ``os.urandom`` once per uid: a system call that lets go of
the GIL, so every small create handed the interpreter to another thread (the group commit's
writer) and waited to get it back, most of a create's cost on a busy server. The same bytes
read 4 KiB at a time cost one system call per 256 uids. A forked child starts with a new
buffer (never its parent's bytes, which would repeat the parent's next uids).
"""

from __future__ import annotations

import base64
import os
import threading

__all__ = ["new_uid"]

_UID_BYTES = 16
_BUFFER_BYTES = 256 * _UID_BYTES


class _RandomBytes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer = os.urandom(_BUFFER_BYTES)
                self._offset = 0
            start = self._offset
            self._offset = start + count
            return self._buffer[start : self._offset]

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0


_random = _RandomBytes()
os.register_at_fork(after_in_child=_random.forget)


def new_uid() -> str:
    """22 URL-safe characters, as ``secrets.token_urlsafe(16)`` gives."""
    return base64.urlsafe_b64encode(_random.take(_UID_BYTES)).rstrip(b"=").decode("ascii")
