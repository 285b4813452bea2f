"""Typed dependencies of the registry's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from modelyard.config import Settings
from modelyard.pagination import MAX_ID
from modelyard.registry.schemas import ALIAS_PATTERN, MODEL_NAME_PATTERN, VERSION_REF_PATTERN
from modelyard.storage.dependencies import ArtifactsDep

__all__ = ["AliasName", "ArtifactsDep", "ModelName", "OwnerId", "SettingsDep", "VersionRef"]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="The model's name.")]
VersionRef = Annotated[
    str,
    Path(
        pattern=VERSION_REF_PATTERN,
        description="A version number, an alias, or `latest`.",
    ),
]
AliasName = Annotated[str, Path(pattern=ALIAS_PATTERN, description="An alias, e.g. production.")]
OwnerId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Admins: whose model, when several users use the name."),
]
