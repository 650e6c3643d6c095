"""When shares stop following the register: until an item's first collection every household's share follows
the register (an import, a deactivation, an area correction) and so do "my share" pledges; the first
collection freezes the households and their areas into the item's roll; staff recompute it from the register
with a reason. All audited."""

from __future__ import annotations

from sqlmodel import select

from app.core.models import AuditEntry
from tests.funding.helpers import (
    API,
    ROOF_SHARE,
    all_households,
    collect,
    get_funding,
    item_id,
    line,
    pledge,
    refund,
    setup_plan,
    shares_of,
)


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app.state.db.write_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.seq))).all())


async def _roof_shares(client, world, plan_id: str) -> dict[str, int]:
    return shares_of(await all_households(client, world.staff, plan_id, limit=200), "屋面防水")  # type: ignore[return-value]


async def _correct_area(client, world, household_id: str, area: str) -> None:
    r = await client.patch(f"{API}/households/{household_id}", headers=world.staff,
                           json={"area_m2": area, "reason": "产权证面积更正"})
    assert r.status_code == 200, r.text


async def test_shares_follow_the_register_until_the_first_collection_then_freeze(app, client, world, clock) -> None:
    _, plan = await setup_plan(client, world)
    pid, roof = plan["id"], item_id(plan, "屋面防水")
    me = world.residents[0]
    big, small = world.household("2", "2", "101")["id"], world.household("2", "2", "102")["id"]
    assert (await pledge(client, me.headers, pid, [{"item_id": roof}])).status_code == 200
    before = await _roof_shares(client, world, pid)
    # before any collection an area correction moves every share, and the "my share" pledge with it
    await _correct_area(client, world, big, "130.10")
    moved = await _roof_shares(client, world, pid)
    assert sum(moved.values()) == ROOF_SHARE and moved[big] > before[big] and moved[me.household_id] < before[me.household_id]
    view = await get_funding(client, world.staff, pid)
    assert line(view, "屋面防水")["pledged_fen"] == moved[me.household_id]
    assert line(view, "屋面防水")["shares_frozen_at"] is None
    # nothing to recompute yet: the shares follow the register anyway
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": roof, "recompute_shares": True}], "reason": "面积更正"})
    assert r.status_code == 409 and r.json()["code"] == "funding.shares_not_frozen"
    # the first collection freezes the roll: households and their areas now
    r = await collect(client, world, pid, me.household_id, roof, moved[me.household_id], "FZ-1")
    assert r.status_code == 201, r.text
    view = await get_funding(client, world.staff, pid)
    assert line(view, "屋面防水")["shares_frozen_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert line(view, "门窗更换")["shares_frozen_at"] is None  # per item
    (frozen,) = await _audit(app, "funding.shares_frozen")
    assert frozen.data["households"] == 12 and frozen.chain == world.community_id
    assert {s["household_id"]: s["share_fen"] for s in frozen.data["shares"]} == moved
    # register changes no longer move anyone's share: an area correction, a deactivation, a new household
    await _correct_area(client, world, big, "120.10")
    r = await client.post(f"{API}/households/{small}/deactivate", headers=world.staff, json={"reason": "已拆除"})
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                          json={"building": "2", "unit": "2", "room": "301", "area_m2": "200.00", "reason": "漏登"})
    assert r.status_code == 201, r.text
    newcomer = r.json()["household"]["id"]
    assert await _roof_shares(client, world, pid) == moved
    assert line(await get_funding(client, world.staff, pid), "屋面防水")["pledged_fen"] == moved[me.household_id]
    # the new household is not on the frozen roll: neither pledges nor payments for it yet
    r = await collect(client, world, pid, newcomer, roof, 100, "FZ-2")
    assert r.status_code == 422 and r.json()["code"] == "funding.household_out_of_scope"
    assert r.json()["shares_frozen_at"]
    r = await pledge(client, world.staff, pid, [{"item_id": roof}], household_id=newcomer)
    assert r.status_code == 422 and r.json()["code"] == "funding.household_out_of_scope"
    # staff recompute from the register, with a reason
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": roof, "recompute_shares": True}]})
    assert r.status_code == 422 and r.json()["code"] == "funding.reason_required"
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff, json={"items": [{"item_id": roof}]})
    assert r.status_code == 422 and r.json()["code"] == "funding.nothing_to_change"
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.residents[0].headers,
                         json={"items": [{"item_id": roof, "recompute_shares": True}], "reason": "x"})
    assert r.status_code == 403
    clock.advance(seconds=60)
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": roof, "recompute_shares": True}], "reason": "房屋登记更正后重新核定"})
    assert r.status_code == 200, r.text
    assert line(r.json(), "屋面防水")["shares_frozen_at"] == clock.now().isoformat().replace("+00:00", "Z")
    recomputed = await _roof_shares(client, world, pid)
    assert sum(recomputed.values()) == ROOF_SHARE and small not in recomputed and newcomer in recomputed
    # the resident paid the share of the old roll: now more than its share (a refund may give it back)
    over = moved[me.household_id] - recomputed[me.household_id]
    assert over > 0
    (entry,) = await _audit(app, "funding.shares_recomputed")
    assert entry.data["reason"] == "房屋登记更正后重新核定" and entry.data["households_before"] == 12
    assert entry.data["households"] == 12
    changed = {c["household_id"]: c for c in entry.data["changed"]}
    assert changed[me.household_id] == {"household_id": me.household_id, "before_fen": moved[me.household_id],
                                        "after_fen": recomputed[me.household_id], "paid_fen": moved[me.household_id]}
    assert changed[small]["after_fen"] == 0 and changed[newcomer]["before_fen"] == 0
    rows = {h["household_id"]: h for h in await all_households(client, world.staff, pid, limit=200)}
    mine = next(i for i in rows[me.household_id]["items"] if i["title"] == "屋面防水")
    assert mine["paid_fen"] - mine["share_fen"] == over
    assert (await refund(client, world, pid, me.household_id, roof, over, reason="重新核定后多缴退还")).status_code == 201
    assert (await collect(client, world, pid, newcomer, roof, recomputed[newcomer], "FZ-3")).status_code == 201
