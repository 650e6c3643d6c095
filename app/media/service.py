"""Uploads processed outside the request's transaction, attaching stored files to their owners, and the
JSON shape of a photo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import UploadFile
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize, is_manager, roles_in
from app.core import audit
from app.core.config import Settings
from app.core.content import (
    HIDDEN_PHOTO,
    ContentScreen,
    PhotoCheck,
    PhotoSubmission,
    photo_listed,
    photo_visible,
)
from app.core.db import new_id
from app.core.errors import AppError, Conflict, NotFound
from app.core.routing import API_PREFIX
from app.core.wechat_push import MediaCheckEvent
from app.media import repository as repo
from app.media.images import Staging, StoredDocument, StoredImage
from app.media.models import OWNER_TYPES, MediaObject
from app.media.schemas import ModerationResult, PhotoPublic, PhotoStaff
from app.media.storage import Storage
from app.register import service as register_service

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

def _row(*, stored: StoredImage | StoredDocument, owner_type: str, owner_id: str, community_id: str,
         project_id: str | None, uploaded_by: str | None, now: datetime, position: int,
         checked: PhotoSubmission | None) -> dict[str, Any]:
    if owner_type not in OWNER_TYPES:
        raise ValueError(f"unknown owner_type {owner_type!r}")
    return dict(
        sha256=stored.sha256, thumb_sha256=stored.thumb_sha256, mime=stored.mime, width=stored.width,
        height=stored.height, size_bytes=stored.size_bytes, taken_at=stored.taken_at, gps_lat=stored.gps_lat,
        gps_lon=stored.gps_lon, filename=getattr(stored, "filename", None), owner_type=owner_type,
        owner_id=owner_id, position=position, community_id=community_id, project_id=project_id,
        uploaded_by=uploaded_by, created_at=now,
        check_status=checked.status.value if checked is not None and checked.status is not None else None,
        check_trace_id=checked.trace_id if checked is not None else None,
    )


async def attach(
    session: AsyncSession, *, stored: StoredImage | StoredDocument, owner_type: str, owner_id: str,
    community_id: str, project_id: str | None, uploaded_by: str | None, now: datetime, position: int = 0,
    checked: PhotoSubmission | None = None, media_id: str | None = None,
) -> MediaObject:
    """Record that ``stored`` belongs to (owner_type, owner_id), with its content check's standing when it
    was submitted under ``media_id`` (:func:`submit_photos`). Flushes; never commits."""
    m = MediaObject(**_row(stored=stored, owner_type=owner_type, owner_id=owner_id, community_id=community_id,
                           project_id=project_id, uploaded_by=uploaded_by, now=now, position=position,
                           checked=checked))
    if media_id is not None:
        m.id = media_id
    session.add(m)
    await session.flush()
    return m


async def attach_id(
    session: AsyncSession, *, stored: StoredImage | StoredDocument, owner_type: str, owner_id: str,
    community_id: str, project_id: str | None, uploaded_by: str | None, now: datetime,
) -> str:
    """:func:`attach` for a caller that needs only the new row's id (a paper ballot's slip photo): the row is
    written at once, in the request's transaction, without an ORM object (issue 17)."""
    media_id = new_id()
    values = _row(stored=stored, owner_type=owner_type, owner_id=owner_id, community_id=community_id,
                  project_id=project_id, uploaded_by=uploaded_by, now=now, position=0, checked=None)
    await repo.insert_row(session, values | {"id": media_id})
    return media_id


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


def photo_view(*, m: MediaObject, staff: bool, viewer_id: str | None = None) -> PhotoPublic:
    """The JSON of one photo; taken-at and GPS only in staff views; the content check's standing to staff and
    the uploader."""
    shown_check = m.check_status if staff or (viewer_id is not None and viewer_id == m.uploaded_by) else None
    public = PhotoPublic(id=m.id, url=photo_url(media_id=m.id),
                         thumbnail_url=thumbnail_url(media_id=m.id) if m.thumb_sha256 else None, mime=m.mime, width=m.width,
                         height=m.height, size_bytes=m.size_bytes, created_at=m.created_at, check_status=shown_check)
    if staff:
        return PhotoStaff(**public.model_dump(), taken_at=m.taken_at, gps_lat=m.gps_lat, gps_lon=m.gps_lon)
    return public


# ---- WeChat's content check of photos (app.core.content) ----------------------------------------------

async def submit_photos(*, screen: ContentScreen, openid: str | None, count: int,
                        now: datetime) -> list[tuple[str, PhotoSubmission]]:
    """Ids for ``count`` photos about to be attached, each submitted to mediaCheckAsync under its signed URL
    first (no row is written yet, so no write lock is held while WeChat answers). After the first failure the
    rest are not tried: they wait for staff like it."""
    out: list[tuple[str, PhotoSubmission]] = []
    failure: str | None = None
    for _ in range(count):
        media_id = new_id()
        if failure is not None:
            out.append((media_id, PhotoSubmission(status=PhotoCheck.PENDING, failure=failure)))
            continue
        sub = await screen.photo(openid=openid, media_id=media_id, now=now)
        failure = sub.failure
        out.append((media_id, sub))
    return out


