"""mlup's config names: its ``ml`` and ``web`` sections, their defaults, config files, flags.

Kept apart from the adapter (``compat/mlup.py``) so the command line can build its options
without importing the whole app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from modelyard.compat.mlup_flags import FLAGS, Flag
from modelyard.config import ConfigError
from modelyard.registry.schemas import MODEL_NAME_PATTERN

__all__ = [
    "FLAGS",
    "MLUP_MODE_PATHS",
    "Flag",
    "MlupConfig",
    "Mode",
    "ModelConfig",
    "WebAppConfig",
    "build_config",
    "read_config_file",
]

Mode = Literal["direct", "queue", "batching"]

# mlup's names for its three architectures, as its configs and /info spell them.
MLUP_MODE_PATHS: dict[str, str] = {
    "direct": "mlup.web.architecture.directly_to_predict.DirectlyToPredictArchitecture",
    "queue": "mlup.web.architecture.worker_and_queue.WorkerAndQueueArchitecture",
    "batching": "mlup.web.architecture.batching.BatchingSingleProcessArchitecture",
}
_MODE_ALIASES: dict[str, Mode] = {
    "direct": "direct",
    "directly_to_predict": "direct",
    "queue": "queue",
    "worker_and_queue": "queue",
    "batching": "batching",
    **{path: mode for mode, path in MLUP_MODE_PATHS.items()},  # type: ignore[misc]
}
_NUMPY_TRANSFORMER = "mlup.ml.data_transformers.numpy_data_transformer.NumpyDataTransformer"


def _mode(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in _MODE_ALIASES:
        return _MODE_ALIASES[value.strip()]
    return value


# --- configuration ------------------------------------------------------------------------


class WebAppConfig(BaseModel):
    """mlup's ``web`` section, with its defaults."""

    # YAML reads `web_app_version: 1.0` as a number; mlup took it as written.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    # None: `modelyard serve`'s own --host/--port defaults (127.0.0.1:8000), so exposing the
    # server on every interface is always a choice someone wrote down.
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    web_app_version: str = "1.0.0.0"
    column_validation: bool = False
    custom_column_pydantic_model: None = Field(
        default=None, description="Only null: a Python class cannot come from a config file."
    )
    mode: Annotated[Mode, BeforeValidator(_mode)] = "direct"
    max_queue_size: int = Field(default=100, ge=1)
    ttl_predicted_data: int = Field(default=60, gt=0)
    ttl_client_wait: float = Field(default=30.0, gt=0)
    min_batch_len: int = Field(default=10, ge=1)
    batch_worker_timeout: float = Field(default=1.0, gt=0)
    is_long_predict: bool = False
    show_docs: bool = True
    debug: bool = False
    throttling_max_requests: int | None = Field(default=None, ge=1)
    throttling_max_request_len: int | None = Field(default=None, ge=1)
    timeout_for_shutdown_daemon: float = Field(default=3.0, ge=0)
    uvicorn_kwargs: dict[str, Any] = Field(default_factory=dict)
    item_id_col_name: str = "mlup_item_id"


class ModelConfig(BaseModel):
    """mlup's ``ml`` section, with its defaults. Loading settings (storage, binarization, data
    transformers, thread loop) are accepted so mlup's files load, and shown by ``/info``; the
    registry's loaders and the serving core do that work here."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), coerce_numbers_to_str=True)

    name: str = Field(default="MyFirstMLupModel", pattern=MODEL_NAME_PATTERN)
    version: str = "1.0.0.0"
    type: str = "sklearn"
    columns: list[dict[str, Any]] | None = None
    predict_method_name: Literal["predict", "predict_proba"] = "predict"
    auto_detect_predict_params: bool = True
    storage_type: str = "mlup.ml.storage.memory.MemoryStorage"
    storage_kwargs: dict[str, Any] = Field(default_factory=dict)
    binarization_type: str = "auto"
    use_thread_loop: bool = True
    max_thread_loop_workers: int | None = None
    data_transformer_for_predict: str = _NUMPY_TRANSFORMER
    data_transformer_for_predicted: str = _NUMPY_TRANSFORMER
    dtype_for_predict: str | None = None


class MlupConfig(BaseModel):
    """A whole mlup config file: ``version``, ``ml`` and ``web``."""

    model_config = ConfigDict(extra="forbid")

    version: str = "1"
    ml: ModelConfig = Field(default_factory=ModelConfig)
    web: WebAppConfig = Field(default_factory=WebAppConfig)


_SECTION_OF: dict[str, str] = {
    **dict.fromkeys(ModelConfig.model_fields, "ml"),
    **dict.fromkeys(WebAppConfig.model_fields, "web"),
}
# Both sections have a `version`: a flat `version` is the model's, as mlup's `--up.version`.
_SECTION_OF["version"] = "ml"


def read_config_file(path: Path) -> dict[str, Any]:
    """An mlup config file as a dict: JSON when it ends in .json, else YAML (as mlup reads)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a mapping with `ml` and `web` sections")
    return document


def build_config(document: dict[str, Any] | None, overrides: dict[str, Any]) -> MlupConfig:
    """The file's sections (or flat names), then the command line's values on top."""
    sections: dict[str, Any] = {"ml": {}, "web": {}}
    for key, value in (document or {}).items():
        if key in ("ml", "web"):
            if not isinstance(value, dict):
                raise ConfigError(f"the config's `{key}` section must be a mapping")
            sections[key].update(value)
        elif key == "version" and not isinstance(value, dict):
            sections["version"] = str(value)
        elif key in _SECTION_OF:
            sections[_SECTION_OF[key]][key] = value
        else:
            raise ConfigError(f"unknown config name {key!r}")
    for key, value in overrides.items():
        if value is not None:
            sections[_SECTION_OF[key]][key] = value
    try:
        return MlupConfig.model_validate(sections)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid mlup config: {problems}") from exc
