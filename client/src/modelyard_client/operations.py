"""Which server operation each client method calls: ``@operation("GET", "/api/v1/models")``.

tests/client/test_coverage.py reads these marks and compares them with the server's
/openapi.json, so an operation without a method is found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["operation", "operations_of"]

F = TypeVar("F", bound=Callable[..., Any])


def operation(method: str, path: str) -> Callable[[F], F]:
    def mark(function: F) -> F:
        marks: list[tuple[str, str]] = list(getattr(function, "__modelyard_operations__", []))
        marks.append((method.upper(), path))
        function.__modelyard_operations__ = marks  # type: ignore[attr-defined]
        return function

    return mark


def operations_of(cls: type) -> dict[tuple[str, str], str]:
    """(method, path) -> the name of the class's method that calls it."""
    found: dict[tuple[str, str], str] = {}
    for name in dir(cls):
        for mark in getattr(getattr(cls, name), "__modelyard_operations__", []):
            found[mark] = name
    return found
