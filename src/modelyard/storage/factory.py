"""Build the artifact store that the settings name."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from modelyard.config import ConfigError, Settings
from modelyard.storage.base import ArtifactStore
from modelyard.storage.local import LocalArtifactStore
from modelyard.storage.s3 import S3ArtifactStore

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


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
