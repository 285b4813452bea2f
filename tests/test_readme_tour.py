"""The README's tour, run as written against a real ``modelyard serve``.

Its bash block is taken from README.md, pointed at the test server (and at this interpreter for
``.venv/bin/python``) and run by bash with every curl failing on an HTTP error; then the
projection it started must end well and the dashboard it sends the reader to must answer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelyard.db import Database
from tests.conftest import TEST_BROKER_URL
from tests.helpers import running_server
from tests.jobs.conftest import SESSION_QUEUE, celery_worker  # noqa: F401 - the worker fixture

README = Path(__file__).resolve().parents[1] / "README.md"
DOCUMENTED_BASE = "http://127.0.0.1:8000"


def tour_script() -> str:
    """The first bash block under the README's "A five-step tour" heading."""
    text = README.read_text()
    section = text.split("## A five-step tour", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the README's tour has no bash block"
    return match.group(1)


def test_the_tour_block_is_where_the_test_looks() -> None:
    script = tour_script()
    assert script.count("curl ") >= 6 and DOCUMENTED_BASE in script


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
# A real server, a first model upload (its worker process starts) and a projection job:
# 150-170 s measured at load 13-27 (not yet measured on a quiet machine).
@pytest.mark.timeout(600)
def test_the_readme_tour_runs_as_written(
    tmp_path: Path, data_dir: Path, database: Database
) -> None:
    # No UMAP warm-up: minutes of CPU the tour (PCA) does not need, beside the suite's tests.
    env = {"MODELYARD_VISUALIZATION_WARM_UP": "false"}
    folder = tmp_path
    if TEST_BROKER_URL:
        # The session's Celery worker runs the projection: its queue, its data folder.
        env["MODELYARD_JOBS_QUEUE_NAME"] = SESSION_QUEUE
        folder = data_dir
    with running_server(folder, env=env) as (base, _):
        tour = tmp_path / "tour"  # the reader's folder: the model and the sample go there
        tour.mkdir()
        script = tour_script().replace(DOCUMENTED_BASE, base)
        script = script.replace(".venv/bin/python", sys.executable)
        # As a reader would see it, but stopped at the first request the server refuses.
        strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
        done = subprocess.run(
            ["bash", "-c", strict + script],
            cwd=tour,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        assert '"predictions":[' in done.stdout and '"accuracy":0.75' in done.stdout

        token = httpx.post(
            f"{base}/api/v1/auth/token",
            json={"login": "me@example.com", "password": "a-long-password"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        projections = f"{base}/api/v1/models/demo/versions/1/projections"
        deadline = time.monotonic() + 120
        while True:
            [projection] = httpx.get(projections, headers=headers).json()["items"]
            if projection["state"] not in ("PENDING", "STARTED"):
                break
            assert time.monotonic() < deadline, projection
            time.sleep(0.5)
        assert projection["state"] == "SUCCESS", projection
        assert httpx.get(f"{base}/ui/", follow_redirects=True).status_code == 200
