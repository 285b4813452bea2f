"""The client's verbs as a user runs them: ``modelyard ...`` processes against a real server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tests.helpers import PASSWORD, free_port
from tests.training.helpers import write_folder

VERBS = [
    ["login"],
    ["models", "push"],
    ["models", "list"],
    ["predict"],
    ["cm", "create"],
    ["datasets", "push"],
    ["train"],
    ["project"],
    ["jobs", "watch"],
    ["requests", "export"],
]


def _env(own_config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(MODELYARD_CONFIG=str(own_config), COLUMNS="200", **extra)
    return env


def _modelyard(
    args: list[str], env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=600,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_help_answers_without_importing_the_server_or_the_client(own_config: Path) -> None:
    # Each command's help, formatted in one process, then the modules it loaded.
    script = (
        "import sys\n"
        "from modelyard.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.format_help()\n"
        "commands = next(a for a in parser._actions if a.choices)\n"
        "for name, sub in commands.choices.items():\n"
        "    sub.format_help()\n"  # serve's too: its mlup options come from mlup_flags
        "    for action in sub._actions:\n"
        "        if action.dest.endswith('_command'):\n"
        "            for verb in action.choices.values():\n"
        "                verb.format_help()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.replace("'", '"')))
    heavy = {"sqlalchemy", "fastapi", "pydantic", "httpx", "numpy", "rich", "uvicorn"}
    assert not loaded & heavy, loaded & heavy
    for verb in VERBS:
        shown = _modelyard([*verb, "--help"], _env(own_config))
        assert shown.returncode == 0 and b"--json" in shown.stdout, verb


def test_login_stores_a_profile_the_other_verbs_use(
    server_url: str, login: str, own_config: Path, tmp_path: Path
) -> None:
    env = _env(own_config)
    # An account to log in with (sign-up is the API's; the CLI signs in).
    import httpx

    httpx.post(f"{server_url}/api/v1/users", json={"email": login, "password": PASSWORD})
    logged = _modelyard(
        ["login", "--url", server_url, "--login", login, "--password-stdin"],
        env,
        stdin=f"{PASSWORD}\n".encode(),
    )
    assert "logged in" in _ok(logged)
    assert own_config.stat().st_mode & 0o777 == 0o600
    assert "mdy_" in own_config.read_text()

    data = load_iris(as_frame=True)
    features = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model_path = tmp_path / "iris.skops"
    sio.dump(LogisticRegression(max_iter=500).fit(features, data.target), model_path)
    sample = tmp_path / "train.csv"
    features.to_csv(sample, index=False)

    pushed = json.loads(
        _ok(
            _modelyard(
                [
                    "models",
                    "push",
                    str(model_path),
                    "--name",
                    "iris",
                    "--sample",
                    str(sample),
                    "--json",
                ],
                env,
            )
        )
    )
    assert pushed["model_name"] == "iris" and pushed["version"] == 1
    listed = json.loads(_ok(_modelyard(["models", "list", "--json"], env)))
    assert [m["name"] for m in listed] == ["iris"]
    assert "iris" in _ok(_modelyard(["models", "list"], env))  # the table

    rows = tmp_path / "rows.csv"
    features.head(4).to_csv(rows, index=False)
    answered = list(csv.reader(io.StringIO(_ok(_modelyard(["predict", "iris", str(rows)], env)))))
    assert answered[0] == ["prediction", "probability_0", "probability_1", "probability_2"]
    assert [row[0] for row in answered[1:]] == ["0", "0", "0", "0"]
    records = features.tail(2).to_json(orient="records").encode()
    from_stdin = json.loads(
        _ok(_modelyard(["predict", "iris", "-", "--format", "json"], env, stdin=records))
    )
    assert from_stdin["predictions"] == [2, 2]
    parquet = tmp_path / "rows.parquet"
    features.head(3).to_parquet(parquet)
    assert len(_ok(_modelyard(["predict", "iris", str(parquet)], env)).splitlines()) == 4

    actual = tmp_path / "actual.txt"
    actual.write_text("0\n1\n2\n1\n")
    matrix = json.loads(
        _ok(_modelyard(["cm", "create", str(actual), "-", "--json"], env, stdin=b"[0, 1, 1, 1]"))
    )
    assert matrix["classes"] == [0, 1, 2] and matrix["accuracy"] == pytest.approx(0.75)

    out = tmp_path / "log.parquet"
    exported = _modelyard(
        ["requests", "export", "iris", "--format", "parquet", "--out", str(out)], env
    )
    assert str(out) in _ok(exported)
    assert len(pd.read_parquet(out)) == 3  # the three predictions above

    plot = tmp_path / "plot.png"
    projected = _modelyard(
        ["project", "iris", "latest", "--method", "pca", "--out", str(plot), "--quiet"], env
    )
    assert "SUCCESS" in _ok(projected)
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_train_and_watch_a_job_with_the_exit_code_of_its_end(
    server_url: str, login: str, own_config: Path, tmp_path: Path
) -> None:
    from modelyard_client import Client

    with Client(server_url) as client:
        client.sign_up(PASSWORD, email=login)
        client.sign_in(login, PASSWORD)
        key = client.create_api_key().key
    env = _env(own_config, MODELYARD_URL=server_url, MODELYARD_API_KEY=key)
    folder = write_folder(tmp_path, per_label=80)
    dataset = json.loads(_ok(_modelyard(["datasets", "push", str(folder), "--json"], env)))
    assert dataset["documents"] == 240

    trained = _modelyard(["train", str(dataset["id"]), "--experiment", "cli-news"], env)
    shown = _ok(trained)
    assert "SUCCESS" in shown and "100%" in trained.stderr.decode()  # the bar, on stderr
    queued = json.loads(
        _ok(
            _modelyard(
                ["train", str(dataset["id"]), "--experiment", "cli-news", "--no-wait", "--json"],
                env,
            )
        )
    )
    watched = json.loads(_ok(_modelyard(["jobs", "watch", queued["job_id"], "--json"], env)))
    assert watched["state"] == "SUCCESS" and watched["progress"] == 1.0


def test_errors_are_one_line_with_exit_codes_scripts_can_trust(
    server_url: str, own_config: Path, tmp_path: Path
) -> None:
    env = _env(own_config, MODELYARD_URL=server_url, MODELYARD_API_KEY="mdy_not-a-key")
    refused = _modelyard(["models", "list"], env)
    assert refused.returncode == 1
    lines = refused.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelyard: 401 ") and "request" in lines[0]

    missing_file = _modelyard(["predict", "iris", str(tmp_path / "absent.csv")], env)
    assert missing_file.returncode == 2 and b"Traceback" not in missing_file.stderr

    nowhere = _env(own_config, MODELYARD_URL=f"http://127.0.0.1:{free_port()}")
    unreachable = _modelyard(["models", "list"], nowhere)
    assert unreachable.returncode == 3 and b"cannot reach" in unreachable.stderr

    unconfigured = _modelyard(["models", "list"], _env(own_config))
    assert unconfigured.returncode == 2 and b"modelyard login" in unconfigured.stderr

    # A key the server does not take is refused at login, and no profile is written.
    bad_key = _modelyard(["login", "--url", server_url, "--api-key", "mdy_wrong"], _env(own_config))
    assert bad_key.returncode == 1 and b"401" in bad_key.stderr
    assert not own_config.exists()
