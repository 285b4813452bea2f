"""Windows of time: an hour, a day or an ISO week (from Monday), in UTC, as epoch seconds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

__all__ = ["WINDOW_SECONDS", "epoch_seconds", "from_epoch", "window_starts"]

WINDOW_SECONDS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
# 1970-01-01 was a Thursday: weeks start on the Monday after, four days later.
_WEEK_ORIGIN = 4 * 86400


def epoch_seconds(times: Sequence[datetime]) -> npt.NDArray[np.int64]:
    return np.fromiter((int(t.timestamp()) for t in times), dtype=np.int64, count=len(times))


def window_starts(seconds: npt.NDArray[np.int64], window: str) -> npt.NDArray[np.int64]:
    """The start of each time's window."""
    size = WINDOW_SECONDS[window]
    origin = _WEEK_ORIGIN if window == "week" else 0
    result: npt.NDArray[np.int64] = (seconds - origin) // size * size + origin
    return result


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)
