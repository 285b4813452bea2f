"""Settings: one section per domain, read from ``MODELYARD_*`` environment variables.

Nothing here reads the environment at import time; ``Settings()`` does, when it is built.
Every section can also be built in code (tests do), so no global settings object exists.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.networks import EmailStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = [
    "AuthSettings",
    "ConfigError",
    "DatabaseSettings",
    "EvaluationSettings",
    "HttpSettings",
    "JobsSettings",
    "MonitoringSettings",
    "RegistrySettings",
    "ServingSettings",
    "Settings",
    "StorageSettings",
    "TrainingSettings",
    "VisualizationSettings",
    "default_hash_slots",
    "describe_settings_error",
    "resolve_secret_key",
]

MIN_SECRET_LENGTH = 32

# Values copied from tutorials and .env templates; a deployment that kept one would sign
# tokens anybody can forge.
KNOWN_PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "changethis",
        "change-this",
        "secret",
        "secret-key",
        "secret_key",
        "supersecret",
        "your-secret-key",
        "your_secret_key",
        "your-secret-key-here",
        "mysecretkey",
        "development",
        "dev",
        "test",
        "password",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    }
)


# users.username is 150 characters wide.
MAX_ADMIN_NAME_LENGTH = 150
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
# Schemes of the broker URL: Celery's Redis transport and the Redis store of shared state.
BROKER_SCHEMES = ("redis://", "rediss://", "unix://")


class ConfigError(Exception):
    """The settings cannot work; raised before the service starts."""


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in KNOWN_PLACEHOLDER_SECRETS:
        return True
    return any(word in lowered for word in ("changeme", "change-me", "change_me", "placeholder"))


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


class DatabaseSettings(BaseSettings):
    """Where the tables live: a SQLite file in the data folder unless a URL is given."""

    model_config = _section("MODELYARD_DATABASE_")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; postgresql://... for PostgreSQL. Default: SQLite in data_dir.",
    )
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    @field_validator("url")
    @classmethod
    def _a_usable_url(cls, value: str | None) -> str | None:
        # Found at start-up, not as a traceback from the first connection.
        if value is None:
            return None
        try:
            parsed = make_url(value)
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")  # as db.py picks it
            parsed.get_dialect()
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            kind = "not a database URL" if isinstance(exc, ArgumentError) else "no driver for"
            raise ValueError(
                f"{kind} that SQLAlchemy can use (sqlite:///path or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        return value


def default_hash_slots(memory_kib: int, parallelism: int) -> int:
    """As many argon2 hashes as the CPUs this process may run on can compute at once (each
    runs ``parallelism`` threads), at least one, and never more than fit in an eighth of the
    machine's memory (64 MiB each by default): a burst of sign-ins can take neither the CPUs
    from every other request nor the memory."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    slots = max(1, cpus // max(1, parallelism))
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return slots
    return max(1, min(slots, memory // 8 // (memory_kib * 1024)))


class AuthSettings(BaseSettings):
    """Users, passwords, tokens, API keys and the bootstrap admin."""

    model_config = _section("MODELYARD_AUTH_")

    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "secret_key", "MODELYARD_SECRET_KEY", "MODELYARD_AUTH_SECRET_KEY"
        ),
        description="Signs JWTs. When unset, a random key is generated and kept in data_dir.",
    )
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    password_min_length: int = Field(default=6, ge=1, le=128)
    password_max_length: int = Field(default=1024, ge=8, le=4096)
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Sign-in guesses per account from one client address before 429.",
    )
    login_lockout_seconds: int = Field(
        default=900, ge=1, description="The window every sign-in count covers."
    )
    login_max_failures_per_address: int = Field(
        default=50, ge=1, description="Failed sign-ins from one client address, any account."
    )
    login_max_failures_per_account: int = Field(
        default=100,
        ge=1,
        description=(
            "Failed sign-ins of one account from every address together (distributed guessing);"
            " an address that signed in to the account before is not held by it."
        ),
    )
    login_known_address_days: int = Field(
        default=30, ge=0, description="How long a successful sign-in's address stays known."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Addresses or networks of the reverse proxies whose X-Forwarded-For is believed"
            " (comma-separated, e.g. 127.0.0.1,10.0.0.0/8); none: the socket's peer is the client."
        ),
    )
    hash_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            "Password hashes at once per server process; default: the CPUs divided by"
            " argon2's parallelism (at least 1), fewer if an eighth of memory cannot hold them."
        ),
    )
    hash_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a sign-in waits for a hashing slot before 503 with Retry-After.",
    )
    hash_queue: int | None = Field(
        default=None,
        ge=0,
        le=1024,
        description="Sign-ins waiting for a slot at once; more get 503 at once. Default: 4 a slot.",
    )
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    api_key_touch_seconds: int = Field(
        default=60, ge=0, description="How stale last_used_at may get before a use rewrites it."
    )
    credential_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "How long a verified API key or JWT is trusted without asking the database (0: off)."
            " Changes made through this process apply at once; made by another replica, within"
            " this bound."
        ),
    )
    admin_email: str | None = Field(
        default=None,
        validation_alias=AliasChoices("admin_email", "MODELYARD_ADMIN_EMAIL"),
    )
    admin_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "admin_username", "MODELYARD_ADMIN_USERNAME", "PYCM_API_ADMIN"
        ),
    )
    admin_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "admin_password", "MODELYARD_ADMIN_PASSWORD", "PYCM_API_ADMIN_PASSWORD"
        ),
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for entry in value:
                try:
                    ipaddress.ip_network(str(entry), strict=False)
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @property
    def hash_slots(self) -> int:
        """Password hashes allowed at once in this process."""
        if self.hash_concurrency is not None:
            return self.hash_concurrency
        return default_hash_slots(self.argon2_memory_kib, self.argon2_parallelism)

    @property
    def hash_waiting(self) -> int:
        return self.hash_queue if self.hash_queue is not None else 4 * self.hash_slots

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if _is_placeholder(raw):
            raise ValueError("the secret key is a known placeholder; set a random one")
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(f"the secret key must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("admin_email")
    @classmethod
    def _an_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _EMAIL.validate_python(value)
        except ValidationError:
            raise ValueError("not an e-mail address") from None
        return value

    @field_validator("admin_username")
    @classmethod
    def _a_login_name(cls, value: str | None) -> str | None:
        # pycm-api's PYCM_API_ADMIN may be any name its operator chose; only what cannot work
        # as an HTTP Basic user name, or fit the column, is refused.
        if value is None:
            return None
        if not value.strip():
            raise ValueError("the admin's name is empty")
        if len(value) > MAX_ADMIN_NAME_LENGTH:
            raise ValueError(f"the admin's name is longer than {MAX_ADMIN_NAME_LENGTH} characters")
        if (
            value != value.strip()
            or ":" in value
            or any(ord(c) < 32 or ord(c) == 127 for c in value)
        ):
            raise ValueError(
                "the admin's name cannot sign in over HTTP Basic: no ':', control characters, "
                "or spaces at its ends"
            )
        return value

    @model_validator(mode="after")
    def _a_usable_admin_password(self) -> AuthSettings:
        if self.admin_password is None:
            return self
        length = len(self.admin_password.get_secret_value())
        if not self.admin_password.get_secret_value().strip() or not (
            self.password_min_length <= length <= self.password_max_length
        ):
            raise ValueError(
                f"the admin password must be {self.password_min_length}-"
                f"{self.password_max_length} characters and not only spaces "
                "(MODELYARD_ADMIN_PASSWORD or PYCM_API_ADMIN_PASSWORD)"
            )
        return self


class JobsSettings(BaseSettings):
    """Background jobs: in-process by default, Celery workers when a broker URL is set."""

    model_config = _section("MODELYARD_JOBS_")

    broker_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "broker_url", "MODELYARD_BROKER_URL", "MODELYARD_JOBS_BROKER_URL"
        ),
        description="redis://... switches jobs to Celery workers and shared state to Redis.",
    )
    executor: Literal["auto", "local", "celery"] = "auto"
    local_workers: int = Field(default=2, ge=1, le=64)
    max_attempts: int = Field(default=3, ge=1, le=20)
    queue_name: str = "modelyard"
    task_modules: list[str] = Field(
        default_factory=list,
        description="Extra modules whose job bodies are registered (plug-ins, tests).",
    )
    heartbeat_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often the process running a job marks it alive.",
    )
    stale_seconds: float = Field(
        default=45.0,
        gt=0,
        le=86400,
        description="A STARTED job not marked alive for this long lost its worker: it is "
        "re-queued (counted as an attempt) or failed.",
    )
    reap_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often the server and each worker look for such jobs.",
    )

    @model_validator(mode="after")
    def _stale_outlasts_heartbeats(self) -> JobsSettings:
        # A busy machine delays a heartbeat now and then; one missed beat must not end a job.
        if self.stale_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "MODELYARD_JOBS_STALE_SECONDS must be at least twice "
                "MODELYARD_JOBS_HEARTBEAT_SECONDS"
            )
        return self

    @field_validator("broker_url")
    @classmethod
    def _a_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(BROKER_SCHEMES):
            raise ValueError("not a Redis URL (redis://host:6379/0, rediss://... or unix://...)")
        return value

    @property
    def uses_celery(self) -> bool:
        if self.executor == "auto":
            return self.broker_url is not None
        return self.executor == "celery"


