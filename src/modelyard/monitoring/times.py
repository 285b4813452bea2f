"""Times given in monitoring queries: naive ones are UTC, and all are brought into a range where
a window (or a week before or after it) is still a date Python and the databases can hold.

Clamped, not refused: no monitoring data is older than 1970 or newer than 2999, so
``since=0001-01-01`` means "from the start" and ``at=9999-12-31`` an empty window; the OpenAPI
document's ``date-time`` holds any time, and every time it allows is answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["EARLIEST", "LATEST", "UtcTime", "as_bounded_utc"]

# Far from datetime.min/max: windows a week wide, and the ranges computed from them, stay
# representable; no monitoring data can be older than 1970 or newer than 2999.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def as_bounded_utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive time is taken as UTC), clamped to 1970 .. 2999."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    # Compared by their naive UTC wall times: an offset near year 1 or 9999 cannot overflow.
    offset = value.utcoffset() or timedelta(0)
    wall = value.replace(tzinfo=None)
    if wall <= EARLIEST.replace(tzinfo=None) + offset:
        return EARLIEST
    if wall >= LATEST.replace(tzinfo=None) - timedelta(days=1) + offset:
        return LATEST - timedelta(microseconds=1)
    return (wall - offset).replace(tzinfo=UTC)


UtcTime = Annotated[datetime, AfterValidator(as_bounded_utc)]
