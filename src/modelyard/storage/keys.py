"""Artifact keys: validation of keys, prefixes, namespaces and suffixes, and new keys."""

from __future__ import annotations

import re
from uuid import uuid4

from modelyard.errors import BadRequest, NotFound

# S3 allows 1024 bytes per object name; half leaves room for the bucket prefix.
MAX_KEY_LENGTH = 512
# Filesystems allow 255 bytes per name; the temp file adds a dot and a random tail.
MAX_SEGMENT_LENGTH = 200

# A leading dot is refused so keys never name hidden files, which is where temp files live.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_NAMESPACE = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")
_SUFFIX = re.compile(r"[a-z0-9._/-]*")


class ArtifactNotFound(NotFound):
    """No artifact is stored under the key."""

    code = "artifact_not_found"
    message = "Artifact not found"


class InvalidArtifactKey(BadRequest):
    """The key (or prefix, namespace, suffix) could name something outside the store."""

    code = "invalid_artifact_key"
    message = "Invalid artifact key"


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
