"""mlup's config names offered as ``modelyard serve`` options: what ``serve --help`` lists,
kept apart from ``mlup_config`` (pydantic, the settings, the registry's schemas) so that the
help answers without importing the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FLAGS", "Flag"]


@dataclass(frozen=True)
class Flag:
    """One config name offered as a ``modelyard serve`` option (``--is-long-predict``)."""

    name: str
    kind: Literal["bool", "int", "float", "str", "json"]
    help: str

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


FLAGS: tuple[Flag, ...] = (
    Flag("name", "str", "model name, also its name in the registry (MyFirstMLupModel)"),
    Flag("version", "str", "model version shown by /info (1.0.0.0)"),
    Flag("predict_method_name", "str", "predict (labels) or predict_proba (probabilities)"),
    Flag("auto_detect_predict_params", "bool", "shown by /info; X and data_for_predict both work"),
    Flag("columns", "json", "mlup's columns as JSON (--schema FILE takes precedence)"),
    Flag("web_app_version", "str", "web app version shown by /info (1.0.0.0)"),
    Flag("column_validation", "bool", "shown by /info; rows are always checked against a schema"),
    Flag("max_queue_size", "int", "queue and batching: requests waiting at most (100)"),
    Flag("ttl_predicted_data", "int", "seconds a result is kept for /get-predict (60)"),
    Flag("ttl_client_wait", "float", "seconds a client waits for a result before 408 (30.0)"),
    Flag("min_batch_len", "int", "batching: rows that start a batch (10)"),
    Flag("batch_worker_timeout", "float", "batching: seconds a batch waits at most (1.0)"),
    Flag("is_long_predict", "bool", "queue and batching: /predict answers a predict_id"),
    Flag("show_docs", "bool", "serve /docs (true)"),
    Flag("debug", "bool", "/info also shows the configs (false)"),
    Flag("throttling_max_requests", "int", "requests predicted at once; more get 429"),
    Flag("throttling_max_request_len", "int", "rows in one request; more get 429"),
    Flag("timeout_for_shutdown_daemon", "float", "seconds for a graceful shutdown (3.0)"),
)
