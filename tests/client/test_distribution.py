"""The client is a distribution of its own: light, versioned with the server.

The install test builds the client's wheel and installs it into a fresh virtualenv with
``pip --no-index`` from wheels already on the machine (``MODELYARD_TEST_WHEELS``, else the
folders pip's own configuration finds links in), then lists what got installed. Where no
wheels of httpx and pydantic are on disk, it checks the wheel's declared requirements instead
and says so (skip with a reason).
"""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import modelyard
import modelyard_client
from modelyard_client import Client, IncompatibleServer, _sync_client
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import free_port

CLIENT_ROOT = Path(__file__).resolve().parents[2] / "client"
# What the client may pull in: its two dependencies and theirs.
ALLOWED = {
    "modelyard-client",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "exceptiongroup",
    "pip",
    "setuptools",
    "wheel",
}
WHEEL_FOLDERS = [Path("/opt/pypi/files"), Path("/opt/wheels")]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("client-wheel")
    # Built from a copy: setuptools leaves build/ and .egg-info beside the sources it builds.
    source = tmp_path_factory.mktemp("client-source") / "client"
    shutil.copytree(CLIENT_ROOT, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(folder),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (built,) = folder.glob("modelyard_client-*.whl")
    return built


def test_the_wheel_declares_no_server_dependency(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
        packages = {name.split("/")[0] for name in archive.namelist()}
    required = [
        _normal(line.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip())
        for line in metadata.get_all("Requires-Dist") or []
        if "extra ==" not in line
    ]
    assert sorted(required) == ["httpx", "pydantic"]
    assert "modelyard" not in packages and "modelyard_client" in packages


def test_pip_install_of_the_client_alone_pulls_no_server_dependency(
    wheel: Path, tmp_path: Path
) -> None:
    if TEST_DATABASE_URL:
        pytest.skip("no database in it: checked once, in the embedded run (CI runs both)")
    extra = os.environ.get("MODELYARD_TEST_WHEELS")
    folders = [Path(extra)] if extra else [f for f in WHEEL_FOLDERS if f.is_dir()]
    if not any(list(f.glob("httpx-*.whl")) for f in folders):
        pytest.skip("no wheels of httpx on disk for an offline install; declared set checked")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    links = [arg for folder in folders for arg in ("--find-links", str(folder))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip settings do not apply
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", *links, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = {_normal(item["name"]) for item in json.loads(listing.stdout)}
    assert "modelyard-client" in names
    assert names <= ALLOWED, names - ALLOWED
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; from modelyard_client import Client, AsyncClient; "
            "print(sorted(m for m in ('numpy', 'pandas', 'fastapi', 'sqlalchemy') "
            "if m in sys.modules))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "[]"
    # The verbs come with it, as `modelyard-client` (no server, no rich: plain output).
    script = environment / "bin" / "modelyard-client"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and "login" in shown.stdout and "predict" in shown.stdout
    unreachable = subprocess.run(
        [str(script), "models", "list", "--url", f"http://127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unreachable.returncode == 3, unreachable.stderr
    assert unreachable.stderr.startswith("modelyard: cannot reach")


def test_the_client_is_versioned_with_the_server(server_url: str) -> None:
    declared = tomllib.loads((CLIENT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert declared == modelyard_client.__version__ == modelyard.__version__
    with Client(server_url) as client:
        assert client.check_compatibility() == modelyard.__version__


def test_a_server_of_another_release_is_named_clearly(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sync_client, "__version__", "9.4.0")
    with Client(server_url) as client, pytest.raises(IncompatibleServer) as refused:
        client.check_compatibility()
    assert "9.4.0" in str(refused.value) and modelyard.__version__ in str(refused.value)
