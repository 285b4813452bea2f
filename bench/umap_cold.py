"""UMAP's cold start: a 10,000 x 50 projection in a fresh process, with and without numba's cache.

Three numbers, CPU seconds (process time, so other load on the machine distorts them less):

* cold: a new process, an empty ``NUMBA_CACHE_DIR``: umap-learn and pynndescent compile all;
* cache: a new process whose ``NUMBA_CACHE_DIR`` the cold run (or ``modelyard warm-up``) filled;
* warm: the same fit again in the cache run's process: the library's own warm time.

Run: ``python bench/umap_cold.py [--points 10000 --dims 50]``; it prints the ratios to warm.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FIT = """
import json, sys, time
t0 = time.process_time(); w0 = time.perf_counter()
import numpy as np, umap
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


def _run(cache_dir: str, points: int, dims: int) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", FIT, str(points), str(dims)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="umap-cold-") as cache_dir:
        started = time.perf_counter()
        cold = _run(cache_dir, args.points, args.dims)
        cached = _run(cache_dir, args.points, args.dims)
    warm = cached["again"]
    rows = {
        "cold (empty cache, new process)": cold["import"] + cold["first"],
        "cache (filled cache, new process)": cached["import"] + cached["first"],
        "warm (same process, second fit)": warm,
    }
    for name, seconds in rows.items():
        print(f"{name:36s} {seconds:7.1f} s CPU  {seconds / warm:5.2f}x warm")
    print(
        f"(wall: cold first fit {cold['first_wall']:.1f} s, cache first fit "
        f"{cached['first_wall']:.1f} s, warm {cached['again_wall']:.1f} s; "
        f"total {time.perf_counter() - started:.0f} s)"
    )
    print(json.dumps({"cold": cold, "cache": cached}))


if __name__ == "__main__":
    main()
