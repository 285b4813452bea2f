"""A progress bar that follows a job's own progress (0..1) and message.

rich when it is installed, else tqdm, else one line on stderr that rewrites itself; never on a
stream that is not a terminal unless asked (a log file gets no carriage returns).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["ProgressReporter", "make_progress"]


class ProgressReporter(Protocol):
    def update(self, fraction: float, message: str | None) -> None: ...

    def close(self) -> None: ...


class _Rich:
    def __init__(self, title: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[message]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(title, total=1.0, message="")
        self._progress.start()

    def update(self, fraction: float, message: str | None) -> None:
        self._progress.update(self._task, completed=fraction, message=message or "")

    def close(self) -> None:
        self._progress.stop()


class _Tqdm:
    def __init__(self, title: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=100, desc=title, file=sys.stderr)

    def update(self, fraction: float, message: str | None) -> None:
        self._bar.n = round(fraction * 100)
        self._bar.set_postfix_str(message or "", refresh=True)

    def close(self) -> None:
        self._bar.close()


class _Line:
    def __init__(self, title: str) -> None:
        self._title = title

    def update(self, fraction: float, message: str | None) -> None:
        sys.stderr.write(f"\r{self._title} {fraction:4.0%} {message or ''}"[:120].ljust(80))
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


class _Callback:
    def __init__(self, callback: Callable[[float, str | None], Any]) -> None:
        self._callback = callback

    def update(self, fraction: float, message: str | None) -> None:
        self._callback(fraction, message)

    def close(self) -> None:
        pass


def make_progress(progress: Any, title: str) -> ProgressReporter | None:
    """``True``: a bar; a callable: called with (fraction, message); else None."""
    if callable(progress):
        return _Callback(progress)
    if not progress:
        return None
    for kind in (_Rich, _Tqdm):
        try:
            return kind(title)
        except ImportError:
            continue
    return _Line(title)
