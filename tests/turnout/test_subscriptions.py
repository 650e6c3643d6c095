"""WeChat one-time subscriptions: the mini-program reports accepted templates, each lets one message through,
reminders skip (and count) users without one, WeChat's 43101 clears them, template data is fitted."""

from __future__ import annotations

import asyncio

import httpx

from app.turnout import repository as repo
from app.turnout.worker import run_outbox_once
from tests.turnout.helpers import add_messages, bind_wechat, fail_for, messages, subscribe
from tests.turnout.test_reminder_rules import outbox, queue, stand_in

TEMPLATE = "reminder-template"


async def unused(app, user_id: str) -> int:
    async with app.state.db.read_session() as s:
        return (await repo.grants_of(s, user_id=user_id)).get(TEMPLATE, 0)


async def test_accepted_templates_are_counted_per_user(app, client, wechat, world) -> None:
    hs = [h["id"] for h in world.households]
    a = await bind_wechat(client, wechat, world, hs[4], openid="oa", grants=0)
    assert await unused(app, a.user_id) == 0
    assert await subscribe(client, a, times=2) == 2
    # a template named twice in one acceptance counts once
    r = await client.post("/api/v1/me/subscriptions", json={"template_ids": [TEMPLATE, TEMPLATE]}, headers=a.headers)
    assert r.status_code == 200 and r.json() == {"grants": [{"template_id": TEMPLATE, "unused": 3}]}
    for body, code in [({"template_ids": ["tpl-unknown"]}, "subscription.template_unknown"),
                       ({"template_ids": []}, "validation.failed"),
                       ({"template_ids": [TEMPLATE, "b", "c", "d"]}, "validation.failed"),
                       ({}, "validation.failed")]:
        r = await client.post("/api/v1/me/subscriptions", json=body, headers=a.headers)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert await unused(app, a.user_id) == 3
    # staff signed in with a password: not bound to WeChat
    r = await client.post("/api/v1/me/subscriptions", json={"template_ids": [TEMPLATE]}, headers=world.staff)
    assert r.status_code == 403 and r.json()["code"] == "wechat.not_bound"
    r = await client.post("/api/v1/me/subscriptions", json={"template_ids": [TEMPLATE]})
    assert r.status_code == 401


async def test_one_grant_one_reminder_and_the_others_are_counted(app, client, wechat, world, clock) -> None:
    hs = [h["id"] for h in world.households]
    a = await bind_wechat(client, wechat, world, hs[4], openid="oa", grants=1)
    b = await bind_wechat(client, wechat, world, hs[5], openid="ob", grants=0)
    item = stand_in(world, clock, voted=[])
    first = await queue(app, item, clock)
    assert (first.queued_households, first.queued_messages) == (1, 1)
    assert first.skipped.no_grant == 1 and first.skipped.already_reminded_today == 0
    assert [m.recipient for m in await outbox(app)] == ["oa"] and await unused(app, a.user_id) == 0
    # b accepts later the same day: b's household was not marked reminded, so it can be reached today
    await subscribe(client, b)
    again = await queue(app, item, clock)
    assert (again.queued_messages, again.skipped.already_reminded_today, again.skipped.no_grant) == (1, 1, 0)
    assert sorted(m.recipient for m in await outbox(app)) == ["oa", "ob"] and await unused(app, b.user_id) == 0
    # the next day nobody has a grant left: nothing goes out, both counted as no_grant
    clock.advance(days=1)
    third = await queue(app, item, clock)
    assert (third.queued_messages, third.skipped.no_grant, third.needs_visit) == (0, 2, third.non_responders - 2)


async def test_43101_clears_the_grant_and_fails_the_message(app, client, wechat, world, clock, settings) -> None:
    hs = [h["id"] for h in world.households]
    a = await bind_wechat(client, wechat, world, hs[4], openid="oa", grants=3)
    await bind_wechat(client, wechat, world, hs[5], openid="ob", grants=3)
    await queue(app, stand_in(world, clock, voted=[]), clock)
    http = httpx.AsyncClient(transport=fail_for(wechat, {"oa"}, errcode=43101))
    wx = settings.model_copy(update={"outbox_sender": "wechat"})
    stats = await run_outbox_once(app.state.db, http=http, settings=wx, clock=clock)
    await http.aclose()
    assert (stats["sent"], stats["failed"]) == (1, 1)
    rows = {m.recipient: m for m in (await messages(app)).values()}
    assert (rows["oa"].status, rows["oa"].last_errcode) == ("failed", 43101) and rows["ob"].status == "sent"
    assert await unused(app, a.user_id) == 0  # was 2 after the reminder used one


async def test_template_data_is_fitted_before_sending(app, clock, settings, wechat) -> None:
    wx = settings.model_copy(update={"outbox_sender": "wechat"})
    good = await add_messages(app, now=clock.now(), recipients=["o1"], payload={
        "page": "p", "data": {"thing1": {"value": "关于加装电梯与外墙保温改造方案的第二轮表决通知"},
                              "time2": {"value": "2026年12月05日 23:59"}, "phrase3": {"value": "进行中啊啊啊"},
                              "character_string4": {"value": "A" * 40}}})
    bad = await add_messages(app, now=clock.now(), recipients=["o2"], payload={
        "page": "p", "data": {"thing1": {"value": "x"}, "time2": {"value": "明天"}}})
    stats = await run_outbox_once(app.state.db, http=app.state.http, settings=wx, clock=clock)
    assert (stats["sent"], stats["failed"]) == (1, 1)
    data = wechat.sent[0]["data"]
    assert len(data["thing1"]["value"]) == 20 and data["thing1"]["value"].endswith("…")
    assert data["phrase3"]["value"] == "进行中啊啊" and data["character_string4"]["value"] == "A" * 32
    assert data["time2"]["value"] == "2026年12月05日 23:59"
    rows = await messages(app, good + bad)
    assert rows[bad[0]].status == "failed" and "time2" in (rows[bad[0]].last_error or "")
    assert [m["touser"] for m in wechat.sent] == ["o1"]


async def test_concurrent_transactions_never_use_one_grant_twice(app, client, wechat, world, clock) -> None:
    hs = [h["id"] for h in world.households]
    a = await bind_wechat(client, wechat, world, hs[4], openid="oa", grants=1)

    async def take() -> set[str]:
        async with app.state.db.write_session() as s:
            used = await repo.use_grants(s, template_id=TEMPLATE, user_ids=[a.user_id], now=clock.now())
            await asyncio.sleep(0.05)  # hold the row (PostgreSQL) while the other waits for it
            await s.commit()
        return used

    results = await asyncio.gather(*(take() for _ in range(4)))
    assert sum(len(r) for r in results) == 1 and await unused(app, a.user_id) == 0
