"""Deactivating a household that was merged into another or is gone: it stays in the register with its history
but leaves every scope — no new roll, no denominator (motions, questionnaires, turnout, notice reads), no code,
no member — while a roll frozen before keeps it; reactivating undoes it. Everything audited."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import col, select

from app.core.models import AuditEntry
from tests.factories import activate, all_households, import_csv, issue_codes
from tests.surveys.helpers import answer, make_questionnaire
from tests.voting.helpers import API, jpeg, make_motion, paper, setup_motion, tally, vote


async def _audit(app, action: str, household_id: str) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        q = select(AuditEntry).where(AuditEntry.action == action, AuditEntry.entity_id == household_id)
        return list((await s.exec(q.order_by(col(AuditEntry.seq)))).all())


def _centi(m2: str) -> int:
    return int(Decimal(m2) * 100)


async def _deactivate(client, world, household_id: str, **body):
    return await client.post(f"{API}/households/{household_id}/deactivate", headers=world.staff,
                             json={"reason": "两户打通合并"} | body)


async def _roll(client, world, motion_id: str) -> dict:
    r = await client.get(f"{API}/motions/{motion_id}/roll", headers=world.staff)
    assert r.status_code == 200, r.text
    return r.json()


async def test_deactivated_household_leaves_every_new_scope(app, client, world, clock) -> None:
    pid, plan, before = await setup_motion(client, world, clock.now())  # open, its roll not frozen yet
    gone = world.residents[1]  # 1-1-102, 75.50 m², an owner of its own; its resident is bound
    into = world.residents[0].household_id
    total_area = sum(_centi(h["area_m2"]) for h in world.households)

    r = await _deactivate(client, world, gone.household_id, merged_into_household_id=into)
    assert r.status_code == 200, r.text
    body = r.json()
    h = body["household"]
    assert (h["active"], h["deactivation_reason"], h["merged_into_household_id"]) == (False, "两户打通合并", into)
    assert h["deactivated_at"] is not None and h["members"] == 0 and body["members_unbound"] == 1
    # the motion that had opened froze its roll from the register as it was, and keeps it
    assert [x["id"] for x in body["open_rolls_unchanged"]] == [before["id"]]
    roll = await _roll(client, world, before["id"])
    assert roll["totals"]["households"] == 12 and gone.household_id in {e["household_id"] for e in roll["entries"]}

    # the register: listed only on request, counted nowhere
    listed = {x["id"] for x in await all_households(client, world.staff, world.community_id)}
    assert len(listed) == 11 and gone.household_id not in listed
    r = await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                         params={"include_inactive": "true", "limit": 50})
    every = {x["id"]: x for x in r.json()["items"]}
    assert len(every) == 12 and every[gone.household_id]["active"] is False
    assert all(x["active"] and x["deactivated_at"] is None for k, x in every.items() if k != gone.household_id)
    community = (await client.get(f"{API}/communities/{world.community_id}", headers=world.staff)).json()
    assert community["households"] == 11
    buildings = (await client.get(f"{API}/communities/{world.community_id}/buildings", headers=world.staff)).json()
    assert sum(u["households"] for b in buildings for u in b["units"]) == 11

    # a motion opened afterwards: its roll and every denominator without it
    after = await make_motion(client, world, plan["id"], clock.now(), title="关于加装电梯的表决")
    roll = await _roll(client, world, after["id"])
    assert (roll["totals"]["households"], roll["totals"]["owners"]) == (11, 9)
    assert gone.household_id not in {e["household_id"] for e in roll["entries"]}
    c = (await tally(client, world.staff, after["id"])).json()["counts"]
    assert (c["total_households"], c["total_owners"], c["total_area"]) == (11, 9, total_area - 7550)

    # a questionnaire opened afterwards: its electorate and results without it
    q = await make_questionnaire(client, world, pid)
    assert q["households_in_scope"] == 11
    res = (await client.get(f"{API}/questionnaires/{q['id']}/results", headers=world.staff)).json()
    assert (res["households_in_scope"], res["owners_in_scope"]) == (11, 9)

    # turnout: progress, non-responders and notice reads count 11 households
    for path in (f"motions/{after['id']}", f"questionnaires/{q['id']}"):
        p = (await client.get(f"{API}/{path}/progress", headers=world.staff)).json()
        assert p["households"]["total"] == 11, (path, p)
        nr = (await client.get(f"{API}/{path}/non-responders", headers=world.staff)).json()
        assert nr["households_in_scope"] == 11, (path, nr)
        rows = {x["household_id"] for b in nr["buildings"] for u in b["units"] for x in u["households"]}
        assert gone.household_id not in rows and len(rows) == 11
    notice = await client.post(f"{API}/projects/{pid}/notices", headers=world.staff, json={
        "kind": "plan", "title": "改造方案公示", "body": "方案内容", "start_date": clock.now().date().isoformat()})
    assert notice.status_code == 201, notice.text
    reads = (await client.get(f"{API}/notices/{notice.json()['id']}/reads", headers=world.staff)).json()
    assert reads["households"]["total"] == 11

    # its former resident acts for it nowhere
    assert (await client.get(f"{API}/me", headers=gone.headers)).json()["households"] == []
    assert (await vote(client, gone.headers, after["id"], "agree", household_id=gone.household_id)).status_code == 404
    r = await answer(client, gone.headers, q["id"], [{"question_id": q["questions"][0]["id"], "value": True}])
    assert r.status_code == 404  # no longer of this community: not revealed
    # staff neither: it is on no new roll, and cannot be added to one
    r = await paper(client, world, after["id"], gone.household_id, "agree", photo=jpeg())
    assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope"
    r = await client.post(f"{API}/motions/{after['id']}/roll/amendments", headers=world.staff,
                          json={"household_id": gone.household_id, "action": "add", "reason": "补入"})
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"
    # the roll frozen before still has it; staff may take it off there
    r = await client.post(f"{API}/motions/{before['id']}/roll/amendments", headers=world.staff,
                          json={"household_id": gone.household_id, "action": "remove", "reason": "已合并"})
    assert r.status_code in (200, 201), r.text
    assert (await _roll(client, world, before["id"]))["totals"]["households"] == 11

    [entry] = await _audit(app, "household.deactivated", gone.household_id)
    assert entry.chain == world.community_id and entry.actor_id == world.staff_user_id
    assert entry.data == {"reason": "两户打通合并", "merged_into": into, "members_unbound": [gone.user_id]}


async def test_deactivated_household_gets_no_code_no_member_no_change(app, client, world) -> None:
    spare, code = sorted(world.codes.items())[0]  # a household nobody has activated yet
    row = next(h for h in world.households if h["id"] == spare)
    r = await _deactivate(client, world, spare)
    assert r.status_code == 200, r.text
    assert r.json()["members_unbound"] == 0 and r.json()["household"]["pending_codes"] == 0
    assert r.json()["open_rolls_unchanged"] == []

    # its printed code was revoked: no one can join it
    r = await activate(client, code, "新住户", phone="13900000031")
    assert r.status_code == 400 and r.json()["code"] == "activation.code_invalid"
    # no new code, whether asked by id or for every household not yet activated
    url = f"{API}/communities/{world.community_id}/activation-codes"
    r = await client.post(url, headers=world.staff, json={"household_ids": [spare], "relation": "owner"})
    assert r.status_code == 409 and r.json()["code"] == "household.inactive"
    r = await client.post(url, headers=world.staff, json={"all_not_activated": True, "relation": "owner"})
    assert r.status_code == 201, r.text
    issued = {x["household_id"] for x in r.json()["items"]}
    assert spare not in issued and len(issued) == 12 - 4 - 1

    # no upkeep on it: deactivated already, no correction, no transfer
    assert (await _deactivate(client, world, spare)).status_code == 409
    assert (await _deactivate(client, world, spare)).json()["code"] == "household.inactive"
    r = await client.patch(f"{API}/households/{spare}", headers=world.staff, json={"area_m2": "50.00", "reason": "核"})
    assert r.status_code == 409 and r.json()["code"] == "household.inactive"
    r = await client.post(f"{API}/households/{spare}/transfer", headers=world.staff,
                          json={"owner_key": "NEW-OWNER", "reason": "过户"})
    assert r.status_code == 409 and r.json()["code"] == "household.inactive"
    r = await client.post(f"{API}/households/{world.residents[0].household_id}/reactivate", headers=world.staff,
                          json={"reason": "误操作"})
    assert r.status_code == 409 and r.json()["code"] == "household.active"

    # merged into: another active household of the same community
    other = world.residents[2].household_id
    for target in (other, spare, "x" * 32):  # itself, a deactivated one, none
        r = await _deactivate(client, world, other, merged_into_household_id=target)
        assert r.status_code == 422 and r.json()["code"] == "household.merge_target", (target, r.text)
    r = await client.post(f"{API}/households/{other}/deactivate", headers=world.residents[2].headers,
                          json={"reason": "我家搬走了"})
    assert r.status_code == 403
    r = await client.post(f"{API}/households/{other}/deactivate", headers=world.staff, json={"reason": ""})
    assert r.status_code == 422

    # the import does not bring it back: a row on its room is refused, naming it
    r = await import_csv(client, world.staff, world.community_id,
                         f"building,unit,room,area_m2,owner_key\n{row['building']},{row['unit']},{row['room']},60.00,\n")
    assert r.status_code == 422 and r.json()["code"] == "import.invalid_rows"
    [err] = r.json()["errors"]
    assert err["loc"] == ["file", 2, "room"] and spare in err["msg"]
    r = await client.post(f"{API}/communities/{world.community_id}/households", headers=world.staff, json={
        "building": row["building"], "unit": row["unit"], "room": row["room"], "area_m2": "60.00", "reason": "补登"})
    assert r.status_code == 422 and spare in r.json()["errors"][0]["msg"]
    every = await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                             params={"include_inactive": "true", "limit": 50})
    assert len(every.json()["items"]) == 12  # nothing added


async def test_reactivate_undoes_a_mistake(app, client, world, clock) -> None:
    pid, plan, m = await setup_motion(client, world, clock.now())
    spare = sorted(world.codes)[0]
    assert (await _deactivate(client, world, spare)).status_code == 200
    r = await client.post(f"{API}/households/{spare}/reactivate", headers=world.staff, json={"reason": "误停用"})
    assert r.status_code == 200, r.text
    h = r.json()["household"]
    assert (h["active"], h["deactivated_at"], h["deactivation_reason"], h["merged_into_household_id"]) == (
        True, None, None, None)
    # the motion open before both changes kept the roll it froze at the first one
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [m["id"]]
    assert (await _roll(client, world, m["id"]))["totals"]["households"] == 12
    assert len(await all_households(client, world.staff, world.community_id)) == 12
    later = await make_motion(client, world, plan["id"], clock.now(), title="第二项表决")
    assert (await _roll(client, world, later["id"]))["totals"]["households"] == 12
    # the old code stays revoked; a new one works
    assert (await activate(client, world.codes[spare], "业主", phone="13900000041")).status_code == 400
    codes = await issue_codes(client, world.staff, world.community_id, [spare])
    assert (await activate(client, codes[spare], "业主", phone="13900000041")).status_code == 200

    [entry] = await _audit(app, "household.reactivated", spare)
    assert entry.data["reason"] == "误停用" and entry.data["deactivation_reason"] == "两户打通合并"
    assert entry.data["deactivated_at"] and entry.data["merged_into"] is None
    again = await client.post(f"{API}/households/{spare}/reactivate", headers=world.staff, json={"reason": "再次"})
    assert again.status_code == 409 and again.json()["code"] == "household.active"
