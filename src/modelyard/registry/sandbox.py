"""Users' models in model-worker processes: the API side (``ProcessRuntime``).

A user's "safe" file still drives native code with numbers the user chose (a skops tree whose
child index points out of its array crashes scikit-learn's Cython; onnxruntime parses a graph
the user wrote), so it is loaded and run in a process of its own (``model_worker``):

* started with ``python -m modelyard.registry.model_worker``, in a fresh empty folder (0700,
  removed when it stops), with an environment reduced to an allow-list (no ``MODELYARD_*``,
  no credential), no inherited file but its socket, no core dumps, an address-space limit,
  and killed with its parent;
* handed the model's bytes on its socket, never a path;
* spoken to in ``wire``'s frames (a JSON header and raw numpy buffers; nothing is unpickled);
* ``workers`` processes per loaded version, each serving one request at a time; the caller's
  thread blocks on the socket (the GIL is released meanwhile), never the event loop.

A worker that dies answers the request it held with ``ModelCrashed`` and is started again for
the next one; one that holds a request past ``predict_timeout_seconds`` is killed and answers
``ModelTimedOut``. Each is reported to ``on_crash`` (which quarantines a version that crashes
too often: see ``registry.service.record_crash``).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import json
import logging
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

import modelyard
from modelyard.registry.exceptions import ModelCrashed, ModelTimedOut
from modelyard.registry.loaders import (
    ExternalData,
    LoadError,
    OnnxInput,
    Prediction,
    UnsafeStructure,
    UnsupportedDomain,
    UntrustedTypes,
)
from modelyard.registry.wire import FrameError, decode_column, recv_frame, send_frame

__all__ = [
    "ModelError",
    "ProcessRuntime",
    "WorkerDied",
    "WorkerOptions",
    "handoff",
    "start_zygote",
    "worker_environment",
]

log = logging.getLogger(__name__)

# What a worker's environment keeps of the server's: how to find programs and libraries,
# the locale, and the thread counts of the numeric libraries. Nothing else (no MODELYARD_*,
# no cloud or database credential).
_KEPT_VARIABLES = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "TZ",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# One thread per worker unless the operator says otherwise: a worker runs one request at a
# time, and OpenBLAS reserves memory per thread (which the address-space limit counts).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# The largest answer a worker may send (predictions and probabilities of one request).
_MAX_ANSWER_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class WorkerOptions:
    """How model workers are started (``MODELYARD_REGISTRY_WORKER_*``)."""

    workers: int = 1
    memory_mb: int = 4096
    predict_timeout_seconds: float = 60.0
    load_timeout_seconds: float = 120.0
    # Workers started ahead of need (their imports done), per process.
    spares: int = 1
    # The worker's module (``python -m``); the tests run a variant without the structure check.
    module: str = "modelyard.registry.model_worker"


# A worker's load refusals by name (never a class the worker could choose freely).
_REFUSALS: dict[str, type[LoadError]] = {
    cls.__name__: cls for cls in (UnsafeStructure, ExternalData, UnsupportedDomain)
}


class ModelError(Exception):
    """The model refused a request (its own exception, as the worker reported it)."""


class WorkerDied(Exception):
    """A worker ended while it held a request; the message says how."""


def worker_environment(home: str) -> dict[str, str]:
    """The environment of a worker whose home is ``home``: ``_KEPT_VARIABLES`` only, and the
    path that finds this very ``modelyard`` package first."""
    env = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    package_root = str(Path(modelyard.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    for name in _THREAD_VARIABLES:
        env.setdefault(name, "1")
    env["HOME"] = home  # libraries that cache under ~ write in the worker's own folder
    env["TMPDIR"] = home  # and their temporary files too (Landlock leaves it nothing else)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _private_folder(prefix: str) -> tuple[str, str, str]:
    """A new 0700 folder holding an empty working folder (``cwd``) and a ``home`` beside it
    (HOME and TMPDIR: where libraries may cache), so the working folder stays empty."""
    folder = tempfile.mkdtemp(prefix=prefix)
    cwd, home = os.path.join(folder, "cwd"), os.path.join(folder, "home")
    os.mkdir(cwd, 0o700)
    os.mkdir(home, 0o700)
    return folder, cwd, home


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "its connection broke"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


class _Zygote:
    """The process that forks this server's model workers (``model_worker``): started once
    (its imports take seconds), then a worker is a fork away (milliseconds). Its orders go over
    a SOCK_SEQPACKET control socket, one message each, the worker's socket passed along."""

    def __init__(self, module: str) -> None:
        self.folder, cwd, home = _private_folder("modelyard-zygote-")
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Our own interpreter and module; no user text reaches the command line.
            self.process = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-s",
                    "-m",
                    module,
                    "--fd",
                    str(theirs.fileno()),
                    "--parent",
                    str(os.getpid()),
                ],
                cwd=cwd,
                env=worker_environment(home),
                close_fds=True,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.control = ours

    def alive(self) -> bool:
        return self.process.poll() is None and self.control.fileno() != -1

    def _ask(self, order: dict[str, Any], fds: Sequence[int], timeout: float) -> dict[str, Any]:
        with self._lock:
            self.control.settimeout(timeout)
            socket.send_fds(self.control, [json.dumps(order).encode()], list(fds))
            answer = self.control.recv(65536)
        if not answer:
            raise OSError("the model workers' zygote ended")
        reply: dict[str, Any] = json.loads(answer)
        return reply

    def fork(self, sock: socket.socket, cwd: str, home: str, memory_mb: int, timeout: float) -> int:
        """A new worker on ``sock``'s other end; its pid."""
        order = {"op": "fork", "cwd": cwd, "home": home, "memory_mb": memory_mb}
        pid = self._ask(order, [sock.fileno()], timeout).get("pid")
        if not isinstance(pid, int) or pid <= 0:
            raise OSError("the model workers' zygote did not fork")
        return pid

    def exit_code(self, pid: int, wait: float = 2.0) -> int | None:
        """A worker's exit code once it ended (negative: the signal), None if unknown."""
        try:
            code = self._ask({"op": "status", "pid": pid, "wait": wait}, [], wait + 5).get("status")
        except (OSError, ValueError):
            return None
        return code if isinstance(code, int) else None

    def stop(self) -> None:
        self.control.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


