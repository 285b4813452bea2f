"""Errors of the evaluation domain."""

from __future__ import annotations

from modelyard.errors import InvalidInput, ModelyardError, NotFound

__all__ = [
    "ConfusionMatrixNotFound",
    "EvaluationError",
    "InvalidEvaluationInput",
    "LimitExceeded",
]


class EvaluationError(ModelyardError):
    """Root of the evaluation domain's errors."""


class ConfusionMatrixNotFound(NotFound, EvaluationError):
    code = "confusion_matrix_not_found"
    message = "Confusion matrix not found"


class InvalidEvaluationInput(InvalidInput, EvaluationError):
    """Vectors, matrices, classes or weights that cannot make a meaningful result."""

    code = "invalid_evaluation_input"
    message = "Invalid evaluation input"


class LimitExceeded(InvalidInput, EvaluationError):
    """Input larger than the evaluation settings allow."""

    code = "limit_exceeded"
    message = "Input exceeds a configured limit"
