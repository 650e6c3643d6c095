"""Fakes for what lies outside our reach, at the HTTP boundary (httpx MockTransport)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx


@dataclass
class FakeWechat:
    """WeChat's servers: jscode2session, access token and subscribe messages."""

    codes: dict[str, str] = field(default_factory=dict)  # wx.login code -> openid
    calls: list[httpx.Request] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    fail_send_with: int | None = None  # errcode to answer subscribeMessage.send with
    timeout_send: bool = False
    token_calls: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if path == "/sns/jscode2session":
            code = request.url.params.get("js_code", "")
            openid = self.codes.get(code)
            if openid is None:
                return httpx.Response(200, json={"errcode": 40029, "errmsg": "invalid code"})
            return httpx.Response(200, json={"openid": openid, "session_key": "sk-" + openid})
        if path in ("/cgi-bin/token", "/cgi-bin/stable_token"):
            self.token_calls += 1
            return httpx.Response(200, json={"access_token": f"AT{self.token_calls}", "expires_in": 7200})
        if path == "/cgi-bin/message/subscribe/send":
            if self.timeout_send:
                raise httpx.ReadTimeout("fake timeout", request=request)
            if self.fail_send_with is not None:
                return httpx.Response(200, json={"errcode": self.fail_send_with, "errmsg": "fake failure"})
            body = json.loads(request.content or b"{}")
            body["_access_token"] = request.url.params.get("access_token")
            self.sent.append(body)
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404, json={"errcode": -1, "errmsg": "not found"})
