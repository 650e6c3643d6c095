"""Motions: scope, rule from the profile (frozen when the motion opens), window and status by the server clock."""

from __future__ import annotations

from datetime import timedelta

from tests.voting.helpers import (
    API,
    make_motion,
    make_plan,
    make_project,
    relogin,
    setup_motion,
    unit_ids,
    vote,
)


async def test_motion_defaults_and_status(client, world, clock) -> None:
    now = clock.now()
    pid, plan, m = await setup_motion(client, world, now)
    assert m["status"] == "open" and m["options"] == ["agree", "disagree", "abstain"]
    assert m["matter"] == "renovation_plan" and m["required"] is True and m["plan_version"] == 1
    assert m["scope"] == {"kind": "community", "building_id": None, "unit_id": None, "building": None, "unit": None}
    assert m["households_in_scope"] == 12
    # the Laoshan profile's rule for a renovation plan: Civil Code art. 278 "major" matters
    assert m["rule"]["kind"] == "civil_code_major" and m["rule"]["threshold"] == "3/4"
    assert m["rule"]["participation"] == "2/3" and m["rule"]["inclusive"] is True
    assert m["rule_source"] == "profile" and m["rule_frozen"] is True and m["profile_version"] == 1
    assert "三分之二以上" in m["rule"]["description_zh"]
    later = await make_motion(client, world, plan["id"], now, title="维修资金使用", matter="maintenance_fund_use",
                              opens_at=(now + timedelta(days=1)).isoformat(),
                              closes_at=(now + timedelta(days=3)).isoformat(), required=False,
                              rule={"kind": "majority_of_participants"})
    assert later["status"] == "scheduled" and later["rule_frozen"] is False
    assert later["rule"]["kind"] == "majority_of_participants" and later["rule_source"] == "explicit"
    r = await client.get(f"{API}/projects/{pid}/motions", headers=world.residents[0].headers)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["items"]] == [m["id"], later["id"]]
    mine = r.json()["items"][0]["my_households"]
    assert mine == [{"household_id": world.residents[0].household_id, "relation": "owner", "may_vote": True,
                     "voted": False, "choice": None, "channel": None, "cast_at": None}]
    clock.advance(days=1, seconds=1)
    await relogin(client, world)
    m2 = (await client.get(f"{API}/motions/{later['id']}", headers=world.staff)).json()
    assert m2["status"] == "open"
    clock.advance(days=2)
    await relogin(client, world)
    m2 = (await client.get(f"{API}/motions/{later['id']}", headers=world.staff)).json()
    assert m2["status"] == "closed" and m2["closed_at"] is None


