"""modelyard's Python client: ``from modelyard_client import Client``.

client = Client("http://127.0.0.1:8000", api_key="mdy_...")   # or MODELYARD_URL / a profile
client.push_model("iris", fitted_estimator, sample=training_frame)
client.predict("iris", frame).probabilities_array()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard_client._async_client import AsyncClient, AsyncPendingPrediction
    from modelyard_client._sync_client import Client, PendingPrediction
    from modelyard_client._version import __version__
    from modelyard_client.errors import (
        BadRequest,
        Conflict,
        ConnectionFailed,
        IncompatibleServer,
        InvalidInput,
        JobFailed,
        ModelyardClientError,
        NotFound,
        PayloadTooLarge,
        PermissionDenied,
        RateLimited,
        RequestTimeout,
        ServerAnswerError,
        ServerError,
        ServiceUnavailable,
        TimedOut,
        Unauthenticated,
    )
    from modelyard_client.retry import RetryPolicy

# Each name loads its module on first use: `import modelyard_client` (and the CLI's help) pays
# for httpx and pydantic only when a client is made.
_WHERE = {
    "AsyncClient": "modelyard_client._async_client",
    "AsyncPendingPrediction": "modelyard_client._async_client",
    "BadRequest": "modelyard_client.errors",
    "Client": "modelyard_client._sync_client",
    "Conflict": "modelyard_client.errors",
    "ConnectionFailed": "modelyard_client.errors",
    "IncompatibleServer": "modelyard_client.errors",
    "InvalidInput": "modelyard_client.errors",
    "JobFailed": "modelyard_client.errors",
    "ModelyardClientError": "modelyard_client.errors",
    "NotFound": "modelyard_client.errors",
    "PayloadTooLarge": "modelyard_client.errors",
    "PendingPrediction": "modelyard_client._sync_client",
    "PermissionDenied": "modelyard_client.errors",
    "RateLimited": "modelyard_client.errors",
    "RequestTimeout": "modelyard_client.errors",
    "RetryPolicy": "modelyard_client.retry",
    "ServerAnswerError": "modelyard_client.errors",
    "ServerError": "modelyard_client.errors",
    "ServiceUnavailable": "modelyard_client.errors",
    "TimedOut": "modelyard_client.errors",
    "Unauthenticated": "modelyard_client.errors",
    "__version__": "modelyard_client._version",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard_client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AsyncClient",
    "AsyncPendingPrediction",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "IncompatibleServer",
    "InvalidInput",
    "JobFailed",
    "ModelyardClientError",
    "NotFound",
    "PayloadTooLarge",
    "PendingPrediction",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "RetryPolicy",
    "ServerAnswerError",
    "ServerError",
    "ServiceUnavailable",
    "TimedOut",
    "Unauthenticated",
    "__version__",
]
