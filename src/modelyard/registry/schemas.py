"""What the registry API takes and shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.registry.input_schema import Column

__all__ = [
    "ALIAS_PATTERN",
    "MODEL_NAME_PATTERN",
    "VERSION_REF_PATTERN",
    "AliasRead",
    "AliasSet",
    "ModelRead",
    "ModelVersionRead",
    "ServingOptions",
    "ServingTarget",
]

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
# How a path names a version: its number, an alias, or ``latest``.
VERSION_REF_PATTERN = r"^(?:[0-9]{1,9}|[a-z][a-z0-9_-]{0,63})$"


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
    origin: str = Field(
        default="upload",
        description="upload (a user's file), training (trained here) or operator (the CLI).",
    )
    runs_in: Literal["worker", "process"] = Field(
        default="worker",
        description="worker: a model-worker process (users' files); process: the API process "
        "(trained here, the operator's file, or marked in-process by an admin).",
    )
    quarantined_at: datetime | None = Field(
        default=None, description="Set when its workers crashed too often; predicts answer 503."
    )
    quarantine_reason: str | None = None


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


class ServingOptions(BaseModel):
    """How a version is served; a field left out (or null) takes the server's default
    (``MODELYARD_SERVING_*``). mlup's name for each knob is in its description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["direct", "queue", "batching"] | None = Field(
        default=None, description="direct, queue (bounded queue + workers) or batching."
    )
    max_queue_size: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Requests waiting (mlup: max_queue_size)."
    )
    workers: int | None = Field(
        default=None, ge=1, le=64, description="Queue: worker tasks; batching: batches at once."
    )
    max_batch_rows: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Batch size in rows (mlup: min_batch_len)."
    )
    max_wait_ms: float | None = Field(
        default=None,
        ge=0,
        le=60_000,
        description="Longest wait to fill a batch (mlup: batch_worker_timeout, in seconds).",
    )
    max_concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Requests in flight per process; more get 429 (mlup: throttling_max_requests).",
    )
    max_request_rows: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Rows in one request; more get 429 (mlup: throttling_max_request_len).",
    )
    client_wait_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="How long a client waits for a result before 408 (mlup: ttl_client_wait).",
    )
    result_ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=7 * 86400,
        description="How long an async result is kept (mlup: ttl_predicted_data).",
    )
    max_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Worker threads this version's requests use at once per process (direct "
        "mode's requests; large bodies' decoding in queue and batching); the rest wait their "
        "turn. 1 suits a CPU-bound model (one Python thread runs at a time); more, a model that "
        "releases the GIL.",
    )
    request_log: Literal["durable", "best_effort"] | None = Field(
        default=None,
        description="durable (the default): an answer is sent only once its request log entry "
        "is committed, so every answered prediction is in the log, also after the server is "
        "killed; when the log cannot be written the request gets 503 with Retry-After. "
        "best_effort: the answer does not wait for the log; entries are written in batches "
        "(every MODELYARD_SERVING_LOG_FLUSH_MS) and answers may be missing from the log after "
        "a crash, or when its queue is full or the database is down.",
    )
    in_process: bool | None = Field(
        default=None,
        description="Admins only: run this version in the API process instead of a "
        "model-worker process (faster; a crash of the model then stops the server).",
    )


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
    serving: dict[str, Any] | None = None
    sample_key: str | None = None
    sample_rows: int | None = None
    # False: the model runs in the API process (trained here, the operator's, or an admin's
    # choice); True: in model-worker processes.
    isolated: bool = True
    # Why the version is quarantined (None: it is served).
    quarantine: str | None = None
