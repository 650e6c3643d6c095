"""Attaching stored files to their owners, and the JSON shape of a photo."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.media import repository as repo
from app.media.images import StoredDocument, StoredImage
from app.media.models import OWNER_TYPES, MediaObject
from app.media.schemas import PhotoPublic, PhotoStaff

API_PREFIX = "/api/v1"


async def attach(
    session: AsyncSession, *, stored: StoredImage | StoredDocument, owner_type: str, owner_id: str,
    community_id: str, project_id: str | None, uploaded_by: str | None, now: datetime, position: int = 0,
) -> MediaObject:
    """Record that ``stored`` belongs to (owner_type, owner_id). Flushes; never commits."""
    if owner_type not in OWNER_TYPES:
        raise ValueError(f"unknown owner_type {owner_type!r}")
    m = MediaObject(
        sha256=stored.sha256, thumb_sha256=stored.thumb_sha256, mime=stored.mime, width=stored.width,
        height=stored.height, size_bytes=stored.size_bytes, taken_at=stored.taken_at, gps_lat=stored.gps_lat,
        gps_lon=stored.gps_lon, filename=getattr(stored, "filename", None), owner_type=owner_type,
        owner_id=owner_id, position=position, community_id=community_id, project_id=project_id,
        uploaded_by=uploaded_by, created_at=now,
    )
    session.add(m)
    await session.flush()
    return m


async def media_for(session: AsyncSession, *, owner_type: str, owner_id: str) -> list[MediaObject]:
    return await repo.for_owner(session, owner_type=owner_type, owner_id=owner_id)


async def media_or_none(session: AsyncSession, media_id: str) -> MediaObject | None:
    if not media_id or len(media_id) > 32:
        return None
    return await repo.get(session, media_id)


def photo_url(media_id: str) -> str:
    return f"{API_PREFIX}/photos/{media_id}"


def thumbnail_url(media_id: str) -> str:
    return f"{API_PREFIX}/photos/{media_id}/thumbnail"


def photo_view(m: MediaObject, *, staff: bool) -> PhotoPublic:
    """The JSON of one photo; taken-at and GPS only in staff views."""
    public = PhotoPublic(id=m.id, url=photo_url(m.id),
                         thumbnail_url=thumbnail_url(m.id) if m.thumb_sha256 else None, mime=m.mime, width=m.width,
                         height=m.height, size_bytes=m.size_bytes, created_at=m.created_at)
    if staff:
        return PhotoStaff(**public.model_dump(), taken_at=m.taken_at, gps_lat=m.gps_lat, gps_lon=m.gps_lon)
    return public