class StorageSettings(BaseSettings):
    """Artifacts (model files, reports, plots): a folder by default, S3 when the URL says so."""

    model_config = _section("MODELYARD_STORAGE_")

    artifact_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "artifact_url", "MODELYARD_ARTIFACT_URL", "MODELYARD_STORAGE_ARTIFACT_URL"
        ),
        description="A folder, file:///path or s3://bucket/prefix. Default: data_dir/artifacts.",
    )
    s3_endpoint_url: str | None = None


class HttpSettings(BaseSettings):
    """Limits and behaviour of the HTTP face."""

    model_config = _section("MODELYARD_HTTP_")

    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes sharing the port (modelyard serve --workers N).",
    )
    keepalive_requests: int = Field(
        default=100,
        ge=0,
        description="With more than one server process: a keep-alive connection is closed "
        "after this many requests, so that clients holding long-lived connections reconnect and "
        "the processes share their load (a connection stays with the process that accepted "
        "it). 0: never. One process never closes a connection for this.",
    )
    metrics_enabled: bool = True
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_page_size: int = Field(default=500, ge=1, le=10_000)


class RegistrySettings(BaseSettings):
    """Registered models: which files are accepted and how they are loaded."""

    model_config = _section("MODELYARD_REGISTRY_")

    max_model_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    max_sample_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    skops_trusted_types: list[str] = Field(
        default_factory=lambda: [
            "sklearn.tree._tree.Tree",
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            # The minilm trainer's models: a reference to the packaged encoder plus a
            # logistic regression; its state is checked when it is loaded.
            "modelyard.training.embedding.SentenceEmbeddingClassifier",
        ],
        description="Types a skops file may hold beyond skops' own defaults; any other refuses it.",
    )
    allow_admin_pickle: bool = Field(
        default=False,
        description="Let admins upload joblib/pickle files. Loading one runs its code.",
    )
    # Users' models load and run in model-worker processes (registry/sandbox.py).
    worker_processes: int = Field(
        default=1, ge=1, le=16, description="Model-worker processes per loaded user's version."
    )
    worker_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="Address-space limit of a model worker in MiB (0: none). onnxruntime and "
        "OpenBLAS (one thread) start within 1.5 GiB.",
    )
    worker_predict_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A prediction longer than this kills its worker (504)."
    )
    worker_load_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Loading a model in a worker longer than this: refused."
    )
    worker_spares: int = Field(
        default=1, ge=0, le=8, description="Model workers started ahead of need, per process."
    )
    worker_prestart: bool = Field(
        default=True,
        description="Start the model workers' zygote (its imports take seconds) when the server "
        "starts, in its own process, rather than with the first model upload or predict.",
    )
    quarantine_crashes: int = Field(
        default=3, ge=1, description="Worker crashes (or timeouts) that quarantine a version..."
    )
    quarantine_window_seconds: int = Field(
        default=600, ge=1, description="... within this many seconds."
    )


