"""Times given in monitoring queries: naive ones are UTC, and all lie in a range where a
window (or a week before or after it) is still a date Python and the databases can hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["EARLIEST", "LATEST", "UtcTime", "as_bounded_utc"]

# Far from datetime.min/max: windows a week wide, and the ranges computed from them, stay
# representable; no monitoring data can be older than 1970 or newer than 2999.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def as_bounded_utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive time is taken as UTC); ValueError outside 1970 to 2999."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError("the time must be between 1970-01-01 and 2999-12-31 (UTC)")
    return value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(as_bounded_utc)]
