"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on ``modelyard serve``.

Playwright never downloads a browser here: it launches /usr/bin/chromium (``apt-get install
chromium``). Without it these tests are skipped, saying so. A failing test leaves a screenshot
in ``test-artifacts/``. With ``MODELYARD_DOCS_SCREENSHOT=1`` the README's screenshot is written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.db import Database
from tests.conftest import TEST_BROKER_URL, TEST_DATABASE_URL, _empty_tables
from tests.helpers import running_server
from tests.jobs.conftest import SESSION_QUEUE
from tests.registry.factories import HEART_FEATURES, HEART_SCHEMA, heart_classifier
from tests.training.helpers import corpus_members, unique, zip_bytes
from tests.visualization.helpers import SCHEMA as BLOBS_SCHEMA
from tests.visualization.helpers import model_bytes as blobs_model
from tests.visualization.helpers import sample_csv

BLOBS_SCHEMA_NAMES = [column["name"] for column in BLOBS_SCHEMA]

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "a-long-admin-password"
PASSWORD = "test123"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is not installed (apt-get install -y chromium)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def server(
    migrated_database: Database, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One ``modelyard serve`` for the module, with an admin and a low training threshold."""
    env = {
        "MODELYARD_ADMIN_EMAIL": ADMIN_EMAIL,
        "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MODELYARD_TRAINING_MIN_DOCS_PER_LABEL": "20",
        "MODELYARD_LOG_FORMAT": "text",
        # Only PCA is projected here: no UMAP compilation competing for the CPU.
        "MODELYARD_VISUALIZATION_WARM_UP": "false",
    }
    if TEST_BROKER_URL:
        # The session's Celery worker runs the training: same queue, same data folder.
        env["MODELYARD_JOBS_QUEUE_NAME"] = SESSION_QUEUE
        folder = data_dir
    else:
        folder = tmp_path_factory.mktemp("web-server")
    try:
        with running_server(folder, env) as (base, _log):
            yield base
    finally:
        if TEST_DATABASE_URL:
            _empty_tables(migrated_database)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield launched
        launched.close()


def _new_page(browser: Browser, server: str, **options: Any) -> Page:
    context = browser.new_context(base_url=server, **options)
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def page(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    opened = _new_page(browser, server, viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    # A script error or a CSP refusal shows in the console; an answered 4xx is expected.
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
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for index, each in enumerate(opened.context.pages):
            each.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-{index}.png"), full_page=True
            )
    opened.context.close()
    assert not problems, problems


def sign_up(page: Page, email: str) -> None:
    page.goto("/ui/sign-up")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {email}")


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.goto("/ui/sign-in")
    page.get_by_label("E-mail or username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_and_create_an_api_key(page: Page) -> None:
    sign_up(page, f"{unique('key')}@example.com")
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("You have no API keys yet.")).to_be_visible()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key")
    expect(key).to_have_value(re.compile(r"^mdy_[0-9a-f]{12}_"))
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    secret = key.input_value()
    answer = page.request.get("/api/v1/users/me", headers={"X-API-Key": secret})
    assert answer.status == 200
    # Shown once: the list never has it again.
    page.goto("/ui/keys")
    expect(page.get_by_role("cell", name="laptop")).to_be_visible()
    assert secret not in page.content()


def _new_matrix(page: Page, name: str, predicted: str) -> None:
    page.goto("/ui/matrices/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Actual labels").fill("cat dog cat bird dog cat bird bird")
    page.get_by_label("Predicted labels").fill(predicted)
    page.get_by_role("button", name="Create matrix").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_create_and_compare_matrices(page: Page) -> None:
    sign_up(page, f"{unique('cm')}@example.com")
    _new_matrix(page, "model A", "cat dog dog bird dog cat cat bird")
    expect(page.locator('[data-metric="accuracy"]')).to_have_text("0.75")
    expect(page.get_by_role("img", name=re.compile("Heat map"))).to_be_visible()
    expect(page.get_by_role("rowheader", name="Overall ACC")).to_be_visible()
    _new_matrix(page, "model B", "cat dog cat bird dog cat bird cat")
    page.get_by_role("link", name="Matrices").click()
    page.get_by_role("link", name="Compare matrices").click()
    page.get_by_label("model A").check()
    page.get_by_label("model B").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("[data-best]")).to_have_text("model B")
    ranks = page.locator("table tbody tr td:nth-child(2)")
    expect(ranks).to_have_text(["model B", "model A"])


def test_upload_a_model_and_try_a_prediction(page: Page, tmp_path: Path) -> None:
    sign_up(page, f"{unique('model')}@example.com")
    model_file = tmp_path / "heart.skops"
    model_file.write_bytes(heart_classifier())
    schema_file = tmp_path / "input_schema.json"
    schema_file.write_text(json.dumps(HEART_SCHEMA))
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page.get_by_text("No models yet.")).to_be_visible()
    page.get_by_label("Name").fill("heart")
    page.get_by_label("Model file (skops or ONNX)").set_input_files(model_file)
    page.get_by_label("Input schema").set_input_files(schema_file)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Version 1 of heart is registered.")).to_be_visible()
    expect(page.get_by_role("cell", name="ejection_fraction")).to_be_visible()
    rows = [{name: 1 for name in HEART_FEATURES}, {name: 0 for name in HEART_FEATURES}]
    page.get_by_label(re.compile("^Rows")).fill(json.dumps(rows))
    page.get_by_role("button", name="Predict").click()
    predictions = page.locator(".result td.prediction")
    expect(predictions).to_have_count(2)
    for value in predictions.all_inner_texts():
        assert value in ("0", "1")
    expect(page.get_by_role("columnheader", name="P(1)")).to_be_visible()
    page.get_by_label(re.compile("^Rows")).fill('[{"age": "old"}]')
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text(re.compile("The prediction failed"))).to_be_visible()
    # The log is written in batches; the page shows it once it is.
    for _ in range(40):
        page.goto(page.url.split("/predict")[0].replace("/predict", ""))
        if page.locator("table.log tbody tr").count() >= 2:
            break
        page.wait_for_timeout(250)
    expect(page.locator("table.log tbody tr")).to_have_count(2)
    expect(page.locator("svg.chart")).to_have_count(3)
    if os.environ.get("MODELYARD_DOCS_SCREENSHOT"):
        page.screenshot(path=str(REPO_ROOT / "docs" / "img" / "dashboard.png"), full_page=True)


def test_watch_a_training_run_finish(page: Page, tmp_path: Path) -> None:
    sign_up(page, f"{unique('train')}@example.com")
    archive = tmp_path / "topics.zip"
    archive.write_bytes(zip_bytes(corpus_members(per_label=30)))
    page.get_by_role("link", name="Training").click()
    expect(page.get_by_text("Upload a dataset first.")).to_be_visible()
    page.get_by_label(re.compile("^Archive")).set_input_files(archive)
    page.get_by_label("Name").fill("topics")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Dataset topics is ready: 90 documents.")).to_be_visible()
    page.get_by_label("Experiment name").fill(unique("browser"))
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Training started.")).to_be_visible()
    # The bar follows the job by polling; when it ends the page shows the results.
    expect(page.locator('#progress [data-field="job_state"]')).to_have_text(
        "SUCCESS", timeout=60_000
    )
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    bar = page.get_by_role("progressbar").bounding_box()
    fill = page.locator("#progress .bar .fill").bounding_box()
    assert bar is not None and fill is not None and fill["width"] >= 0.95 * bar["width"]
    expect(page.locator('[data-metric="accuracy"]')).to_be_visible()
    page.locator("[data-validation-matrix]").click()
    expect(page.get_by_role("heading", name="Matrix")).to_be_visible()


def _upload_blobs(page: Page, tmp_path: Path, rows: int = 60) -> None:
    model_file = tmp_path / "blobs.skops"
    model_file.write_bytes(blobs_model())
    schema_file = tmp_path / "input_schema.json"
    schema_file.write_text(json.dumps(BLOBS_SCHEMA))
    sample_file = tmp_path / "sample.csv"
    sample_file.write_bytes(sample_csv(rows))
    page.goto("/ui/models")
    page.get_by_label("Name").fill("blobs")
    page.get_by_label("Model file (skops or ONNX)").set_input_files(model_file)
    page.get_by_label("Input schema").set_input_files(schema_file)
    page.get_by_label(re.compile("^Training sample")).set_input_files(sample_file)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Version 1 of blobs is registered.")).to_be_visible()


def test_open_a_projection_and_read_a_points_tooltip(page: Page, tmp_path: Path) -> None:
    sign_up(page, f"{unique('proj')}@example.com")
    _upload_blobs(page, tmp_path)
    rows = [{name: float(i) / 3 for name in BLOBS_SCHEMA_NAMES} for i in range(6)]
    page.get_by_label(re.compile("^Rows")).fill(json.dumps(rows))
    page.get_by_role("button", name="Predict").click()
    expect(page.locator(".result td.prediction")).to_have_count(6)
    page.goto("/ui/models/blobs")
    page.locator('[data-projections="1"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projections of blobs v1")
    expect(page.get_by_text("No projections of this version yet.")).to_be_visible()
    page.get_by_label("Method").select_option("pca")
    page.get_by_role("button", name="Start projection").click()
    expect(page.get_by_text("Projection started.")).to_be_visible()
    # The bar follows the job by polling; when it ends the page draws the scatter.
    expect(page.locator('#progress [data-field="job_state"]')).to_have_text(
        "SUCCESS", timeout=60_000
    )
    expect(page.locator("svg.scatter")).to_be_visible()
    expect(page.locator("circle.pt-training")).to_have_count(60)
    production = page.locator("circle.pt-production")
    if production.count() == 0:
        # The request log is written in batches: project again once it has the requests.
        for _ in range(40):
            page.wait_for_timeout(250)
            page.goto("/ui/models/blobs/versions/1/projections")
            page.get_by_label("Method").select_option("pca")
            page.get_by_role("button", name="Start projection").click()
            expect(page.locator('#progress [data-field="job_state"]')).to_have_text(
                "SUCCESS", timeout=60_000
            )
            if production.count():
                break
    expect(production).to_have_count(6)
    point = production.first
    request_id = point.get_attribute("data-request")
    point_class = point.get_attribute("data-class")
    assert request_id and point_class
    point.hover()
    tooltip = page.locator("#tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip.locator(".tip-title")).to_have_text(f"Request {request_id}")
    expect(tooltip.locator(".tip-class")).to_have_text(f"class: {point_class}")
    expect(tooltip.locator(".tip-confidence")).to_have_text(re.compile(r"^confidence: 0?\.?\d"))
    expect(tooltip.locator(".tip-neighbours")).to_contain_text("Nearest: request ")
    expect(page.locator("circle.pt.neighbour")).to_have_count(5)  # the other 5 points
    # Colour by confidence: the points take their confidence colour, the legend follows.
    page.get_by_role("radio", name="confidence").check()
    expect(point).to_have_attribute("fill", point.get_attribute("data-fill-confidence") or "?")
    expect(page.locator('[data-legend="confidence"]')).to_be_visible()
    expect(page.locator('[data-legend="class"]')).to_be_hidden()
    # Keyboard users get the same tooltip.
    page.mouse.move(0, 0)
    expect(tooltip).to_be_hidden()
    production.nth(1).focus()
    expect(tooltip.locator(".tip-title")).to_have_text(
        f"Request {production.nth(1).get_attribute('data-request')}"
    )
    expect(page.locator('[data-metric="global_score"]')).to_be_visible()
    if os.environ.get("MODELYARD_DOCS_SCREENSHOT"):
        production.nth(2).hover()
        page.screenshot(path=str(REPO_ROOT / "docs" / "img" / "projection.png"), full_page=True)
    expect(page.get_by_role("link", name="Scatter plot (PNG)")).to_be_visible()
    png = page.request.get(page.locator('[data-download="png"]').get_attribute("href") or "")
    assert png.status == 200 and png.body().startswith(b"\x89PNG")
    page.get_by_role("link", name="Projections", exact=True).click()
    expect(page.locator("table.projections tbody tr").first).to_contain_text("blobs v1")


def test_admin_disables_a_user_who_then_cannot_sign_in(
    page: Page, browser: Browser, server: str
) -> None:
    email = f"{unique('victim')}@example.com"
    sign_up(page, email)
    admin = _new_page(browser, server)
    sign_in(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin.get_by_role("link", name="Admin").click()
    row = admin.locator(f'tr[data-user="{email}"]')
    row.get_by_role("button", name="Disable").click()
    expect(admin.get_by_text(f"{email} is disabled.")).to_be_visible()
    expect(admin.locator(f'tr[data-user="{email}"] .state')).to_have_text("disabled")
    admin.context.close()
    page.reload()
    expect(page).to_have_url(re.compile("/ui/sign-in"))
    sign_in(page, email)
    expect(page.get_by_role("alert")).to_have_text(
        "This account is disabled. Ask an admin to enable it."
    )


def test_pages_fit_a_phone(browser: Browser, server: str, tmp_path: Path) -> None:
    phone = _new_page(browser, server, viewport={"width": 390, "height": 844})
    try:
        sign_up(phone, f"{unique('phone')}@example.com")
        _new_matrix(phone, "phone matrix", "cat dog dog bird dog cat cat bird")
        matrix_url = phone.url
        model_file = tmp_path / "heart.skops"
        model_file.write_bytes(heart_classifier())
        phone.goto("/ui/models")
        phone.get_by_label("Name").fill("heart")
        phone.get_by_label("Model file (skops or ONNX)").set_input_files(model_file)
        phone.get_by_role("button", name="Upload").click()
        expect(phone.get_by_text("Version 1 of heart is registered.")).to_be_visible()
        heart_url = phone.url
        _upload_blobs(phone, tmp_path)
        phone.goto("/ui/models/blobs/versions/1/projections")
        phone.get_by_label("Method").select_option("pca")
        phone.get_by_role("button", name="Start projection").click()
        expect(phone.locator('#progress [data-field="job_state"]')).to_have_text(
            "SUCCESS", timeout=60_000
        )
        expect(phone.locator("svg.scatter")).to_be_visible()
        projection_url = phone.url
        for path in (
            "/ui/",
            "/ui/keys",
            "/ui/matrices",
            matrix_url,
            "/ui/matrices/compare",
            heart_url,
            "/ui/training",
            "/ui/projections",
            "/ui/models/blobs/versions/1/projections",
            projection_url,
        ):
            phone.goto(path)
            # The page itself never scrolls sideways; wide tables scroll inside their box.
            overflow = phone.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, (path, overflow)
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / "test_pages_fit_a_phone.png"), full_page=True)
        raise
    finally:
        phone.context.close()
