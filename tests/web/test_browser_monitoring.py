"""The Monitoring page in Chromium (issue 23): a served model's performance, drift heat map,
one feature's distribution and monitors, reached from the model page as a user would.

The fixtures (one ``modelyard serve`` for the module, the browser) are test_browser.py's; the
model, its predictions and the right answers go in through the API, as a client would send them.
"""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest
import skops.io as sio

from tests.registry.factories import classifier
from tests.training.helpers import unique
from tests.web import test_browser as shared
from tests.web import test_browser_first_use as first_use
from tests.web.test_browser import CHROMIUM, PASSWORD, sign_up

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is not installed (apt-get install -y chromium)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Page, expect

# test_browser.py's server and browser; test_browser_first_use.py's 1400 px page that fails on
# a script error.
server = shared.server
browser = shared.browser
page = first_use.page

SCHEMA = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]


def _served_with_feedback(server: str, email: str) -> None:
    """A two-feature model with a training sample, 120 predictions whose feature ``a`` moved
    by two standard deviations, the right answers for half of them, and a monitor."""
    token = httpx.post(
        f"{server}/api/v1/auth/token", json={"login": email, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    sample = np.random.default_rng(0).normal(size=(400, 2))
    registered = httpx.post(
        f"{server}/api/v1/models",
        headers=headers,
        data={"name": "watched"},
        files={
            "file": ("model.skops", sio.dumps(classifier(2))),
            "input_schema": ("schema.json", json.dumps(SCHEMA).encode()),
            "sample": (
                "sample.csv",
                ("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in sample)),
            ),
        },
        timeout=120,
    )
    assert registered.status_code == 201, registered.text
    rows = np.random.default_rng(1).normal(loc=[2.0, 0.0], size=(120, 2)).tolist()
    answered = httpx.post(
        f"{server}/api/v1/models/watched/predict", headers=headers, json={"X": rows}, timeout=60
    )
    assert answered.status_code == 200, answered.text
    predict_id = answered.json()["predict_id"]
    labels = [{"predict_id": predict_id, "row": i, "label": 1} for i in range(60)]
    stored = httpx.post(
        f"{server}/api/v1/models/watched/feedback", headers=headers, json=labels, timeout=60
    )
    assert stored.status_code == 200, stored.text
    monitor = httpx.post(
        f"{server}/api/v1/monitors",
        headers=headers,
        json={
            "name": "inputs moved",
            "model": "watched",
            "check": {"kind": "drift_share", "threshold": 0.5},
        },
    )
    assert monitor.status_code == 201, monitor.text


def test_the_monitoring_page_from_the_model_page(page: Page, server: str) -> None:
    email = f"{unique('watch')}@example.com"
    sign_up(page, email)
    _served_with_feedback(server, email)

    page.goto("/ui/models/watched")
    page.get_by_role("link", name=re.compile("monitoring", re.IGNORECASE)).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Monitoring of watched"))

    performance = page.get_by_role("region", name="Performance over time")
    expect(performance.locator("svg").first).to_be_visible()  # the chart over windows
    expect(performance.get_by_role("cell", name="50.0%")).to_be_visible()  # 60 of 120 labelled

    drift = page.get_by_role("region", name="Drift per feature")
    moved = drift.locator("tbody tr").filter(
        has=page.get_by_role("rowheader", name="a", exact=True)
    )
    still = drift.locator("tbody tr").filter(
        has=page.get_by_role("rowheader", name="b", exact=True)
    )
    expect(moved.locator("td.drift-yes")).to_have_count(1)
    expect(still.locator("td.drift-no")).to_have_count(1)
    # The red cell opens that feature's distribution in that window beside the reference.
    moved.locator("td.drift-yes a").click()
    distribution = page.locator("svg").filter(has_text=re.compile(r"a: window from .* reference"))
    expect(distribution).to_be_visible()

    monitors = page.get_by_role("region", name="Monitors")
    expect(monitors.get_by_role("cell", name="inputs moved")).to_be_visible()
