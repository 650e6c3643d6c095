"""Helpers of the turnout tests: WeChat-bound residents, raw outbox rows, a selectively failing WeChat."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import httpx

from app.core.db import new_id
from app.turnout.models import OutboxMessage
from tests.factories import World, auth


@dataclass
class Bound:
    user_id: str
    household_id: str
    openid: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


async def bind_wechat(client: httpx.AsyncClient, wechat, world: World, household_id: str, *, openid: str,
                      name: str = "微信居民", phone: str = "13700000000", grants: int = 3) -> Bound:
    """A new resident of ``household_id`` who signed in with WeChat and activated with the household's
    unused code (tests/auth/test_routes.py::test_wechat_binding_then_login), and accepted the reminder template
    ``grants`` times in the mini-program (one message each)."""
    wechat.codes[f"code-{openid}"] = openid
    r = await client.post("/api/v1/auth/wechat", json={"code": f"code-{openid}"})
    assert r.status_code == 200 and r.json()["bound"] is False, r.text
    r = await client.post("/api/v1/auth/activate", json={
        "activation_code": world.codes.pop(household_id), "phone": phone, "name": name,
        "binding_token": r.json()["binding_token"]})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = (await client.get("/api/v1/me", headers=auth(token))).json()
    bound = Bound(me["user"]["id"], household_id, openid, token)
    await subscribe(client, bound, times=grants)
    return bound


async def subscribe(client: httpx.AsyncClient, user: Bound, *, times: int = 1,
                    template_id: str = "reminder-template") -> int:
    """The user accepts the template in ``wx.requestSubscribeMessage`` ``times`` times; their unused count."""
    unused = 0
    for _ in range(times):
        r = await client.post("/api/v1/me/subscriptions", json={"template_ids": [template_id]}, headers=user.headers)
        assert r.status_code == 200, r.text
        unused = {g["template_id"]: g["unused"] for g in r.json()["grants"]}[template_id]
    return unused


async def add_messages(app, *, now: datetime, recipients: list[str], payload: dict | None = None,
                       item_id: str = "i" * 32) -> list[str]:
    """Outbox rows written directly (worker-level tests; the HTTP path is covered by the reminder tests)."""
    ids = []
    async with app.state.db.write_session() as s:
        for r in recipients:
            m = OutboxMessage(id=new_id(), recipient=r, item_type="motion", item_id=item_id,
                              payload=payload or {"page": "pages/motion/detail?id=x",
                                                  "data": {"thing1": {"value": "测试"}}},
                              next_attempt_at=now, created_at=now)
            s.add(m)
            ids.append(m.id)
        await s.commit()
    return ids


async def messages(app, ids: list[str] | None = None) -> dict[str, OutboxMessage]:
    from sqlmodel import col, select

    async with app.state.db.read_session() as s:
        q = select(OutboxMessage)
        if ids is not None:
            q = q.where(col(OutboxMessage.id).in_(ids))
        return {m.id: m for m in (await s.exec(q)).all()}


def fail_for(wechat, bad: set[str], *, errcode: int | None = None, timeout: bool = False):
    """A transport onto the fake WeChat that fails subscribe sends to the openids in ``bad`` only."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/message/subscribe/send":
            body = json.loads(request.content or b"{}")
            if body.get("touser") in bad:
                wechat.calls.append(request)
                if timeout:
                    raise httpx.ReadTimeout("fake timeout", request=request)
                return httpx.Response(200, json={"errcode": errcode, "errmsg": "fake failure"})
        return wechat.handler(request)

    return httpx.MockTransport(handler)