class ServingSettings(BaseSettings):
    """Predictions: the model cache, request limits and the request log."""

    model_config = _section("MODELYARD_SERVING_")

    model_cache_size: int = Field(default=16, ge=1, description="Loaded models kept per process.")
    max_rows_per_request: int = Field(default=10_000, ge=1)
    log_queue_size: int = Field(default=10_000, ge=1)
    log_flush_rows: int = Field(default=500, ge=1)
    log_flush_ms: int = Field(default=200, ge=1)
    log_export_max_rows: int = Field(default=1_000_000, ge=1, description="Rows in one CSV export.")
    ml_api_model: str | None = Field(
        default=None,
        description="Model (owned by an admin) that the Machine learning API's /predict serves.",
    )
    # Defaults of every version's serving options (each version may override them).
    mode: Literal["direct", "queue", "batching"] = "direct"
    max_queue_size: int = Field(default=100, ge=1, description="Queue/batching: requests waiting.")
    workers: int = Field(default=1, ge=1, le=64, description="Queue workers; batches at once.")
    max_batch_rows: int = Field(default=64, ge=1, description="Batching: rows per batch.")
    max_wait_ms: float = Field(default=5.0, ge=0, description="Batching: longest wait to fill.")
    max_concurrent_requests: int | None = Field(
        default=None, ge=1, description="Requests in flight per model version and process."
    )
    max_request_rows: int | None = Field(
        default=None, ge=1, description="Rows per request per model (429 beyond)."
    )
    client_wait_seconds: float = Field(default=30.0, gt=0, description="Wait before 408.")
    result_ttl_seconds: int = Field(default=60, ge=1, description="Async results kept this long.")
    queue_retry_after_seconds: int = Field(default=1, ge=1, description="Retry-After of a 503.")
    max_threads: int | None = Field(
        default=1,  # serving.modes.DEFAULT_MAX_THREADS (config imports no domain)
        ge=1,
        le=256,
        description="Worker threads one version's requests use at once (direct mode; large "
        "bodies' decoding in queue and batching); null: the shared pool of 40.",
    )
    inline_budget_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description="Opt-in, direct mode: a request of at most 64 KiB to a version whose "
        "requests have lately cost at most this much CPU runs on the event loop, not in a "
        "worker thread (the trip costs more than such a request; the loop is held that long). "
        "0 (the default): model calls never run on the event loop.",
    )
    target_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a resolved (caller, model, version) is kept; 0: ask the database "
        "on every request. Changes made in this process apply at once, on other replicas "
        "within this time.",
    )


