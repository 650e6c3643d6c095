"""Fakes for what lies outside our reach, at the HTTP boundary (httpx MockTransport)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

TOKEN_LIFETIME = timedelta(seconds=7200)
TOKEN_HANDOVER = timedelta(minutes=5)  # WeChat hands out the next token in the last five minutes of one


@dataclass
class FakeWechat:
    """WeChat's servers: jscode2session, the stable access token, the verified phone number, subscribe
    messages, and content security (msgSecCheck, mediaCheckAsync; the verdict event is sent by the test itself).

    ``POST /cgi-bin/stable_token`` behaves as WeChat documents it, on ``clock`` (the test's clock; real time
    without one): the same token until its last five minutes (``expires_in`` what is left of its 7,200 s), then
    the next one (the old one keeps working); ``force_refresh: true`` issues the next one at once and retires
    the old one (it then answers 40001). Tokens are ``AT1``, ``AT2`` … in the order issued; ``token_calls``
    counts every call, ``forced_calls`` the forced ones."""

    codes: dict[str, str] = field(default_factory=dict)  # wx.login code -> openid
    unionids: dict[str, str] = field(default_factory=dict)  # openid -> unionid (sent with jscode2session)
    calls: list[httpx.Request] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    fail_send_with: int | None = None  # errcode to answer subscribeMessage.send with
    timeout_send: bool = False
    token_calls: int = 0  # calls of /cgi-bin/stable_token (each a fetch by the app)
    forced_calls: int = 0  # of which with force_refresh: true
    token_bodies: list[dict] = field(default_factory=list)  # what each call sent
    timeout_token: bool = False
    invalid_token_answers: int = 0  # the next N calls that carry an access token answer 40001, whatever it is
    clock: Any = None  # the test's clock (app.core.clock.FrozenClock), else real time
    issued: int = 0
    current_token: str | None = None
    current_expires: datetime | None = None
    login_errcode: int | None = None  # errcode to answer jscode2session with
    token_errcode: int | None = None  # errcode to answer the access-token fetch with
    # getuserphonenumber: each code works once (a used one answers 40029, as WeChat does)
    phone_codes: dict[str, str] = field(default_factory=dict)  # phone-number button code -> purePhoneNumber
    phone_country: str = "86"
    used_phone_codes: set[str] = field(default_factory=set)
    revoked_tokens: set[str] = field(default_factory=set)  # access tokens answered with 40001
    phone_errcode: int | None = None  # errcode to answer getuserphonenumber with
    phone_status: int | None = None  # HTTP status to answer getuserphonenumber with (e.g. 500)
    timeout_phone: bool = False
    # content security: msgSecCheck answers sec_suggest, or the suggestion of the first word in sec_words the
    # content contains; sec_errcode / timeout_sec make it fail
    sec_suggest: str = "pass"
    sec_words: dict[str, str] = field(default_factory=dict)  # word in the content -> pass | review | risky
    sec_errcode: int | None = None
    timeout_sec: bool = False
    # mediaCheckAsync: each accepted call is recorded (with its trace id) in media_checks
    media_errcode: int | None = None
    timeout_media: bool = False
    media_checks: list[dict] = field(default_factory=list)

    def phone_calls(self) -> list[httpx.Request]:
        return [c for c in self.calls if c.url.path == "/wxa/business/getuserphonenumber"]

    def _phone(self, request: httpx.Request) -> httpx.Response:
        if self.timeout_phone:
            raise httpx.ReadTimeout("fake timeout", request=request)
        if self.phone_status is not None:
            return httpx.Response(self.phone_status, text="<html>bad gateway</html>")
        token = request.url.params.get("access_token", "")
        if token in self.revoked_tokens or not token.startswith("AT"):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential, access_token is "
                                             "invalid or not latest"})
        if self.phone_errcode is not None:
            return httpx.Response(200, json={"errcode": self.phone_errcode, "errmsg": "fake failure"})
        code = json.loads(request.content or b"{}").get("code", "")
        number = self.phone_codes.get(code)
        if number is None or code in self.used_phone_codes:
            return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
        self.used_phone_codes.add(code)
        full = number if self.phone_country == "86" else f"+{self.phone_country} {number}"
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": full, "purePhoneNumber": number, "countryCode": self.phone_country,
            "watermark": {"timestamp": 1637744274, "appid": "wx-demo-appid"}}})

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    def _stable_token(self, request: httpx.Request) -> httpx.Response:
        self.token_calls += 1
        if self.timeout_token:
            raise httpx.ReadTimeout("fake timeout", request=request)
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            body = None
        if (request.method != "POST" or not isinstance(body, dict) or body.get("grant_type") != "client_credential"
                or not body.get("appid") or not body.get("secret")):
            return httpx.Response(200, json={"errcode": 40002, "errmsg": "invalid grant_type"})
        if self.token_errcode is not None:
            return httpx.Response(200, json={"errcode": self.token_errcode, "errmsg": "fake failure"})
        self.token_bodies.append(body)
        now, force = self._now(), body.get("force_refresh") is True
        if force:
            self.forced_calls += 1
            if self.current_token is not None:
                self.revoked_tokens.add(self.current_token)  # a forced refresh retires the previous token
        if force or self.current_expires is None or now >= self.current_expires - TOKEN_HANDOVER:
            self.issued += 1
            self.current_token, self.current_expires = f"AT{self.issued}", now + TOKEN_LIFETIME
        assert self.current_expires is not None
        left = int((self.current_expires - now).total_seconds())
        return httpx.Response(200, json={"access_token": self.current_token, "expires_in": left})

    def sec_calls(self) -> list[dict]:
        return [json.loads(c.content) for c in self.calls if c.url.path == "/wxa/msg_sec_check"]

    def _token_ok(self, request: httpx.Request) -> bool:
        token = request.url.params.get("access_token", "")
        return token not in self.revoked_tokens and token.startswith("AT")

    def _msg_sec_check(self, request: httpx.Request) -> httpx.Response:
        if self.timeout_sec:
            raise httpx.ReadTimeout("fake timeout", request=request)
        if not self._token_ok(request):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        if self.sec_errcode is not None:
            return httpx.Response(200, json={"errcode": self.sec_errcode, "errmsg": "fake failure"})
        body = json.loads(request.content or b"{}")
        if body.get("version") != 2 or not body.get("openid") or body.get("scene") not in (1, 2, 3, 4):
            return httpx.Response(200, json={"errcode": 47001, "errmsg": "data format error"})
        content = str(body.get("content", ""))
        if len(content) > 2500:
            return httpx.Response(200, json={"errcode": 40003, "errmsg": "content too long"})
        suggest = next((v for w, v in self.sec_words.items() if w in content), self.sec_suggest)
        label = 100 if suggest == "pass" else 20001
        n = len(self.calls)
        return httpx.Response(200, json={
            "errcode": 0, "errmsg": "ok", "trace_id": f"sec-trace-{n}",
            "result": {"suggest": suggest, "label": label},
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label}]})

    def _media_check_async(self, request: httpx.Request) -> httpx.Response:
        if self.timeout_media:
            raise httpx.ReadTimeout("fake timeout", request=request)
        if not self._token_ok(request):
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        if self.media_errcode is not None:
            return httpx.Response(200, json={"errcode": self.media_errcode, "errmsg": "fake failure"})
        body = json.loads(request.content or b"{}")
        if body.get("version") != 2 or body.get("media_type") != 2 or not body.get("openid"):
            return httpx.Response(200, json={"errcode": 47001, "errmsg": "data format error"})
        trace = f"media-trace-{len(self.media_checks) + 1}"
        self.media_checks.append(body | {"trace_id": trace})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "trace_id": trace})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if path == "/sns/jscode2session":
            if self.login_errcode is not None:
                return httpx.Response(200, json={"errcode": self.login_errcode, "errmsg": "fake failure"})
            code = request.url.params.get("js_code", "")
            openid = self.codes.get(code)
            if openid is None:
                return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
            body = {"openid": openid, "session_key": "sk-" + openid}
            if openid in self.unionids:
                body["unionid"] = self.unionids[openid]
            return httpx.Response(200, json=body)
        if path == "/cgi-bin/stable_token":
            return self._stable_token(request)
        if "access_token" in request.url.params and self.invalid_token_answers > 0:
            self.invalid_token_answers -= 1
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential, access_token is "
                                             "invalid or not latest"})
        if path == "/wxa/business/getuserphonenumber":
            return self._phone(request)
        if path == "/wxa/msg_sec_check":
            return self._msg_sec_check(request)
        if path == "/wxa/media_check_async":
            return self._media_check_async(request)
        if path == "/cgi-bin/message/subscribe/send":
            if self.timeout_send:
                raise httpx.ReadTimeout("fake timeout", request=request)
            if request.url.params.get("access_token") in self.revoked_tokens:
                return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
            if self.fail_send_with is not None:
                return httpx.Response(200, json={"errcode": self.fail_send_with, "errmsg": "fake failure"})
            body = json.loads(request.content or b"{}")
            body["_access_token"] = request.url.params.get("access_token")
            self.sent.append(body)
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404, json={"errcode": -1, "errmsg": "not found"})
