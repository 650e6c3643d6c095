"""WeChat content security: what WeChat users post for other people to see is checked before it is shown.

* **Text** (an objection's text, a report's title and description) is checked with ``msgSecCheck`` v2 while
  the user waits (:meth:`ContentScreen.text`): ``risky`` → 422 ``content.rejected`` and nothing is stored;
  ``review`` → stored as :attr:`TextCheck.REVIEW`, shown to its author and staff only until staff approve it;
  ``pass`` → shown. When WeChat cannot answer (timeout, busy, quota, an unexpected errcode), the text is not
  lost: it is stored as ``review`` too, and the answer's ``content_notice`` says the check could not be done.
* **Photos** (a report's and an objection's) are submitted to ``mediaCheckAsync`` with a signed, expiring URL
  on ``PUBLIC_BASE_URL`` (:func:`signed_media_url`) and stay :attr:`PhotoCheck.PENDING` — shown to their
  uploader and staff only — until WeChat's ``wxa_media_check`` event (:mod:`app.core.wechat_push`) brings
  the verdict, or staff release them.

Only users who signed in through WeChat (they have an openid) are checked; staff, inspectors and residents
with passwords are not (:attr:`TextCheck.SKIPPED`), nor anyone when ``WECHAT_CONTENT_CHECK=false``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import AppError
from app.core.routing import API_PREFIX
from app.core.wechat import (
    WechatClient,
    WechatRefused,
    WechatUnavailable,
    get_wechat,
    media_check_async,
    msg_sec_check,
)

log = logging.getLogger("app.content")

MAX_CHECKED = 2500  # msgSecCheck's limit on the content of one call, in characters


class Scene(IntEnum):
    """msgSecCheck's and mediaCheckAsync's scene."""

    PROFILE = 1  # 资料
    COMMENT = 2  # 评论
    FORUM = 3  # 论坛
    SOCIAL_LOG = 4  # 社交日志


class TextCheck(StrEnum):
    """A stored text's standing (column ``content_check``)."""

    SKIPPED = "skipped"  # not checked: written by a user without an openid, checks off, or before checks
    PASS = "pass"  # WeChat said pass
    REVIEW = "review"  # WeChat said review, or could not answer: hidden from others until staff decide
    APPROVED = "approved"  # staff approved it after review
    REJECTED = "rejected"  # staff rejected it: never shown to others


VISIBLE_TEXT = frozenset({TextCheck.SKIPPED, TextCheck.PASS, TextCheck.APPROVED})
VISIBLE_TEXT_VALUES = tuple(s.value for s in VISIBLE_TEXT)


class PhotoCheck(StrEnum):
    """A photo's standing (column ``media_object.check_status``; NULL: not subject to the check)."""

    PENDING = "pending_check"  # submitted (or not submittable): waiting for WeChat's verdict or staff
    PASS = "pass"  # WeChat's verdict: pass
    RISKY = "risky"  # WeChat's verdict: risky (or review: a person should look)
    RELEASED = "released"  # staff released it
    REJECTED = "rejected"  # staff hid it


HIDDEN_PHOTO = frozenset({PhotoCheck.PENDING, PhotoCheck.RISKY, PhotoCheck.REJECTED})


def photo_visible(*, check_status: str | None, uploader: bool, staff: bool) -> bool:
    """Whether a photo's bytes are served: staff always; others when it passed, was released or was never
    subject to the check; its uploader also while it waits (not once it was found risky or rejected)."""
    if staff or check_status is None or check_status not in HIDDEN_PHOTO:
        return True
    return uploader and check_status == PhotoCheck.PENDING


def photo_listed(*, check_status: str | None, uploader: bool, staff: bool) -> bool:
    """Whether a photo appears in its owner's view: as :func:`photo_visible`, and to its uploader always (so
    they see that it was rejected)."""
    return uploader or photo_visible(check_status=check_status, uploader=uploader, staff=staff)


class ContentRejected(AppError):
    status = 422
    code = "content.rejected"
    zh = "内容含有违法违规信息，未能提交，请修改后重试"
    en = "The content was refused by WeChat's content security check"


