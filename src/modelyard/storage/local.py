"""Artifacts as files under one local folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from modelyard.storage.keys import (
    InvalidArtifactKey,
    _is_key,
    _new_key,
    _not_found,
    _validate_key,
    _validate_prefix,
)

_COPY_CHUNK = 1024 * 1024


def _fsync_directory(directory: Path) -> None:
    # Without this the rename itself may be lost in a power cut, leaving the old file.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalArtifactStore:
    """Artifacts as files under one folder; writes go to a temp file, then ``os.replace``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalArtifactStore(root={str(self.root)!r})"

    def new_key(self, namespace: str, suffix: str = "") -> str:
        """Return a fresh key ``namespace/<random hex><suffix>``."""
        return _new_key(namespace, suffix)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_validate_key(key).split("/"))

    def _write(self, key: str, fill: Callable[[BinaryIO], None]) -> None:
        path = self._path(key)
        if path.is_dir():
            raise InvalidArtifactKey(f"artifact key {key!r} is a prefix of other artifacts")
        fd, tmp = self._make_temp(key, path)
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)

    def _make_temp(self, key: str, path: Path) -> tuple[int, str]:
        # A concurrent delete may prune the (empty) folder between mkdir and mkstemp.
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Same folder as the target, so os.replace never crosses a filesystem. The file
                # is created 0600: artifacts are readable by the service's own user only.
                return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            except (FileExistsError, NotADirectoryError) as exc:
                raise InvalidArtifactKey(
                    f"artifact key {key!r} lies under an existing artifact"
                ) from exc
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any artifact there, atomically."""

        def write(handle: BinaryIO) -> None:
            handle.write(data)

        self._write(key, write)

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key`` without reading it whole into memory."""

        def copy(handle: BinaryIO) -> None:
            with Path(path).open("rb") as source:
                shutil.copyfileobj(source, handle, _COPY_CHUNK)

        self._write(key, copy)

    def get_bytes(self, key: str) -> bytes:
        """Return the artifact's content."""
        with self.open_read(key) as handle:
            return handle.read()

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Open the artifact for reading."""
        path = self._path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _not_found(key) from exc
        with handle:
            yield handle

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Give the artifact's own file; do not modify it."""
        path = self._path(key)
        if not path.is_file():
            raise _not_found(key)
        yield path

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under ``key``."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes."""
        path = self._path(key)
        if not path.is_file():
            raise _not_found(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing one is not an error."""
        path = self._path(key)
        if path.is_dir():
            return
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        self._prune_upwards(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under ``prefix`` and return how many were removed."""
        prefix = _validate_prefix(prefix, allow_empty=False)
        top = self.root.joinpath(*prefix.split("/"))
        removed = 0
        for key in self._walk(prefix):
            try:
                self._path(key).unlink()
            except FileNotFoundError:
                continue
            removed += 1
        if top.is_dir():
            for directory, _, _ in os.walk(top, topdown=False):
                self._rmdir_if_empty(Path(directory))
        self._prune_upwards(top.parent)
        return removed

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix`` (every key when it is empty)."""
        return sorted(self._walk(_validate_prefix(prefix, allow_empty=True)))

    def _walk(self, prefix: str) -> Iterator[str]:
        top = self.root.joinpath(*prefix.split("/")) if prefix else self.root
        for directory, dirnames, filenames in os.walk(top):
            # Hidden folders and files are never keys (temp files are hidden).
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            base = Path(directory).relative_to(self.root).as_posix()
            for name in filenames:
                relative = name if base == "." else f"{base}/{name}"
                if _is_key(relative):
                    yield relative

    def _rmdir_if_empty(self, directory: Path) -> bool:
        if directory == self.root:
            return False
        try:
            directory.rmdir()
        except OSError:
            # Not empty (a temp file of a write in progress, a file we do not own) or gone.
            return False
        return True

    def _prune_upwards(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            if not self._rmdir_if_empty(directory):
                return
            directory = directory.parent
