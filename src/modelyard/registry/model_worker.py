"""Model workers: each loads one user's model from the bytes it is handed and predicts.

``sandbox`` starts one zygote per server process, ``python -m modelyard.registry.model_worker
--fd N ...``, in an empty folder with an environment that holds no secret; it imports what
models need (seconds) once, and forks a worker per order (milliseconds), passing it its socket.
Before a worker reads anything it limits itself (no core dumps, an address-space limit, killed
when the zygote dies, which dies with the server, no new privileges) and locks itself in
(``landlock``), so whatever a crafted file makes native code do happens in a process that knows
nothing worth stealing, reaches no file of the server's, and whose death the API process
answers as an error. The zygote never sees a model.

A worker speaks ``wire``'s frames on its socket: ``load`` (the model's bytes as one byte
array), ``predict`` (a float64 matrix, or JSON rows for text), ``describe`` (its folder and
environment's names, for tests and operators). One request at a time; EOF ends it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from typing import Any

import numpy as np

from modelyard.registry import landlock
from modelyard.registry.loaders import LoadError, ModelRuntime, UntrustedTypes, load_model
from modelyard.registry.wire import FrameError, encode_column, recv_frame, send_frame

__all__ = ["main"]

# The Landlock ABI this worker locked itself in with (None: the kernel has none).
_LOCKED_IN: int | None = None

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def _confine(memory_mb: int, parent: int) -> None:
    """Limit this process before any of the model's bytes are read."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        # Killed with the API process, however that ends (kill -9 included).
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        # No core file, and no other process of this user may attach to it.
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was asked for
        os._exit(1)


def _preload() -> None:
    """Import what loading a model needs while no model is waiting (a spare worker is started
    ahead of need, so its first model loads without these seconds of imports)."""
    import onnxruntime  # noqa: F401
    import sklearn.ensemble
    import sklearn.linear_model
    import sklearn.tree  # noqa: F401
    import skops.io  # noqa: F401


def _lock_in() -> int | None:
    """Give up, for good, every file but what Python and the model libraries read, and the
    network (``landlock``); returns the Landlock ABI applied (None: the kernel has none).

    Read-only: the interpreter and the import path (lazy imports still work), the system's
    libraries, this process's own ``/proc`` entry and the few machine facts numeric libraries
    read. Read-write: this worker's own folder (its ``cwd``, ``HOME`` and ``TMPDIR``) and
    ``/dev/null``, ``/dev/shm``. Nothing of the server's data folder, ``/etc``, ``/tmp`` or
    another process's ``/proc`` entry.
    """
    folder = os.path.dirname(os.getcwd())
    read_only = {p for p in sys.path if os.path.isabs(p) and os.path.isdir(p)}
    read_only |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    read_only |= {
        "/usr",
        "/lib",
        "/lib64",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/proc/self",
        "/proc/cpuinfo",
        "/proc/meminfo",
        "/proc/stat",
        "/sys/devices/system/cpu",
        "/sys/fs/cgroup",
        "/dev/urandom",
        "/dev/random",
    }
    # /dev/shm: POSIX semaphores and shared memory (multiprocessing, joblib) live there.
    writable = [folder, "/dev/null", "/dev/shm"]  # noqa: S108
    return landlock.restrict(sorted(read_only), writable)


def _load(header: dict[str, Any], arrays: list[np.ndarray]) -> tuple[ModelRuntime, dict[str, Any]]:
    if len(arrays) != 1:
        raise LoadError("no model bytes were sent")
    runtime = load_model(
        arrays[0].tobytes(),
        header.get("format", ""),
        trusted_types=[str(t) for t in header.get("trusted_types", [])],
    )
    inputs = getattr(runtime, "inputs", None) or []
    return runtime, {
        "ok": True,
        "kind": runtime.kind,
        "classes": runtime.classes,
        "n_features": runtime.n_features,
        "feature_names": runtime.feature_names,
        "inputs": [[i.name, list(i.shape), i.element_type] for i in inputs],
        "pid": os.getpid(),
    }


def _matrix(header: dict[str, Any], arrays: list[np.ndarray]) -> np.ndarray:
    spec = header.get("matrix")
    if isinstance(spec, dict) and "json" in spec:
        return np.asarray(spec["json"], dtype=object)
    if len(arrays) != 1 or arrays[0].ndim != 2:
        raise ValueError("the matrix is missing")
    return arrays[0]


