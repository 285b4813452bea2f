"""The registry's operations: register, read, alias and delete model versions. No HTTP.

Owner scoping: a user sees only their own models; another user's model is "not found". An
admin sees every model: a name resolves to the admin's own model first, then to the one
other model of that name (``owner_id`` picks one when several users use the name).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.auth.models import User
from modelyard.config import RegistrySettings
from modelyard.db import after_commit, utcnow
from modelyard.errors import Conflict, InvalidInput, PermissionDenied
from modelyard.registry import repository
from modelyard.registry.exceptions import (
    AliasNotFound,
    AmbiguousModel,
    ExternalModelData,
    InvalidModelFile,
    InvalidSchema,
    ModelCrashed,
    ModelFileTooLarge,
    ModelNotFound,
    ModelQuarantined,
    ModelTimedOut,
    NotQuarantined,
    PickleNotAllowed,
    UnsafeModelStructure,
    UnsupportedOperatorDomain,
    UntrustedModelTypes,
    VersionNotFound,
)
from modelyard.registry.input_schema import (
    Column,
    SchemaError,
    coerce_records,
    parse_input_schema,
)
from modelyard.registry.loaders import (
    CODE_RUNNING_FORMATS,
    FORMATS,
    ExternalData,
    LoadError,
    ModelFormat,
    ModelRuntime,
    UnsafeStructure,
    UnsupportedDomain,
    UntrustedTypes,
    detect_format,
    load_model,
    summarise,
)
from modelyard.registry.models import ModelAlias, ModelVersion, RegisteredModel
from modelyard.registry.sandbox import ModelError, ProcessRuntime, WorkerOptions, handoff
from modelyard.registry.schemas import (
    AliasRead,
    ModelRead,
    ModelVersionRead,
    ServingOptions,
    ServingTarget,
)
from modelyard.schemas import Page
from modelyard.storage import ArtifactStore, delete_quietly

__all__ = [
    "LATEST",
    "ORIGINS",
    "PRODUCTION",
    "Upload",
    "clear_quarantine",
    "delete_alias",
    "delete_version",
    "get_model",
    "get_serving_options",
    "get_version",
    "list_models",
    "list_versions",
    "load_runtime",
    "ml_api_target",
    "on_version_delete",
    "open_runtime",
    "quarantine_error",
    "record_crash",
    "register_operator_model",
    "register_version",
    "resolve_model",
    "serving_target",
    "set_alias",
    "set_serving_options",
    "version_numbers",
    "version_target",
    "worker_options",
]


LATEST = "latest"
PRODUCTION = "production"
# Where a version's file came from; only "upload" (a user's file) runs in model workers.
ORIGINS = ("upload", "training", "operator")
_SUFFIX = {"skops": ".skops", "onnx": ".onnx", "pickle": ".pkl", "joblib": ".joblib"}


@dataclass
class Upload:
    """A version to register, as the transport received it."""

    name: str
    data: bytes
    model_format: str = "auto"
    description: str | None = None
    tags: list[str] | None = None
    input_schema: Any = None
    sample: bytes | None = None


# --- resolving names --------------------------------------------------------------------


def resolve_model(
    session: Session, caller: User, name: str, owner_id: int | None = None
) -> RegisteredModel:
    """The model ``name`` as ``caller`` may see it; anything else is not found."""
    if owner_id is not None and owner_id != caller.id and not caller.is_admin:
        raise ModelNotFound(f"model {name!r} not found")
    model = repository.find_model(session, owner_id or caller.id, name)
    if model is not None:
        return model
    if caller.is_admin and owner_id is None:
        others = repository.find_models_named(session, name)
        if len(others) == 1:
            return others[0]
        if others:
            raise AmbiguousModel(details={"owner_ids": [m.owner_id for m in others]})
    raise ModelNotFound(f"model {name!r} not found")


def _find_version(session: Session, model: RegisteredModel, ref: str | int) -> ModelVersion:
    """A version by number, by alias, or ``latest`` (always the highest number)."""
    text = str(ref)
    version: ModelVersion | None
    if text.isdigit():
        version = repository.get_version(session, model.id, int(text))
    elif text == LATEST:
        version = repository.latest_version(session, model.id)
    else:
        alias = repository.get_alias(session, model.id, text)
        if alias is None:
            raise AliasNotFound(f"model {model.name!r} has no alias {text!r}")
        version = session.get(ModelVersion, alias.version_id)
    if version is None:
        raise VersionNotFound(f"model {model.name!r} has no version {text!r}")
    return version


def _default_version(session: Session, model: RegisteredModel) -> ModelVersion:
    """What a model serves when no version is named: ``production`` if set, else the latest."""
    alias = repository.get_alias(session, model.id, PRODUCTION)
    version = session.get(ModelVersion, alias.version_id) if alias else None
    version = version or repository.latest_version(session, model.id)
    if version is None:
        raise VersionNotFound(f"model {model.name!r} has no versions")
    return version


# --- registering --------------------------------------------------------------------------


def _effective_format(upload: Upload) -> ModelFormat:
    detected = detect_format(upload.data)
    # Whatever the uploader declared, bytes that look like a pickle are treated as one, so the
    # permission check below is never bypassed by a wrong label.
    if detected == "pickle" and upload.model_format not in CODE_RUNNING_FORMATS:
        return "pickle"
    if upload.model_format == "auto":
        if detected is None:
            raise InvalidModelFile("the file is not a skops, ONNX, joblib or pickle model")
        return detected
    if upload.model_format not in FORMATS:
        raise InvalidModelFile(f"unknown format {upload.model_format!r}; use one of {FORMATS}")
    declared: ModelFormat = upload.model_format
    return declared


def _schema_from(upload: Upload) -> list[Column] | None:
    if upload.input_schema is None:
        return None
    try:
        return parse_input_schema(upload.input_schema)
    except SchemaError as exc:
        raise InvalidSchema(str(exc)) from exc


def _check_schema(columns: list[Column], runtime: ModelRuntime) -> None:
    if runtime.n_features is not None and len(columns) != runtime.n_features:
        raise InvalidSchema(
            f"the schema has {len(columns)} columns; the model takes {runtime.n_features}"
        )
    names = [c.name for c in columns]
    if runtime.feature_names is not None and names != runtime.feature_names:
        raise InvalidSchema(
            "the schema's columns are not the model's features, in the model's order",
            details={"schema": names, "model": runtime.feature_names},
        )
    if all(c.type != "str" for c in columns):
        # A model without metadata still shows a mismatch when it is handed one row.
        try:
            runtime.predict(np.zeros((1, len(columns)), dtype=np.float64))
        except (ModelCrashed, ModelTimedOut):
            raise
        except Exception as exc:
            raise InvalidSchema(
                f"the model refused a row shaped like the schema: {summarise(exc)}"
            ) from exc
    elif isinstance(runtime, ProcessRuntime):
        # Text too goes through one trial row in the worker (its defaults, else ""), so a
        # file that crashes on its first prediction is refused now; a refusal of the row
        # itself is the model's business, as before.
        trial_row = {
            c.name: c.default if c.default is not None else _BLANK[c.type] for c in columns
        }
        matrix, _ = coerce_records([trial_row], columns)
        if matrix is not None:
            with contextlib.suppress(ModelError):
                runtime.predict(matrix)


_BLANK: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False}


def _infer_schema(runtime: ModelRuntime) -> list[Column] | None:
    if runtime.feature_names is not None:
        return [Column(name=name) for name in runtime.feature_names]
    if runtime.n_features is not None:
        return [Column(name=f"x{i}") for i in range(runtime.n_features)]
    return None


def _count_sample_rows(sample: bytes, columns: list[Column] | None) -> int:
    try:
        reader = csv.reader(io.StringIO(sample.decode("utf-8-sig")))
        header = next(reader, None)
        rows = sum(1 for _ in reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"the training sample is not a CSV file: {exc}") from exc
    if not header:
        raise InvalidInput("the training sample has no header row")
    if columns is not None and not {c.name for c in columns} <= set(header):
        missing = sorted({c.name for c in columns} - set(header))
        raise InvalidSchema(f"the training sample lacks the schema's columns: {missing}")
    return rows


def load_runtime(
    data: bytes, model_format: str, settings: RegistrySettings, *, operator: bool = False
) -> ModelRuntime:
    """Load a stored version's file IN THIS PROCESS (its format was checked when it was
    registered): for files this server trusts (trained here, the operator's); a user's file
    goes through ``open_runtime``.

    ``operator``: the caller is the operator's own process (the command line), which may load
    a pickle it was handed whatever the settings say.
    """
    fmt: ModelFormat = model_format  # type: ignore[assignment]
    if fmt in CODE_RUNNING_FORMATS and not (operator or settings.allow_admin_pickle):
        # Admitted while the operator allowed pickles; no longer trusted to run.
        raise PickleNotAllowed()
    return load_model(data, fmt, trusted_types=settings.skops_trusted_types)


def worker_options(settings: RegistrySettings) -> WorkerOptions:
    return WorkerOptions(
        workers=settings.worker_processes,
        memory_mb=settings.worker_memory_mb,
        predict_timeout_seconds=settings.worker_predict_timeout_seconds,
        load_timeout_seconds=settings.worker_load_timeout_seconds,
        spares=settings.worker_spares,
    )


def open_runtime(
    target: ServingTarget,
    fetch: Callable[[], bytes],
    settings: RegistrySettings,
    *,
    on_crash: Callable[[str], None] | None = None,
) -> ModelRuntime:
    """The version's model, loaded where it may run: a user's file in model-worker processes
    (``sandbox.ProcessRuntime``; ``fetch`` is asked for the bytes again when a worker is
    restarted), a file trained here, the operator's, or one an admin marked in-process, here.
    ``on_crash(reason)`` hears of every worker that died or hung."""
    if not target.isolated:
        return load_runtime(fetch(), target.format, settings)
    if target.format in CODE_RUNNING_FORMATS and not settings.allow_admin_pickle:
        raise PickleNotAllowed()
    loaded = handoff.claim(target.sha256, target.format)
    if loaded is not None:
        loaded.adopt(fetch, worker_options(settings), on_crash)
        return loaded
    return ProcessRuntime(
        fetch,
        target.format,
        settings.skops_trusted_types,
        worker_options(settings),
        on_crash=on_crash,
    )


def _load_upload(
    upload: Upload, fmt: ModelFormat, settings: RegistrySettings, origin: str
) -> ModelRuntime:
    """Load an uploaded file: a user's in a model worker (a file that kills its worker while
    loading is refused with 422 and the server stays up), the server's own here."""
    try:
        if origin != "upload":
            return load_model(upload.data, fmt, trusted_types=settings.skops_trusted_types)
        return ProcessRuntime(
            lambda: upload.data,
            fmt,
            settings.skops_trusted_types,
            # One worker, and no spare taken for a restart: it lives for this upload only.
            WorkerOptions(
                workers=1,
                memory_mb=settings.worker_memory_mb,
                predict_timeout_seconds=settings.worker_predict_timeout_seconds,
                load_timeout_seconds=settings.worker_load_timeout_seconds,
                spares=settings.worker_spares,
            ),
        )
    except UntrustedTypes as exc:
        raise UntrustedModelTypes(str(exc), details={"types": exc.types}) from exc
    except UnsafeStructure as exc:
        raise UnsafeModelStructure(str(exc)) from exc
    except ExternalData as exc:
        raise ExternalModelData(str(exc)) from exc
    except UnsupportedDomain as exc:
        raise UnsupportedOperatorDomain(str(exc)) from exc
    except LoadError as exc:
        raise InvalidModelFile(str(exc)) from exc
    except (ModelCrashed, ModelTimedOut) as exc:
        raise InvalidModelFile(f"the file cannot be loaded safely: {exc.message}") from exc


