"""Queries of media objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import repository as base
from app.core.hotread import HotWrite
from app.media.models import MediaObject

_media_t = MediaObject.__table__  # type: ignore[attr-defined]  # SQLModel declares __table__ at run time
_INSERT_MEDIA = HotWrite(insert(_media_t))  # every column: each call gives them all
_NULLS = dict.fromkeys(c.name for c in _media_t.columns)


async def insert_row(session: AsyncSession, values: dict[str, Any]) -> None:
    """One media row, written in the request's transaction without an ORM object (the paper-ballot path);
    columns not in ``values`` are null."""
    await _INSERT_MEDIA.execute(session, **(_NULLS | values))


async def get(session: AsyncSession, media_id: str) -> MediaObject | None:
    return await base.get(session, MediaObject, media_id)


async def for_owner(session: AsyncSession, *, owner_type: str, owner_id: str) -> list[MediaObject]:
    q = (select(MediaObject).where(MediaObject.owner_type == owner_type, MediaObject.owner_id == owner_id)
         .order_by(col(MediaObject.position), col(MediaObject.id)))
    return list((await session.exec(q)).all())


async def pending_with_trace(session: AsyncSession, trace_id: str) -> list[MediaObject]:
    q = (select(MediaObject).where(MediaObject.check_trace_id == trace_id)
         .order_by(col(MediaObject.id)).execution_options(populate_existing=True))
    return list((await session.exec(q)).all())


async def set_check(session: AsyncSession, *, media_id: str, status: str, only_from: tuple[str | None, ...],
                    trace_id: str | None = None) -> bool:
    """Move a photo's check status, only from one of ``only_from`` (None: not checked): False when it did not
    move (another decision came first, a replayed event)."""
    values: dict[str, str] = {"check_status": status}
    if trace_id is not None:
        values["check_trace_id"] = trace_id
    stmt = update(MediaObject).where(col(MediaObject.id) == media_id)
    values_from = [v for v in only_from if v is not None]
    cond = col(MediaObject.check_status).in_(values_from)
    stmt = stmt.where(or_(cond, col(MediaObject.check_status).is_(None)) if None in only_from else cond)
    res = await session.exec(stmt.values(**values))  # type: ignore[call-overload]
    return bool(res.rowcount)
