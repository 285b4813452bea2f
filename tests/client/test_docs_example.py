"""docs/client.md's notebook example, run as it is written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from modelyard_client import Client

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_the_notebook_example_runs_as_written(
    client: Client, own_config: Path, tmp_path: Path
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/client.md: one notebook example"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        MODELYARD_URL=client.url,
        MODELYARD_API_KEY=str(client.api_key),
        MODELYARD_CONFIG=str(own_config),
    )
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed[0] == "iris 1 [0, 1, 2]"
    assert printed[1] == "(150, 3)"
    assert float(printed[2].split()[0]) > 0.9  # the accuracy on its training data
    assert printed[3] == "SUCCESS 300"  # 150 training rows and 150 production rows
    assert (tmp_path / "iris-report.html").exists()
    assert (tmp_path / "iris-projection.png").read_bytes().startswith(b"\x89PNG")
    assert client.get_model("iris").latest_version == 1  # it used this account
