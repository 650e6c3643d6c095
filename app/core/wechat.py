"""A small typed client of WeChat's server API (httpx), for the calls made while a user waits.

* ``jscode2session`` — a ``wx.login`` code → the user's openid (and unionid, when the mini-program is bound
  to an open-platform account).
* ``getuserphonenumber`` — the code of the phone-number button → the number WeChat verified::

      POST {base}/wxa/business/getuserphonenumber?access_token=…  {"code": …}
        → {"errcode": 0, "phone_info": {"phoneNumber", "purePhoneNumber", "countryCode", …}}

The access token is WeChat's one per appid, from the stable-token API (``POST {base}/cgi-bin/stable_token``):
kept in the app's token store (:mod:`app.core.wechat_tokens`; Redis when ``REDIS_URL`` is set, else the
database), under the key turnout's sender uses, refreshed by one caller at a time five minutes before it lapses,
and refreshed once with ``force_refresh`` when WeChat says it is invalid or expired (40001, 40014, 42001).

Failures are typed, never a 500 and never a hang: every request has ``WECHAT_TIMEOUT_S`` and the whole call
(token fetch, call, one refresh and retry) twice that.

* :class:`WechatUnavailable` (an :class:`~app.core.errors.AppError`, code ``wechat.unavailable``): 503 when
  WeChat did not answer in time, could not be reached, or said it is busy or over quota (-1, 45009, 45011);
  502 when it answered with a 5xx, something that is not its JSON, or an errcode this client does not expect
  (a misconfigured appid or secret). WeChat's errcode is kept in the problem body (``wechat_errcode``).
* :class:`WechatRefused`: WeChat refused the code the user brought (40029 invalid, 40163 used, …): the caller
  decides what that means for its request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from fastapi import Request

from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import AppError
from app.core.wechat_tokens import CachedToken, MemoryTokenStore, TokenBusy, TokenStore

_T = TypeVar("_T")

TOKEN_INVALID_CODES = frozenset({40001, 40014, 42001})
BUSY_CODES = frozenset({-1, 45009, 45011})  # system busy, daily quota, minute quota: try again later
CODE_INVALID_CODES = frozenset({40029, 40163})  # invalid code, code already used
TOKEN_MARGIN = timedelta(minutes=5)


class WechatUnavailable(AppError):
    status = 503
    code = "wechat.unavailable"
    zh = "微信服务暂时不可用，请稍后重试"
    en = "WeChat is unavailable, retry later"


class WechatRefused(Exception):
    """WeChat answered with an errcode about the request itself (typically the user's code)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


@dataclass(frozen=True)
class PhoneNumber:
    phone_number: str  # with the country code for numbers outside mainland China
    pure_phone_number: str
    country_code: str

    @property
    def normalized(self) -> str:
        """As the app stores a phone: the bare number in mainland China, else ``+<country><number>``."""
        if self.country_code in ("", "86"):
            return self.pure_phone_number
        return f"+{self.country_code}{self.pure_phone_number}"


def _errcode(data: Any) -> int | None:
    code = data.get("errcode") if isinstance(data, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return code


def _bad_answer(what: str, errcode: int | None = None) -> WechatUnavailable:
    extra: dict[str, Any] = {"wechat_errcode": errcode} if errcode is not None else {}
    return WechatUnavailable(zh="微信服务返回异常，请稍后重试", en=f"Unexpected WeChat answer ({what})", status=502,
                             **extra)


class WechatClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings, clock: Clock,
                 store: TokenStore | None = None) -> None:
        self.http = http
        self.settings = settings
        self.clock = clock
        self.store = store or MemoryTokenStore(clock)  # the app passes its one store (app.state.wechat_tokens)
        self.base = settings.wechat_api_base.rstrip("/")
        self.key = f"{self.base}|{settings.wechat_appid}"  # the key of turnout's sender: one token per appid
        self.budget_s = 2 * settings.wechat_timeout_s

    # ---- transport ---------------------------------------------------------------------------------------
    async def _json(self, method: str, path: str, *, params: dict[str, str],
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = await self.http.request(method, self.base + path, params=params, json=body,
                                           timeout=self.settings.wechat_timeout_s)
        except httpx.TimeoutException as exc:
            raise WechatUnavailable(en="WeChat did not answer in time, retry later") from exc
        except httpx.HTTPError as exc:
            raise WechatUnavailable() from exc
        if resp.status_code == 429:
            raise WechatUnavailable()
        if resp.status_code >= 500:
            raise _bad_answer(f"http {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise _bad_answer(f"http {resp.status_code}, not JSON") from exc
        if not isinstance(data, dict):
            raise _bad_answer(f"http {resp.status_code}")
        return data

    async def _bounded(self, call: Awaitable[_T]) -> _T:
        try:
            async with asyncio.timeout(self.budget_s):
                return await call
        except TimeoutError as exc:
            raise WechatUnavailable(en="WeChat did not answer in time, retry later") from exc

    # ---- access token ------------------------------------------------------------------------------------
    async def _fetch_token(self, force: bool = False) -> CachedToken:
        """``POST /cgi-bin/stable_token``: the current token (the same one until it is about to lapse), or with
        ``force`` a new one that retires it (WeChat allows 20 a day)."""
        now = self.clock.now()
        data = await self._json("POST", "/cgi-bin/stable_token", params={}, body={
            "grant_type": "client_credential", "appid": self.settings.wechat_appid,
            "secret": self.settings.wechat_secret, "force_refresh": force})
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            code = _errcode(data)
            if code in BUSY_CODES:
                raise WechatUnavailable(wechat_errcode=code)
            raise _bad_answer("access token", code)
        expires_in = data.get("expires_in")
        seconds = expires_in if isinstance(expires_in, int) and expires_in > 0 else 7200
        refresh = max(timedelta(seconds=seconds) - TOKEN_MARGIN, timedelta(seconds=seconds // 2))
        return CachedToken(token, now + refresh, now + timedelta(seconds=seconds), now if force else None)

    async def access_token(self, *, stale: str | None = None) -> str:
        """The shared token (:meth:`app.core.wechat_tokens.TokenStore.token`); ``stale``: a token WeChat refused,
        replaced with a forced refresh unless another caller replaced it already."""
        try:
            return await self.store.token(self.key, self._fetch_token, stale=stale)
        except TokenBusy as exc:
            raise WechatUnavailable() from exc

    async def _with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; a token WeChat calls invalid or expired is refreshed once."""
        token = await self.access_token()
        data = await self._json("POST", path, params={"access_token": token}, body=body)
        if _errcode(data) in TOKEN_INVALID_CODES:
            token = await self.access_token(stale=token)
            data = await self._json("POST", path, params={"access_token": token}, body=body)
        return data

    @staticmethod
    def _check(data: dict[str, Any]) -> None:
        code = _errcode(data)
        if not code:
            return
        if code in BUSY_CODES:
            raise WechatUnavailable(wechat_errcode=code)
        if code in CODE_INVALID_CODES:
            raise WechatRefused(code, str(data.get("errmsg", ""))[:200])
        raise _bad_answer(f"errcode {code}", code)

    # ---- calls -------------------------------------------------------------------------------------------
    async def jscode2session(self, code: str) -> WechatSession:
        """A ``wx.login`` code → openid and unionid. :class:`WechatRefused` for a code WeChat refuses."""
        return await self._bounded(self._jscode2session(code))

    async def _jscode2session(self, code: str) -> WechatSession:
        data = await self._json("GET", "/sns/jscode2session", params={
            "appid": self.settings.wechat_appid, "secret": self.settings.wechat_secret, "js_code": code,
            "grant_type": "authorization_code"})
        errcode = _errcode(data)
        if errcode and errcode not in BUSY_CODES:  # 40029, 40163, 40226 (a blocked user), …
            raise WechatRefused(errcode, str(data.get("errmsg", ""))[:200])
        self._check(data)
        openid, unionid = data.get("openid"), data.get("unionid")
        if not isinstance(openid, str) or not openid or len(openid) > 128:
            raise _bad_answer("no openid")
        if not isinstance(unionid, str) or not unionid or len(unionid) > 128:
            unionid = None
        return WechatSession(openid=openid, unionid=unionid)

    async def phone_number(self, code: str) -> PhoneNumber:
        """The phone-number button's code → the number WeChat verified. Each code works once (WeChat answers
        40029 to a used one): :class:`WechatRefused`."""
        return await self._bounded(self._phone_number(code))

    async def _phone_number(self, code: str) -> PhoneNumber:
        data = await self._with_token("/wxa/business/getuserphonenumber", {"code": code})
        self._check(data)
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise _bad_answer("no phone_info")
        pure, full, country = info.get("purePhoneNumber"), info.get("phoneNumber"), info.get("countryCode")
        if not isinstance(pure, str) or not pure.isascii() or not pure.isdigit() or not 5 <= len(pure) <= 15:
            raise _bad_answer("phone number")
        country = country if isinstance(country, str) and country.isascii() and country.isdigit() else ""
        return PhoneNumber(phone_number=full if isinstance(full, str) else pure, pure_phone_number=pure,
                           country_code=country[:4])


async def get_wechat(request: Request) -> WechatClient:
    """The app's client (one per app), with the app's token store (``app.state.wechat_tokens``, chosen at
    start-up: Redis when configured, else the database), which turnout's sender shares."""
    state = request.app.state
    client: WechatClient | None = getattr(state, "wechat_client", None)
    if client is None or client.http is not state.http:
        client = WechatClient(state.http, state.settings, state.clock, state.wechat_tokens)
        state.wechat_client = client
    return client


# ---- content security (msgSecCheck v2, mediaCheckAsync v2) -------------------------------------------------
# Module functions rather than methods, so that this part of the file stays apart from the token handling above.

SUGGESTIONS = frozenset({"pass", "review", "risky"})


@dataclass(frozen=True)
class TextVerdict:
    """``msgSecCheck``'s answer: ``suggest`` pass | review | risky, WeChat's label (100 normal, 20001 politics,
    …) and its trace id."""

    suggest: str
    label: int | None
    trace_id: str | None


async def msg_sec_check(client: WechatClient, *, openid: str, content: str, scene: int) -> TextVerdict:
    """``POST /wxa/msg_sec_check`` (version 2) of ``content`` written by ``openid`` in ``scene`` (1 资料,
    2 评论, 3 论坛, 4 社交日志). :class:`WechatUnavailable` when WeChat cannot answer or answers an errcode."""
    return await client._bounded(_msg_sec_check(client, openid=openid, content=content, scene=scene))


async def _msg_sec_check(client: WechatClient, *, openid: str, content: str, scene: int) -> TextVerdict:
    data = await client._with_token("/wxa/msg_sec_check", {"content": content, "version": 2, "scene": scene,
                                                            "openid": openid})
    code = _errcode(data)
    if code:
        if code in BUSY_CODES:
            raise WechatUnavailable(wechat_errcode=code)
        raise _bad_answer(f"errcode {code}", code)
    result = data.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    if not isinstance(suggest, str) or suggest not in SUGGESTIONS:
        raise _bad_answer("no result.suggest")
    assert isinstance(result, dict)
    label = result.get("label")
    trace = data.get("trace_id")
    return TextVerdict(suggest=suggest, label=label if isinstance(label, int) and not isinstance(label, bool) else None,
                       trace_id=trace[:128] if isinstance(trace, str) and trace else None)


async def media_check_async(client: WechatClient, *, openid: str, media_url: str, scene: int) -> str:
    """``POST /wxa/media_check_async`` (version 2, media_type 2: an image) → the trace id WeChat's
    ``wxa_media_check`` event will carry with the verdict. :class:`WechatUnavailable` as above."""
    return await client._bounded(_media_check_async(client, openid=openid, media_url=media_url, scene=scene))


async def _media_check_async(client: WechatClient, *, openid: str, media_url: str, scene: int) -> str:
    data = await client._with_token("/wxa/media_check_async", {"media_url": media_url, "media_type": 2,
                                                                "version": 2, "scene": scene, "openid": openid})
    code = _errcode(data)
    if code:
        if code in BUSY_CODES:
            raise WechatUnavailable(wechat_errcode=code)
        raise _bad_answer(f"errcode {code}", code)
    trace = data.get("trace_id")
    if not isinstance(trace, str) or not trace or len(trace) > 128:
        raise _bad_answer("no trace_id")
    return trace
