"""HTTP face of the registry: upload versions, read them, alias and delete them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep
from modelyard.errors import InvalidInput
from modelyard.pagination import PageParamsDep
from modelyard.registry import service
from modelyard.registry.dependencies import (
    AliasName,
    ArtifactsDep,
    ModelName,
    OwnerId,
    SettingsDep,
    VersionRef,
)
from modelyard.registry.exceptions import ModelFileTooLarge
from modelyard.registry.schemas import (
    MODEL_NAME_PATTERN,
    AliasRead,
    AliasSet,
    ModelRead,
    ModelVersionRead,
)
from modelyard.schemas import Page

__all__ = ["router"]

router = APIRouter(tags=["models"])


def _read(upload: UploadFile | None, limit: int, what: str) -> bytes | None:
    if upload is None:
        return None
    # One byte past the limit is enough to know it is too large, without reading it all.
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ModelFileTooLarge(f"the {what} is larger than {limit} bytes")
    return data


def _schema_document(upload: UploadFile | None, limit: int) -> Any:
    data = _read(upload, limit, "input schema")
    if data is None:
        return None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the input schema is not JSON: {exc}") from exc


def _tags(values: list[str]) -> list[str]:
    tags = {t.strip() for value in values for t in value.split(",") if t.strip()}
    if any(len(t) > 100 for t in tags) or len(tags) > 50:
        raise InvalidInput("at most 50 tags of at most 100 characters")
    return sorted(tags)


@router.post("/models", response_model=ModelVersionRead, status_code=status.HTTP_201_CREATED)
def register_version(
    session: SessionDep,
    user: CurrentUser,
    store: ArtifactsDep,
    settings: SettingsDep,
    name: Annotated[str, Form(pattern=MODEL_NAME_PATTERN)],
    file: Annotated[UploadFile, File(description="The model: skops, ONNX (or pickle/joblib).")],
    format: Annotated[str, Form(description="auto, skops, onnx, pickle or joblib.")] = "auto",
    description: Annotated[str | None, Form(max_length=5000)] = None,
    tags: Annotated[list[str] | None, Form(description="Repeat, or comma-separated.")] = None,
    input_schema: Annotated[UploadFile | None, File(description="input_schema.json")] = None,
    sample: Annotated[UploadFile | None, File(description="Training data sample (CSV).")] = None,
) -> ModelVersionRead:
    """Register a new version of one of your models (the model is created on first upload)."""
    limits = settings.registry
    upload = service.Upload(
        name=name,
        data=_read(file, limits.max_model_bytes, "model file") or b"",
        model_format=format,
        description=description,
        tags=_tags(tags or []),
        input_schema=_schema_document(input_schema, 1024 * 1024),
        sample=_read(sample, limits.max_sample_bytes, "sample"),
    )
    return service.register_version(session, store, limits, user, upload)


@router.get("/models", response_model=Page[ModelRead])
def list_models(session: SessionDep, user: CurrentUser, page: PageParamsDep) -> Page[ModelRead]:
    """List your models (every model for an admin)."""
    return service.list_models(session, user, limit=page.limit, offset=page.offset)


@router.get("/models/{name}", response_model=ModelRead)
def get_model(
    name: ModelName, session: SessionDep, user: CurrentUser, owner_id: OwnerId = None
) -> ModelRead:
    """Show a model: its versions and aliases."""
    return service.get_model(session, user, name, owner_id)


@router.get("/models/{name}/versions", response_model=Page[ModelVersionRead])
def list_versions(
    name: ModelName,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    owner_id: OwnerId = None,
) -> Page[ModelVersionRead]:
    """List a model's versions, newest first."""
    return service.list_versions(
        session, user, name, owner_id, limit=page.limit, offset=page.offset
    )


@router.get("/models/{name}/versions/{version}", response_model=ModelVersionRead)
def get_version(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ModelVersionRead:
    """Show one version (by number, alias or `latest`)."""
    return service.get_version(session, user, name, version, owner_id)


@router.delete("/models/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete_version(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    store: ArtifactsDep,
    owner_id: OwnerId = None,
) -> Response:
    """Delete a version, its files and the aliases pointing at it."""
    service.delete_version(session, store, user, name, version, owner_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/models/{name}/versions/{version}/quarantine",
    response_model=ModelVersionRead,
    responses={404: {"description": "No such version, or it is not quarantined."}},
)
def clear_quarantine(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ModelVersionRead:
    """Serve a quarantined version again (its owner or an admin)."""
    return service.clear_quarantine(session, user, name, version, owner_id)


@router.put("/models/{name}/aliases/{alias}", response_model=AliasRead)
def set_alias(
    name: ModelName,
    alias: AliasName,
    body: AliasSet,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> AliasRead:
    """Point an alias (e.g. `production`) at a version."""
    return service.set_alias(session, user, name, alias, body.version, owner_id)


@router.delete("/models/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias(
    name: ModelName,
    alias: AliasName,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> Response:
    """Remove an alias."""
    service.delete_alias(session, user, name, alias, owner_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
