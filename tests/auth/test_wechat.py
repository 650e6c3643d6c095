"""WeChat's server API through the HTTP API (issue 20): the verified phone number, activation with the
phone-number button's code, unionid, the shared access token, and what WeChat's failures become."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import httpx
import pytest
from sqlmodel import select

from app.auth.models import User
from app.core.config import Settings
from app.core.models import AuditEntry
from app.core.wechat import WechatClient, WechatUnavailable
from tests.factories import auth

API = "/api/v1"


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def _user(app, user_id: str) -> User:
    async with app.state.db.read_session() as s:
        user = await s.get(User, user_id)
        assert user is not None
        return user


async def _wechat_resident(client, wechat, world, openid: str = "openid-phone") -> tuple[dict, str]:
    """A resident who signed in through WeChat and activated with a typed phone: (headers, user id)."""
    wechat.codes[f"login-{openid}"] = openid
    binding = (await client.post(f"{API}/auth/wechat", json={"code": f"login-{openid}"})).json()["binding_token"]
    _, code = next(iter(world.codes.items()))
    r = await client.post(f"{API}/auth/activate", json={"activation_code": code, "phone": "13700000000",
                                                        "name": "微信住户", "binding_token": binding})
    assert r.status_code == 200, r.text
    headers = auth(r.json()["access_token"])
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert me["user"]["phone_verified"] is False and me["user"]["wechat_bound"] is True
    return headers, me["user"]["id"]


async def test_verified_phone_for_the_wechat_user(app, client, wechat, world) -> None:
    headers, user_id = await _wechat_resident(client, wechat, world)
    wechat.phone_codes["ph-1"] = "13912345678"
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phone"] == "13912345678" and body["country_code"] == "86"
    assert body["pure_phone_number"] == "13912345678" and body["verified_at"].startswith("2026-11-23T02:00")
    me = (await client.get(f"{API}/me", headers=headers)).json()["user"]
    assert me["phone"] == "13912345678" and me["phone_verified"] is True
    # what went to WeChat: POST with the access token, the code in the JSON body
    [call] = wechat.phone_calls()
    assert call.method == "POST" and call.url.host == "wechat.test"
    assert call.url.params["access_token"] == "AT1" and json.loads(call.content) == {"code": "ph-1"}
    [entry] = await _audit(app, "user.phone_verified")
    assert entry.entity_id == user_id and entry.actor_id == user_id and entry.chain == "system"
    assert entry.data == {"phone": "139****5678", "changed": True}

    # each code works once: WeChat refuses the second use; its errcode is kept for staff
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-1"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "wechat.code_invalid" and r.json()["wechat_errcode"] == 40029
    assert r.json()["errors"][0]["loc"] == ["body", "code"]
    # a number outside mainland China is stored with its country code; the token was fetched once
    wechat.phone_codes["ph-2"], wechat.phone_country = "2025550123", "1"
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-2"})
    assert r.status_code == 200 and r.json()["phone"] == "+12025550123" and r.json()["country_code"] == "1"
    assert wechat.token_calls == 1


async def test_phone_only_for_a_wechat_user(app, client, wechat, world) -> None:
    wechat.phone_codes["ph-x"] = "13912345678"
    r = await client.post(f"{API}/auth/wechat/phone", json={"code": "ph-x"})
    assert r.status_code == 401
    # staff with a password, and a resident who activated with a typed phone outside WeChat: not bound
    for headers in (world.staff, world.residents[0].headers):
        r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-x"})
        assert r.status_code == 403 and r.json()["code"] == "wechat.not_bound"
    assert wechat.phone_calls() == []  # refused before WeChat was asked: the code is still good


async def test_activate_with_phone_code(app, client, wechat, world) -> None:
    wechat.codes["login-a"], wechat.unionids["openid-a"] = "openid-a", "union-a"
    binding = (await client.post(f"{API}/auth/wechat", json={"code": "login-a"})).json()["binding_token"]
    hid, code = next(iter(world.codes.items()))
    wechat.phone_codes["ph-a"] = "13911112222"
    base = {"name": "扫码住户", "binding_token": binding}

    # exactly one of phone and phone_code
    for extra in ({}, {"phone": "13800000000", "phone_code": "ph-a"}):
        r = await client.post(f"{API}/auth/activate", json=base | {"activation_code": code} | extra)
        assert r.status_code == 422 and r.json()["code"] == "validation.failed", extra
    # a wrong activation code does not spend the one-time phone code: WeChat is not asked
    r = await client.post(f"{API}/auth/activate", json=base | {"activation_code": "ZZZZ-ZZZZ-ZZZZ",
                                                               "phone_code": "ph-a"})
    assert r.status_code == 400 and r.json()["code"] == "activation.code_invalid"
    assert wechat.phone_calls() == []
    # a phone code WeChat refuses: 422, and the activation code stays unused
    r = await client.post(f"{API}/auth/activate", json=base | {"activation_code": code, "phone_code": "forged"})
    assert r.status_code == 422 and r.json()["code"] == "wechat.code_invalid"
    assert r.json()["wechat_errcode"] == 40029 and r.json()["errors"][0]["loc"] == ["body", "phone_code"]

    r = await client.post(f"{API}/auth/activate", json=base | {"activation_code": code, "phone_code": "ph-a"})
    assert r.status_code == 200, r.text
    assert r.json()["household_id"] == hid
    headers = auth(r.json()["access_token"])
    me = (await client.get(f"{API}/me", headers=headers)).json()["user"]
    assert me["phone"] == "13911112222" and me["phone_verified"] is True and me["wechat_bound"] is True
    user = await _user(app, me["id"])
    assert user.wechat_openid == "openid-a" and user.wechat_unionid == "union-a"
    entry = [e for e in await _audit(app, "household.member_added") if e.actor_id == me["id"]][0]
    assert entry.data["phone_verified"] is True


async def test_unionid_stored_at_sign_in(app, client, wechat, world) -> None:
    headers, user_id = await _wechat_resident(client, wechat, world, openid="openid-u")
    assert (await _user(app, user_id)).wechat_unionid is None  # WeChat sent none
    wechat.unionids["openid-u"] = "union-u"
    wechat.codes["again"] = "openid-u"
    r = await client.post(f"{API}/auth/wechat", json={"code": "again"})
    assert r.status_code == 200 and r.json()["bound"] is True
    assert (await _user(app, user_id)).wechat_unionid == "union-u"
    [entry] = await _audit(app, "user.wechat_unionid_stored")
    assert entry.entity_id == user_id and entry.data == {"replaced": False}
    wechat.codes["third"] = "openid-u"
    assert (await client.post(f"{API}/auth/wechat", json={"code": "third"})).status_code == 200
    assert len(await _audit(app, "user.wechat_unionid_stored")) == 1  # unchanged: not stored again


async def test_rejected_access_token_is_refreshed_once(client, clock, wechat, world) -> None:
    headers, _ = await _wechat_resident(client, wechat, world)
    wechat.phone_codes.update({f"ph-{i}": f"1391234567{i}" for i in range(1, 7)})
    assert (await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-1"})).status_code == 200
    assert wechat.token_bodies == [{"grant_type": "client_credential", "appid": "wx-demo-appid",
                                    "secret": "wx-demo-secret", "force_refresh": False}]
    wechat.revoked_tokens.add("AT1")  # WeChat says 40001: a forced refresh, the call retried with the new one
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-2"})
    assert r.status_code == 200, r.text
    assert wechat.token_calls == 2 and wechat.forced_calls == 1 and wechat.token_bodies[-1]["force_refresh"] is True
    assert [c.url.params["access_token"] for c in wechat.phone_calls()] == ["AT1", "AT1", "AT2"]
    # refused again within five minutes of the forced refresh: not forced again (WeChat allows 20 a day), 502
    wechat.revoked_tokens.add("AT2")
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-3"})
    assert r.status_code == 502 and r.json()["code"] == "wechat.unavailable" and r.json()["wechat_errcode"] == 40001
    assert wechat.token_calls == 2 and [c.url.params["access_token"] for c in wechat.phone_calls()][-2:] == [
        "AT2", "AT2"]
    # later, a refused token is forced once more; a token WeChat keeps refusing: one refresh, then 502, no loop
    clock.advance(minutes=5)
    assert (await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-4"})).status_code == 200
    assert wechat.forced_calls == 2 and wechat.phone_calls()[-1].url.params["access_token"] == "AT3"
    clock.advance(minutes=5)
    wechat.invalid_token_answers = 2
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-5"})
    assert r.status_code == 502 and r.json()["code"] == "wechat.unavailable" and r.json()["wechat_errcode"] == 40001
    assert wechat.token_calls == 4 and wechat.forced_calls == 3
    assert [c.url.params["access_token"] for c in wechat.phone_calls()][-2:] == ["AT3", "AT4"]
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-6"})  # AT4 works
    assert r.status_code == 200 and wechat.token_calls == 4


@pytest.mark.parametrize(("setup", "status", "errcode"), [
    ({"timeout_phone": True}, 503, None),
    ({"phone_status": 500}, 502, None),
    ({"phone_errcode": -1}, 503, -1),  # system busy
    ({"phone_errcode": 45011}, 503, 45011),  # minute quota
    ({"phone_errcode": 40013}, 502, 40013),  # a misconfigured appid
    ({"token_errcode": 40125}, 502, 40125),  # a wrong app secret: no access token
])
async def test_wechat_failures_are_problems_not_500s(client, wechat, world, setup, status, errcode) -> None:
    headers, _ = await _wechat_resident(client, wechat, world)
    wechat.phone_codes["ph-1"] = "13912345678"
    for key, value in setup.items():
        setattr(wechat, key, value)
    r = await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-1"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "wechat.unavailable" and r.json().get("wechat_errcode") == errcode
    me = (await client.get(f"{API}/me", headers=headers)).json()["user"]
    assert me["phone"] == "13700000000" and me["phone_verified"] is False  # nothing changed


async def test_activation_during_outage_keeps_the_code(client, wechat, world) -> None:
    hid, code = next(iter(world.codes.items()))
    wechat.phone_codes["ph-1"] = "13912345678"
    wechat.timeout_phone = True
    r = await client.post(f"{API}/auth/activate", json={"activation_code": code, "phone_code": "ph-1", "name": "甲"})
    assert r.status_code == 503 and r.json()["code"] == "wechat.unavailable"
    wechat.timeout_phone = False
    r = await client.post(f"{API}/auth/activate", json={"activation_code": code, "phone_code": "ph-1", "name": "甲"})
    assert r.status_code == 200 and r.json()["household_id"] == hid


async def test_sign_in_when_wechat_is_busy(client, wechat) -> None:
    wechat.codes["c"] = "openid-busy"
    wechat.login_errcode = -1
    r = await client.post(f"{API}/auth/wechat", json={"code": "c"})
    assert r.status_code == 503 and r.json()["code"] == "wechat.unavailable" and r.json()["wechat_errcode"] == -1
    wechat.login_errcode = 40163  # a code used before
    r = await client.post(f"{API}/auth/wechat", json={"code": "c"})
    assert r.status_code == 401 and r.json()["code"] == "wechat.code_invalid" and r.json()["wechat_errcode"] == 40163


async def test_one_token_shared_with_turnouts_sender(app, client, wechat, world) -> None:
    """The phone call and the subscribe-message sender use one access token (the shared store, one key)."""
    from app.turnout.sender import Outbound, WechatSender

    headers, _ = await _wechat_resident(client, wechat, world)
    wechat.phone_codes["ph-1"] = "13912345678"
    assert (await client.post(f"{API}/auth/wechat/phone", headers=headers, json={"code": "ph-1"})).status_code == 200
    sender = WechatSender(app.state.http, app.state.settings, app.state.clock, app.state.wechat_tokens)
    result = await sender.send(Outbound(id="m1", channel="wechat_subscribe", recipient="openid-phone",
                                        payload={"data": {}}))
    assert result.ok
    assert wechat.token_calls == 1 and wechat.sent[0]["_access_token"] == "AT1"


async def test_a_hanging_wechat_is_cut_off(clock) -> None:
    """Every request has WECHAT_TIMEOUT_S and the whole call twice that: a WeChat that never answers is a 503."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    settings = Settings(environment="test", wechat_api_base="https://wechat.test", wechat_timeout_s=0.05)
    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        client = WechatClient(http, settings, clock)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(WechatUnavailable) as err:
            await client.phone_number("ph-1")
        assert err.value.status == 503 and loop.time() - started < 1
        with pytest.raises(WechatUnavailable):
            await client.jscode2session("c")