def _serve(sock: socket.socket) -> None:
    runtime: ModelRuntime | None = None
    while True:
        try:
            header, arrays = recv_frame(sock)
        except FrameError:
            return  # the API process closed the connection: done
        op = header.get("op")
        out: list[np.ndarray] = []
        try:
            if op == "load":
                runtime, reply = _load(header, arrays)
            elif op == "predict":
                if runtime is None:
                    raise LoadError("no model is loaded")
                prediction = runtime.predict(_matrix(header, arrays))
                probabilities = prediction.probabilities
                reply = {
                    "ok": True,
                    "predictions": encode_column(prediction.predictions, out),
                    "probabilities": None
                    if probabilities is None
                    else encode_column(np.asarray(probabilities, dtype=np.float64), out),
                }
            elif op == "describe":
                reply = {
                    "ok": True,
                    "cwd": os.getcwd(),
                    "files": sorted(os.listdir(".")),
                    "environ": sorted(os.environ),
                    "limits": {"as": resource.getrlimit(resource.RLIMIT_AS)[0]},
                    "landlock": _LOCKED_IN,
                    "pid": os.getpid(),
                }
            else:
                reply = {"ok": False, "error": f"unknown operation {op!r}"}
        except UntrustedTypes as exc:
            out = []
            reply = {"ok": False, "error": str(exc), "load": True, "types": exc.types}
        except LoadError as exc:
            out = []
            # The refusal's kind (unsafe structure, external data, ...) names its API error.
            reply = {"ok": False, "error": str(exc), "load": True, "refusal": type(exc).__name__}
        except MemoryError:
            out = []
            reply = {"ok": False, "error": "the model ran out of its memory limit"}
        except Exception as exc:
            out = []
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        send_frame(sock, reply, out)


def _child(sock_fd: int, order: dict[str, Any], zygote: int) -> None:
    """A forked worker: its own folder, limits and lock, then one model's requests."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(str(order["cwd"]))
    os.environ["HOME"] = os.environ["TMPDIR"] = str(order["home"])
    tempfile.tempdir = None  # read TMPDIR again
    _confine(int(order.get("memory_mb", 0)), zygote)
    global _LOCKED_IN
    _LOCKED_IN = _lock_in()
    if _LOCKED_IN is None:  # stderr is the server's: the operator sees it once per worker
        print("model worker: this kernel has no Landlock; files are not locked", file=sys.stderr)
    sock = socket.socket(fileno=sock_fd)
    try:
        _serve(sock)
    finally:
        sock.close()


def _reap(statuses: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = os.waitstatus_to_exitcode(status)
        while len(statuses) > 1000:  # nobody asked: forget the oldest
            statuses.pop(next(iter(statuses)))


def _zygote(control: socket.socket) -> None:
    """Fork a worker per ``fork`` order (with the worker's socket passed along), tell a
    worker's exit status per ``status`` order; end when the API process hangs up."""
    statuses: dict[int, int] = {}
    zygote = os.getpid()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 65536, 1)
        except OSError:
            return
        if not message:
            return
        order = json.loads(message)
        _reap(statuses)
        if order.get("op") == "fork" and len(fds) == 1:
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    control.close()
                    _child(fds[0], order, zygote)
                    code = 0
                finally:
                    os._exit(code)
            os.close(fds[0])
            control.send(json.dumps({"pid": pid}).encode())
        elif order.get("op") == "status":
            pid = int(order["pid"])
            deadline = time.monotonic() + float(order.get("wait", 2.0))
            while pid not in statuses and time.monotonic() < deadline:
                time.sleep(0.01)
                _reap(statuses)
            control.send(json.dumps({"status": statuses.pop(pid, None)}).encode())
        else:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "unknown order"}).encode())


def main(argv: list[str] | None = None) -> int:
    """The zygote: limits itself, imports what models need once, then forks the workers."""
    parser = argparse.ArgumentParser(prog="modelyard.registry.model_worker")
    parser.add_argument("--fd", type=int, required=True, help="the control socket")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _confine(0, args.parent)
    _preload()
    control = socket.socket(fileno=args.fd)
    try:
        _zygote(control)
    finally:
        control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
