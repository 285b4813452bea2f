"""MLflow, behind this one module: experiments, runs, params, metrics, artifacts and gc.

Embedded by default: a SQLite store and an artifact folder under ``data_dir/mlflow``, which the
ordinary MLflow UI opens with ``mlflow ui --backend-store-uri sqlite:///<data_dir>/mlflow/
mlflow.db``. ``MODELYARD_MLFLOW_URI`` points at a tracking server (or another store) instead.

No process-wide MLflow state is touched (no ``mlflow.set_tracking_uri``, no active run): each
``Tracker`` holds its own client, so several stores and threads never mix.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# MLflow sends usage telemetry to its makers unless told not to, from the moment it is first
# imported; this server talks to its own stores only. An operator's explicit setting wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# MLflow itself is imported when a store is first used, not with this module: its import
# (any of it: mlflow.exceptions too) costs 1.5 s of CPU and 200 MB, which a server that
# never trains should not pay to start.
if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = [
    "OWNER_TAG",
    "GcUnavailable",
    "RunView",
    "Tracker",
    "TrackingError",
    "embedded_uris",
]

OWNER_TAG = "modelyard.owner_id"

log = logging.getLogger(__name__)

_import_lock = threading.Lock()
_telemetry_dropped = False


def _new_client(tracking_uri: str) -> MlflowClient:
    """An MLflow client, MLflow imported on first call."""
    global _telemetry_dropped
    from mlflow.telemetry.client import set_telemetry_client
    from mlflow.tracking import MlflowClient

    with _import_lock:
        if not _telemetry_dropped:
            # Imported before (by a plugin, say): drop the client it started.
            set_telemetry_client()
            _telemetry_dropped = True
    return MlflowClient(tracking_uri=tracking_uri)


class TrackingError(RuntimeError):
    """MLflow refused or failed; the message is MLflow's."""


class GcUnavailable(TrackingError):
    """Hard delete needs the backend store, which this server does not know."""


def embedded_uris(data_dir: Path) -> tuple[str, str]:
    """The default store and artifact root: ``data_dir/mlflow``."""
    root = (data_dir / "mlflow").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


# How long the first tracking call waits for the store being made in the background.
STORE_WAIT_SECONDS = 300.0

_gc_lock = threading.Lock()


def _run_gc(arguments: list[str]) -> str:
    """Run ``mlflow gc`` with ``arguments`` in this process; answer what it printed.

    gc points MLflow's process-wide tracking URI (and ``MLFLOW_TRACKING_URI``) at its
    ``--tracking-uri`` to resolve proxied artifacts; it is put back afterwards. Nothing here
    uses that global (each ``Tracker`` has its own client), and the lock keeps two hard
    deletes from overlapping.
    """
    # Imported on first use: MLflow's CLI module is heavy, and hard deletes are rare. Its
    # import reaches MLflow's pyfunc models, which warn about their own type hints.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
        import mlflow
        from mlflow.cli import gc as gc_command
        from mlflow.exceptions import MlflowException

    with _gc_lock:
        previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                gc_command.main(args=arguments, prog_name="mlflow gc", standalone_mode=False)
        except MlflowException as exc:
            raise TrackingError(f"mlflow gc failed: {exc.message}") from exc
        except Exception as exc:
            raise TrackingError(f"mlflow gc failed: {exc}") from exc
        finally:
            # None clears the URI and its environment variable again.
            mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]
    return printed.getvalue()


@dataclass(frozen=True)
class RunView:
    """What a run shows: MLflow's own ``to_dictionary()`` plus the experiment's name."""

    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    run_name: str
    start_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    raw: dict[str, Any]


def _view(run: Run) -> RunView:
    info = run.info
    return RunView(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        status=info.status,
        lifecycle_stage=info.lifecycle_stage,
        run_name=info.run_name or run.data.tags.get("mlflow.runName", ""),
        start_time=info.start_time,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        raw=run.to_dictionary(),
    )


