"""Who gets a reminder: WeChat-bound owners who have not opted out, at most once per household per item per
Shanghai day; the others need a visit. Service level, on a stand-in item (the HTTP path is in test_motions)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from app.turnout import service
from app.turnout.items import Item
from app.turnout.models import ItemType, OutboxMessage, ReminderReason
from tests.turnout.helpers import bind_wechat
from tests.turnout.test_counts import population


def stand_in(world, clock, voted: list[str]) -> Item:
    return Item(type=ItemType.MOTION, id="m" * 32, title="关于加装电梯的表决", jurisdiction_id=world.jurisdiction_id,
                community_id=world.community_id, project_id=None, scope_kind="community", building_id=None,
                unit_id=None, status="open", opens_at=clock.now() - timedelta(days=1),
                closes_at=clock.now() + timedelta(days=5), kind="elevator", rule_spec=None,
                population=population(world, [(h, "agree") for h in voted]))


async def queue(app, item, clock):
    async with app.state.db.write_session() as s:
        r = await service.queue_reminders(s, item=item, now=clock.now(), reason=ReminderReason.MANUAL, actor_id=None)
        await s.commit()
    return r


async def outbox(app) -> list[OutboxMessage]:
    async with app.state.db.read_session() as s:
        return list((await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.created_at),
                                                                 col(OutboxMessage.recipient)))).all())


async def test_who_is_reminded_and_the_one_per_day_rule(app, client, wechat, world, clock) -> None:
    hs = [h["id"] for h in world.households]
    a = await bind_wechat(client, wechat, world, hs[4], openid="oa")
    b = await bind_wechat(client, wechat, world, hs[5], openid="ob")
    c = await bind_wechat(client, wechat, world, hs[6], openid="oc")
    # household 6 has a second WeChat-bound owner; household 5's only bound owner opts out
    r = await client.post(f"/api/v1/communities/{world.community_id}/activation-codes", headers=world.staff,
                          json={"household_ids": [hs[6]], "relation": "co_owner"})
    world.codes[hs[6]] = r.json()["items"][0]["code"]
    await bind_wechat(client, wechat, world, hs[6], openid="oc2")
    r = await client.put(f"/api/v1/households/{hs[5]}/reminders", headers=b.headers, json={"opt_out": True})
    assert r.status_code == 200
    # a WeChat-bound tenant cannot vote: household 7 still needs a visit
    r = await client.post(f"/api/v1/communities/{world.community_id}/activation-codes", headers=world.staff,
                          json={"household_ids": [hs[7]], "relation": "tenant"})
    world.codes[hs[7]] = r.json()["items"][0]["code"]
    await bind_wechat(client, wechat, world, hs[7], openid="tenant")

    item = stand_in(world, clock, voted=[hs[8]])
    result = await queue(app, item, clock)
    assert result.non_responders == 11
    assert result.queued_households == 2 and result.queued_messages == 3  # a, c and c's co-owner
    assert result.skipped.model_dump() == {"already_reminded_today": 0, "opted_out": 1, "no_wechat": 8,
                                               "no_grant": 0}
    assert result.needs_visit == 9 and result.day.isoformat() == "2026-11-23"
    sent = await outbox(app)
    assert sorted(m.recipient for m in sent) == ["oa", "oc", "oc2"]
    assert {m.household_id for m in sent} == {a.household_id, c.household_id}
    assert sent[0].payload["data"]["thing1"]["value"] == "关于加装电梯的表决"
    assert sent[0].payload["page"] == f"pages/motion/detail?id={'m' * 32}"

    # the same Shanghai day: nothing more, even at 23:59
    clock.advance(hours=13, minutes=59)
    again = await queue(app, item, clock)
    assert again.queued_households == 0 and again.skipped.already_reminded_today == 2
    assert len(await outbox(app)) == 3
    # the next Shanghai day (00:00 Tuesday = 16:00 UTC Monday): allowed again
    clock.advance(minutes=1)
    nxt = await queue(app, item, clock)
    assert nxt.queued_households == 2 and nxt.queued_messages == 3 and nxt.day.isoformat() == "2026-11-24"
    # household a answers: it is no longer reminded
    clock.advance(days=1)
    done = await queue(app, stand_in(world, clock, voted=[hs[8], a.household_id]), clock)
    assert done.non_responders == 10 and done.queued_households == 1


async def test_non_responders_mark_who_needs_a_visit(app, client, wechat, world, clock) -> None:
    hs = [h["id"] for h in world.households]
    await bind_wechat(client, wechat, world, hs[4], openid="oa", phone="13912345678")
    async with app.state.db.read_session() as s:
        item = stand_in(world, clock, voted=[])
        pop = item.population
        from app.turnout import repository as repo

        rows = {r.household_id: r for r in await repo.non_responders(s, pop)}
        members = await repo.members_of_non_responders(s, pop)
    assert len(rows) == 12
    assert rows[hs[4]].reachable and rows[hs[4]].bound
    assert not rows[hs[0]].reachable and not rows[hs[0]].bound  # activated without WeChat
    assert not rows[hs[11]].bound  # nobody activated at all
    assert {m.household_id for m in members} == {*hs[:5]}
