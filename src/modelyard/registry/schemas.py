"""What the registry API takes and shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.registry.input_schema import Column

__all__ = [
    "ALIAS_PATTERN",
    "MODEL_NAME_PATTERN",
    "AliasRead",
    "AliasSet",
    "ModelRead",
    "ModelVersionRead",
    "ServingTarget",
]

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


class ModelVersionRead(BaseModel):
    """One registered version: its file, what it takes and what it is."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The version's id (hydro-visualization's model_version_id).")
    model_name: str
    version: int
    description: str | None
    tags: list[str]
    format: str
    kind: str = Field(description="classifier or regressor")
    classes: list[Any] | None
    input_schema: list[Column] | None
    schema_source: str = Field(description="given, inferred or none")
    artifact_size: int
    sha256: str
    has_sample: bool
    sample_rows: int | None
    aliases: list[str]
    created_at: datetime


class AliasRead(BaseModel):
    alias: str
    version: int


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


class ModelRead(BaseModel):
    """A registered model: its versions by number and its aliases."""

    name: str
    owner_id: int
    description: str | None
    latest_version: int | None
    versions: list[int]
    aliases: list[AliasRead]
    created_at: datetime
    updated_at: datetime


class ServingTarget(BaseModel):
    """Everything serving needs about one version, detached from the database session."""

    model_config = ConfigDict(frozen=True)

    model_id: int
    model_name: str
    owner_id: int
    version_id: int
    version: int
    format: str
    kind: str
    classes: list[Any] | None
    input_schema: list[Column] | None
    artifact_key: str
    sha256: str
    sample_key: str | None = None
    sample_rows: int | None = None