_zygotes: dict[str, _Zygote] = {}
_zygotes_lock = threading.Lock()


def _zygote(module: str) -> _Zygote:
    with _zygotes_lock:
        zygote = _zygotes.get(module)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.stop()
            zygote = _zygotes[module] = _Zygote(module)
        return zygote


def start_zygote(module: str = WorkerOptions.module) -> None:
    """Start this process's zygote now: it imports what models need (seconds of CPU, in its
    own process) while the server is idle, not while the first upload or predict waits."""
    _zygote(module)


def _stop_zygotes() -> None:
    with _zygotes_lock:
        for zygote in _zygotes.values():
            zygote.stop()
        _zygotes.clear()


# A kernel before 5.3, or valgrind (which does not know the call), has no pidfd: a worker is
# then watched through its socket and killed by pid.
_NO_PIDFD = -2


def _pidfd_open(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        return _NO_PIDFD


def _hung_up(sock: socket.socket) -> bool:
    """Whether the other end of an idle socket has closed (its process ended)."""
    if sock.fileno() == -1:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class _Worker:
    """One model-worker process (forked by the zygote) and its socket."""

    def __init__(self, options: WorkerOptions) -> None:
        self.folder, cwd, home = _private_folder("modelyard-worker-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.zygote = _zygote(options.module)
            self._pid = self.zygote.fork(
                theirs, cwd, home, options.memory_mb, options.load_timeout_seconds
            )
            # A handle on the process itself: it is the zygote's child, not ours.
            self._pidfd = _pidfd_open(self._pid)
        except BaseException:
            ours.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.timeout = options.predict_timeout_seconds
        self.sock.settimeout(self.timeout)

    @property
    def pid(self) -> int:
        return self._pid

    def request(
        self,
        header: dict[str, Any],
        arrays: Sequence[np.ndarray] = (),
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send one request and read its answer; ``WorkerDied`` if the process ended,
        ``TimeoutError`` (the process killed) if it answered nothing in time."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            send_frame(self.sock, header, arrays)
            return recv_frame(self.sock, _MAX_ANSWER_BYTES)
        except TimeoutError:
            self.stop()
            raise
        except (FrameError, OSError) as exc:
            self.sock.close()
            raise WorkerDied(_exit_reason(self.zygote.exit_code(self._pid))) from exc
        finally:
            if timeout is not None and self.sock.fileno() != -1:
                self.sock.settimeout(self.timeout)

    def _ended(self) -> bool:
        if self._pidfd == _NO_PIDFD:
            return _hung_up(self.sock)
        if self._pidfd < 0:
            return True
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        return bool(readable)

    def alive(self) -> bool:
        return self.sock.fileno() != -1 and not self._ended()

    def stop(self) -> None:
        """End the process (at once: it holds nothing worth a graceful end) and its folder."""
        self.sock.close()
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            os.close(self._pidfd)
        elif self._pidfd == _NO_PIDFD:
            # Not reaped before the zygote hears of it, so the pid is still this process's.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        self._pidfd = -1
        shutil.rmtree(self.folder, ignore_errors=True)


@functools.cache
def _spawner() -> ThreadPoolExecutor:
    # Every worker is started from this one thread, which lives as long as the process: the
    # kernel sends PR_SET_PDEATHSIG when the THREAD that forked a child ends, and a request's
    # worker thread may end (a retired dispatcher's pool) while its model is still served.
    return ThreadPoolExecutor(1, thread_name_prefix="modelyard-worker-spawner")


class _Spares:
    """Workers started ahead of need: a new worker's seconds of imports (scikit-learn, skops,
    onnxruntime) are then paid before an upload or a restart asks for one, not during it."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._ready: dict[WorkerOptions, list[_Worker]] = {}
        self._starting: dict[WorkerOptions, int] = {}

    def take(self, options: WorkerOptions) -> _Worker:
        found = None
        with self._lock:
            while found is None:
                ready = self._ready.get(options, [])
                while ready and found is None:
                    candidate = ready.pop()
                    if candidate.alive():
                        found = candidate
                    else:
                        candidate.stop()
                # One starting already: waiting for it costs less than starting another
                # beside it (both would import at once, each slower).
                if found is not None or not self._starting.get(options):
                    break
                self._lock.wait(timeout=1.0)
        self._refill(options)
        if found is not None:
            return found
        worker: _Worker = _spawner().submit(_Worker, options).result()
        return worker

    def _refill(self, options: WorkerOptions) -> None:
        with self._lock:
            wanted = (
                options.spares - len(self._ready.get(options, [])) - self._starting.get(options, 0)
            )
            if wanted <= 0:
                return
            self._starting[options] = self._starting.get(options, 0) + wanted
        for _ in range(wanted):
            _spawner().submit(self._add, options)

    def _add(self, options: WorkerOptions) -> None:
        try:
            worker = _Worker(options)
            with self._lock:
                self._ready.setdefault(options, []).append(worker)
        finally:
            with self._lock:
                self._starting[options] -= 1
                self._lock.notify_all()

    def stop(self) -> None:
        with self._lock:
            workers = [w for ready in self._ready.values() for w in ready]
            self._ready.clear()
        for worker in workers:
            worker.stop()


_spares = _Spares()
atexit.register(_stop_zygotes)
atexit.register(_spares.stop)


class _Handoff:
    """Runtimes loaded by an upload's trial, kept a moment for the version's first predict in
    this process (which would otherwise start a worker and load the same bytes again)."""

    def __init__(self, seconds: float = 60.0, capacity: int = 4) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[ProcessRuntime, float]] = {}

    def keep(self, sha256: str, model_format: str, runtime: ProcessRuntime) -> None:
        with self._lock:
            stale = self._expired()
            old = self._items.pop((sha256, model_format), None)
            if old is not None:
                stale.append(old[0])
            self._items[(sha256, model_format)] = (runtime, time.monotonic() + self.seconds)
            while len(self._items) > self.capacity:
                stale.append(self._items.pop(next(iter(self._items)))[0])
        for item in stale:
            item.close()

    def claim(self, sha256: str, model_format: str) -> ProcessRuntime | None:
        with self._lock:
            stale = self._expired()
            entry = self._items.pop((sha256, model_format), None)
        for item in stale:
            item.close()
        return entry[0] if entry is not None else None

    def _expired(self) -> list[ProcessRuntime]:
        now = time.monotonic()
        gone = [key for key, (_, until) in self._items.items() if until <= now]
        return [self._items.pop(key)[0] for key in gone]

    def close(self) -> None:
        with self._lock:
            items = [runtime for runtime, _ in self._items.values()]
            self._items.clear()
        for runtime in items:
            runtime.close()


handoff = _Handoff()
atexit.register(handoff.close)


def _stop_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.stop()
    workers.clear()


class ProcessRuntime:
    """A ``ModelRuntime`` whose model lives in model-worker processes (see the module)."""

    # Read by the serving core: a process runtime never runs on the event loop.
    isolated = True
    embed = None

    def __init__(
        self,
        fetch: Callable[[], bytes],
        model_format: str,
        trusted_types: Sequence[str],
        options: WorkerOptions,
        *,
        on_crash: Callable[[str], None] | None = None,
    ) -> None:
        """Start one worker and load the model in it (``LoadError`` if it cannot be loaded,
        ``ModelCrashed`` if the load kills it); the other workers start when needed.
        ``fetch`` answers the model's bytes (again for each worker started)."""
        self._fetch = fetch
        self._format = model_format
        self._trusted = list(trusted_types)
        self.options = options
        self._on_crash = on_crash
        self._closed = False
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_all, self._all)
        self.kind: Literal["classifier", "regressor"] = "regressor"
        self.classes: list[Any] | None = None
        self.n_features: int | None = None
        self.feature_names: list[str] | None = None
        self.inputs: list[OnnxInput] = []
        first = self._start()
        self._slots: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(options.workers - 1):
            self._slots.put(None)
        self._slots.put(first)

    # -- workers ------------------------------------------------------------------------------

    def _start(self) -> _Worker:
        worker = _spares.take(self.options)
        with self._lock:
            self._all.add(worker)
        try:
            data = np.frombuffer(self._fetch(), dtype=np.uint8)
            answer, _ = worker.request(
                {"op": "load", "format": self._format, "trusted_types": self._trusted},
                [data],
                timeout=self.options.load_timeout_seconds,
            )
        except TimeoutError as exc:
            self._forget(worker)
            self._crashed("loading took too long")
            raise ModelTimedOut("the model took too long to load; its worker was stopped") from exc
        except WorkerDied as exc:
            self._forget(worker)
            reason = f"the model's worker process died while loading it ({exc})"
            self._crashed(reason)
            raise ModelCrashed(reason) from exc
        except BaseException:
            self._forget(worker)
            raise
        if not answer.get("ok"):
            self._forget(worker)
            message = str(answer.get("error", "the model cannot be loaded"))
            if isinstance(answer.get("types"), list):
                raise UntrustedTypes([str(t) for t in answer["types"]])
            raise _REFUSALS.get(str(answer.get("refusal")), LoadError)(message)
        self._describe(answer)
        return worker

    def _describe(self, answer: dict[str, Any]) -> None:
        self.kind = "classifier" if answer.get("kind") == "classifier" else "regressor"
        classes = answer.get("classes")
        self.classes = classes if isinstance(classes, list) else None
        n_features = answer.get("n_features")
        self.n_features = n_features if isinstance(n_features, int) else None
        names = answer.get("feature_names")
        self.feature_names = [str(n) for n in names] if isinstance(names, list) else None
        self.inputs = [
            OnnxInput(str(name), tuple(shape), str(kind))
            for name, shape, kind in answer.get("inputs") or []
        ]

    def _forget(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._all.discard(worker)

    def _crashed(self, reason: str) -> None:
        log.warning("model worker crashed: %s", reason)
        if self._on_crash is not None:
            try:
                self._on_crash(reason)
            except Exception:
                log.exception("could not record a model worker's crash")

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers (tests, operators)."""
        with self._lock:
            return [w.pid for w in self._all if w.alive()]

    # -- ModelRuntime ---------------------------------------------------------------------------

    def predict(self, matrix: np.ndarray) -> Prediction:
        worker = self._slots.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._forget(worker)
                worker = None
                worker = self._start()
            answer, arrays = self._ask(worker, matrix)
        except WorkerDied as exc:
            assert worker is not None
            self._forget(worker)
            worker = None
            reason = f"the model's worker process died during a prediction ({exc})"
            self._crashed(reason)
            raise ModelCrashed(reason) from None
        except TimeoutError:
            assert worker is not None
            self._forget(worker)
            worker = None
            seconds = self.options.predict_timeout_seconds
            self._crashed(f"a prediction took more than {seconds:g} s")
            raise ModelTimedOut(
                f"the model took more than {seconds:g} s; its worker process was stopped",
                details={"timeout_seconds": seconds},
            ) from None
        finally:
            if worker is not None and self._closed:
                self._forget(worker)
                worker = None
            self._slots.put(worker)
        if not answer.get("ok"):
            raise ModelError(str(answer.get("error", "the model failed")))
        try:
            predictions = decode_column(answer.get("predictions"), arrays)
            probabilities = decode_column(answer.get("probabilities"), arrays)
        except FrameError as exc:
            raise ModelError(f"the model's worker answered nonsense: {exc}") from None
        if predictions is None or len(predictions) != len(matrix):
            raise ModelError("the model's worker answered the wrong number of rows")
        return Prediction(predictions, probabilities, self.classes)

    def _ask(self, worker: _Worker, matrix: np.ndarray) -> tuple[dict[str, Any], list[np.ndarray]]:
        if matrix.dtype.kind in "biuf":
            # The matrix's own buffer goes to the socket (converted only if not float64 C-order).
            return worker.request({"op": "predict"}, [np.ascontiguousarray(matrix, np.float64)])
        return worker.request({"op": "predict", "matrix": {"json": matrix.tolist()}})

    def describe(self) -> dict[str, Any]:
        """What one worker reports of itself: its folder's files, its environment's names."""
        worker = self._slots.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._forget(worker)
                worker = None
                worker = self._start()
            answer, _ = worker.request({"op": "describe"})
            return answer
        finally:
            self._slots.put(worker)

    def adopt(
        self,
        fetch: Callable[[], bytes],
        options: WorkerOptions,
        on_crash: Callable[[str], None] | None,
    ) -> None:
        """Serve with ``options`` (more workers, started when needed), ``fetch`` the bytes
        for a restart and report crashes to ``on_crash``: a runtime an upload loaded, taken
        over by the serving cache."""
        self._fetch = fetch
        for _ in range(options.workers - self.options.workers):
            self._slots.put(None)
        self.options = options
        self._on_crash = on_crash

    def close(self) -> None:
        """Stop the idle workers now and the busy ones when their request ends."""
        self._closed = True
        while True:
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                self._forget(worker)
        for _ in range(self.options.workers):
            self._slots.put(None)
