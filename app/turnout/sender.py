"""Delivery of outbox messages: WeChat subscribe messages over httpx, or a log line in development.

A sender never touches the database; it gets a snapshot of the message and answers with a
:class:`SendResult`. The outbox worker decides what happens next (sent, retry later, failed).

WeChat (``subscribeMessage.send``)::

    POST {base}/cgi-bin/stable_token  {grant_type: client_credential, appid, secret, force_refresh}
                                                                → {access_token, expires_in}
    POST {base}/cgi-bin/message/subscribe/send?access_token=…  {touser, template_id, page, data}
                                                                → {errcode: 0, errmsg: "ok"}

The access token is kept in the app's token store (:mod:`app.core.wechat_tokens`: Redis when configured, else the
database, shared by every instance) with its expiry (refreshed five minutes early), refreshed by one caller at a
time, and refreshed once with ``force_refresh`` when WeChat answers that it is invalid or expired (40001, 42001,
40014); a token failure is a send's retryable error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from app.core.clock import Clock
from app.core.config import Settings
from app.core.wechat import TOKEN_INVALID_CODES, WechatClient, WechatUnavailable
from app.core.wechat_tokens import CachedToken, TokenStore

log = logging.getLogger("app.turnout.sender")

# answers that another attempt cannot fix: the user refused / has no subscription left, a bad openid,
# a bad template or bad template data
NO_SUBSCRIPTION = 43101  # the user refused, or used up their one-time subscriptions
PERMANENT_CODES = frozenset({40003, 40037, NO_SUBSCRIPTION, 47003})
_T = TypeVar("_T")


@dataclass(frozen=True)
class Outbound:
    """What a sender needs of one outbox row."""

    id: str
    channel: str
    recipient: str
    payload: dict[str, Any]
    user_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int | None = None
    error: str | None = None
    permanent: bool = False


class Sender(Protocol):
    async def send(self, message: Outbound) -> SendResult: ...


class LogSender:
    """Development: write the message to the log and call it sent."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or log
        self.sent: list[Outbound] = []

    async def send(self, message: Outbound) -> SendResult:
        self.log.info("outbox %s → %s: %s", message.channel, message.recipient, message.payload)
        self.sent.append(message)
        return SendResult(ok=True)


class WechatError(Exception):
    def __init__(self, error: str, errcode: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.errcode = errcode


def _errcode(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    code = data.get("errcode")
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return code


class WechatSender:
    def __init__(self, http: httpx.AsyncClient, settings: Settings, clock: Clock,
                 store: TokenStore | None = None) -> None:
        self.http = http
        self.settings = settings
        self.clock = clock
        self.client = WechatClient(http, settings, clock, store)  # the token, with the phone client's store
        self.store = self.client.store
        self.base = self.client.base
        self.key = self.client.key

    async def _fetch_token(self, force: bool = False) -> CachedToken:
        return await self._guarded(self.client._fetch_token(force))

    async def access_token(self, *, stale: str | None = None) -> str:
        """The one shared token of the appid (:meth:`app.core.wechat.WechatClient.access_token`: fetched under
        the store's lock when missing, expired or equal to ``stale``), its failures as a send's error."""
        return await self._guarded(self.client.access_token(stale=stale))

    @staticmethod
    async def _guarded(call: Awaitable[_T]) -> _T:
        try:
            return await call
        except WechatUnavailable as exc:
            errcode = exc.extra.get("wechat_errcode")
            raise WechatError(f"token: {exc.en}", errcode if isinstance(errcode, int) else None) from exc

    async def _post(self, token: str, message: Outbound) -> dict[str, Any]:
        body = {
            "touser": message.recipient,
            "template_id": message.payload.get("template_id") or self.settings.wechat_template_id,
            "page": message.payload.get("page", ""),
            "data": message.payload.get("data", {}),
        }
        if message.payload.get("miniprogram_state"):
            body["miniprogram_state"] = message.payload["miniprogram_state"]
        try:
            resp = await self.http.post(f"{self.base}/cgi-bin/message/subscribe/send",
                                        params={"access_token": token}, json=body,
                                        timeout=self.settings.wechat_timeout_s)
        except httpx.TimeoutException as exc:
            raise WechatError("send: timeout") from exc
        except httpx.HTTPError as exc:
            raise WechatError(f"send: {type(exc).__name__}") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise WechatError(f"send: http {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise WechatError(f"send: http {resp.status_code}, not JSON") from exc
        if not isinstance(data, dict):
            raise WechatError(f"send: http {resp.status_code}, unexpected answer")
        return data

    async def send(self, message: Outbound) -> SendResult:
        try:
            token = await self.access_token()
            data = await self._post(token, message)
            code = _errcode(data)
            if code in TOKEN_INVALID_CODES:
                token = await self.access_token(stale=token)
                data = await self._post(token, message)
                code = _errcode(data)
        except WechatError as exc:
            return SendResult(ok=False, errcode=exc.errcode, error=exc.error[:500])
        if code == 0:
            return SendResult(ok=True)
        if code is None:
            return SendResult(ok=False, error="send: answer without errcode")
        errmsg = str(data.get("errmsg", ""))[:300]
        return SendResult(ok=False, errcode=code, error=f"errcode {code}: {errmsg}",
                          permanent=code in PERMANENT_CODES)


def make_sender(*, http: httpx.AsyncClient, settings: Settings, clock: Clock,
                tokens: TokenStore | None = None) -> Sender:
    """``settings.outbox_sender``: "wechat" sends for real, anything else ("log") logs. ``tokens``: the app's
    token store (``app.state.wechat_tokens``), through which the access token is shared."""
    if settings.outbox_sender == "wechat":
        return WechatSender(http, settings, clock, tokens)
    return LogSender()
