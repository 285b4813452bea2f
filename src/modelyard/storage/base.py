"""The protocol every artifact store follows."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifacts live; keys come from ``new_key``."""

    def new_key(self, namespace: str, suffix: str = "") -> str:
        """Return a fresh key ``namespace/<random hex><suffix>``."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any artifact there, atomically."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` without reading it whole into memory."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Return the artifact's content."""
        ...

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open the artifact for streaming reads; it may not be seekable (use ``local_path``)."""
        ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """Give a real file holding the artifact, valid inside the block; do not modify it."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under ``key``."""
        ...

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes."""
        ...

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing one is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under ``prefix`` and return how many were removed."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix`` (every key when it is empty)."""
        ...


def delete_quietly(store: ArtifactStore, keys: list[str]) -> None:
    """Delete ``keys``, logging (not raising) what fails: called once the rows that named
    them are committed gone, when a leftover file is only wasted space."""
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            log.exception("could not delete artifact %s", key)
