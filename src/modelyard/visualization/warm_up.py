"""umap-learn's numba code: compiled once per install, in a child process, into a disk cache.

umap-learn compiles its numba functions on first use, a minute or more of CPU. Two things keep
that off the jobs' clock and out of the server's memory:

* every umap-learn and pynndescent function is cached on disk (``cache_compiled_code``), not
  only those their authors marked ``cache=True`` (about a third of pynndescent's, one of
  umap-learn's): without it each new process compiled umap-learn again, cache or not;
* ``start`` compiles them in a child process when a server or worker starts (nice'd, so
  requests keep the CPU; ended with the server), into ``NUMBA_CACHE_DIR``; once it has run, a
  marker for these versions of umap-learn, pynndescent and numba says so, and later starts
  skip it. The server process itself imports nothing of this until its first projection,
  which then loads the compiled code from the cache instead of compiling it.

A lock file in the cache folder lets one process compile at a time (several workers start
together); a projection that arrives while the compile runs waits for it and says so.

``python -m modelyard.visualization.warm_up`` runs the compile in the foreground (an image
build, or ``make`` after installing), into ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib.metadata
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "cache_compiled_code",
    "compile_now",
    "is_warm",
    "start",
    "wait",
]

log = logging.getLogger(__name__)

LOCK_NAME = "umap-warm-up.lock"
# Functions numba refuses to cache (they use dynamic globals): enabling it would only make
# each compile warn. They are compiled in every process that uses approximate neighbours.
_UNCACHEABLE = frozenset({"nn_descent", "nn_descent_internal"})
_PR_SET_PDEATHSIG = 1
_PACKAGES = ("umap-learn", "pynndescent", "numba")

_cache_lock = threading.Lock()
_caching = False
_state_lock = threading.Lock()
_child: subprocess.Popen[bytes] | None = None
_child_started = 0.0
_child_done = threading.Event()


def _cache_dir() -> Path | None:
    folder = os.environ.get("NUMBA_CACHE_DIR")
    return Path(folder) if folder else None


def _marker(cache_dir: Path) -> Path:
    versions = []
    for package in _PACKAGES:
        try:
            versions.append(f"{package}-{importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package}-none")
    return cache_dir / ("umap-warm-up-" + "-".join(versions) + ".done")


def is_warm() -> bool:
    """Whether the cache holds a finished compile for the installed versions."""
    cache_dir = _cache_dir()
    return cache_dir is not None and _marker(cache_dir).is_file()


def cache_compiled_code() -> int:
    """Have numba keep every umap-learn and pynndescent function it compiles on disk; the
    number of functions newly cached. Once per process, before any of them compiles (the
    projection code calls it right after importing umap)."""
    global _caching
    with _cache_lock:
        if _caching:
            return 0
        _caching = True
        import pynndescent  # noqa: F401 - its modules, walked below
        import umap  # noqa: F401
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher

        enabled = 0
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(("umap", "pynndescent")):
                continue
            for attribute, value in list(vars(module).items()):
                # numba's own attribute: NullCache where the author did not ask for caching.
                cache = getattr(value, "_cache", None)
                if (
                    isinstance(value, Dispatcher)
                    and isinstance(cache, NullCache)
                    and attribute not in _UNCACHEABLE
                ):
                    value.enable_caching()
                    enabled += 1
        return enabled


def _fits() -> None:
    """Tiny fits along each path a projection takes: exact and approximate neighbours (the
    latter above 4,096 points), then placing new points."""
    import umap

    cache_compiled_code()
    x = np.random.default_rng(0).normal(size=(64, 8))
    for approximate in (False, True):
        model = umap.UMAP(
            n_neighbors=5,
            n_epochs=10,
            random_state=0,
            n_jobs=1,
            force_approximation_algorithm=approximate,
        )
        model.fit(x)
        model.transform(x[:4])


@contextmanager
def _locked(cache_dir: Path, *, blocking: bool = True) -> Any:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / LOCK_NAME, "a+b") as handle:
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def compile_now() -> float:
    """Compile into ``NUMBA_CACHE_DIR`` unless it is done already; seconds taken."""
    started = time.perf_counter()
    cache_dir = _cache_dir()
    if cache_dir is None:
        _fits()
        return time.perf_counter() - started
    with _locked(cache_dir):
        if not _marker(cache_dir).is_file():
            _fits()
            _marker(cache_dir).touch()
    return time.perf_counter() - started


def start() -> bool:
    """Compile in a child process unless the cache is warm or a compile runs; True if started.

    The child is nice'd: requests come first. The child's end is logged here
    (``umap warm-up took ...``) and ends ``wait``.
    """
    global _child, _child_started
    with _state_lock:
        if _child is not None or is_warm():
            _child_done.set()
            return False
        _child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "modelyard.visualization.warm_up",
                "--parent",
                str(os.getpid()),
            ],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            stdin=subprocess.DEVNULL,
        )
        _child_started = time.monotonic()
        child = _child
    threading.Thread(
        target=_watch, args=(child,), name="modelyard-umap-warm-up", daemon=True
    ).start()
    return True


def _watch(child: subprocess.Popen[bytes]) -> None:
    code = child.wait()
    seconds = time.monotonic() - _child_started
    if code == 0:
        log.info("umap warm-up took %.1f s", seconds, extra={"seconds": round(seconds, 1)})
    elif code < 0:  # stopped by a signal: the server is ending (the next start compiles)
        log.info("umap warm-up stopped after %.1f s (signal %s)", seconds, -code)
    else:
        log.warning("umap warm-up failed (exit %s); the first UMAP job compiles instead", code)
    _child_done.set()


def wait(timeout: float, say: Callable[[str], None] | None = None) -> bool:
    """Wait for a compile under way (this process's child, or another process's) to end,
    telling ``say`` why once; True when none runs any more."""
    deadline = time.monotonic() + timeout
    with _state_lock:
        child = _child
    if child is not None and not _child_done.is_set():
        if say is not None:
            ago = time.monotonic() - _child_started
            say(
                "waiting for umap-learn's one-time compile "
                f"(started with the server {ago:.0f} s ago; later projections skip it)"
            )
        if not _child_done.wait(max(0.0, deadline - time.monotonic())):
            return False
    cache_dir = _cache_dir()
    if cache_dir is None or is_warm():
        return True
    told = False
    while True:
        with _locked(cache_dir, blocking=False) as free:
            if free:
                return True
        if say is not None and not told:
            say("waiting for umap-learn's one-time compile in another process")
            told = True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def _follow_parent(parent: int) -> None:
    """Ended with the server, however it ends (numba writes each cache file whole, so a
    compile cut short leaves no broken entry), and behind its requests for the CPU."""
    os.nice(10)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the server ended before the death signal was asked for
        sys.exit(1)


if __name__ == "__main__":
    if "--parent" in sys.argv:
        _follow_parent(int(sys.argv[sys.argv.index("--parent") + 1]))
    print(f"umap warm-up: {compile_now():.1f} s", file=sys.stderr)
