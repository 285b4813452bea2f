"""Artifacts as objects in an S3 bucket; boto3 is imported only when a store is built."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from modelyard.config import ConfigError
from modelyard.storage.keys import (
    _is_key,
    _new_key,
    _not_found,
    _validate_key,
    _validate_prefix,
)

# delete_objects takes at most this many keys per call.
_S3_DELETE_BATCH = 1000

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}")


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