class Tracker:
    """One tracking store."""

    def __init__(
        self, tracking_uri: str, *, artifact_root: str | None, gc_store_uri: str | None
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        # gc talks to the backend store itself: the store URI, or a server's own store.
        self.gc_store_uri = gc_store_uri or (
            None if tracking_uri.startswith(("http://", "https://")) else tracking_uri
        )
        self._client_lock = threading.Lock()
        self._made: MlflowClient | None = None
        self._store_made = threading.Event()
        self._store_made.set()

    def make_store_in_background(self) -> bool:
        """Create (migrate) an embedded SQLite store that does not exist yet in a child
        process, so neither the start-up nor the first request that tracks pays for it (the
        server process imports MLflow only when it first tracks); True if started. That
        request waits for the child rather than migrating the same file beside it."""
        path = self.tracking_uri.removeprefix("sqlite:///")
        if path == self.tracking_uri or os.path.exists(path):
            return False
        self._store_made.clear()
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "modelyard.training.tracking", self.tracking_uri],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

        def watch() -> None:
            if child.wait() != 0:
                log.warning("the MLflow store was not made in the background; made on first use")
            self._store_made.set()

        threading.Thread(target=watch, name="modelyard-mlflow-store", daemon=True).start()
        return True

    def make_store(self) -> None:
        """Create (migrate) the store now, here (``serve --workers N``'s parent does, once)."""
        self._call(self._client.search_experiments, max_results=1)

    @property
    def _client(self) -> MlflowClient:
        """Made on first use: making it imports MLflow (1.5 s of CPU, 200 MB), which the
        server's start-up should not wait for."""
        with self._client_lock:
            if self._made is None:
                self._store_made.wait(STORE_WAIT_SECONDS)
                self._made = _new_client(self.tracking_uri)
            return self._made

    # --- experiments ----------------------------------------------------------------------

    def find_experiment(self, name: str) -> tuple[str, str] | None:
        """(id, lifecycle stage) of the experiment named ``name``, deleted ones included."""
        experiment = self._call(self._client.get_experiment_by_name, name)
        if experiment is None:
            return None
        return experiment.experiment_id, experiment.lifecycle_stage

    def create_experiment(self, name: str, owner_id: int) -> str:
        location = None
        if self.artifact_root is not None:
            location = f"{self.artifact_root.rstrip('/')}/{os.urandom(8).hex()}"
        experiment_id: str = self._call(
            self._client.create_experiment,
            name,
            artifact_location=location,
            tags={OWNER_TAG: str(owner_id)},
        )
        return experiment_id

    def delete_experiment(self, experiment_id: str) -> None:
        self._call(self._client.delete_experiment, experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._call(self._client.restore_experiment, experiment_id)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment, its runs and artifacts with MLflow's own ``mlflow gc``.

        The command runs in this process (MLflow offers no other API for hard deletes): the
        same code as the CLI, without a child process that imports MLflow again each time.
        """
        if self.gc_store_uri is None:
            raise GcUnavailable(
                "hard delete needs the tracking server's backend store: set "
                "MODELYARD_TRAINING_MLFLOW_GC_BACKEND_STORE_URI"
            )
        output = _run_gc(
            [
                "--backend-store-uri",
                self.gc_store_uri,
                "--tracking-uri",
                self.tracking_uri,
                "--experiment-ids",
                experiment_id,
            ]
        )
        log.info("mlflow gc of experiment %s: %s", experiment_id, " ".join(output.split()))

    # --- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        experiment_id: str,
        name: str,
        tags: dict[str, str],
        *,
        start_time: int | None = None,
    ) -> RunView:
        """Open a RUNNING run; ``start_time`` (ms) when its order among the runs matters."""
        run = self._call(
            self._client.create_run,
            experiment_id,
            start_time=start_time,
            run_name=name,
            tags={"mlflow.source.type": "LOCAL", "mlflow.source.name": "modelyard", **tags},
        )
        return _view(run)

    def log(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        items = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        values = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        self._call(self._client.log_batch, run_id, metrics=values, params=items)

    def log_bytes(self, run_id: str, path: str, data: bytes) -> None:
        """Store ``data`` as the run's artifact ``path`` (``folder/name``)."""
        folder, _, name = path.rpartition("/")
        with tempfile.TemporaryDirectory(prefix="modelyard-mlflow-") as tmp:
            local = Path(tmp) / name
            local.write_bytes(data)
            self._call(self._client.log_artifact, run_id, str(local), folder or None)

    def read_bytes(self, run_id: str, path: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="modelyard-mlflow-") as tmp:
            local = self._call(self._client.download_artifacts, run_id, path, tmp)
            return Path(local).read_bytes()

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self._call(self._client.set_tag, run_id, key, value)

    def finish(self, run_id: str, status: str) -> None:
        self._call(self._client.set_terminated, run_id, status)

    def get_run(self, run_id: str) -> RunView | None:
        client = self._client
        from mlflow.exceptions import MlflowException

        try:
            return _view(client.get_run(run_id))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise TrackingError(exc.message) from exc

    def search_runs(
        self,
        experiment_ids: list[str],
        *,
        max_results: int,
        deleted: bool = False,
        only: str | None = None,
    ) -> list[RunView]:
        """The newest runs first; ``only`` is an MLflow filter string."""
        if not experiment_ids:
            return []
        from mlflow.entities import ViewType

        runs = self._call(
            self._client.search_runs,
            experiment_ids,
            filter_string=only or "",
            run_view_type=ViewType.ALL if deleted else ViewType.ACTIVE_ONLY,
            max_results=max_results,
            order_by=["attribute.start_time DESC"],
        )
        return [_view(run) for run in runs]

    def delete_run(self, run_id: str) -> None:
        self._call(self._client.delete_run, run_id)

    def restore_run(self, run_id: str) -> None:
        self._call(self._client.restore_run, run_id)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        # The function is a method of the client, so MLflow is imported by now.
        from mlflow.exceptions import MlflowException

        try:
            return function(*args, **kwargs)
        except MlflowException as exc:
            raise TrackingError(exc.message) from exc


if __name__ == "__main__":
    # The background store maker (``Tracker.make_store_in_background``): one call makes MLflow
    # create and migrate the store named on the command line.
    Tracker(sys.argv[1], artifact_root=None, gc_store_uri=None).make_store()