async def test_motion_validation(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    url = f"{API}/plans/{plan['id']}/motions"
    base = {"title": "表决", "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()}
    cases = [
        ({"closes_at": now.isoformat()}, "motion.invalid_window"),
        ({"opens_at": (now - timedelta(days=3)).isoformat(), "closes_at": (now - timedelta(days=1)).isoformat()},
         "motion.invalid_window"),
        ({"closes_at": (now + timedelta(days=400)).isoformat()}, "motion.invalid_window"),
        ({"opens_at": "9999-12-30T23:00:00-02:00", "closes_at": "9999-12-31T23:00:00-02:00"},
         "motion.invalid_window"),
        ({"rule": {"kind": "dictatorship"}}, "motion.invalid_rule"),
        ({"rule": {"kind": "civil_code_major", "threshold": "5/4"}}, "motion.invalid_rule"),
        ({"scope": "unit", "unit_id": "nope"}, "motion.invalid"),
        ({"scope": "building"}, "motion.invalid"),
        ({"plan_item_id": "x" * 32}, "motion.invalid"),
        ({"matter": "coup"}, "validation.failed"),
        ({"opens_at": "2026-11-23T10:00:00"}, "validation.failed"),  # naive datetimes are refused
        ({"title": "x" * 201}, "validation.failed"),
    ]
    for patch, code in cases:
        r = await client.post(url, headers=world.staff, json=base | patch)
        assert r.status_code == 422 and r.json()["code"] == code, (patch, r.text)
    r = await client.post(url, headers=world.residents[0].headers, json=base)
    assert r.status_code == 403
    # a tablet retrying the creation gets the first motion, not a second one
    k = world.staff | {"Idempotency-Key": "create-1"}
    r1, r2 = await client.post(url, headers=k, json=base), await client.post(url, headers=k, json=base)
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    r = await client.get(f"{API}/projects/{pid}/motions", headers=world.staff)
    assert len(r.json()["items"]) == 1
    assert (await client.post(f"{API}/plans/nope/motions", headers=world.staff, json=base)).status_code == 404


async def test_motion_on_plan_item_takes_its_scope(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    _, unit_id = (await unit_ids(client, world.residents[0].headers))[world.residents[0].household_id]
    plan = await make_plan(client, world, pid, items=[
        {"title": "1-1单元加装电梯", "scope": "unit", "unit_id": unit_id, "budget_fen": 100}], funding=[])
    m = await make_motion(client, world, plan["id"], now, title="加装电梯", matter="elevator",
                          plan_item_id=plan["items"][0]["id"])
    assert m["scope"]["kind"] == "unit" and m["scope"]["unit_id"] == unit_id
    assert m["scope"]["building"] == "1" and m["scope"]["unit"] == "1"
    assert m["households_in_scope"] == 3 and m["plan_item_id"] == plan["items"][0]["id"]
    # by names, too
    m2 = await make_motion(client, world, plan["id"], now, scope="building", building="2")
    assert m2["households_in_scope"] == 6


async def test_profile_change_does_not_touch_an_open_motion(client, world, clock) -> None:
    now = clock.now()
    pid, plan, opened = await setup_motion(client, world, now)
    scheduled = await make_motion(client, world, plan["id"], now, title="第二项",
                                  opens_at=(now + timedelta(hours=1)).isoformat(),
                                  closes_at=(now + timedelta(days=2)).isoformat())
    clock.advance(seconds=5)
    prof = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()["profile"]
    prof["matter_rules"]["renovation_plan"] = {"kind": "majority_of_participants"}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=prof)
    assert r.status_code == 200 and r.json()["profile_version"] == 2
    # the open motion keeps the rule it opened with
    m = (await client.get(f"{API}/motions/{opened['id']}", headers=world.staff)).json()
    assert m["rule"]["kind"] == "civil_code_major" and m["profile_version"] == 1
    t = (await client.get(f"{API}/motions/{opened['id']}/tally", headers=world.staff)).json()
    assert t["rule"]["kind"] == "civil_code_major" and t["profile_version"] == 1
    # the scheduled one has not opened yet: it will decide by the profile in force when it opens
    s = (await client.get(f"{API}/motions/{scheduled['id']}", headers=world.staff)).json()
    assert s["rule"]["kind"] == "majority_of_participants" and s["rule_frozen"] is False
    clock.advance(hours=1)
    await relogin(client, world)
    s = (await client.get(f"{API}/motions/{scheduled['id']}", headers=world.staff)).json()
    assert s["rule_frozen"] is True and s["profile_version"] == 2
    # a later change (version 3) after it opened no longer applies to it
    clock.advance(seconds=5)
    prof["matter_rules"]["renovation_plan"] = {"kind": "civil_code_ordinary"}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=prof)
    assert r.json()["profile_version"] == 3
    assert (await vote(client, world.residents[0].headers, scheduled["id"], "agree")).status_code == 200
    s = (await client.get(f"{API}/motions/{scheduled['id']}", headers=world.staff)).json()
    assert s["rule"]["kind"] == "majority_of_participants" and s["profile_version"] == 2
    r = await client.post(f"{API}/motions/{scheduled['id']}/close", headers=world.staff)
    assert r.status_code == 200
    assert r.json()["tally"]["rule"]["kind"] == "majority_of_participants"
    assert r.json()["tally"]["outcome"] == "passed"  # 1 of 1 participating household agreed


async def test_close(client, world, clock) -> None:
    now = clock.now()
    pid, plan, m = await setup_motion(client, world, now)
    scheduled = await make_motion(client, world, plan["id"], now, opens_at=(now + timedelta(days=1)).isoformat(),
                                  closes_at=(now + timedelta(days=2)).isoformat())
    r = await client.post(f"{API}/motions/{scheduled['id']}/close", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "motion.not_open"
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.residents[0].headers)).status_code == 403
    clock.advance(minutes=1)
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    closed = r.json()["motion"]
    assert closed["status"] == "closed" and closed["closed_at"] == closed["closes_at"]
    assert closed["closes_at"].startswith("2026-11-23T02:01:00")
    assert r.json()["tally"]["final"] is True and r.json()["tally"]["outcome"] == "failed"
    again = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert again.status_code == 200 and again.json()["tally"] == r.json()["tally"]
