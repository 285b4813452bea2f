"""The app's artifact store as a route dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modelyard.storage.base import ArtifactStore

__all__ = ["ArtifactsDep"]


def get_artifacts(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifacts
    return store


ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
