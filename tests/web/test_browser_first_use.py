"""The dashboard's first-use walls (issue 21, wall 5), each seen in Chromium at 1400 px.

The fixtures (one ``modelyard serve`` for the module, the browser, a page that fails on script
errors) are test_browser.py's; skipped, saying so, without /usr/bin/chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.factories import HEART_FEATURES, HEART_SCHEMA, heart_classifier
from tests.training.helpers import corpus_members, unique, zip_bytes
from tests.web import test_browser as shared
from tests.web.test_browser import CHROMIUM, PASSWORD, _upload_blobs, sign_up

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is not installed (apt-get install -y chromium)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect

# test_browser.py's fixtures: one ``modelyard serve`` and one Chromium for this module.
server = shared.server
browser = shared.browser


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A page as wide as the issue's screenshots; a script error or a CSP refusal fails."""
    opened = shared._new_page(browser, server, viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    opened.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    opened.context.close()
    assert not problems, problems


def _upload_heart(page: Page, tmp_path: Path, name: str = "heart") -> None:
    model_file = tmp_path / "heart.skops"
    model_file.write_bytes(heart_classifier())
    schema_file = tmp_path / "input_schema.json"
    schema_file.write_text(json.dumps(HEART_SCHEMA))
    page.goto("/ui/models")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Model file (skops or ONNX)").set_input_files(model_file)
    page.get_by_label("Input schema").set_input_files(schema_file)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text(re.compile(f"Version \\d+ of {name} is registered."))).to_be_visible()


