"""Errors of the visualization domain."""

from __future__ import annotations

from modelyard.errors import BadRequest, InvalidInput, ModelyardError, NotFound

__all__ = [
    "InvalidParameters",
    "NoResult",
    "ProjectionNotFound",
    "UnknownMethod",
    "VisualizationError",
]


class VisualizationError(ModelyardError):
    """Root of the visualization domain's client-facing errors."""


class UnknownMethod(VisualizationError, BadRequest):
    code = "unknown_method"
    message = "Unknown projection method"


class InvalidParameters(VisualizationError, InvalidInput):
    code = "invalid_parameters"
    message = "Invalid projection parameters"


class ProjectionNotFound(VisualizationError, NotFound):
    code = "projection_not_found"
    message = "Projection not found"


class NoResult(VisualizationError, NotFound):
    code = "no_result"
    message = "The projection has no result (yet)"
