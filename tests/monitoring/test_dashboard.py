"""The Monitoring page of a model version: performance over time, coverage, the drift heat map
with one feature's distribution, the monitors."""

from __future__ import annotations

import numpy as np
import skops.io as sio
from fastapi.testclient import TestClient

from tests.helpers import Account, sign_up
from tests.monitoring.helpers import feedback, flush, predict
from tests.registry.factories import classifier, register_ok
from tests.web.helpers import web_sign_in

SCHEMA = [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]


def _sample() -> bytes:
    data = np.random.default_rng(0).normal(size=(400, 2))
    return ("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in data)).encode()


def test_the_monitoring_page_shows_performance_drift_and_monitors(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", sio.dumps(classifier(2)), schema=SCHEMA, sample=_sample())
    rows = np.random.default_rng(1).normal(loc=[2.0, 0.0], size=(120, 2)).tolist()
    answer = predict(client, alice, "m", rows)
    flush(client)
    items = [{"predict_id": answer["predict_id"], "row": i, "label": 1} for i in range(60)]
    assert feedback(client, alice, "m", items).status_code == 200
    created = client.post(
        "/api/v1/monitors",
        json={
            "name": "accuracy watch",
            "model": "m",
            "check": {"kind": "volume_below", "threshold": 5},
        },
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text

    web_sign_in(client, alice.login)
    model_page = client.get("/ui/models/m")
    assert 'href="/ui/models/m/versions/1/monitoring?owner_id=' in model_page.text
    page = client.get("/ui/models/m/versions/1/monitoring")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Performance over time" in html and "<td>120</td><td>60</td>" in html
    assert "50.0%" in html  # coverage 60 / 120
    assert 'href="/ui/matrices/' in html
    assert html.count('class="drift-yes"') == 1  # a moved, b did not
    assert html.count('class="drift-no"') == 1
    assert "beside the reference" in html  # the chosen feature's distribution
    assert "accuracy watch" in html
    assert html.count("<svg") >= 2

    chosen = client.get("/ui/models/m/versions/1/monitoring?feature=b&window=hour")
    assert chosen.status_code == 200 and "b: window from" in chosen.text

    sign_up(client, "bob@example.com")
    client.cookies.clear()
    web_sign_in(client, "bob@example.com")
    assert client.get("/ui/models/m/versions/1/monitoring").status_code == 404
