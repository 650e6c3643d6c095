"""The outbox worker and the senders: WeChat subscribe messages with a cached access token, retries with
exponential backoff, failures recorded with WeChat's errcode, nothing blocked by one bad message."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.turnout import repository as repo
from app.turnout.worker import LEASE, MAX_ATTEMPTS, backoff, run_outbox_once
from tests.turnout.helpers import add_messages, fail_for, messages


@pytest.fixture
def wx_settings(settings):
    return settings.model_copy(update={"outbox_sender": "wechat"})


async def run(app, clock, settings, http=None):
    return await run_outbox_once(app.state.db, http=http or app.state.http, settings=settings, clock=clock)


async def test_log_sender_marks_messages_sent(app, clock, settings, wechat) -> None:
    ids = await add_messages(app, now=clock.now(), recipients=["o1", "o2"])
    stats = await run(app, clock, settings)
    assert stats == {"claimed": 2, "sent": 2, "retrying": 0, "failed": 0}
    rows = await messages(app, ids)
    assert {m.status for m in rows.values()} == {"sent"} and all(m.sent_at == clock.now() for m in rows.values())
    assert wechat.sent == []  # the log sender never calls WeChat
    assert (await run(app, clock, settings))["claimed"] == 0  # nothing left


async def test_wechat_sender_sends_with_one_cached_token(app, clock, wx_settings, wechat) -> None:
    ids = await add_messages(app, now=clock.now(), recipients=[f"openid-{i}" for i in range(12)])
    stats = await run(app, clock, wx_settings)
    assert stats["sent"] == 12 and stats["claimed"] == 12  # more than one batch
    assert wechat.token_calls == 1
    assert sorted(m["touser"] for m in wechat.sent) == sorted(f"openid-{i}" for i in range(12))
    first = wechat.sent[0]
    assert first["template_id"] == wx_settings.wechat_template_id and first["_access_token"] == "AT1"
    assert first["page"] == "pages/motion/detail?id=x" and first["data"] == {"thing1": {"value": "测试"}}
    token_call = next(c for c in wechat.calls if c.url.path == "/cgi-bin/stable_token")
    assert token_call.url.host == "wechat.test" and token_call.method == "POST"
    assert wechat.token_bodies == [{"grant_type": "client_credential", "appid": wx_settings.wechat_appid,
                                    "secret": wx_settings.wechat_secret, "force_refresh": False}]
    assert {m.status for m in (await messages(app, ids)).values()} == {"sent"}
    # the token is cached until shortly before it expires (7200 s), then fetched again
    await add_messages(app, now=clock.now(), recipients=["later-1"])
    clock.advance(minutes=90)
    await run(app, clock, wx_settings)
    assert wechat.token_calls == 1
    await add_messages(app, now=clock.now(), recipients=["later-2"])
    clock.advance(minutes=30)
    await run(app, clock, wx_settings)
    assert wechat.token_calls == 2 and wechat.sent[-1]["_access_token"] == "AT2"


async def test_token_refreshed_once_when_wechat_says_it_is_invalid(app, clock, wx_settings, wechat) -> None:
    state = {"rejected": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/message/subscribe/send" and request.url.params["access_token"] == "AT1":
            state["rejected"] += 1
            return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
        return wechat.handler(request)

    ids = await add_messages(app, now=clock.now(), recipients=["o1"])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        stats = await run(app, clock, wx_settings, http)
    assert stats["sent"] == 1 and state["rejected"] == 1 and wechat.token_calls == 2
    assert wechat.sent[0]["_access_token"] == "AT2" and wechat.token_bodies[-1]["force_refresh"] is True
    assert (await messages(app, ids))[ids[0]].attempts == 1


async def test_error_code_retried_with_backoff_then_failed_others_still_sent(app, clock, wx_settings, wechat) -> None:
    good = await add_messages(app, now=clock.now(), recipients=["good-1", "good-2"])
    bad = (await add_messages(app, now=clock.now(), recipients=["bad"]))[0]
    async with httpx.AsyncClient(transport=fail_for(wechat, {"bad"}, errcode=45009)) as http:
        stats = await run(app, clock, wx_settings, http)
        assert stats == {"claimed": 3, "sent": 2, "retrying": 1, "failed": 0}
        m = (await messages(app, [bad]))[bad]
        assert m.status == "pending" and m.attempts == 1 and m.last_errcode == 45009
        assert "45009" in (m.last_error or "") and m.next_attempt_at == clock.now() + backoff(1)
        assert {x.status for x in (await messages(app, good)).values()} == {"sent"}
        # not due yet: nothing happens
        assert (await run(app, clock, wx_settings, http))["claimed"] == 0
        # a message queued meanwhile is not held back by the failing one
        later = await add_messages(app, now=clock.now(), recipients=["good-3"])
        assert (await run(app, clock, wx_settings, http))["sent"] == 1
        delays = []
        for _ in range(2, MAX_ATTEMPTS + 1):
            m = (await messages(app, [bad]))[bad]
            delays.append(m.next_attempt_at - clock.now())
            clock.set(m.next_attempt_at + timedelta(seconds=1))
            stats = await run(app, clock, wx_settings, http)
            assert stats["claimed"] == 1
        assert stats["failed"] == 1
    assert delays == [backoff(n) for n in range(1, MAX_ATTEMPTS)]
    assert delays[1] == 2 * delays[0]  # exponential
    m = (await messages(app, [bad]))[bad]
    assert m.status == "failed" and m.attempts == MAX_ATTEMPTS and m.last_errcode == 45009
    clock.advance(days=1)
    assert (await run(app, clock, wx_settings))["claimed"] == 0  # failed stays failed
    assert [x.status for x in (await messages(app, later)).values()] == ["sent"]
    assert sorted(s["touser"] for s in wechat.sent) == ["good-1", "good-2", "good-3"]


async def test_timeout_is_retried_then_failed(app, clock, wx_settings, wechat) -> None:
    wechat.timeout_send = True
    mid = (await add_messages(app, now=clock.now(), recipients=["o1"]))[0]
    for _ in range(MAX_ATTEMPTS):
        stats = await run(app, clock, wx_settings)
        assert stats["claimed"] == 1
        clock.advance(hours=1)
    m = (await messages(app, [mid]))[mid]
    assert m.status == "failed" and m.attempts == MAX_ATTEMPTS
    assert m.last_error == "send: timeout" and m.last_errcode is None
    # WeChat is back: a new message goes through
    wechat.timeout_send = False
    await add_messages(app, now=clock.now(), recipients=["o2"])
    assert (await run(app, clock, wx_settings))["sent"] == 1


async def test_permanent_error_fails_at_once(app, clock, wx_settings, wechat) -> None:
    wechat.fail_send_with = 43101  # the user refused / has no subscription left
    mid = (await add_messages(app, now=clock.now(), recipients=["o1"]))[0]
    assert (await run(app, clock, wx_settings))["failed"] == 1
    m = (await messages(app, [mid]))[mid]
    assert m.status == "failed" and m.attempts == 1 and m.last_errcode == 43101


async def test_message_for_a_closed_item_is_not_sent(app, clock, wx_settings, wechat) -> None:
    payload = {"page": "p", "data": {}, "expires_at": (clock.now() + timedelta(hours=1)).isoformat()}
    mid = (await add_messages(app, now=clock.now(), recipients=["o1"], payload=payload))[0]
    wechat.timeout_send = True
    await run(app, clock, wx_settings)
    wechat.timeout_send = False
    clock.advance(hours=2)
    assert (await run(app, clock, wx_settings))["failed"] == 1
    m = (await messages(app, [mid]))[mid]
    assert m.status == "failed" and m.last_error.startswith("expired") and wechat.sent == []


async def test_claims_of_a_dead_worker_expire(app, clock, settings) -> None:
    ids = await add_messages(app, now=clock.now(), recipients=["o1", "o2"])
    async with app.state.db.write_session() as s:  # a worker claims a batch, then dies
        claimed = await repo.claim_due(s, now=clock.now(), lease_until=clock.now() + LEASE, token="w" * 32, limit=10)
        await s.commit()
    assert len(claimed) == 2
    assert (await run(app, clock, settings))["claimed"] == 0  # leased
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert (await run(app, clock, settings))["sent"] == 2
    # the dead worker's late result is ignored
    async with app.state.db.write_session() as s:
        assert not await repo.record_outcome(s, message_id=ids[0], token="w" * 32, values={"status": "failed"})
        await s.commit()
    assert {m.status for m in (await messages(app, ids)).values()} == {"sent"}


async def test_worker_runs_for_the_lifetime_of_the_app(settings, clock) -> None:
    """install_outbox_worker: started with the app's lifespan, delivers queued messages, stopped cleanly."""
    import asyncio

    from app.main import create_app
    from app.turnout.worker import install_outbox_worker
    from tests.fakes import FakeWechat

    wechat = FakeWechat()
    http = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    application = create_app(settings.model_copy(update={"outbox_sender": "wechat"}), clock=clock, http=http)
    install_outbox_worker(application, interval_s=0.05)
    ids = await add_messages(application, now=clock.now(), recipients=["o1", "o2"])
    async with application.router.lifespan_context(application):
        assert application.state.outbox_worker is not None
        for _ in range(200):
            if len(wechat.sent) == 2:
                break
            await asyncio.sleep(0.02)
    assert sorted(m["touser"] for m in wechat.sent) == ["o1", "o2"]
    assert application.state.outbox_worker is None
    db = application.state.db
    from app.core.db import Database

    fresh = Database(db.settings)
    async with fresh.read_session() as s:
        from sqlmodel import col, select

        from app.turnout.models import OutboxMessage

        rows = (await s.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids)))).all()
        assert {m.status for m in rows} == {"sent"}
    await fresh.dispose()
