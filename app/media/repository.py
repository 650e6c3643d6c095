"""Queries of media objects."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.media.models import MediaObject


async def get(session: AsyncSession, media_id: str) -> MediaObject | None:
    return await session.get(MediaObject, media_id)


async def for_owner(session: AsyncSession, *, owner_type: str, owner_id: str) -> list[MediaObject]:
    q = (select(MediaObject).where(MediaObject.owner_type == owner_type, MediaObject.owner_id == owner_id)
         .order_by(col(MediaObject.position), col(MediaObject.id)))
    return list((await session.exec(q)).all())


async def for_owners(session: AsyncSession, *, owner_types: list[str], owner_id: str) -> list[MediaObject]:
    q = (select(MediaObject).where(col(MediaObject.owner_type).in_(owner_types), MediaObject.owner_id == owner_id)
         .order_by(col(MediaObject.owner_type), col(MediaObject.position), col(MediaObject.id)))
    return list((await session.exec(q)).all())


async def count_for_owner(session: AsyncSession, *, owner_type: str, owner_id: str) -> int:
    q = select(func.count()).select_from(MediaObject).where(
        MediaObject.owner_type == owner_type, MediaObject.owner_id == owner_id)
    return int((await session.exec(q)).one())