class EvaluationSettings(BaseSettings):
    """Confusion matrices, compare, curves: the bounds of one request's work."""

    model_config = _section("MODELYARD_EVALUATION_")

    max_vector_length: int = Field(default=2_000_000, ge=1, description="Labels per vector.")
    max_classes: int = Field(default=256, ge=2, le=10_000)
    max_label_length: int = Field(default=200, ge=1, le=10_000)
    max_compare: int = Field(default=20, ge=2, le=1000, description="Matrices in one compare.")
    max_multilabel_samples: int = Field(default=10_000, ge=1)
    max_curve_samples: int = Field(default=5_000, ge=1)
    max_curve_thresholds: int = Field(
        default=200, ge=2, description="More distinct scores than this are thinned to this many."
    )
    max_plot_annotations: int = Field(
        default=900, ge=0, description="Cells above this count are drawn without numbers."
    )


class TrainingSettings(BaseSettings):
    """Datasets, classifier training and the MLflow tracking store."""

    model_config = _section("MODELYARD_TRAINING_")

    datasets_root: Path | None = Field(
        default=None,
        description="Folder whose sub-folders may be registered as datasets by path; unset: none.",
    )
    min_docs_per_label: int = Field(
        default=5,
        ge=2,
        description="Documents each label needs to train on the native API, unless a training "
        "request sets its own min_docs_per_label. Two is the floor: one to train, one to validate.",
    )
    custom_classifier_min_docs_per_label: int = Field(
        default=75,
        ge=2,
        description="Documents each label needs on the Custom Classifier's /process route "
        "(the source system's own constant).",
    )
    thin_validation_docs: int = Field(
        default=10,
        ge=1,
        description="A label with fewer validation documents than this gets a warning in the "
        "run: at 10, one document moves that label's recall by 10 points.",
    )
    validation_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=42, description="Fixes the train/validation split and the trainer.")
    max_archive_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Upload size.")
    max_extracted_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        description="Bytes an archive may expand to: the members' declared sizes, and the "
        "bytes really decompressed, counted as they are read. The documents are held in "
        "memory while a dataset is read, so this bounds an upload's memory too.",
    )
    max_compression_ratio: float = Field(
        default=100.0,
        ge=1,
        description="Decompressed bytes per compressed byte, of each member and of the whole "
        "archive (held beyond its first MiB). Text compresses 3-10x; a bomb about 1000x.",
    )
    max_members: int = Field(default=100_000, ge=1, description="Files and folders in one archive.")
    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_labels: int = Field(default=1000, ge=2)
    mlflow_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "mlflow_uri", "MODELYARD_MLFLOW_URI", "MODELYARD_TRAINING_MLFLOW_URI"
        ),
        description="Tracking server or store URI. Default: SQLite + artifacts in data_dir/mlflow.",
    )
    mlflow_gc_backend_store_uri: str | None = Field(
        default=None,
        description="Backend store that `mlflow gc` cleans when mlflow_uri is a server (http).",
    )
    model_cache_size: int = Field(default=8, ge=1, description="Run models kept loaded.")
    encoder_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="torch threads of the minilm trainer's encoder (per process).",
    )


