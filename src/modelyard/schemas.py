"""Response shapes shared by every domain."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

__all__ = ["Page"]

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list: the items, how many exist in all, and where the page starts."""

    items: list[ItemT]
    total: int = Field(ge=0, description="Items matching the query, across every page.")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
