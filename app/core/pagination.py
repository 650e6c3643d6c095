"""Cursor pagination: ``?limit=`` (≤ 200) and ``?cursor=``; response ``{items, next_cursor}``."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.core.errors import AppError

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: str | None


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        pad = "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(cursor + pad).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AppError("pagination.bad_cursor", "分页游标无效", "Invalid cursor", status=400) from exc
    if not value or len(value) > 200:
        raise AppError("pagination.bad_cursor", "分页游标无效", "Invalid cursor", status=400)
    return value


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def make_page(items: list[T], limit: int, key: str | None) -> Page[T]:
    """``items`` holds up to limit+1 rows; ``key`` is the sort key of the last row returned."""
    return Page(items=items[:limit], next_cursor=encode_cursor(key) if key and len(items) > limit else None)


def time_cursor(at: datetime, row_id: str) -> str:
    """A cursor for lists ordered by (time, id): the last row's key."""
    return encode_cursor(f"{at.astimezone(UTC).isoformat()}|{row_id}")


def parse_time_cursor(value: str | None) -> tuple[datetime, str] | None:
    """The decoded ``?cursor=`` (see app.core.pagination.page_params) back to (time, id); 400 if malformed."""
    if not value:
        return None
    at, _, row_id = value.partition("|")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not row_id:
        raise AppError("pagination.bad_cursor", "分页游标无效", "Invalid cursor", status=400)
    return when, row_id
