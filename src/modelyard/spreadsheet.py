"""Cells of the CSV files the service writes, made safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (CSV or formula injection): a class label or a
logged error text chosen by a user could then run ``=HYPERLINK(...)`` or worse on the machine of
whoever opens the download. OWASP's advice is followed: such a cell gets a leading single quote,
which spreadsheets show as text. A plain number (``-1.5``, ``+3``, ``-2e-05``) is left as it is,
so numbers stay numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["safe_cell", "safe_row"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
