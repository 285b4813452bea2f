"""Parameters every domain's routes share: ``limit``/``offset`` pages and integer ids.

Both are bounded so that a number no database column can hold is a 422, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from modelyard.config import Settings
from modelyard.errors import InvalidInput

__all__ = ["MAX_DB_INT", "MAX_ID", "IntId", "PageParams", "PageParamsDep", "get_page_params"]

# The largest value of a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT).
MAX_DB_INT = 2**63 - 1
# The largest id: ids (and versions) are INTEGER columns, 32 bits on PostgreSQL, which refuses
# to compare a larger number with one (a 500 before).
MAX_ID = 2**31 - 1

IntId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id.")]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def get_page_params(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, description="Items per page.")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT, description="Items to skip.")] = 0,
) -> PageParams:
    # The bounds live in settings, so they are applied here rather than in Query().
    settings: Settings = request.app.state.settings
    if limit is None:
        limit = settings.http.default_page_size
    if limit > settings.http.max_page_size:
        raise InvalidInput(
            f"limit must be at most {settings.http.max_page_size}",
            details=[{"loc": ["query", "limit"], "msg": "too large", "type": "less_than_equal"}],
        )
    return PageParams(limit=limit, offset=offset)


PageParamsDep = Annotated[PageParams, Depends(get_page_params)]
