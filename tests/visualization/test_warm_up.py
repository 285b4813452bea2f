"""UMAP's cold start (issue 21, wall 2): compiled code on disk, a compile that is waited for
says so, progress that moves through a fit, a start-up that compiles once per install."""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

import numpy as np
import pytest

from modelyard.visualization import methods, warm_up
from tests.visualization.helpers import NUMBA_CACHE


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_compile_in_another_process_is_waited_for_and_said(cache_dir: Path) -> None:
    said: list[str] = []
    with open(cache_dir / warm_up.LOCK_NAME, "a+b") as held:
        # flock: another open file description conflicts, as another process's would.
        fcntl.flock(held, fcntl.LOCK_EX)
        assert warm_up.wait(0.3, said.append) is False
        assert said == ["waiting for umap-learn's one-time compile in another process"]
        fcntl.flock(held, fcntl.LOCK_UN)
    assert warm_up.wait(0.3, said.append) is True
    assert len(said) == 1


def test_a_warm_cache_starts_no_compile(cache_dir: Path) -> None:
    warm_up._marker(cache_dir).touch()
    assert warm_up.is_warm()
    assert warm_up.start() is False
    said: list[str] = []
    assert warm_up.wait(0.1, said.append) is True and said == []


def test_the_marker_names_the_versions(cache_dir: Path) -> None:
    name = warm_up._marker(cache_dir).name
    assert "umap-learn-" in name and "pynndescent-" in name and "numba-" in name


def _cached_umap() -> None:
    methods.configure_numba_cache(NUMBA_CACHE)
    import numba

    if Path(numba.config.CACHE_DIR or "") != NUMBA_CACHE:
        pytest.skip("numba was imported with another cache folder before this test")


def test_every_umap_function_is_cached_on_disk() -> None:
    _cached_umap()
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    warm_up.cache_compiled_code()
    uncached = [
        f"{name}.{attribute}"
        for name, module in list(sys.modules.items())
        if module is not None and name.startswith(("umap", "pynndescent"))
        for attribute, value in vars(module).items()
        if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None), NullCache)
    ]
    # The two numba cannot cache (dynamic globals) are left alone: they would only warn.
    assert sorted({name.rsplit(".", 1)[1] for name in uncached}) == sorted(warm_up._UNCACHEABLE)


def test_a_umap_fit_tells_its_progress() -> None:
    _cached_umap()
    x = np.random.default_rng(0).normal(size=(60, 5))
    seen: list[tuple[float, str]] = []
    fitted = methods.fit(
        "umap",
        {"n_neighbours": 5},
        x,
        seed=0,
        progress=lambda fraction, stage: seen.append((fraction, stage)),
    )
    assert fitted.low.shape == (60, 2)
    stages = [stage for _, stage in seen]
    assert "finding neighbours" in stages
    epochs = [stage for stage in stages if stage.startswith("laying out: epoch ")]
    assert len(epochs) >= 5, stages  # each tenth of the epochs
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    # The fitted model keeps no progress file: it is pickled with the projection.
    assert fitted.model.tqdm_kwds is None
