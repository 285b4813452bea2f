"""Write the synchronous client from the asynchronous one (as httpcore does with unasync).

python client/scripts/unasync.py          # writes _sync_client.py
python client/scripts/unasync.py --check  # exit 1 when _sync_client.py is out of date
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "modelyard_client"
SOURCE = PACKAGE / "_async_client.py"
TARGET = PACKAGE / "_sync_client.py"

HEADER = (
    '"""The synchronous client. GENERATED from _async_client.py by client/scripts/unasync.py:\n'
    'edit that file and run the script (a test fails when this one is out of date)."""\n'
)

# Order matters: longer and more specific patterns first.
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"asyncio\.get_running_loop\(\)\.time", "time.monotonic"),
    (r"asyncio\.sleep", "time.sleep"),
    (r"^import asyncio\n", ""),
    (r"^import tempfile$", "import tempfile\nimport time"),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\basynchronous\b", "synchronous"),
]


def unasync(text: str) -> str:
    # The source's module docstring is replaced by HEADER.
    body = text[text.index('"""', 3) + 4 :]
    for pattern, replacement in SUBSTITUTIONS:
        body = re.sub(pattern, replacement, body, flags=re.MULTILINE)
    return _formatted(HEADER + body)


def _formatted(text: str) -> str:
    """ruff's format of the text (lines that lost ``await `` may now fit on one)."""
    beside = Path(sys.executable).parent / "ruff"
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff is None:
        raise SystemExit("unasync.py needs ruff (the dev install has it)")
    result = subprocess.run(
        [ruff, "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main(argv: list[str]) -> int:
    generated = unasync(SOURCE.read_text())
    if "--check" in argv:
        if TARGET.read_text() != generated:
            print(f"{TARGET} is out of date: run {__file__}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
