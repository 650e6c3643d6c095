"""Uploads processed outside the request's transaction, attaching stored files to their owners, and the
JSON shape of a photo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import UploadFile
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import AppError
from app.media import repository as repo
from app.media.images import Staging, StoredDocument, StoredImage
from app.media.models import OWNER_TYPES, MediaObject
from app.media.schemas import PhotoPublic, PhotoStaff
from app.media.storage import Storage

API_PREFIX = "/api/v1"


# ---- uploads: check, end the transaction, process, then write ---------------------------------------

async def end_checks(session: AsyncSession) -> None:
    """End the request's transaction after its checks (they only read; nothing is committed), so that no
    database connection — on SQLite THE writer — is held while uploads are processed. What follows runs in
    a new transaction that reads fresh rows (the identity map is emptied) and must check again."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("unflushed changes before uploads are processed")
    await session.commit()
    session.expunge_all()


@asynccontextmanager
async def _staged(session: AsyncSession, uploads: Sequence[UploadFile], *, settings: Settings, storage: Storage,
                  documents: bool) -> AsyncIterator[list[Any]]:
    await end_checks(session)
    async with Staging(storage, settings) as staging:
        out: list[Any] = []
        for i, upload in enumerate(uploads):
            try:
                out.append(await (staging.document(upload) if documents else staging.image(upload)))
            except AppError as exc:
                exc.extra.setdefault("file_index" if documents else "photo_index", i)
                raise
        yield out
        await staging.install()


def staged_images(session: AsyncSession, *, uploads: Sequence[UploadFile], settings: Settings,
                  storage: Storage) -> AbstractAsyncContextManager[list[StoredImage]]:
    """Photos processed with no database transaction open, for the write step in the block::

        await service.check_upload(session, ...)          # may the caller, is the state right (reads only)
        async with staged_images(session, photos, settings=settings, storage=storage) as stored:
            return await service.add_photos(session, ..., photos=stored)   # checks again, then records

    The request's transaction is ended first (:func:`end_checks`). Every photo is checked and cleaned
    before the block runs; the first refused one refuses the request (``photo_index`` in the error). The
    cleaned files reach storage only when the block ends without an exception, just before the request's
    transaction commits: a request refused by the write step's checks stores nothing.
    """
    return _staged(session, uploads, settings=settings, storage=storage, documents=False)


def staged_documents(session: AsyncSession, *, uploads: Sequence[UploadFile], settings: Settings,
                     storage: Storage) -> AbstractAsyncContextManager[list[StoredDocument]]:
    """:func:`staged_images` for notice attachments: PDFs or images (``file_index`` in an error)."""
    return _staged(session, uploads, settings=settings, storage=storage, documents=True)


# ---- media rows ------------------------------------------------------------------------------------

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


async def media_or_none(session: AsyncSession, *, media_id: str) -> MediaObject | None:
    if not media_id or len(media_id) > 32:
        return None
    return await repo.get(session, media_id)


def photo_url(*, media_id: str) -> str:
    return f"{API_PREFIX}/photos/{media_id}"


def thumbnail_url(*, media_id: str) -> str:
    return f"{API_PREFIX}/photos/{media_id}/thumbnail"


def photo_view(*, m: MediaObject, staff: bool) -> PhotoPublic:
    """The JSON of one photo; taken-at and GPS only in staff views."""
    public = PhotoPublic(id=m.id, url=photo_url(media_id=m.id),
                         thumbnail_url=thumbnail_url(media_id=m.id) if m.thumb_sha256 else None, mime=m.mime, width=m.width,
                         height=m.height, size_bytes=m.size_bytes, created_at=m.created_at)
    if staff:
        return PhotoStaff(**public.model_dump(), taken_at=m.taken_at, gps_lat=m.gps_lat, gps_lon=m.gps_lon)
    return public
