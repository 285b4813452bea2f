"""Errors of the serving domain."""

from __future__ import annotations

from modelyard.errors import InvalidInput, ModelyardError, PayloadTooLarge

__all__ = ["InvalidPredictInput", "PredictFailed", "ServingError", "TooManyRows"]


class ServingError(ModelyardError):
    """Root of the serving domain's client-facing errors."""


class InvalidPredictInput(ServingError, InvalidInput):
    code = "invalid_predict_input"
    message = "The rows do not fit the model's input schema"


class TooManyRows(ServingError, PayloadTooLarge):
    code = "too_many_rows"
    message = "Too many rows in one request"


class PredictFailed(ServingError):
    status_code = 500
    code = "predict_error"
    message = "The model failed to predict"
