"""Artifact store: model files, reports, plots and datasets, kept by server-generated keys.

A local folder by default, S3 (or anything speaking its API) when the URL says ``s3://``.
Keys are made by ``new_key`` and never taken from users; every method still validates the
key it is given, so text that reaches it by mistake cannot name a file outside the store.

Every method blocks: async code calls the store from a worker thread.

A key is ``/``-separated segments of ``A-Z a-z 0-9 . _ -``. Prefixes (``list_keys``,
``delete_prefix``) are whole segments: ``models`` covers ``models/x`` but not ``models2/x``.
The local store cannot hold ``a/b`` and ``a/b/c`` at once (a file is not a folder) and
refuses the second with ``InvalidArtifactKey``; keys from ``new_key`` never collide that way.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast, runtime_checkable
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname
from uuid import uuid4

from modelyard.config import ConfigError, Settings
from modelyard.errors import BadRequest, NotFound

__all__ = [
    "ArtifactNotFound",
    "ArtifactStore",
    "InvalidArtifactKey",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "S3ArtifactStore",
    "build_artifact_store",
]

# S3 allows 1024 bytes per object name; half leaves room for the bucket prefix.
MAX_KEY_LENGTH = 512
# Filesystems allow 255 bytes per name; the temp file adds a dot and a random tail.
MAX_SEGMENT_LENGTH = 200
_COPY_CHUNK = 1024 * 1024
# delete_objects takes at most this many keys per call.
_S3_DELETE_BATCH = 1000

# A leading dot is refused so keys never name hidden files, which is where temp files live.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_NAMESPACE = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")
_SUFFIX = re.compile(r"[a-z0-9._/-]*")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}")


class ArtifactNotFound(NotFound):
    """No artifact is stored under the key."""

    code = "artifact_not_found"
    message = "Artifact not found"


class InvalidArtifactKey(BadRequest):
    """The key (or prefix, namespace, suffix) could name something outside the store."""

    code = "invalid_artifact_key"
    message = "Invalid artifact key"


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


def _shown(text: str) -> str:
    # The text may be user input that reached us by mistake; keep the message short.
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _validate_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidArtifactKey("an artifact key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArtifactKey(f"artifact key longer than {MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if len(segment) > MAX_SEGMENT_LENGTH or not _SEGMENT.fullmatch(segment):
            raise InvalidArtifactKey(
                f"invalid artifact key {_shown(key)}: segments are letters, digits, '.', '_', '-',"
                " not empty and not starting with '.'"
            )
    return key


def _validate_prefix(prefix: str, *, allow_empty: bool) -> str:
    stripped = prefix.rstrip("/") if isinstance(prefix, str) else prefix
    if stripped == "" and allow_empty:
        return ""
    return _validate_key(stripped)


def _new_key(namespace: str, suffix: str) -> str:
    if not _NAMESPACE.fullmatch(namespace):
        raise InvalidArtifactKey(
            f"invalid namespace {_shown(namespace)}: use lowercase letters, digits, '-', '_', '/'"
        )
    if not _SUFFIX.fullmatch(suffix):
        raise InvalidArtifactKey(
            f"invalid suffix {_shown(suffix)}: use lowercase letters, digits, '.', '-', '_', '/'"
        )
    return _validate_key(f"{namespace}/{uuid4().hex}{suffix}")


def _is_key(relative: str) -> bool:
    try:
        _validate_key(relative)
    except InvalidArtifactKey:
        return False
    return True


def _not_found(key: str) -> ArtifactNotFound:
    return ArtifactNotFound(f"artifact {key!r} not found", details={"key": key})


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


class S3ArtifactStore:
    """Artifacts as objects in an S3 bucket (or MinIO and the like), under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        # boto3 is the optional ``s3`` extra, so the import waits until an S3 store is built.
        try:
            import boto3
            from botocore.exceptions import ClientError
        except ImportError as exc:
            raise ConfigError(
                "the S3 artifact store needs boto3: pip install 'modelyard[s3]'"
            ) from exc
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError(f"invalid S3 bucket name {bucket!r}")
        prefix = prefix.strip("/")
        if prefix and not _is_key(prefix):
            raise ConfigError(f"invalid S3 key prefix {prefix!r}")
        self.bucket = bucket
        self.prefix = prefix
        self._client_error: type[Exception] = ClientError
        self._client: Any = (
            client if client is not None else boto3.client("s3", endpoint_url=endpoint_url)
        )

    def __repr__(self) -> str:
        return f"S3ArtifactStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def new_key(self, namespace: str, suffix: str = "") -> str:
        """Return a fresh key ``namespace/<random hex><suffix>``."""
        return _new_key(namespace, suffix)

    def _object(self, key: str) -> str:
        _validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _is_missing(self, exc: Exception) -> bool:
        if not isinstance(exc, self._client_error):
            return False
        error = getattr(exc, "response", {}).get("Error", {})
        return str(error.get("Code")) in {"NoSuchKey", "NotFound", "404"}

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any artifact there, atomically."""
        self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``; large files go up in parts."""
        self._client.upload_file(str(path), self.bucket, self._object(key))

    def get_bytes(self, key: str) -> bytes:
        """Return the artifact's content."""
        with self.open_read(key) as body:
            return body.read()

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """Stream the artifact from S3; the stream is not seekable."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._object(key))
        except Exception as exc:
            if self._is_missing(exc):
                raise _not_found(key) from exc
            raise
        body = response["Body"]
        try:
            # botocore's StreamingBody is an io.IOBase that checks the length it was promised.
            yield cast(BinaryIO, body)
        finally:
            body.close()

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Download the artifact to a temp file, removed when the block ends."""
        object_key = self._object(key)
        with tempfile.TemporaryDirectory(prefix="modelyard-artifact-") as directory:
            # Keep the file name: some loaders choose the format by its suffix.
            path = Path(directory) / key.rsplit("/", 1)[-1]
            try:
                self._client.download_file(self.bucket, object_key, str(path))
            except Exception as exc:
                if self._is_missing(exc):
                    raise _not_found(key) from exc
                raise
            yield path

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._client.head_object(
                Bucket=self.bucket, Key=self._object(key)
            )
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under ``key``."""
        return self._head(key) is not None

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes."""
        head = self._head(key)
        if head is None:
            raise _not_found(key)
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing one is not an error."""
        self._client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under ``prefix`` and return how many were removed."""
        prefix = _validate_prefix(prefix, allow_empty=False)
        removed = 0
        for page in self._pages(prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(objects), _S3_DELETE_BATCH):
                batch = objects[start : start + _S3_DELETE_BATCH]
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                errors = response.get("Errors", [])
                removed += len(batch) - len(errors)
                if errors:
                    first = errors[0]
                    raise OSError(
                        f"S3 refused to delete {len(errors)} of {len(batch)} objects under "
                        f"{prefix!r} (after {removed} removed); first: {first.get('Key')!r} "
                        f"{first.get('Code')}: {first.get('Message')}"
                    )
        return removed

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix`` (every key when it is empty)."""
        prefix = _validate_prefix(prefix, allow_empty=True)
        cut = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in self._pages(prefix):
            for item in page.get("Contents", []):
                key = item["Key"][cut:]
                # Objects written by other tools (folder markers, odd names) are not ours.
                if _is_key(key):
                    keys.append(key)
        return sorted(keys)

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        parts = [part for part in (self.prefix, prefix) if part]
        listed = "/".join(parts) + "/" if parts else ""
        paginator = self._client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=listed)


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


def build_artifact_store(settings: Settings) -> ArtifactStore:
    """Build the store ``settings.artifact_url`` names: a folder, ``file:///path``, ``s3://``."""
    url = settings.artifact_url.strip()
    endpoint = settings.storage.s3_endpoint_url
    if url.startswith("s3://"):
        return _s3_store(url, endpoint)
    if endpoint:
        # Otherwise a deployment meant for MinIO would quietly keep artifacts on one disk.
        raise ConfigError(
            f"s3_endpoint_url is set but the artifact URL {url!r} is not s3://bucket/prefix"
        )
    if url.startswith("file://"):
        root = _file_url_path(url)
    elif _URL_SCHEME.match(url):
        raise ConfigError(
            f"unsupported artifact URL {url!r}: use a folder path, file:///path or "
            "s3://bucket/prefix"
        )
    elif not url:
        raise ConfigError("the artifact URL is empty: use a folder path or s3://bucket/prefix")
    else:
        root = Path(url)
    try:
        return LocalArtifactStore(root)
    except OSError as exc:
        raise ConfigError(f"cannot use {str(root)!r} as the artifact folder: {exc}") from exc


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise ConfigError(f"invalid artifact URL {url!r}: use file:///absolute/path")
    path = Path(url2pathname(unquote(parts.path)))
    if not parts.path or not path.is_absolute():
        raise ConfigError(f"invalid artifact URL {url!r}: use file:///absolute/path")
    return path


def _s3_store(url: str, endpoint: str | None) -> S3ArtifactStore:
    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"invalid artifact URL {url!r}: use s3://bucket/prefix")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"s3_endpoint_url {endpoint!r} must start with http:// or https://")
    return S3ArtifactStore(parts.netloc, unquote(parts.path), endpoint_url=endpoint or None)
