"""The dashboard's SVG charts: whole ticks for counts, and colours that keep one meaning."""

from __future__ import annotations

import re

import pytest

from modelyard.visualization.plots import CLASS_COLOURS
from modelyard.web.charts import PALETTE, STATUS_COLOURS, bar_chart, line_chart


def _ticks(svg: str) -> list[float]:
    return [float(t) for t in re.findall(r'class="chart-tick">(-?[\d.]+)</text>', svg)]


@pytest.mark.parametrize("most", [1, 3, 5, 7, 10, 250, 1000, 1234])
def test_count_charts_tick_at_whole_numbers(most: int) -> None:
    svg = str(bar_chart(["a", "b"], {"requests": [most, 1]}, title="Requests", y_label="n"))
    ticks = _ticks(svg)
    assert len(ticks) == 5 and all(t.is_integer() for t in ticks), ticks
    assert ticks[-1] >= most


def test_other_charts_may_tick_between_whole_numbers() -> None:
    svg = str(line_chart(["a", "b"], {"ms": [0.3, 0.5]}, title="Latency", y_label="ms"))
    assert _ticks(svg) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])


def test_failed_has_one_colour_and_no_class_has_it() -> None:
    assert STATUS_COLOURS["failed"] not in PALETTE
    assert STATUS_COLOURS["succeeded"] not in PALETTE
    svg = str(
        bar_chart(
            ["a"], {"succeeded": [1], "failed": [1]}, title="t", y_label="n", colours=STATUS_COLOURS
        )
    )
    assert f'fill="{STATUS_COLOURS["failed"]}"' in svg


def test_the_projection_png_and_the_page_share_class_colours() -> None:
    assert CLASS_COLOURS == PALETTE