class VisualizationSettings(BaseSettings):
    """Projections of training and production data, and their quality metrics."""

    model_config = _section("MODELYARD_VISUALIZATION_")

    numba_cache_dir: Path | None = Field(
        default=None,
        description="Where numba keeps umap-learn's compiled code. Default: data_dir/numba-cache.",
    )
    warm_up: bool = Field(
        default=True,
        description="Compile umap-learn in a background thread when the server or a worker starts.",
    )
    seed: int = Field(default=0, description="Fixes samples, projections and metrics.")
    neighbours: int = Field(default=100, ge=1, le=100, description="Entries of each top_100 list.")
    max_categories: int = Field(
        default=50, ge=1, le=1000, description="One-hot columns per text column (others: 'other')."
    )


class MonitoringSettings(BaseSettings):
    """Feedback (ground truth), performance and drift over time, monitors and their webhooks."""

    model_config = _section("MODELYARD_MONITORING_")

    max_feedback_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="The largest feedback upload (CSV or parquet); larger ones get 413.",
    )
    max_feedback_labels: int = Field(
        default=1_000_000, ge=1, description="Labels in one feedback request or upload."
    )
    max_report_ids: int = Field(
        default=100, ge=1, le=10_000, description="Unknown or refused ids named in one answer."
    )
    max_window_rows: int = Field(
        default=2_000_000, ge=1, description="Logged rows read for one drift computation."
    )
    reference_rows: int = Field(
        default=100_000, ge=10, description="Training-sample rows used as the drift reference."
    )
    allow_private_webhooks: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private or link-local addresses (SSRF).",
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_attempts: int = Field(default=4, ge=1, le=10, description="Tries per delivery.")
    webhook_backoff_seconds: float = Field(
        default=0.5, ge=0, le=60, description="Wait before the second try; doubled after each."
    )
    scheduler_enabled: bool = Field(
        default=True,
        description="Run due monitors from the API process (in-process jobs) or Celery beat.",
    )
    scheduler_tick_seconds: float = Field(default=30.0, gt=0, le=3600)


class Settings(BaseSettings):
    """Everything the service can be told, grouped by domain."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(
        default=Path("data"), description="Holds the SQLite file, secret, artifacts."
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("log_level")
    @classmethod
    def _a_level_name(cls, value: str) -> str:
        names = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in names or not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError(f"not a log level ({', '.join(names)})")
        return value.upper()

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    visualization: VisualizationSettings = Field(default_factory=VisualizationSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'modelyard.db').resolve()}"

    @property
    def artifact_url(self) -> str:
        return self.storage.artifact_url or str((self.data_dir / "artifacts").resolve())


def _sections() -> dict[str, tuple[type[BaseSettings], str]]:
    """Each settings class by name, with the prefix of its environment variables."""
    found: dict[str, tuple[type[BaseSettings], str]] = {"Settings": (Settings, "MODELYARD_")}
    for field in Settings.model_fields.values():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            found[kind.__name__] = (kind, str(kind.model_config.get("env_prefix", "")))
    return found


def _variable(section: type[BaseSettings], prefix: str, name: str) -> str:
    """The environment variable a field was read from (or would be): its alias when set."""
    field = section.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        variables = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
        given = [v for v in variables if any(k.upper() == v for k in os.environ)]
        if given or variables:
            return (given or variables)[0]
    return f"{prefix}{name}".upper()


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each setting that failed (as its environment variable) and why.

    Inputs are not echoed: a secret may be among them.
    """
    section, prefix = _sections().get(exc.title, (Settings, "MODELYARD_"))
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        # A check of several fields together names them in its message itself.
        problems.append(f"{_variable(section, prefix, loc[0])}: {message}" if loc else message)
    return "; ".join(problems)


def _read_secret_file(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    return key


def resolve_secret_key(settings: Settings) -> str:
    """Return the JWT secret: the configured one, or one generated once and kept in data_dir.

    The generated key is written with owner-only permissions, so other local users cannot
    read it and forge tokens.
    """
    if settings.auth.secret_key is not None:
        return settings.auth.secret_key.get_secret_value()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret_file(path)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
