"""WeChat's side of photo checks: the message push that brings mediaCheckAsync's verdicts, the signed URL
WeChat fetches a photo from, and staff's release or hiding of a photo."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import PlainTextResponse, Response

from app.auth.deps import PrincipalDep
from app.core.clock import ClockDep
from app.core.content import media_url_valid
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import NotFound
from app.core.routing import api_router
from app.core.wechat_push import media_check_event, read_push, verify_signature
from app.media import service
from app.media.schemas import ModerationRequest, ModerationResult
from app.media.serving import media_response
from app.media.storage import StorageDep

router = api_router("wechat")

@router.get("/wechat/events", response_class=PlainTextResponse, operation_id="wechat_events_verify")
async def verify_push_url(settings: SettingsDep, echostr: Annotated[str, Query(max_length=200)],
                          signature: Annotated[str | None, Query(max_length=64)] = None,
                          timestamp: Annotated[str | None, Query(max_length=20)] = None,
                          nonce: Annotated[str | None, Query(max_length=64)] = None) -> PlainTextResponse:
    """WeChat's check of the push URL (消息推送 → 启用): ``echostr`` back when ``signature`` =
    sha1(sorted(WECHAT_PUSH_TOKEN, timestamp, nonce)); else 401 ``wechat.bad_signature``."""
    verify_signature(settings, signature=signature, timestamp=timestamp, nonce=nonce)
    return PlainTextResponse(echostr)


@router.post("/wechat/events", response_class=PlainTextResponse, operation_id="wechat_events_receive")
async def receive_push(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
                       signature: Annotated[str | None, Query(max_length=64)] = None,
                       timestamp: Annotated[str | None, Query(max_length=20)] = None,
                       nonce: Annotated[str | None, Query(max_length=64)] = None,
                       msg_signature: Annotated[str | None, Query(max_length=64)] = None,
                       encrypt_type: Annotated[str | None, Query(max_length=10)] = None) -> PlainTextResponse:
    """WeChat's message push in JSON, plain or safe mode (``encrypt_type=aes``, ``msg_signature``): the
    ``wxa_media_check`` event's verdict moves the photos submitted under its ``trace_id``. A bad signature is
    401 ``wechat.bad_signature``, an unreadable push 400 ``wechat.bad_push``; any other event, an unknown trace
    id or a replay is answered ``success`` and changes nothing."""
    event = read_push(settings, body=await request.body(), signature=signature, msg_signature=msg_signature,
                      timestamp=timestamp, nonce=nonce, encrypt_type=encrypt_type)
    verdict = media_check_event(event)
    if verdict is not None:
        await service.apply_media_verdict(session, event=verdict, now=clock.now())
    return PlainTextResponse("success")


@router.get("/wechat/media/{media_id}", response_class=Response, operation_id="wechat_media_fetch",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
                             "description": "the stored photo, for WeChat's content check"}})
async def fetch_for_check(media_id: str, session: SessionDep, settings: SettingsDep, storage: StorageDep,
                          clock: ClockDep, expires: Annotated[int, Query()] = 0,
                          sig: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The photo at the signed, expiring URL given to mediaCheckAsync (no sign-in: the signature is the key).
    404 ``photo.not_found`` for a wrong or expired signature."""
    if not media_url_valid(settings, media_id=media_id, expires=expires, sig=sig, now=clock.now()):
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    m = await service.media_or_none(session, media_id=media_id)
    if m is None or not m.mime.startswith("image/"):
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    return await media_response(storage, m, thumbnail=False)


@router.post("/moderation/photos/{photo_id}/approve", response_model=ModerationResult,
             operation_id="moderation_photo_approve")
async def approve_photo(photo_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                        body: ModerationRequest | None = None) -> ModerationResult:
    """Staff release a photo held by WeChat's check (pending, risky or hidden): shown to everyone who may see
    what it belongs to. Audited (``photo.released``); 409 ``moderation.already_decided`` when already shown."""
    return await service.moderate_photo(session, principal=principal, media_id=photo_id, approve=True,
                                        reason=body.reason if body else None, now=clock.now())


@router.post("/moderation/photos/{photo_id}/reject", response_model=ModerationResult,
             operation_id="moderation_photo_reject")
async def reject_photo(photo_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                       body: ModerationRequest | None = None) -> ModerationResult:
    """Staff hide a photo from everyone but staff (its uploader sees ``rejected``). Audited
    (``photo.rejected``); 409 ``moderation.already_decided`` when already hidden so."""
    return await service.moderate_photo(session, principal=principal, media_id=photo_id, approve=False,
                                        reason=body.reason if body else None, now=clock.now())
