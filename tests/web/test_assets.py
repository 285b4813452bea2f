"""Every asset a page uses is served by the service itself: no CDN, works on a closed network."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from modelyard.web.charts import bar_chart, line_chart, number
from tests.web.helpers import WebUser

_LINKS = re.compile(r'(?:src|href)="([^"]*)"')


def test_pages_load_only_local_assets(client: TestClient, alice: WebUser) -> None:
    for path in (
        "/ui/",
        "/ui/keys",
        "/ui/matrices",
        "/ui/matrices/new",
        "/ui/models",
        "/ui/training",
        "/ui/sign-in",
    ):
        html = client.get(path).text
        assert "http://" not in html and "https://" not in html, path
        for link in _LINKS.findall(html):
            assert link.startswith("/"), (path, link)
            if link.startswith("/ui/static/"):
                assert client.get(link).status_code == 200, link
    assert client.get("/ui/static/app.css").headers["content-type"].startswith("text/css")
    assert "javascript" in client.get("/ui/static/app.js").headers["content-type"]


def test_pages_refuse_inline_scripts_and_framing(client: TestClient, alice: WebUser) -> None:
    response = client.get("/ui/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_charts_escape_labels_and_draw_every_value() -> None:
    svg = str(bar_chart(["<b>", "x"], {"a<": [1.0, 2.0], "b": [0.0, 3.0]}, title="T&", y_label="n"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "T&amp;" in svg and "a&lt;" in svg
    assert svg.count("<rect") == 3 + 2  # three non-zero bars and two legend swatches
    line = str(line_chart(["1", "2", "3"], {"ms": [1.0, None, 3.0]}, title="L", y_label="ms"))
    assert line.count("<circle") == 2


def test_numbers_read_as_people_expect() -> None:
    assert number(None) == "—"
    assert number(float("nan")) == "—"
    assert number(0.75) == "0.75"
    assert number(1 / 3) == "0.3333"
    assert number(12345) == "12,345"
    assert number(1.0) == "1"
