"""The docs/ folder builds as a site with ``mkdocs build --strict`` (as ``make docs`` in CI)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed")
def test_the_docs_site_builds_with_strict(tmp_path: Path) -> None:
    # A broken link or anchor, or a page left out of mkdocs.yml's navigation, fails the build.
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "index.html").is_file() and (tmp_path / "input-schema.html").is_file()


def test_the_readme_links_to_files_that_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert len(local) >= 10
    assert [t for t in local if not (REPO_ROOT / t).exists()] == []
    assert len(readme.splitlines()) <= 80  # what a newcomer needs first; the rest is in docs/
