"""Artifacts in memory, for tests."""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from modelyard.storage.keys import (
    InvalidArtifactKey,
    _new_key,
    _not_found,
    _validate_key,
    _validate_prefix,
)


class MemoryArtifactStore:
    """Artifacts in a dict, for tests; refuses what the local store refuses."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def new_key(self, namespace: str, suffix: str = "") -> str:
        """Return a fresh key ``namespace/<random hex><suffix>``."""
        return _new_key(namespace, suffix)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a copy of ``data`` under ``key``."""
        _validate_key(key)
        with self._lock:
            if any(existing.startswith(key + "/") for existing in self._items):
                raise InvalidArtifactKey(f"artifact key {key!r} is a prefix of other artifacts")
            parts = key.split("/")
            for end in range(1, len(parts)):
                if "/".join(parts[:end]) in self._items:
                    raise InvalidArtifactKey(
                        f"artifact key {key!r} lies under an existing artifact"
                    )
            self._items[key] = bytes(data)

    def put_file(self, key: str, path: Path) -> None:
        """Store the content of the file at ``path`` under ``key``."""
        self.put_bytes(key, Path(path).read_bytes())

    def get_bytes(self, key: str) -> bytes:
        """Return the artifact's content."""
        _validate_key(key)
        with self._lock:
            data = self._items.get(key)
        if data is None:
            raise _not_found(key)
        return data

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Open the artifact for reading."""
        with io.BytesIO(self.get_bytes(key)) as handle:
            yield handle

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Write the artifact to a temp file, removed when the block ends."""
        data = self.get_bytes(key)
        with tempfile.TemporaryDirectory(prefix="modelyard-artifact-") as directory:
            path = Path(directory) / key.rsplit("/", 1)[-1]
            path.write_bytes(data)
            yield path

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under ``key``."""
        _validate_key(key)
        with self._lock:
            return key in self._items

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes."""
        return len(self.get_bytes(key))

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing one is not an error."""
        _validate_key(key)
        with self._lock:
            self._items.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under ``prefix`` and return how many were removed."""
        prefix = _validate_prefix(prefix, allow_empty=False)
        with self._lock:
            doomed = [key for key in self._items if key.startswith(prefix + "/")]
            for key in doomed:
                del self._items[key]
        return len(doomed)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix`` (every key when it is empty)."""
        prefix = _validate_prefix(prefix, allow_empty=True)
        start = prefix + "/" if prefix else ""
        with self._lock:
            return sorted(key for key in self._items if key.startswith(start))
