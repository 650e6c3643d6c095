"""WeChat's access token shared by several instances through Redis (app/core/wechat_tokens.py): fetched once
from the stable-token API for all of them, refreshed before it expires, and refreshed once with force_refresh
(not once per instance) when WeChat rejects it. Runs on the real Redis of REDIS_URL (the PostgreSQL pass of
.ci/run); the database store is covered by tests/core/test_wechat_tokens.py (with Redis too when it is set)."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest

from app.core.wechat_tokens import LEASE, RedisTokenStore
from app.turnout.sender import Outbound, WechatSender
from tests.fakes import FakeWechat

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real Redis)")


class RevokingWechat(FakeWechat):
    """WeChat that answers 40001 (invalid token) to tokens in ``revoked``."""

    revoked: set[str]

    def handler(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("access_token")
        if request.url.path.endswith("/subscribe/send") and token in getattr(self, "revoked", set()):
            self.calls.append(request)
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        return super().handler(request)


@pytest.fixture
async def redis_client():
    import redis.asyncio as redis

    clients = []

    def make():
        c = redis.from_url(os.environ["REDIS_URL"])
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def instance(wechat: FakeWechat, settings, clock, redis_client) -> WechatSender:
    """One app instance's sender: its own HTTP client and its own Redis connection."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    return WechatSender(http, settings, clock, RedisTokenStore(redis_client(), clock))


def msg(i: int) -> Outbound:
    return Outbound(id=f"m{i}", channel="wechat", recipient=f"openid-{i}", payload={"data": {}})


async def test_instances_share_one_token_and_refresh_it_before_it_expires(settings, clock, redis_client) -> None:
    wechat = RevokingWechat(clock=clock)
    s = settings.model_copy(update={"wechat_appid": f"wx-{uuid.uuid4().hex[:10]}", "outbox_sender": "wechat"})
    a, b = instance(wechat, s, clock, redis_client), instance(wechat, s, clock, redis_client)
    results = await asyncio.gather(*(x.send(msg(i)) for i in range(20) for x in (a, b)))
    assert all(r.ok for r in results) and len(wechat.sent) == 40
    assert wechat.token_calls == 1 and {m["_access_token"] for m in wechat.sent} == {"AT1"}
    # stored with its expiry: WeChat's 7,200 s less the five-minute margin
    clock.advance(seconds=7200 - 300 - 1)
    assert (await b.send(msg(99))).ok and wechat.token_calls == 1
    clock.advance(seconds=2)  # now within the margin: refreshed before WeChat lets it lapse
    assert (await a.send(msg(100))).ok and (await b.send(msg(101))).ok
    assert wechat.token_calls == 2 and [m["_access_token"] for m in wechat.sent[-2:]] == ["AT2", "AT2"]
    # WeChat rejects the token: the instance that sees it first forces a new one, the other reads it
    wechat.revoked = {"AT2"}
    assert (await a.send(msg(102))).ok and wechat.token_calls == 3 and wechat.forced_calls == 1
    assert (await b.send(msg(103))).ok and wechat.token_calls == 3 and wechat.forced_calls == 1
    assert [m["_access_token"] for m in wechat.sent[-2:]] == ["AT3", "AT3"]


async def test_one_fetcher_at_a_time_across_instances(settings, clock, redis_client) -> None:
    """While one instance holds the refresh lease and there is no token, another waits and then uses what was
    fetched."""
    wechat = FakeWechat(clock=clock)
    s = settings.model_copy(update={"wechat_appid": f"wx-{uuid.uuid4().hex[:10]}"})
    a, b = instance(wechat, s, clock, redis_client), instance(wechat, s, clock, redis_client)
    assert await a.store.acquire(a.key, "a", clock.now() + LEASE)
    waiting = asyncio.create_task(b.access_token())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # b waits for a's fetch
    assert not await b.store.acquire(b.key, "b", clock.now() + LEASE)  # one holder at a time
    assert await a.store.write(a.key, await a._fetch_token(), "a")
    assert await asyncio.wait_for(waiting, timeout=5) == "AT1" and wechat.token_calls == 1


async def test_the_worker_round_uses_the_apps_redis(settings, clock, wechat) -> None:
    from app.main import close_app, create_app
    from app.turnout.worker import deliver_outbox
    from tests.turnout.helpers import add_messages

    appid = f"wx-{uuid.uuid4().hex[:10]}"
    s = settings.model_copy(update={"redis_url": os.environ["REDIS_URL"], "outbox_sender": "wechat",
                                    "wechat_appid": appid})
    apps = [create_app(s, clock=clock, http=httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler)))
            for _ in range(2)]
    try:
        await add_messages(apps[0], now=clock.now(), recipients=["o1", "o2", "o3"])
        stats = await asyncio.gather(*(deliver_outbox(x) for x in apps))
        assert sum(st["sent"] for st in stats) == 3 and wechat.token_calls == 1
        assert await apps[1].state.redis.get(f"wx:token:https://wechat.test|{appid}") is not None
        assert (await apps[0].state.redis.pttl(f"wx:token:https://wechat.test|{appid}")) > 6_000_000
        clock.advance(hours=3)  # an expired token is never read back
        await add_messages(apps[1], now=clock.now(), recipients=["o4"])
        assert (await deliver_outbox(apps[1]))["sent"] == 1 and wechat.token_calls == 2
    finally:
        for x in apps:
            await close_app(x)
