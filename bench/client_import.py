"""How long `import modelyard_client` (and making a Client) takes, against `import httpx`.

    .venv/bin/python bench/client_import.py [--python PATH] [--runs 15]

Each run is a fresh interpreter; the figures are the medians of its CPU time (user + system,
from the kernel's accounting of the child: a busy machine stretches wall-clock time far more
than CPU time), and the ratio against httpx alone (the client's one unavoidable import)
measured in the same runs. ``--python`` measures another environment, e.g. a fresh
virtualenv with only the client installed (httpx there does not load rich, which the dev
environment's httpx[cli] extras make it do).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

STATEMENTS = {
    "python alone": "pass",
    "import httpx": "import httpx",
    "import modelyard_client": "import modelyard_client",
    "from modelyard_client import Client": "from modelyard_client import Client",
    "Client(url) made": "from modelyard_client import Client; Client('http://127.0.0.1:1')",
}


def _cpu_microseconds(python: str, statement: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(  # noqa: S603 - the interpreter given and our own statements
        [python, "-c", statement], check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used * 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    medians = {
        label: statistics.median(
            _cpu_microseconds(args.python, statement) for _ in range(args.runs)
        )
        for label, statement in STATEMENTS.items()
    }
    reference = medians["import httpx"]
    print(f"{args.python}, median CPU time of {args.runs} fresh interpreters")
    for label, micros in medians.items():
        print(f"{label:40s} {micros / 1000:8.1f} ms  {micros / reference:5.2f}x httpx")


if __name__ == "__main__":
    main()
