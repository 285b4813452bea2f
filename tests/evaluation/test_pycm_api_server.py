"""pycm-api's document, run unchanged against a real ``modelyard serve``: the Python workflow
with the real ``requests`` and the cURL lines with the real curl. Only the address changes
(a free port instead of 8000) and, as the document asks, the placeholders YOUR_API_KEY/CM_UID.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.db import Database
from tests.evaluation.pycm_api_document import CURL, WORKFLOW
from tests.helpers import running_server

DOCUMENT_BASE = "http://127.0.0.1:8000"


@pytest.fixture
def base_url(tmp_path: Path, database: Database) -> Iterator[str]:
    """``modelyard serve`` in a child process on the suite's database."""
    with running_server(tmp_path) as (base, _log):
        yield base


def test_the_workflow_example_against_a_running_server(base_url: str, tmp_path: Path) -> None:
    script = WORKFLOW.replace(DOCUMENT_BASE, base_url)
    work = tmp_path / "client"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("API Key: mdy_") and lines[1].startswith("Confusion Matrix UID: ")
    assert lines[2:] == [
        "Accuracy: 0.75",
        "Precision: 0.75",
        "Recall: 0.75",
        "F1-Score: 0.75",
        "Best model: None",
    ]
    assert "PyCM Report" in (work / "report.html").read_text()
    assert (work / "plot.png").read_bytes().startswith(b"\x89PNG")


def _curl_commands() -> list[str]:
    commands, current = [], ""
    for line in CURL.splitlines():
        if line.startswith("#") or not line.strip():
            if current:
                commands.append(current)
            current = ""
            continue
        current += line + "\n"
    if current:
        commands.append(current)
    return commands


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_curl_lines_against_a_running_server(base_url: str) -> None:
    sign_up, create, read = _curl_commands()

    def run(command: str) -> dict[str, object]:
        result = subprocess.run(
            [
                "bash",
                "-c",
                command.replace(DOCUMENT_BASE, base_url).rstrip() + " --silent --show-error",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer: dict[str, object] = json.loads(result.stdout)
        return answer

    user = run(sign_up)
    assert user["email"] == "test@example.com"
    api_key = str(user["api_key"])
    created = run(create.replace("YOUR_API_KEY", api_key))
    uid = str(created["uid"])
    shown = run(read.replace("YOUR_API_KEY", api_key).replace("CM_UID", uid))
    assert shown["uid"] == uid and shown["confusion_matrix"] == [[1, 1], [0, 2]]
    assert shown["accuracy"] == 0.75
