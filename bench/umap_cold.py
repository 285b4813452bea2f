"""UMAP's cold start: a 10,000 x 50 projection in a fresh process, with and without numba's cache.

CPU seconds (process time, so other load on the machine distorts them less) of the import and
first fit in a new process, each against the library's own warm time (the same fit again in
the same process):

* cold: an empty ``NUMBA_CACHE_DIR``: umap-learn and pynndescent compile everything;
* warm-up: the compile modelyard's start-up runs in a child process (tiny fits), timed;
* after warm-up: a new process on the cache the warm-up filled, as the server's first
  projection job (modelyard's ``cache_compiled_code`` on, as in the server);
* library cache only: the same without ``cache_compiled_code`` (only the functions umap-learn
  and pynndescent mark ``cache=True`` are on disk), to show what that call is for.

Run: ``python bench/umap_cold.py [--points 10000 --dims 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIT = """
import json, sys, time
t0 = time.process_time(); w0 = time.perf_counter()
import numpy as np, umap
if sys.argv[3] == "modelyard":
    from modelyard.visualization.warm_up import cache_compiled_code
    cache_compiled_code()
x = np.random.default_rng(0).normal(size=(int(sys.argv[1]), int(sys.argv[2])))
imported = time.process_time() - t0
def once():
    t = time.process_time(); w = time.perf_counter()
    umap.UMAP(random_state=0, n_jobs=1).fit_transform(x)
    return time.process_time() - t, time.perf_counter() - w
first, first_wall = once()
again, again_wall = once()
print(json.dumps({"import": imported, "first": first, "first_wall": first_wall,
                  "again": again, "again_wall": again_wall}))
"""


def _run(cache_dir: str, points: int, dims: int, caching: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", FIT, str(points), str(dims), caching],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def _warm_up(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    code = (
        "import time; t = time.process_time()\n"
        "from modelyard.visualization.warm_up import compile_now; compile_now()\n"
        "print(time.process_time() - t)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=50)
    parser.add_argument(
        "--no-cold", action="store_true", help="skip the cold run (a second full compile)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="warm up into this numba cache (one kept between runs) instead of an empty one",
    )
    args = parser.parse_args()
    size = (args.points, args.dims)
    started = time.perf_counter()
    cold: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="umap-cold-") as root:
        ours = str(args.cache or f"{root}/ours")
        warm_up = _warm_up(ours)
        after = _run(ours, *size, "modelyard")
        # The same cache: functions without cache=True look nothing up unless told to.
        library = _run(ours, *size, "library")
        if not args.no_cold:
            cold = _run(f"{root}/cold", *size, "modelyard")
    warm = after["again"]
    rows = {}
    if cold:
        rows["cold (empty cache, new process)"] = cold["import"] + cold["first"]
    rows |= {
        "warm-up (child process, tiny fits)": warm_up,
        "after warm-up (new process)": after["import"] + after["first"],
        "library cache only (new process)": library["import"] + library["first"],
        "warm (same process, second fit)": warm,
    }
    for name, seconds in rows.items():
        print(f"{name:36s} {seconds:7.1f} s CPU  {seconds / warm:5.2f}x warm")
    print(
        f"(wall: after warm-up first fit {after['first_wall']:.1f} s, warm "
        f"{after['again_wall']:.1f} s; total {time.perf_counter() - started:.0f} s)"
    )
    print(json.dumps({"cold": cold, "warm_up": warm_up, "after": after, "library": library}))


if __name__ == "__main__":
    main()