def _trial(runtime: ModelRuntime, columns: list[Column] | None) -> None:
    """A user's model predicts one row in its worker before it is registered: a file whose
    first prediction kills its worker is refused (422) instead of being served."""
    if not isinstance(runtime, ProcessRuntime):
        return
    try:
        if columns is not None:
            _check_schema(columns, runtime)
        elif runtime.n_features is not None:
            # Refusing zeros is the model's right; crashing is not.
            with contextlib.suppress(ModelError):
                runtime.predict(np.zeros((1, runtime.n_features), dtype=np.float64))
    except (ModelCrashed, ModelTimedOut) as exc:
        raise InvalidModelFile(
            f"the model crashed its worker process on a trial prediction: {exc.message}"
        ) from exc


def _store(store: ArtifactStore, data: bytes, suffix: str, namespace: str) -> str:
    key = store.new_key(namespace, suffix)
    store.put_bytes(key, data)
    return key


def register_version(
    session: Session,
    store: ArtifactStore,
    settings: RegistrySettings,
    caller: User,
    upload: Upload,
    *,
    operator: bool = False,
    origin: str = "upload",
) -> ModelVersionRead:
    """Check, load, store and record a new version of the caller's model ``upload.name``.

    ``operator``: the file comes from the operator (the command line), not from a request, so
    pickle/joblib are accepted (DESIGN: only the operator may hand the server code to run).
    ``origin``: ``training`` for a model this server trained (it may run in the API process);
    a user's file (``upload``) is loaded and tried on one row in a model worker.
    """
    origin = "operator" if operator else origin
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    if not upload.data:
        raise InvalidModelFile("the uploaded file is empty")
    if len(upload.data) > settings.max_model_bytes:
        raise ModelFileTooLarge(f"model files are limited to {settings.max_model_bytes} bytes")
    if upload.sample is not None and len(upload.sample) > settings.max_sample_bytes:
        raise ModelFileTooLarge(f"samples are limited to {settings.max_sample_bytes} bytes")
    fmt = _effective_format(upload)
    if fmt in CODE_RUNNING_FORMATS and not (
        operator or (caller.is_admin and settings.allow_admin_pickle)
    ):
        raise PickleNotAllowed()
    columns = _schema_from(upload)
    runtime = _load_upload(upload, fmt, settings, origin)
    try:
        source = "given"
        if isinstance(runtime, ProcessRuntime):
            _trial(runtime, columns)
        elif columns is not None:
            _check_schema(columns, runtime)
        if columns is None:
            columns = _infer_schema(runtime)
            source = "inferred" if columns is not None else "none"
    except BaseException:
        if isinstance(runtime, ProcessRuntime):
            runtime.close()
        raise
    if isinstance(runtime, ProcessRuntime):
        # Its first predict in this process takes this worker instead of loading it again.
        handoff.keep(hashlib.sha256(upload.data).hexdigest(), fmt, runtime)
    sample_rows = _count_sample_rows(upload.sample, columns) if upload.sample else None

    model = repository.find_model(session, caller.id, upload.name)
    if model is None:
        model = RegisteredModel(
            owner_id=caller.id, name=upload.name, description=upload.description
        )
        _add_or_conflict(session, model)
    repository.lock_model(session, model)
    keys = [_store(store, upload.data, _SUFFIX[fmt], "models")]
    if upload.sample:
        keys.append(_store(store, upload.sample, ".csv", "samples"))
    version = ModelVersion(
        model_id=model.id,
        version=repository.next_version_number(session, model.id),
        description=upload.description,
        tags=sorted(set(upload.tags or [])),
        format=fmt,
        kind=runtime.kind,
        classes=runtime.classes,
        input_schema=[c.model_dump() for c in columns] if columns is not None else None,
        schema_source=source,
        artifact_key=keys[0],
        artifact_size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        sample_key=keys[1] if len(keys) > 1 else None,
        sample_rows=sample_rows,
        created_by=caller.id,
        origin=origin,
    )
    try:
        _add_or_conflict(session, version)
    except BaseException:
        for key in keys:
            store.delete(key)
        raise
    model.updated_at = utcnow()
    return _version_read(session, model, version)