def check_audit(*, submissions: Sequence[tuple[str, PhotoSubmission]]) -> list[dict[str, Any]]:
    """What the owner's audit entry records of its photos' submissions."""
    return [{"media_id": mid, "check_status": s.status.value if s.status else None, "wechat_trace_id": s.trace_id,
             **({"failure": s.failure} if s.failure else {})} for mid, s in submissions if s.status is not None]


def photo_shown(*, m: MediaObject, viewer_id: str, staff: bool) -> bool:
    """Whether ``m`` is listed in its owner's view for this viewer (its uploader always, to see the status)."""
    return photo_listed(check_status=m.check_status, uploader=m.uploaded_by == viewer_id, staff=staff)


def photo_served(*, m: MediaObject, viewer_id: str, staff: bool) -> bool:
    return photo_visible(check_status=m.check_status, uploader=m.uploaded_by == viewer_id, staff=staff)


async def is_community_staff(session: AsyncSession, *, principal: Principal, community_id: str) -> bool:
    scope = await register_service.community_scope(session, community_id=community_id)
    return is_manager(roles_in(principal, scope))


async def check_served(session: AsyncSession, *, principal: Principal, m: MediaObject) -> None:
    """404 ``photo.not_found`` when the content check hides ``m`` from this viewer."""
    if m.check_status is None or m.check_status not in HIDDEN_PHOTO:
        return
    staff = await is_community_staff(session, principal=principal, community_id=m.community_id)
    if not photo_served(m=m, viewer_id=principal.user_id, staff=staff):
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")


async def apply_media_verdict(session: AsyncSession, *, event: MediaCheckEvent, now: datetime) -> int:
    """WeChat's ``wxa_media_check`` verdict for the photos submitted under its trace id: pass → shown,
    risky → hidden from all but staff, review or a failed check (errcode) → left pending for staff. Only a
    photo still pending moves, so a replayed event, or one arriving after staff decided, changes nothing.
    Unknown trace ids are ignored. Returns how many photos moved."""
    moved = 0
    for m in await repo.pending_with_trace(session, event.trace_id):
        data = {"wechat_trace_id": event.trace_id, "suggest": event.suggest, "wechat_label": event.label,
                "wechat_errcode": event.errcode, "owner_type": m.owner_type, "owner_id": m.owner_id}
        target = None
        if event.errcode == 0 and event.suggest == "pass":
            target = PhotoCheck.PASS
        elif event.errcode == 0 and event.suggest == "risky":
            target = PhotoCheck.RISKY
        if target is not None and await repo.set_check(session, media_id=m.id, status=target.value,
                                                       only_from=(PhotoCheck.PENDING.value,)):
            moved += 1
            await audit.append(session, chain=m.community_id, action="photo.check_result", entity_type="media",
                               entity_id=m.id, actor_id=None, at=now, data=data | {"check_status": target.value})
        elif target is None and m.check_status == PhotoCheck.PENDING:
            await audit.append(session, chain=m.community_id, action="photo.check_inconclusive",
                               entity_type="media", entity_id=m.id, actor_id=None, at=now, data=data)
    return moved


async def moderate_photo(session: AsyncSession, *, principal: Principal, media_id: str, approve: bool,
                         reason: str | None, now: datetime) -> ModerationResult:
    """Staff release a photo held by the check (shown to everyone who may see its owner) or hide any photo
    from all but staff (audited). 404 ``moderation.not_found`` for no such photo; 409
    ``moderation.already_decided`` when it already stands so."""
    m = await media_or_none(session, media_id=media_id)
    if m is None or not m.mime.startswith("image/"):
        raise NotFound("moderation.not_found", "没有该内容", "No such content")
    scope = await register_service.community_scope(session, community_id=m.community_id)
    authorize(principal, "content.moderate", replace(scope, project_id=m.project_id))
    target = PhotoCheck.RELEASED if approve else PhotoCheck.REJECTED
    sources: tuple[str | None, ...]
    if approve:
        sources = tuple(s.value for s in HIDDEN_PHOTO)
    else:
        sources = (None, *(s.value for s in PhotoCheck if s != PhotoCheck.REJECTED))
    before = m.check_status
    if not await repo.set_check(session, media_id=m.id, status=target.value, only_from=sources):
        raise Conflict("moderation.already_decided", "该内容已是此状态", "The content already stands so",
                       status_now=before)
    await audit.append(session, chain=m.community_id, action="photo.released" if approve else "photo.rejected",
                       entity_type="media", entity_id=m.id, actor_id=principal.user_id, at=now,
                       data={"from": before, "to": target.value, "reason": reason, "owner_type": m.owner_type,
                             "owner_id": m.owner_id})
    return ModerationResult(kind="photos", id=m.id, status=target.value)
