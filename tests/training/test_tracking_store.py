"""The embedded MLflow store is made by a child process at start-up (issue 21, wall 3): the
server imports MLflow only when it first tracks, and that first call waits for the child
rather than migrating the same file beside it."""

from __future__ import annotations

from pathlib import Path

from modelyard.training.tracking import Tracker, embedded_uris


def test_a_missing_embedded_store_is_made_in_the_background(tmp_path: Path) -> None:
    store_uri, artifact_root = embedded_uris(tmp_path)
    tracker = Tracker(store_uri, artifact_root=artifact_root, gc_store_uri=store_uri)
    assert tracker.make_store_in_background() is True
    # The first call waits for the child, then finds a migrated store.
    assert tracker.find_experiment("no-such-experiment") is None
    assert (tmp_path / "mlflow" / "mlflow.db").is_file()
    again = Tracker(store_uri, artifact_root=artifact_root, gc_store_uri=store_uri)
    assert again.make_store_in_background() is False  # it exists: nothing to do
    experiment_id = again.create_experiment("made-after", owner_id=1)
    assert tracker.find_experiment("made-after") == (experiment_id, "active")


def test_a_tracking_server_is_never_made_here() -> None:
    tracker = Tracker("http://127.0.0.1:1", artifact_root=None, gc_store_uri=None)
    assert tracker.make_store_in_background() is False
