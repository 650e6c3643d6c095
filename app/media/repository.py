"""Queries of media objects."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import repository as base
from app.media.models import MediaObject


async def get(session: AsyncSession, media_id: str) -> MediaObject | None:
    return await base.get(session, MediaObject, media_id)


async def for_owner(session: AsyncSession, *, owner_type: str, owner_id: str) -> list[MediaObject]:
    q = (select(MediaObject).where(MediaObject.owner_type == owner_type, MediaObject.owner_id == owner_id)
         .order_by(col(MediaObject.position), col(MediaObject.id)))
    return list((await session.exec(q)).all())
