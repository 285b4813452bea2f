"""A version's classes as indexes: labels and logged answers matched to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ClassIndex"]


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    return None


class ClassIndex:
    """Matches a label to the version's class it names, by its text: a CSV cell ``"1"``
    names the class ``1`` as the JSON number ``1`` does (class values are JSON, a file's cells
    are text), ``true`` names the class ``True``."""

    def __init__(self, classes: Sequence[Any]) -> None:
        self.classes = list(classes)
        # By (type, value): a feedback upload names the same few classes a million times.
        self._seen: dict[tuple[type, Any], int] = {}
        self._by_text: dict[str, int] = {}
        for index, value in enumerate(self.classes):
            text = _text(value)
            if text is not None:
                self._by_text.setdefault(text, index)
                if isinstance(value, bool):
                    self._by_text.setdefault(str(value), index)

    def index(self, value: Any) -> int:
        """The class's index, or -1 when ``value`` names none of them."""
        try:
            return self._seen[type(value), value]
        except KeyError:
            pass
        except TypeError:  # unhashable (a list): no class
            return -1
        text = _text(value)
        found = -1 if text is None else self._by_text.get(text, self._by_text.get(text.strip(), -1))
        if len(self._seen) < 10_000:
            self._seen[type(value), value] = found
        return found