def _add_or_conflict(session: Session, item: RegisteredModel | ModelVersion) -> None:
    try:
        repository.add(session, item)
    except IntegrityError as exc:
        # The request's transaction is rolled back by the error; nothing else to undo here.
        raise Conflict("another upload of this model won the race; try again") from exc


def register_operator_model(
    session: Session,
    store: ArtifactStore,
    settings: RegistrySettings,
    owner: User,
    upload: Upload,
) -> ServingTarget:
    """The version serving the operator's file: its latest version when that holds the same
    file and schema (a restarted server registers nothing new), else a new version."""
    model = repository.find_model(session, owner.id, upload.name)
    latest = repository.latest_version(session, model.id) if model is not None else None
    if model is not None and latest is not None:
        columns = _schema_from(upload)
        same_schema = upload.input_schema is None or latest.input_schema == [
            c.model_dump() for c in columns or []
        ]
        if latest.sha256 == hashlib.sha256(upload.data).hexdigest() and same_schema:
            return _target(model, latest)
    read = register_version(session, store, settings, owner, upload, operator=True)
    model = repository.find_model(session, owner.id, upload.name)
    assert model is not None
    return _target(model, _find_version(session, model, read.version))


# --- reading ------------------------------------------------------------------------------


def _aliases_of(model: RegisteredModel) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = {}
    for alias in model.aliases:
        by_version.setdefault(alias.version_id, []).append(alias.alias)
    return by_version