@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real Redis)")
async def test_token_shared_through_redis_with_the_sender(settings, clock, wechat) -> None:
    """Two instances — one asks for phone numbers, the other sends subscribe messages — fetch one token."""
    import redis.asyncio as redis

    from app.core.wechat_tokens import RedisTokenStore
    from app.turnout.sender import Outbound, WechatSender

    s = settings.model_copy(update={"wechat_appid": f"wx-{uuid.uuid4().hex[:10]}"})
    r1, r2 = redis.from_url(os.environ["REDIS_URL"]), redis.from_url(os.environ["REDIS_URL"])
    h1 = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    h2 = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    try:
        client = WechatClient(h1, s, clock, RedisTokenStore(r1, clock))
        sender = WechatSender(h2, s, clock, RedisTokenStore(r2, clock))
        wechat.phone_codes.update({f"ph-{i}": f"1391234567{i}" for i in range(5)})
        phones = await asyncio.gather(*(client.phone_number(f"ph-{i}") for i in range(5)))
        assert [p.normalized for p in phones] == [f"1391234567{i}" for i in range(5)]
        assert (await sender.send(Outbound(id="m", channel="wechat", recipient="o", payload={"data": {}}))).ok
        assert wechat.token_calls == 1 and wechat.sent[0]["_access_token"] == "AT1"
        wechat.revoked_tokens.add("AT1")  # the phone call forces a refresh; the sender then reads the new one
        wechat.phone_codes["ph-9"] = "13912340009"
        assert (await client.phone_number("ph-9")).pure_phone_number == "13912340009"
        assert wechat.token_calls == 2 and wechat.forced_calls == 1
        # the sender's own copy is AT1 until WeChat refuses it; then it reads AT2 from Redis: no second fetch
        assert (await sender.send(Outbound(id="m2", channel="wechat", recipient="o", payload={"data": {}}))).ok
        assert wechat.sent[-1]["_access_token"] == "AT2" and wechat.token_calls == 2
    finally:
        for c in (h1, h2):
            await c.aclose()
        for r in (r1, r2):
            await r.aclose()