@dataclass(frozen=True)
class TextScreening:
    """The outcome of a check that let the text be stored: its :class:`TextCheck` and what to audit."""

    status: TextCheck
    trace_id: str | None = None
    label: int | None = None
    unavailable: bool = False  # WeChat could not answer: stored as review
    errcode: int | None = None

    def audit(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content_check": self.status.value}
        if self.trace_id:
            out["wechat_trace_id"] = self.trace_id
        if self.label is not None:
            out["wechat_label"] = self.label
        if self.unavailable:
            out["wechat_unavailable"] = True
            if self.errcode is not None:
                out["wechat_errcode"] = self.errcode
        return out


@dataclass(frozen=True)
class PhotoSubmission:
    """A photo's standing after its submission: pending with WeChat's trace id, or pending without one (it
    could not be submitted: ``failure`` says why)."""

    status: PhotoCheck | None
    trace_id: str | None = None
    failure: str | None = None


SKIPPED = TextScreening(status=TextCheck.SKIPPED)


class ContentScreen:
    """The checks of one request (``ScreenDep``); services receive it and call it before they store."""

    def __init__(self, wechat: WechatClient, settings: Settings) -> None:
        self.wechat = wechat
        self.settings = settings

    def applies(self, openid: str | None) -> bool:
        return bool(self.settings.wechat_content_check and openid)

    async def text(self, *, openid: str | None, text: str, scene: Scene = Scene.FORUM) -> TextScreening:
        """Check ``text`` by ``openid``: :class:`ContentRejected` when WeChat says risky, else how to store
        it. Call before anything is written: a refusal stores nothing."""
        if not self.applies(openid) or not text.strip():
            return SKIPPED
        assert openid is not None
        held: TextScreening | None = None
        first: TextScreening | None = None
        # WeChat takes at most MAX_CHECKED characters a call: a longer text is checked part by part, the worst
        # verdict counts
        for start in range(0, len(text), MAX_CHECKED):
            part = await self._part(openid=openid, text=text[start:start + MAX_CHECKED], scene=scene)
            if part.status == TextCheck.REVIEW and held is None:
                held = part
            first = first or part
        assert first is not None
        return held or first

    async def _part(self, *, openid: str, text: str, scene: Scene) -> TextScreening:
        try:
            verdict = await msg_sec_check(self.wechat, openid=openid, content=text, scene=int(scene))
        except WechatUnavailable as exc:
            code = exc.extra.get("wechat_errcode")
            log.warning("msgSecCheck unavailable (%s): the text is kept for review", exc.en)
            return TextScreening(status=TextCheck.REVIEW, unavailable=True,
                                 errcode=code if isinstance(code, int) else None)
        except WechatRefused as exc:  # an errcode about the request: a person should look
            log.warning("msgSecCheck refused the request (errcode %s): the text is kept for review", exc.errcode)
            return TextScreening(status=TextCheck.REVIEW, unavailable=True, errcode=exc.errcode)
        if verdict.suggest == "risky":
            log.info("msgSecCheck: risky (label %s, trace %s): refused", verdict.label, verdict.trace_id)
            raise ContentRejected(wechat_trace_id=verdict.trace_id, wechat_label=verdict.label)
        status = TextCheck.PASS if verdict.suggest == "pass" else TextCheck.REVIEW
        return TextScreening(status=status, trace_id=verdict.trace_id, label=verdict.label)

    async def photo(self, *, openid: str | None, media_id: str, now: datetime,
                    scene: Scene = Scene.FORUM) -> PhotoSubmission:
        """Submit a stored photo to mediaCheckAsync; never raises (a failure leaves it pending for staff)."""
        if not self.applies(openid):
            return PhotoSubmission(status=None)
        assert openid is not None
        url = signed_media_url(self.settings, media_id=media_id, now=now)
        if url is None:
            return PhotoSubmission(status=PhotoCheck.PENDING, failure="no_public_base_url")
        try:
            trace = await media_check_async(self.wechat, openid=openid, media_url=url, scene=int(scene))
        except (WechatUnavailable, WechatRefused) as exc:
            log.warning("mediaCheckAsync failed (%s): the photo waits for staff", exc)
            return PhotoSubmission(status=PhotoCheck.PENDING, failure="wechat_unavailable")
        return PhotoSubmission(status=PhotoCheck.PENDING, trace_id=trace)


async def get_screen(request: Request) -> ContentScreen:
    return ContentScreen(await get_wechat(request), request.app.state.settings)


ScreenDep = Annotated[ContentScreen, Depends(get_screen)]


# ---- the signed URL WeChat fetches a photo from -------------------------------------------------------

def _media_signature(settings: Settings, media_id: str, expires: int) -> str:
    key = hashlib.sha256(f"wechat-media-url:{settings.secret_key}".encode()).digest()
    return hmac.new(key, f"{media_id}|{expires}".encode(), hashlib.sha256).hexdigest()[:40]


def media_url_path(media_id: str) -> str:
    return f"{API_PREFIX}/wechat/media/{media_id}"


def signed_media_url(settings: Settings, *, media_id: str, now: datetime) -> str | None:
    """``<PUBLIC_BASE_URL>/api/v1/wechat/media/<id>?expires=<unix>&sig=<hmac>``, valid for
    ``WECHAT_MEDIA_URL_SECONDS``; None without ``PUBLIC_BASE_URL``."""
    base = settings.public_base_url.strip().rstrip("/")
    if not base:
        return None
    expires = int((now + timedelta(seconds=settings.wechat_media_url_seconds)).timestamp())
    query = urlencode({"expires": expires, "sig": _media_signature(settings, media_id, expires)})
    return f"{base}{media_url_path(media_id)}?{query}"


def media_url_valid(settings: Settings, *, media_id: str, expires: int, sig: str, now: datetime) -> bool:
    if expires < now.timestamp() or expires > now.timestamp() + settings.wechat_media_url_seconds + 60:
        return False
    return hmac.compare_digest(sig.encode(), _media_signature(settings, media_id, expires).encode())


NOTICE_REVIEW = "内容审核中：审核通过前仅您本人和工作人员可见"
NOTICE_UNAVAILABLE = "微信内容安全检查暂时无法完成，内容已保存，待工作人员审核后其他人可见"
NOTICE_REJECTED = "内容未通过审核，其他人不可见"


def content_notice(status: str, *, unavailable: bool = False) -> str | None:
    """What the author is told of their text's standing (None: shown to others)."""
    if status == TextCheck.REVIEW:
        return NOTICE_UNAVAILABLE if unavailable else NOTICE_REVIEW
    if status == TextCheck.REJECTED:
        return NOTICE_REJECTED
    return None


def moderation_move(*, approve: bool) -> tuple[TextCheck, tuple[str, ...]]:
    """Staff's decision on a text: (its new standing, the standings it may move from). Approving shows what
    was held for review (or rejected before); rejecting hides anything not already rejected."""
    if approve:
        return TextCheck.APPROVED, (TextCheck.REVIEW.value, TextCheck.REJECTED.value)
    return TextCheck.REJECTED, tuple(s.value for s in TextCheck if s != TextCheck.REJECTED)


class AlreadyDecided(AppError):
    status = 409
    code = "moderation.already_decided"
    zh = "该内容已是此状态"
    en = "The content already stands so"