def _version_read(
    session: Session, model: RegisteredModel, version: ModelVersion
) -> ModelVersionRead:
    latest = repository.latest_version(session, model.id)
    aliases = sorted(_aliases_of(model).get(version.id, []))
    if latest is not None and latest.id == version.id:
        aliases.append(LATEST)
    return ModelVersionRead(
        id=version.id,
        model_name=model.name,
        version=version.version,
        description=version.description,
        tags=list(version.tags or []),
        format=version.format,
        kind=version.kind,
        classes=version.classes,
        input_schema=[Column.model_validate(c) for c in version.input_schema]
        if version.input_schema is not None
        else None,
        schema_source=version.schema_source,
        artifact_size=version.artifact_size,
        sha256=version.sha256,
        has_sample=version.sample_key is not None,
        sample_rows=version.sample_rows,
        aliases=aliases,
        created_at=version.created_at,
        origin=version.origin,
        runs_in="worker" if _isolated(version) else "process",
        quarantined_at=version.quarantined_at,
        quarantine_reason=version.quarantine_reason,
    )


def _model_read(session: Session, model: RegisteredModel) -> ModelRead:
    numbers = sorted(v.version for v in model.versions)
    number_of = {v.id: v.version for v in model.versions}
    aliases = [
        AliasRead(alias=a.alias, version=number_of[a.version_id])
        for a in sorted(model.aliases, key=lambda a: a.alias)
        if a.version_id in number_of
    ]
    if numbers:
        aliases.append(AliasRead(alias=LATEST, version=numbers[-1]))
    return ModelRead(
        name=model.name,
        owner_id=model.owner_id,
        description=model.description,
        latest_version=numbers[-1] if numbers else None,
        versions=numbers,
        aliases=aliases,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


def list_models(session: Session, caller: User, *, limit: int, offset: int) -> Page[ModelRead]:
    """The caller's models (every model for an admin), by name."""
    owner = None if caller.is_admin else caller.id
    models = repository.list_models(session, owner_id=owner, limit=limit, offset=offset)
    return Page[ModelRead](
        items=[_model_read(session, m) for m in models],
        total=repository.count_models(session, owner_id=owner),
        limit=limit,
        offset=offset,
    )


def get_model(session: Session, caller: User, name: str, owner_id: int | None) -> ModelRead:
    return _model_read(session, resolve_model(session, caller, name, owner_id))


def list_versions(
    session: Session, caller: User, name: str, owner_id: int | None, *, limit: int, offset: int
) -> Page[ModelVersionRead]:
    model = resolve_model(session, caller, name, owner_id)
    versions = repository.list_versions(session, model.id, limit=limit, offset=offset)
    return Page[ModelVersionRead](
        items=[_version_read(session, model, v) for v in versions],
        total=len(model.versions),
        limit=limit,
        offset=offset,
    )


def version_numbers(session: Session, model_id: int) -> list[int]:
    """Every version number of a model the caller was already allowed to see, oldest first."""
    return repository.version_numbers(session, model_id)


def get_version(
    session: Session, caller: User, name: str, ref: str, owner_id: int | None
) -> ModelVersionRead:
    model = resolve_model(session, caller, name, owner_id)
    return _version_read(session, model, _find_version(session, model, ref))


# --- changing -----------------------------------------------------------------------------

# The files other domains keep for a version (visualization's projection results, say). Their
# rows go with the version by the foreign key's cascade; their files are named here, before the
# rows are gone, and deleted with the version's own files once the deletion is committed.
VersionFiles = Callable[[Session, int], list[str]]
_version_files: dict[str, VersionFiles] = {}


def on_version_delete(domain: str, files: VersionFiles) -> None:
    """Have ``files(session, version_id)`` name a domain's files to delete with a version."""
    _version_files[domain] = files


def _version_file_keys(
    session: Session, version_id: int, artifact_key: str | None, sample_key: str | None
) -> list[str]:
    """A version's own files and those other domains keep for it."""
    keys = [k for k in (artifact_key, sample_key) if k]
    return keys + [key for files in _version_files.values() for key in files(session, version_id)]


def _owner_file_keys(session: Session, owner_id: int) -> list[str]:
    """Every file of the owner's model versions."""
    versions = repository.owner_versions(session, owner_id)
    return [key for version in versions for key in _version_file_keys(session, *version)]


auth.on_user_delete("registry", _owner_file_keys)


def delete_version(
    session: Session,
    store: ArtifactStore,
    caller: User,
    name: str,
    ref: str,
    owner_id: int | None,
) -> None:
    """Delete one version and, once that is committed, its files and those other domains keep
    for it (``on_version_delete``); its aliases go with it."""
    model = resolve_model(session, caller, name, owner_id)
    version = _find_version(session, model, ref)
    for alias in [a for a in model.aliases if a.version_id == version.id]:
        model.aliases.remove(alias)
    keys = _version_file_keys(session, version.id, version.artifact_key, version.sample_key)
    repository.delete(session, version)
    session.refresh(model)
    after_commit(session, partial(delete_quietly, store, keys))


def set_alias(
    session: Session, caller: User, name: str, alias: str, version: int, owner_id: int | None
) -> AliasRead:
    """Point ``alias`` at ``version`` (``latest`` is kept by the server and cannot be set)."""
    if alias == LATEST:
        raise InvalidInput("'latest' always names the highest version; it cannot be set")
    model = resolve_model(session, caller, name, owner_id)
    target = _find_version(session, model, version)
    existing = repository.get_alias(session, model.id, alias)
    if existing is None:
        model.aliases.append(ModelAlias(model_id=model.id, alias=alias, version_id=target.id))
    else:
        existing.version_id = target.id
    session.flush()
    return AliasRead(alias=alias, version=target.version)


def delete_alias(
    session: Session, caller: User, name: str, alias: str, owner_id: int | None
) -> None:
    model = resolve_model(session, caller, name, owner_id)
    existing = repository.get_alias(session, model.id, alias)
    if existing is None:
        raise AliasNotFound(f"model {name!r} has no alias {alias!r}")
    model.aliases.remove(existing)
    session.flush()


# --- serving ------------------------------------------------------------------------------


def _target(model: RegisteredModel, version: ModelVersion) -> ServingTarget:
    return ServingTarget(
        model_id=model.id,
        model_name=model.name,
        owner_id=model.owner_id,
        version_id=version.id,
        version=version.version,
        format=version.format,
        kind=version.kind,
        classes=version.classes,
        input_schema=[Column.model_validate(c) for c in version.input_schema]
        if version.input_schema is not None
        else None,
        artifact_key=version.artifact_key,
        sha256=version.sha256,
        serving=version.serving_options,
        sample_key=version.sample_key,
        sample_rows=version.sample_rows,
        isolated=_isolated(version),
        quarantine=version.quarantine_reason if version.quarantined_at is not None else None,
    )


def _isolated(version: ModelVersion) -> bool:
    """Whether the version's model runs in model workers: a user's file, unless an admin
    marked it in-process (``ServingOptions.in_process``)."""
    in_process = bool((version.serving_options or {}).get("in_process"))
    return version.origin == "upload" and not in_process


def get_serving_options(
    session: Session, caller: User, name: str, ref: str, owner_id: int | None = None
) -> tuple[ServingTarget, ServingOptions]:
    """A version of one of the caller's models and how it is served (its overrides)."""
    model = resolve_model(session, caller, name, owner_id)
    version = _find_version(session, model, ref)
    return _target(model, version), ServingOptions.model_validate(version.serving_options or {})


def set_serving_options(
    session: Session,
    caller: User,
    name: str,
    ref: str,
    options: ServingOptions,
    owner_id: int | None = None,
) -> ServingTarget:
    """Replace how a version is served (fields left out take the server's defaults); only an
    admin may run a user's model in the API process (``in_process``)."""
    if options.in_process and not caller.is_admin:
        raise PermissionDenied("only an admin may run a model in the API process (in_process)")
    model = resolve_model(session, caller, name, owner_id)
    version = _find_version(session, model, ref)
    overrides = options.model_dump(exclude_none=True)
    version.serving_options = overrides or None
    session.flush()
    return _target(model, version)


def serving_target(
    session: Session, caller: User, name: str, ref: str | None, owner_id: int | None = None
) -> ServingTarget:
    """The version a predict request names (no version: ``production``, else the latest)."""
    model = resolve_model(session, caller, name, owner_id)
    version = (
        _default_version(session, model) if ref is None else _find_version(session, model, ref)
    )
    return _target(model, version)


def ml_api_target(session: Session, name: str) -> ServingTarget:
    """The version the Machine learning API's /predict serves: an admin's model ``name``."""
    models = repository.find_admin_models(session, name)
    if not models:
        raise ModelNotFound(f"no admin owns a model named {name!r}")
    # Several admins with the same name: the oldest model wins, so the choice never flips.
    model = models[0]
    return _target(model, _default_version(session, model))


def version_target(session: Session, version_id: int, caller: User | None = None) -> ServingTarget:
    """A version by its row id (hydro-visualization's ``model_version_id``).

    With ``caller``, another user's version is not found (admins see every one); without, no
    scoping (a job body, whose caller was checked when it was submitted).
    """
    version = repository.get_version_by_id(session, version_id)
    model = version.model if version is not None else None
    if (
        version is None
        or model is None
        or (caller is not None and not caller.is_admin and model.owner_id != caller.id)
    ):
        raise VersionNotFound(f"model version {version_id} not found")
    return _target(model, version)


# --- model workers' crashes and quarantine ----------------------------------------------------


def quarantine_error(target: ServingTarget) -> ModelQuarantined:
    """What a predict of a quarantined version answers (503)."""
    reason = target.quarantine or "its model-worker processes crashed repeatedly"
    return ModelQuarantined(
        f"model {target.model_name!r} version {target.version} is quarantined: {reason}; "
        "its owner or an admin can clear it (DELETE .../quarantine)",
        details={"reason": reason, "model": target.model_name, "version": target.version},
    )


def record_crash(
    session: Session, version_id: int, reason: str, settings: RegistrySettings
) -> bool:
    """Count one crash (or hang) of a version's model worker; True if it quarantined the
    version now (``quarantine_crashes`` within ``quarantine_window_seconds``). The count lives
    in the version's row, locked while it changes, so every server process adds to one count."""
    version = repository.get_version_for_update(session, version_id)
    if version is None or version.quarantined_at is not None:
        return False
    now = time.time()
    recent = [t for t in version.crash_times or [] if now - t < settings.quarantine_window_seconds]
    recent.append(now)
    version.crash_times = recent
    if len(recent) < settings.quarantine_crashes:
        session.flush()
        return False
    version.quarantined_at = utcnow()
    version.quarantine_reason = (
        f"{len(recent)} crashes of its model workers within "
        f"{settings.quarantine_window_seconds} s; the last: {reason}"
    )[:2000]
    session.flush()
    return True


def clear_quarantine(
    session: Session, caller: User, name: str, ref: str, owner_id: int | None
) -> ModelVersionRead:
    """Serve a quarantined version again (its owner or an admin; another user: not found)."""
    model = resolve_model(session, caller, name, owner_id)
    version = _find_version(session, model, ref)
    if version.quarantined_at is None:
        raise NotQuarantined(f"model {name!r} version {version.version} is not quarantined")
    version.quarantined_at = None
    version.quarantine_reason = None
    version.crash_times = None
    session.flush()
    return _version_read(session, model, version)
