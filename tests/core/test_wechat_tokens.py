"""WeChat's access token shared by app instances (issue 20): the stable-token API, fetched once for every
instance, refreshed five minutes before it lapses by one caller, forced once when WeChat refuses it, and what
a failed fetch leaves behind. Each test runs two ``create_app()`` on one PostgreSQL database, sharing the token
through the ``wechat_token`` table, and again through Redis when ``REDIS_URL`` is set. On SQLite each process
keeps its own copy (its one writer may be held by the very request that needs the token), which the
stable-token API makes safe: two instances get the same token, and neither invalidates the other's."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from app.core import wechat_tokens
from app.core.clock import FrozenClock
from app.core.config import Settings
from app.core.models import WechatToken
from app.core.wechat import WechatClient, WechatUnavailable
from app.core.wechat_tokens import LEASE, CachedToken, DatabaseTokenStore, RedisTokenStore
from app.main import close_app, create_app
from app.turnout.worker import run_outbox_once
from tests.factories import build_world
from tests.fakes import FakeWechat
from tests.turnout.helpers import add_messages, bind_wechat, messages

API = "/api/v1"
MARGIN = 300  # seconds before WeChat's expiry at which the token is refreshed


@dataclass
class Pair:
    kind: str  # "database" | "redis"
    a: FastAPI
    b: FastAPI
    settings: Settings
    wechat: FakeWechat
    clock: FrozenClock

    def client(self, app: FastAPI) -> WechatClient:
        """The server-API client as ``get_wechat`` builds it: the app's HTTP client and token store."""
        return WechatClient(app.state.http, app.state.settings, app.state.clock, app.state.wechat_tokens)

    def start(self) -> FastAPI:
        """Another instance on the same database (and Redis), with its own HTTP client."""
        return create_app(self.settings, clock=self.clock, http=httpx.AsyncClient(transport=slow(self.wechat)))

    async def rows(self) -> list[WechatToken]:
        async with self.a.state.db.read_session() as s:
            return list((await s.exec(select(WechatToken))).all())

    def codes(self, n: int, prefix: str = "c") -> list[str]:
        self.wechat.phone_codes.update({f"{prefix}{i}": f"139{i:08d}" for i in range(n)})
        return [f"{prefix}{i}" for i in range(n)]


