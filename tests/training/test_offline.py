"""The training domain stays off the network (no telemetry, no downloads) and starts light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The variables by which MLflow guesses it runs under CI or tests, and then keeps quiet anyway.
CI_MARKERS = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL")


def _clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in CI_MARKERS
        and not key.startswith(("MLFLOW_", "HF_", "TRANSFORMERS_", "MODELYARD_"))
        and key != "DO_NOT_TRACK"
    }


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_mlflow_telemetry_is_off_in_a_server_process() -> None:
    # A process like `modelyard serve`: not under pytest, not in CI.
    out = _run(
        "import modelyard.training.tracking\n"
        "from mlflow.telemetry.client import get_telemetry_client\n"
        "print(get_telemetry_client())"
    )
    assert out == "None"


def test_an_operator_may_turn_telemetry_on() -> None:
    out = _run(
        "import os; os.environ['MLFLOW_DISABLE_TELEMETRY'] = 'false'\n"
        "import modelyard.training.tracking\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "print(is_telemetry_disabled())"
    )
    assert out == "False"


def test_starting_the_server_does_not_import_torch() -> None:
    # skops imports torch (through scikit-learn's estimator list) when it is first imported:
    # that must happen on the first skops model, not when a server or worker starts.
    out = _run(
        "import sys\n"
        "import modelyard.app, modelyard.cli, modelyard.training.tasks\n"
        "heavy = ('torch', 'skops.io', 'sentence_transformers')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert out == "[]"
