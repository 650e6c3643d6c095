"""Publicity endpoints: notices, the residents' list, objections and resolutions, the calendar window."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated

from fastapi import Depends, File, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response

from app.auth.deps import PrincipalDep
from app.core import printing
from app.core.clock import ClockDep
from app.core.content import ScreenDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.idempotency import fingerprint, run_idempotent
from app.core.limits import FORM_CHECKED
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.media.schemas import ModerationRequest, ModerationResult
from app.media.service import staged_documents, staged_images
from app.media.serving import media_response
from app.media.storage import StorageDep
from app.publicity import posters, service
from app.publicity.models import NoticeStatus
from app.publicity.schemas import (
    CalendarWindow,
    NoticeCreate,
    NoticePublic,
    ObjectionCreate,
    ObjectionPublic,
    ResolutionRequest,
)

router = api_router("publicity")


@router.get("/calendar/window", response_model=CalendarWindow, operation_id="publicity_calendar_window")
async def calendar_window(principal: PrincipalDep, clock: ClockDep, start_date: date,
                          working_days: Annotated[int, Query(ge=1, le=60)]) -> CalendarWindow:
    """What a notice published now to start on ``start_date`` would get, by the same computation: end date,
    closing time (24:00 Shanghai of the end date, ``+08:00``), ``partial_day_excluded`` when the start date is
    today and already begun (counting starts the next day), and ``provisional`` when the official calendar does
    not cover the year (Mon–Fri assumed)."""
    return service.calendar_window(start_date=start_date, working_days=working_days, now=clock.now())


@router.post("/projects/{project_id}/notices", response_model=NoticePublic, status_code=201,
             operation_id="publicity_notice_create")
async def create_notice(project_id: str, body: NoticeCreate, session: SessionDep, principal: PrincipalDep,
                        clock: ClockDep) -> NoticePublic:
    """Staff publish a notice; the end date is computed from working days (422 `notice.window_too_short`,
    422 `notice.start_in_past`). Published during its start date, counting starts the next day."""
    return await service.create_notice(session, principal=principal, project_id=project_id, body=body,
                                       now=clock.now())


@router.get("/notices/{notice_id}", response_model=NoticePublic, operation_id="publicity_notice_get")
async def get_notice(notice_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> NoticePublic:
    return await service.get_notice(session, principal=principal, notice_id=notice_id, now=clock.now())


@router.get("/notices/{notice_id}/poster.pdf", response_class=Response,
            responses=printing.pdf_responses("the notice as an A4 poster for the notice board"),
            operation_id="publicity_notice_poster")
async def notice_poster(notice_id: str, session: SessionDep, principal: PrincipalDep, settings: SettingsDep,
                        clock: ClockDep) -> Response:
    """Staff of the notice's community: the notice as a printable A4 poster — community, kind, title, the
    whole body (further pages when long; a vote-result notice's rooms and areas as a table), the window (start
    and end date, Beijing time, and its working days), how to object (in the mini-program or in writing, before
    it closes) and a QR code opening the notice in the mini-program (`<MINIPROGRAM_NOTICE_PATH>?id=<id>`).
    Residents: 403; no CJK font on the server: 503 `documents.font_missing`."""
    font = printing.font_file(settings)
    poster = await service.notice_poster(session, settings=settings, principal=principal, notice_id=notice_id)
    return printing.PdfResponse(partial(posters.build, font, poster=poster, created=clock.now()),
                                ascii_name=f"notice-{poster.notice_id}.pdf", utf8_name=f"公示-{poster.title[:60]}.pdf")


@router.get("/communities/{community_id}/notices", response_model=Page[NoticePublic],
            operation_id="publicity_notice_list")
async def list_notices(community_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                       page: Annotated[PageParams, Depends(page_params)],
                       status: NoticeStatus | None = None) -> Page[NoticePublic]:
    """Newest first, with status and working days left; for residents, staff and the lobby tablet."""
    return await service.list_community_notices(session, principal=principal, community_id=community_id,
                                                page=page, status=status, now=clock.now())


@router.post("/notices/{notice_id}/objections", response_model=ObjectionPublic, status_code=201,
             operation_id="publicity_objection_file")
async def file_objection(notice_id: str, body: ObjectionCreate, request: Request, session: SessionDep,
                         principal: PrincipalDep, clock: ClockDep, screen: ScreenDep) -> JSONResponse:
    """A resident of the community objects while the window is open (409 `objection.window_closed` after
    24:00 of the end date, by the server clock). Honours ``Idempotency-Key``. A WeChat user's text is
    checked by WeChat (msgSecCheck): 422 `content.rejected` when risky (nothing stored); `content_check`
    `review` (shown to the filer and staff only until staff approve) when WeChat asks for review or cannot
    answer (`content_notice` says which)."""
    now = clock.now()

    async def produce() -> ObjectionPublic:
        return await service.file_objection(session, principal=principal, notice_id=notice_id, body=body, now=now,
                                            screen=screen)

    return await run_idempotent(session, request, user_id=principal.user_id, now=now,
                                body_fingerprint=fingerprint(body.model_dump()), produce=produce, status_code=201)


@router.get("/notices/{notice_id}/objections", response_model=Page[ObjectionPublic],
            operation_id="publicity_objection_list")
async def list_objections(notice_id: str, session: SessionDep, principal: PrincipalDep,
                          page: Annotated[PageParams, Depends(page_params)]) -> Page[ObjectionPublic]:
    """Staff see all; residents see the resolved ones with their resolutions, and their own."""
    return await service.list_objections(session, principal=principal, notice_id=notice_id, page=page)


@router.post("/objections/{objection_id}/resolution", response_model=ObjectionPublic,
             operation_id="publicity_objection_resolve")
async def resolve_objection(objection_id: str, body: ResolutionRequest, session: SessionDep,
                            principal: PrincipalDep, clock: ClockDep) -> ObjectionPublic:
    """Staff answer: accepted (the notice fails) or rejected, with a reason; 409 `objection.already_resolved`."""
    return await service.resolve_objection(session, principal=principal, objection_id=objection_id, body=body,
                                           now=clock.now())


# ---- files: notice attachments (PDF/images) and objection photos ---------------------------------

@router.post("/notices/{notice_id}/attachments", response_model=NoticePublic, status_code=201,
             dependencies=FORM_CHECKED, operation_id="publicity_notice_attachments_add")
async def add_attachments(notice_id: str, files: Annotated[list[UploadFile], File(description="PDF or images")],
                          session: SessionDep, principal: PrincipalDep, settings: SettingsDep, storage: StorageDep,
                          clock: ClockDep) -> NoticePublic:
    """Staff attach PDFs or images (multipart field ``files``, repeated) until the window ends; checked by
    content and size-capped (413 ``media.too_large``), with no database transaction held meanwhile."""
    now = clock.now()
    await service.check_attachments(session, principal=principal, notice_id=notice_id, count=len(files), now=now)
    async with staged_documents(session, uploads=files, settings=settings, storage=storage) as stored:
        return await service.add_attachments(session, principal=principal, notice_id=notice_id, files=stored,
                                             now=now)


@router.get("/notices/{notice_id}/attachments/{media_id}", response_class=FileResponse,
            operation_id="publicity_notice_attachment_get")
async def get_attachment(notice_id: str, media_id: str, session: SessionDep, principal: PrincipalDep,
                         storage: StorageDep, thumbnail: bool = False) -> Response:
    m = await service.notice_attachment(session, principal=principal, notice_id=notice_id, media_id=media_id)
    return await media_response(storage, m, thumbnail=thumbnail)


@router.post("/objections/{objection_id}/photos", response_model=ObjectionPublic, status_code=201,
             dependencies=FORM_CHECKED, operation_id="publicity_objection_photos_add")
async def add_objection_photos(objection_id: str, photos: Annotated[list[UploadFile], File(description="1–9 photos")],
                               session: SessionDep, principal: PrincipalDep, settings: SettingsDep,
                               storage: StorageDep, clock: ClockDep, screen: ScreenDep) -> ObjectionPublic:
    """The filer adds photos (multipart field ``photos``, repeated; JPEG/PNG/WebP/HEIC, EXIF stripped) while
    the notice is open and the objection unanswered (checked again after the photos are processed). A WeChat
    user's photos are submitted to WeChat's check and stay `pending_check` (filer and staff only) until the
    verdict arrives or staff release them."""
    now = clock.now()
    await service.check_objection_photos(session, principal=principal, objection_id=objection_id,
                                         count=len(photos), now=now)
    async with staged_images(session, uploads=photos, settings=settings, storage=storage) as stored:
        return await service.add_objection_photos(session, principal=principal, objection_id=objection_id,
                                                  photos=stored, now=now, screen=screen)


@router.get("/objections/{objection_id}/photos/{media_id}", response_class=FileResponse,
            operation_id="publicity_objection_photo_get")
async def get_objection_photo(objection_id: str, media_id: str, session: SessionDep, principal: PrincipalDep,
                              storage: StorageDep, thumbnail: bool = False) -> Response:
    m = await service.objection_photo(session, principal=principal, objection_id=objection_id, media_id=media_id)
    return await media_response(storage, m, thumbnail=thumbnail)


# ---- WeChat's content check: staff's decision on an objection's text ---------------------------------

@router.post("/moderation/objections/{objection_id}/approve", response_model=ModerationResult,
             operation_id="moderation_objection_approve")
async def approve_objection(objection_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                            body: ModerationRequest | None = None) -> ModerationResult:
    """Staff approve an objection's text held for review (or rejected before): residents see it once the
    objection is answered. Audited (`content.approved`); 409 `moderation.already_decided`."""
    return await service.moderate_objection(session, principal=principal, objection_id=objection_id, approve=True,
                                            reason=body.reason if body else None, now=clock.now())


@router.post("/moderation/objections/{objection_id}/reject", response_model=ModerationResult,
             operation_id="moderation_objection_reject")
async def reject_objection(objection_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                           body: ModerationRequest | None = None) -> ModerationResult:
    """Staff reject an objection's text: never shown to other residents (the objection is still answered).
    Audited (`content.rejected`); 409 `moderation.already_decided`."""
    return await service.moderate_objection(session, principal=principal, objection_id=objection_id,
                                            approve=False, reason=body.reason if body else None, now=clock.now())
