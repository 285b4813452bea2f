"""The client's monitoring methods against a real ``modelyard serve``: the right answers by
predict id (JSON and a CSV file), performance and drift per window, a monitor run as a job."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard_client import Client, NotFound


def test_feedback_performance_drift_and_a_monitor(client: Client, tmp_path: Path) -> None:
    data = load_iris(as_frame=True)
    features = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = LogisticRegression(max_iter=500).fit(features, data.target)
    client.push_model("watched", model, sample=features)

    served = features.head(40)
    answer = client.predict("watched", served)
    truth = data.target.head(40).tolist()
    given = client.give_feedback(
        "watched",
        [{"predict_id": answer.predict_id, "row": i, "label": truth[i]} for i in range(30)],
    )
    assert (given["received"], given["stored"], given["replaced"]) == (30, 30, 0)

    # The same rows again from a file: replaced, not added; the last ten rows are new.
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"predict_id": [answer.predict_id] * 40, "row": range(40), "label": truth}).to_csv(
        csv, index=False
    )
    uploaded = client.upload_feedback("watched", csv)
    assert (uploaded["stored"], uploaded["replaced"]) == (10, 30)
    unknown = client.give_feedback(
        "watched", [{"predict_id": "not-a-logged-id", "label": 0}], skip_unknown=True
    )
    assert unknown["unknown"] == 1 and unknown["stored"] == 0

    performance = client.performance("watched", window="day")
    [window] = performance["windows"]
    assert (window["predicted"], window["labelled"]) == (40, 40)
    expected = sum(p == t for p, t in zip(answer.predictions, truth, strict=True)) / 40
    assert abs(window["accuracy"] - expected) < 1e-9

    drift = client.drift("watched", 1)
    assert [f["feature"] for f in drift["windows"][0]["features"]] == list(features.columns)

    monitor = client.create_monitor(
        "enough answers", "watched", {"kind": "coverage_below", "threshold": 0.5}, min_samples=1
    )
    assert monitor["id"] in [m["id"] for m in client.list_monitors()]
    assert client.get_monitor(monitor["id"])["name"] == "enough answers"
    started = client.run_monitor(monitor["id"])
    assert client.wait(started["job_id"], timeout=120).state == "SUCCESS"
    [evaluation] = client.monitor_evaluations(monitor["id"])
    assert evaluation["value"] == 1.0  # every row labelled: coverage 100%, not below 50%
    assert client.monitor_deliveries(monitor["id"]) == []  # no webhook set
    client.delete_monitor(monitor["id"])
    try:
        client.get_monitor(monitor["id"])
    except NotFound:
        pass
    else:
        raise AssertionError("the deleted monitor is still there")