def _token(server: str, email: str) -> dict[str, str]:
    answer = httpx.post(f"{server}/api/v1/auth/token", json={"login": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_versions_table_shows_every_column(page: Page, tmp_path: Path) -> None:
    sign_up(page, f"{unique('wide')}@example.com")
    _upload_heart(page, tmp_path)
    table = page.locator("#versions .scroll")
    # Nothing hidden behind a horizontal scroll: the Projections link and "Created" show whole.
    assert table.evaluate("el => el.scrollWidth <= el.clientWidth"), "the table overflows"
    card = page.locator("#versions").bounding_box()
    for cell in (
        page.get_by_role("columnheader", name="Created"),
        page.locator('[data-projections="1"]'),
    ):
        expect(cell).to_be_in_viewport()
        box = cell.bounding_box()
        assert card is not None and box is not None
        assert box["x"] + box["width"] <= card["x"] + card["width"]


def test_statistics_csv_and_obj_download_for_a_signed_in_browser(page: Page) -> None:
    sign_up(page, f"{unique('csv')}@example.com")
    page.goto("/ui/matrices/new")
    page.get_by_label(re.compile("^Actual")).fill("1 0 1 1 0 1 0 0")
    page.get_by_label(re.compile("^Predicted")).fill("1 0 1 0 0 1 1 0")
    page.get_by_role("button", name=re.compile("^Create")).click()
    expect(page.get_by_text("Matrix created.")).to_be_visible()
    for name, kind in (("statistics.csv", "text/csv"), ("matrix.obj", "application/json")):
        href = page.get_by_role("link", name=re.compile(re.escape(name))).get_attribute("href")
        assert href is not None
        answer = page.request.get(href)  # the browser's own cookies, no API key
        assert answer.status == 200, answer.text()
        assert answer.headers["content-type"].startswith(kind)
    with page.expect_download() as download:
        page.get_by_role("link", name="statistics.csv").click()
    assert download.value.suggested_filename.endswith(".csv")


def test_a_finished_training_says_done_and_its_banner_goes(page: Page, tmp_path: Path) -> None:
    sign_up(page, f"{unique('done')}@example.com")
    archive = tmp_path / "topics.zip"
    archive.write_bytes(zip_bytes(corpus_members(per_label=30)))
    page.goto("/ui/training")
    page.get_by_label(re.compile("^Archive")).set_input_files(archive)
    page.get_by_label("Name").fill("topics")
    page.get_by_role("button", name="Upload").click()
    page.get_by_label("Experiment name").fill(unique("done"))
    page.get_by_role("button", name="Start training").click()
    expect(page.locator('#progress [data-field="job_state"]')).to_have_text(
        "SUCCESS", timeout=90_000
    )
    expect(page.locator('[data-metric="accuracy"]')).to_be_visible()
    # The page has reloaded itself with the results: the "just started" banner is gone, also
    # when the reader reloads.
    expect(page.get_by_text("Training started.")).to_have_count(0)
    page.reload()
    expect(page.get_by_text("Training started.")).to_have_count(0)
    page.goto("/ui/")
    row = page.locator("table tr", has_text="training")
    expect(row.first).to_contain_text("SUCCESS")
    expect(row.first).to_contain_text("done")
    for step in ("registering the model", "writing results", "loading data"):
        expect(row.first).not_to_contain_text(step)


def test_chart_ticks_are_whole_and_colours_keep_their_meaning(
    page: Page, tmp_path: Path, server: str
) -> None:
    email = f"{unique('chart')}@example.com"
    sign_up(page, email)
    _upload_heart(page, tmp_path)
    headers = _token(server, email)
    zero, one = {name: 0 for name in HEART_FEATURES}, {name: 1 for name in HEART_FEATURES}
    for rows in ([zero], [one], [zero, one], [{"age": "old"}], [one]):
        httpx.post(f"{server}/api/v1/models/heart/predict", json=rows, headers=headers)
    for _ in range(40):  # the log is written in batches; the page shows it once it is
        page.goto("/ui/models/heart")
        if page.locator("table.log tbody tr").count() >= 5:
            break
        page.wait_for_timeout(250)
    requests, _latency, classes = page.locator("svg.chart").all()
    ticks = [
        float(t) for t in requests.locator("text.chart-tick").all_text_contents() if _number(t)
    ]
    assert ticks and all(t.is_integer() for t in ticks), ticks
    failed = requests.locator("rect", has=page.locator("title", has_text="failed"))
    class_fills = {
        rect.get_attribute("fill") for rect in classes.locator("rect[fill]").all() if rect
    }
    assert failed.count() >= 1
    assert failed.first.get_attribute("fill") not in class_fills


def _number(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?", text.strip()))


def test_try_a_prediction_with_the_version_shown(page: Page, tmp_path: Path, server: str) -> None:
    email = f"{unique('pick')}@example.com"
    sign_up(page, email)
    _upload_heart(page, tmp_path)
    _upload_heart(page, tmp_path)
    headers = _token(server, email)
    production = httpx.put(
        f"{server}/api/v1/models/heart/aliases/production", json={"version": 1}, headers=headers
    )
    assert production.status_code == 200, production.text
    page.goto("/ui/models/heart")
    # The form starts on the version a prediction without one goes to, and says so.
    picker = page.locator("#try").get_by_label("Version")
    expect(picker).to_have_value("1")
    expect(page.locator("#schema h2")).to_contain_text("version 1")
    picker.select_option("2")
    rows = [{name: 1 for name in HEART_FEATURES}]
    page.get_by_label(re.compile("^Rows")).fill(json.dumps(rows))
    page.get_by_role("button", name="Predict").click()
    expect(page.locator(".result")).to_contain_text("by version 2")
    expect(page.locator("#try").get_by_label("Version")).to_have_value("2")
    expect(page.locator("#schema h2")).to_contain_text("version 2")


def test_favicon_and_the_fit_again_checkbox_beside_its_label(page: Page, tmp_path: Path) -> None:
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
    sign_up(page, f"{unique('icon')}@example.com")
    _upload_blobs(page, tmp_path)
    page.goto("/ui/models/blobs/versions/1/projections")
    checkbox = page.get_by_role("checkbox", name=re.compile("Fit again"))
    expect(checkbox).to_be_visible()
    gap = checkbox.evaluate(
        """box => {
            const range = document.createRange();
            range.selectNodeContents(box.parentElement);
            range.setStartAfter(box);
            return range.getBoundingClientRect().left - box.getBoundingClientRect().right;
        }"""
    )
    assert 0 <= gap <= 12, f"the label's text starts {gap} px after the checkbox"
