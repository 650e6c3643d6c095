"""Reminder opt-outs by household members, and notice reads (once per household) with staff's view."""

from __future__ import annotations

from datetime import date

from tests.factories import World
from tests.projects.helpers import make_project, other_community
from tests.turnout.helpers import bind_wechat


async def test_member_opts_out_and_back_in(client, wechat, world: World) -> None:
    h = world.households[5]["id"]
    member = await bind_wechat(client, wechat, world, h, openid="openid-5", name="王五")
    url = f"/api/v1/households/{h}/reminders"
    r = await client.get(url, headers=member.headers)
    assert r.status_code == 200, r.text
    assert r.json()["opt_out"] is False and r.json()["receives_reminders"] is True
    assert r.json()["members"] == [{"name": "王五", "relation": "owner", "wechat_bound": True, "opt_out": False,
                                    "is_me": True}]
    r = await client.put(url, headers=member.headers, json={"opt_out": True})
    assert r.status_code == 200, r.text
    assert r.json()["opt_out"] is True and r.json()["receives_reminders"] is False
    r = await client.put(url, headers=member.headers, json={"opt_out": True})  # idempotent
    assert r.status_code == 200 and r.json()["opt_out"] is True
    r = await client.put(url, headers=member.headers, json={"opt_out": False})
    assert r.json()["opt_out"] is False and r.json()["receives_reminders"] is True


async def test_a_resident_without_wechat_receives_nothing(client, world: World) -> None:
    res = world.residents[0]
    r = await client.get(f"/api/v1/households/{res.household_id}/reminders", headers=res.headers)
    assert r.status_code == 200
    assert r.json()["receives_reminders"] is False and r.json()["members"][0]["wechat_bound"] is False


async def test_only_members_set_reminders(client, world: World) -> None:
    h = world.residents[0].household_id
    url = f"/api/v1/households/{h}/reminders"
    # a resident of another household of the same community
    r = await client.put(url, headers=world.residents[1].headers, json={"opt_out": True})
    assert r.status_code == 403 and r.json()["code"] == "reminder.not_member"
    # staff may not opt a household out on its behalf
    r = await client.put(url, headers=world.staff, json={"opt_out": True})
    assert r.status_code == 403
    # someone with nothing to do with the community: 404
    _, _, stranger = await other_community(client, world)
    assert (await client.put(url, headers=stranger, json={"opt_out": True})).status_code == 404
    assert (await client.get(url, headers=stranger)).status_code == 404
    # unknown household, bad bodies, no token
    r = await client.put("/api/v1/households/nope/reminders", headers=world.residents[0].headers,
                         json={"opt_out": True})
    assert r.status_code == 404
    for body in ({}, {"opt_out": "maybe"}, {"opt_out": True, "extra": 1}):
        r = await client.put(url, headers=world.residents[0].headers, json=body)
        assert r.status_code == 422, body
    assert (await client.put(url, json={"opt_out": True})).status_code == 401


async def _notice(client, world: World) -> str:
    p = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff, json={
        "kind": "plan", "title": "改造方案公示", "body": "方案内容", "start_date": date(2026, 11, 24).isoformat()})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_notice_reads_are_counted_once_per_household(client, world: World) -> None:
    nid = await _notice(client, world)
    reads = f"/api/v1/notices/{nid}/reads"
    r = await client.get(reads, headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.json()["households"] == {"answered": 0, "total": 12, "share": "0/12", "percent": "0.0%"}

    first, second = world.residents[0], world.residents[3]
    r = await client.post(f"/api/v1/notices/{nid}/read", headers=first.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"notice_id": nid, "households": [first.household_id], "newly_recorded": 1}
    r = await client.post(f"/api/v1/notices/{nid}/read", headers=first.headers)  # opened again
    assert r.status_code == 200 and r.json()["newly_recorded"] == 0
    r = await client.post(f"/api/v1/notices/{nid}/read", headers=second.headers)
    assert r.json()["newly_recorded"] == 1
    # staff opening it records nothing
    r = await client.post(f"/api/v1/notices/{nid}/read", headers=world.staff)
    assert r.status_code == 200 and r.json()["households"] == [] and r.json()["newly_recorded"] == 0

    body = (await client.get(reads, headers=world.staff)).json()
    assert body["households"]["share"] == "2/12" and body["households"]["percent"] == "16.7%"
    by_building = {b["building"]: b for b in body["buildings"]}
    # residents 1 and 4 live in building 1 (unit 1 room 101, unit 2 room 101)
    assert by_building["1"]["households"]["share"] == "2/6" and by_building["2"]["households"]["share"] == "0/6"
    units = {u["unit"]: u["households"]["share"] for u in by_building["1"]["units"]}
    assert units == {"1": "1/3", "2": "1/3"}


async def test_notice_reads_access(client, world: World) -> None:
    nid = await _notice(client, world)
    r = await client.get(f"/api/v1/notices/{nid}/reads", headers=world.residents[0].headers)
    assert r.status_code == 403
    _, other_staff, stranger = await other_community(client, world)
    assert (await client.post(f"/api/v1/notices/{nid}/read", headers=stranger)).status_code == 404
    assert (await client.get(f"/api/v1/notices/{nid}/reads", headers=other_staff)).status_code == 404
    assert (await client.post("/api/v1/notices/nope/read", headers=world.residents[0].headers)).status_code == 404
    assert (await client.post(f"/api/v1/notices/{nid}/read")).status_code == 401
