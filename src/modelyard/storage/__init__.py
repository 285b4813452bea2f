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

from modelyard.storage.base import ArtifactStore, delete_quietly
from modelyard.storage.factory import build_artifact_store
from modelyard.storage.keys import ArtifactNotFound, InvalidArtifactKey
from modelyard.storage.local import LocalArtifactStore
from modelyard.storage.memory import MemoryArtifactStore
from modelyard.storage.s3 import S3ArtifactStore

__all__ = [
    "ArtifactNotFound",
    "ArtifactStore",
    "InvalidArtifactKey",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "S3ArtifactStore",
    "build_artifact_store",
    "delete_quietly",
]