def slow(wechat: FakeWechat, delay_s: float = 0.05) -> httpx.MockTransport:
    """The fake WeChat, whose stable_token takes ``delay_s`` (so that callers really overlap a fetch)."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            await asyncio.sleep(delay_s)
        return wechat.handler(request)

    return httpx.MockTransport(handle)


@pytest.fixture(params=["database", "redis"])
async def pair(request, settings: Settings, clock: FrozenClock, wechat: FakeWechat) -> AsyncIterator[Pair]:
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("needs REDIS_URL (a real Redis)")
        settings = settings.model_copy(update={"redis_url": os.environ["REDIS_URL"],
                                               "wechat_appid": f"wx-{uuid.uuid4().hex[:10]}"})
    elif settings.database_url.startswith("sqlite"):
        pytest.skip("the wechat_token table is PostgreSQL's store (SQLite: each process's memory, tested below)")
    p = Pair(request.param, create_app(settings, clock=clock, http=httpx.AsyncClient(transport=slow(wechat))),
             create_app(settings, clock=clock, http=httpx.AsyncClient(transport=slow(wechat))), settings, wechat,
             clock)
    kind = DatabaseTokenStore if request.param == "database" else RedisTokenStore
    assert isinstance(p.a.state.wechat_tokens, kind) and isinstance(p.b.state.wechat_tokens, kind)
    try:
        yield p
    finally:
        for x in (p.a, p.b):
            await close_app(x)


async def test_instances_share_one_token_fetched_once(pair: Pair) -> None:
    a, b, wechat, t0 = pair.a, pair.b, pair.wechat, pair.clock.now()
    clients = [pair.client(a), pair.client(b)]
    codes = pair.codes(40)
    phones = await asyncio.gather(*(clients[i % 2].phone_number(code) for i, code in enumerate(codes)))
    assert [p.pure_phone_number for p in phones] == [f"139{i:08d}" for i in range(40)]
    assert wechat.token_calls == 1 and {c.url.params["access_token"] for c in wechat.phone_calls()} == {"AT1"}
    assert wechat.token_bodies == [{"grant_type": "client_credential", "appid": pair.settings.wechat_appid,
                                    "secret": pair.settings.wechat_secret, "force_refresh": False}]
    if pair.kind == "database":
        [row] = await pair.rows()
        assert row.token_key == f"https://wechat.test|{pair.settings.wechat_appid}" and row.access_token == "AT1"
        assert row.fetched_at == t0 and row.expires_at == t0 + timedelta(seconds=7200)
        assert row.refresh_at == t0 + timedelta(seconds=7200 - MARGIN)
        assert row.forced_at is None and row.lease_holder is None and row.lease_until is None
    # an instance started later, and turnout's worker round on it, use the same token: no fetch
    c = pair.start()
    try:
        assert await pair.client(c).access_token() == "AT1"
        await add_messages(c, now=t0, recipients=["o1", "o2"])
        stats = await run_outbox_once(c.state.db, http=c.state.http,
                                      settings=c.state.settings.model_copy(update={"outbox_sender": "wechat"}),
                                      clock=pair.clock, tokens=c.state.wechat_tokens)
        assert stats["sent"] == 2 and {m["_access_token"] for m in wechat.sent} == {"AT1"}
    finally:
        await close_app(c)
    assert wechat.token_calls == 1


async def test_refreshed_before_it_lapses_by_one_caller(pair: Pair) -> None:
    a, b, wechat, clock = pair.a, pair.b, pair.wechat, pair.clock
    clients = [pair.client(a), pair.client(b)]
    assert await clients[0].access_token() == "AT1"
    clock.advance(seconds=7200 - MARGIN - 1)
    assert set(await asyncio.gather(*(clients[i % 2].access_token() for i in range(20)))) == {"AT1"}
    assert wechat.token_calls == 1
    clock.advance(seconds=1)  # five minutes before WeChat lets it lapse: 30 callers at once, one fetch
    t1 = clock.now()
    seen = await asyncio.gather(*(clients[i % 2].access_token() for i in range(30)))
    assert wechat.token_calls == 2 and wechat.forced_calls == 0
    assert "AT2" in seen and set(seen) <= {"AT1", "AT2"}  # AT1 still works while the refresh is under way
    # whichever instance did not fetch reads the new one from the shared copy at its next call
    assert [await c.access_token() for c in clients] == ["AT2", "AT2"]
    assert set(await asyncio.gather(*(clients[i % 2].access_token() for i in range(10)))) == {"AT2"}
    assert wechat.token_calls == 2
    if pair.kind == "database":
        [row] = await pair.rows()
        assert row.access_token == "AT2" and row.fetched_at == t1 and row.lease_holder is None
        assert row.expires_at == t1 + timedelta(seconds=7200)
    # and a phone number asked through either instance: AT2, still no fetch
    codes = pair.codes(2, "h")
    numbers = [(await pair.client(x).phone_number(code)).pure_phone_number for x, code in zip((a, b), codes,
                                                                                              strict=True)]
    assert numbers == ["13900000000", "13900000001"]
    assert {c.url.params["access_token"] for c in wechat.phone_calls()} == {"AT2"} and wechat.token_calls == 2


async def test_refused_token_is_forced_once_and_the_call_retried(pair: Pair) -> None:
    a, b, wechat = pair.a, pair.b, pair.wechat
    ca, cb = pair.client(a), pair.client(b)
    codes = iter(pair.codes(30))
    await ca.phone_number(next(codes))
    await cb.phone_number(next(codes))  # b keeps AT1 in memory too
    wechat.invalid_token_answers = 1  # WeChat refuses the next call: 40001
    assert (await ca.phone_number(next(codes))).pure_phone_number
    assert wechat.token_calls == 2 and wechat.forced_calls == 1 and wechat.token_bodies[-1]["force_refresh"] is True
    assert [c.url.params["access_token"] for c in wechat.phone_calls()][-2:] == ["AT1", "AT2"]
    # the forced refresh retired AT1: b's next call is refused, b reads AT2 from the shared store, no second force
    assert (await cb.phone_number(next(codes))).pure_phone_number
    assert [c.url.params["access_token"] for c in wechat.phone_calls()][-2:] == ["AT1", "AT2"]
    assert wechat.token_calls == 2 and wechat.forced_calls == 1
    # many calls on both instances refused at once (AT2 retired elsewhere): one forced refresh for all of them
    pair.clock.advance(minutes=5)
    wechat.revoked_tokens.add("AT2")
    done = await asyncio.gather(*((ca, cb)[i % 2].phone_number(next(codes)) for i in range(12)))
    assert len(done) == 12 and wechat.forced_calls == 2 and wechat.token_calls == 3
    assert {c.url.params["access_token"] for c in wechat.phone_calls()[-12:]} <= {"AT2", "AT3"}


async def test_refused_twice_is_an_error_with_the_errcode(pair: Pair) -> None:
    a, wechat, clock = pair.a, pair.wechat, pair.clock
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://test") as http:
        world = await build_world(a, http)
        hid = world.households[-1]["id"]
        resident = await bind_wechat(http, wechat, world, hid, openid="openid-t", grants=1)
        wechat.phone_codes.update({"p1": "13911112222", "p2": "13911113333"})
        wechat.invalid_token_answers = 2  # refused, forced refresh, refused again
        r = await http.post(f"{API}/auth/wechat/phone", headers=resident.headers, json={"code": "p1"})
        assert r.status_code == 502 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "wechat.unavailable" and r.json()["wechat_errcode"] == 40001
        assert wechat.token_calls == 2 and wechat.forced_calls == 1
        r = await http.post(f"{API}/auth/wechat/phone", headers=resident.headers, json={"code": "p2"})
        assert r.status_code == 200 and wechat.phone_calls()[-1].url.params["access_token"] == "AT2"
    # turnout's sender: refused twice → the message is tried again later (not failed), errcode kept
    clock.advance(minutes=5)
    ids = await add_messages(a, now=clock.now(), recipients=["openid-t"])
    wechat.invalid_token_answers = 2
    stats = await run_outbox_once(a.state.db, http=a.state.http,
                                  settings=a.state.settings.model_copy(update={"outbox_sender": "wechat"}),
                                  clock=clock, tokens=a.state.wechat_tokens)
    assert stats["retrying"] == 1 and wechat.forced_calls == 2
    row = (await messages(a, ids))[ids[0]]
    assert row.status == "pending" and row.last_errcode == 40001


async def test_a_fetch_that_times_out_is_retryable_and_writes_nothing(pair: Pair) -> None:
    a, b, wechat, clock = pair.a, pair.b, pair.wechat, pair.clock
    ca, cb = pair.client(a), pair.client(b)
    codes = iter(pair.codes(10))
    wechat.timeout_token = True
    with pytest.raises(WechatUnavailable) as err:
        await ca.phone_number(next(codes))
    assert err.value.status == 503 and wechat.token_calls == 1 and wechat.phone_calls() == []
    if pair.kind == "database":
        assert await pair.rows() == []  # the lease's row went with it: no row without a token
    # turnout's sender: a token failure is a send's retryable error
    ids = await add_messages(b, now=clock.now(), recipients=["o1"])
    stats = await run_outbox_once(b.state.db, http=b.state.http,
                                  settings=b.state.settings.model_copy(update={"outbox_sender": "wechat"}),
                                  clock=clock, tokens=b.state.wechat_tokens)
    row = (await messages(b, ids))[ids[0]]
    assert stats["retrying"] == 1 and row.status == "pending" and (row.last_error or "").startswith("token:")
    wechat.timeout_token = False
    assert (await cb.phone_number(next(codes))).pure_phone_number and wechat.phone_calls()[-1].url.params[
        "access_token"] == "AT1"
    # a refresh that times out leaves the stored token as it was; it is used until WeChat lets it lapse
    before = await pair.rows()
    clock.advance(seconds=7200 - MARGIN)
    wechat.timeout_token = True
    assert (await ca.phone_number(next(codes))).pure_phone_number
    assert wechat.phone_calls()[-1].url.params["access_token"] == "AT1"
    if pair.kind == "database":
        after = await pair.rows()
        assert [r.model_dump() for r in after] == [r.model_dump() for r in before]  # unchanged, lease released
    clock.advance(seconds=MARGIN)  # lapsed, and WeChat still does not answer: 503
    with pytest.raises(WechatUnavailable):
        await cb.phone_number(next(codes))
    wechat.timeout_token = False
    assert (await cb.phone_number(next(codes))).pure_phone_number
    assert wechat.phone_calls()[-1].url.params["access_token"] == "AT2"


async def test_one_lease_holder_the_others_wait_or_use_the_current_token(pair: Pair, monkeypatch) -> None:
    a, b, wechat, clock = pair.a, pair.b, pair.wechat, pair.clock
    store, key = a.state.wechat_tokens, pair.client(a).key
    # another instance holds the lease and there is no token yet: b waits, then reads what the holder stored
    assert await store.acquire(key, "other", clock.now() + LEASE)
    waiting = asyncio.create_task(pair.client(b).access_token())
    await asyncio.sleep(0.3)
    assert not waiting.done() and wechat.token_calls == 0
    now = clock.now()
    assert await store.write(key, CachedToken("AT-other", now + timedelta(seconds=6900),
                                              now + timedelta(seconds=7200)), "other")
    assert await asyncio.wait_for(waiting, timeout=5) == "AT-other" and wechat.token_calls == 0
    # due for a refresh while another holds the lease: the current token is used meanwhile
    clock.advance(seconds=6900)
    assert await store.acquire(key, "dead", clock.now() + timedelta(seconds=1))
    assert await pair.client(b).access_token() == "AT-other" and wechat.token_calls == 0
    # the holder died: its lease lapses (in the database on the app's clock, in Redis on Redis's) and the next
    # caller takes it
    clock.advance(seconds=2)
    await asyncio.sleep(1.2)
    assert await pair.client(b).access_token() == "AT1" and wechat.token_calls == 1
    # no token and a lease nobody releases: the caller gives up after WAIT (503, retry later)
    clock.advance(hours=3)
    monkeypatch.setattr(wechat_tokens, "WAIT", timedelta(seconds=0.3))
    assert await store.acquire(key, "stuck", clock.now() + LEASE)
    with pytest.raises(WechatUnavailable) as err:
        await pair.client(b).access_token()
    assert err.value.status == 503 and wechat.token_calls == 1


async def test_on_sqlite_each_process_keeps_the_same_stable_token(settings: Settings, clock: FrozenClock,
                                                                   wechat: FakeWechat) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's store")
    apps = [create_app(settings, clock=clock, http=httpx.AsyncClient(transport=slow(wechat))) for _ in range(2)]
    try:
        assert all(isinstance(x.state.wechat_tokens, wechat_tokens.MemoryTokenStore) for x in apps)
        clients = [WechatClient(x.state.http, x.state.settings, x.state.clock, x.state.wechat_tokens) for x in apps]
        # one fetch per process, never forced: WeChat's stable token is the same for both, and both keep working
        assert await asyncio.gather(*(clients[i % 2].access_token() for i in range(20))) == ["AT1"] * 20
        assert wechat.token_calls == 2 and wechat.forced_calls == 0
        codes = [f"s{i}" for i in range(4)]
        wechat.phone_codes.update({c: f"1380000000{i}" for i, c in enumerate(codes)})
        phones = [await clients[i % 2].phone_number(c) for i, c in enumerate(codes)]
        assert [p.pure_phone_number for p in phones] == [f"1380000000{i}" for i in range(4)]
        assert {c.url.params["access_token"] for c in wechat.phone_calls()} == {"AT1"}
    finally:
        for x in apps:
            await close_app(x)
