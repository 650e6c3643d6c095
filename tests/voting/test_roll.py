"""The electoral roll of a motion: frozen at opening, the only source of who votes and of every number;
amendments by staff; the full count at close."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

from sqlmodel import select

from app.register.models import Household
from tests.factories import import_csv
from tests.projects.helpers import other_community
from tests.voting.helpers import API, jpeg, make_motion, make_plan, make_project, setup_motion, tally, vote

ESC = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def recompute_hash(entries: list[dict]) -> str:
    """The README's rule, written out independently of the app."""
    def text(v: str) -> str:
        return "".join(ESC.get(ch, ch) for ch in v)

    lines = [f"{text(e['household_id'])}\t{text(e['building'])}\t{text(e['unit'])}\t{text(e['room'])}\t"
             f"{e['area_centi']}\t{text(e['owner_group'])}\n" for e in sorted(entries, key=lambda e: e["household_id"])]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


async def roll(client, headers: dict, motion_id: str, **params) -> dict:
    r = await client.get(f"{API}/motions/{motion_id}/roll", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def paper(client, world, motion_id: str, household_id: str, choice: str, n: int = 0):
    return await client.post(f"{API}/motions/{motion_id}/paper-ballots", headers=world.staff,
                             data={"household_id": household_id, "choice": choice},
                             files={"photo": ("s.jpg", jpeg((n % 250, 30, 30)), "image/jpeg")})


async def amend(client, world, motion_id: str, household_id: str, action: str, reason: str = "核对产权登记"):
    return await client.post(f"{API}/motions/{motion_id}/roll/amendments", headers=world.staff,
                             json={"household_id": household_id, "action": action, "reason": reason})


async def test_roll_is_frozen_hashed_and_shown_by_role(client, world, clock, app) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    r = await roll(client, world.staff, m["id"], limit=200)
    entries = r["entries"]
    assert len(entries) == 12 and r["next_cursor"] is None and r["amendment_log"] == []
    assert r["totals"] == {"households": 12, "owners": 10, "area_centi": sum(e["area_centi"] for e in entries),
                           "area_m2": r["totals"]["area_m2"]}
    assert r["roll_hash"] == r["frozen_hash"] == recompute_hash(entries)
    by_place = {(e["building"], e["unit"], e["room"]): e for e in entries}
    a_groups = {by_place[p]["owner_group"] for p in [("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101")]}
    assert len(a_groups) == 1 and len({e["owner_group"] for e in entries}) == 10
    async with app.state.db.read_session() as s:
        stored = set((await s.exec(select(Household.owner_key))).all())
    assert not stored & {e["owner_group"] for e in entries}
    assert not any(k.startswith(e["owner_group"]) for k in stored for e in entries)
    # a page of entries for staff
    first = await roll(client, world.staff, m["id"], limit=5)
    assert len(first["entries"]) == 5 and first["next_cursor"]
    # a resident in scope: totals, hash and their own entries only
    res = world.residents[0]
    mine = await roll(client, res.headers, m["id"])
    assert [e["household_id"] for e in mine["entries"]] == [res.household_id]
    assert mine["roll_hash"] == r["roll_hash"] and mine["totals"] == r["totals"] and mine["amendment_log"] is None
    assert (await client.get(f"{API}/motions/{m['id']}/roll", headers=res.headers,
                             params={"format": "csv"})).status_code == 403
    # another community: not revealed
    _, other_staff, other_resident = await other_community(client, world)
    assert (await client.get(f"{API}/motions/{m['id']}/roll", headers=other_staff)).status_code == 404
    assert (await client.get(f"{API}/motions/{m['id']}/roll", headers=other_resident)).status_code == 404
    # CSV / XLSX for staff: every entry, through the shared writer
    c = await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff, params={"format": "csv"})
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert len(table) == 13 and {row[0] for row in table[1:]} == {e["household_id"] for e in entries}
    x = await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff, params={"format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"


async def test_scheduled_motion_freezes_at_first_touch_and_imports_after_opening_do_not_count(
        client, world, clock) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    now = clock.now()
    m = await make_motion(client, world, plan["id"], now, opens_at=(now + timedelta(minutes=5)).isoformat())
    r = await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "roll.not_open"
    # before opening: the import is part of the register the roll will be frozen from
    r = await import_csv(client, world.staff, world.community_id, "building,unit,room,area_m2,owner_key\n1,1,301,50.00,\n")
    assert r.status_code == 200 and r.json()["open_rolls_unchanged"] == []
    clock.advance(minutes=6)
    # after opening, before anyone touched the motion: the import freezes the roll first
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n1,1,302,500.00,OWNER-A\n")
    assert r.status_code == 200, r.text
    assert r.json()["open_rolls_unchanged"] == [{"kind": "motion", "id": m["id"], "title": m["title"]}]
    got = await roll(client, world.staff, m["id"], limit=200)
    rooms = {(e["building"], e["unit"], e["room"]) for e in got["entries"]}
    assert ("1", "1", "301") in rooms and ("1", "1", "302") not in rooms
    assert got["totals"]["households"] == 13 and got["totals"]["owners"] == 11
    motion = (await client.get(f"{API}/motions/{m['id']}", headers=world.staff)).json()
    assert motion["households_in_scope"] == 13


async def test_import_never_moves_an_open_motions_numbers(client, world, clock) -> None:
    """The issue's case: a 500 m² household with an existing owner key imported while OWNER-A's ballot
    stands changed disagree_area; now the roll decides and nothing moves."""
    _, _, m = await setup_motion(client, world, clock.now())
    a = world.household("1", "1", "101")
    assert (await paper(client, world, m["id"], a["id"], "disagree")).status_code == 201
    before = (await tally(client, world.staff, m["id"])).json()["counts"]
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,901,500.00,OWNER-A\n")
    assert r.status_code == 200, r.text
    after = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert after == before and after["disagree_households"] == 3
    closed = (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).json()["tally"]["counts"]
    assert closed == after


async def test_amendments_move_the_running_tally_and_are_audited(client, world, clock, app) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    frozen = await roll(client, world.staff, m["id"], limit=200)
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,901,40.00,OWNER-A\n")
    assert r.status_code == 200
    hh = (await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                           params={"limit": 200})).json()["items"]
    new_id = next(h["id"] for h in hh if h["room"] == "901")
    a = world.household("1", "1", "101")
    assert (await paper(client, world, m["id"], a["id"], "agree")).status_code == 201
    assert (await paper(client, world, m["id"], new_id, "agree")).status_code == 404  # not on the roll
    # add: the new household joins OWNER-A's group; A's agree now covers it
    r = await amend(client, world, m["id"], new_id, "add", "漏登房屋，经产权核对补入")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["totals"]["households"] == 13 and body["totals"]["owners"] == 10
    assert body["amendment"]["before"] is None and body["amendment"]["after"]["room"] == "901"
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert (t["agree_owners"], t["agree_households"], t["total_households"]) == (1, 4, 13)
    assert (await amend(client, world, m["id"], new_id, "add")).json()["code"] == "roll.already_listed"
    # remove a household of A: its area leaves the agree bucket and the denominators
    b = world.household("2", "1", "101")
    r = await amend(client, world, m["id"], b["id"], "remove", "房屋已合并")
    assert r.status_code == 201, r.text
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert (t["agree_owners"], t["agree_households"], t["total_households"]) == (1, 3, 12)
    assert (await paper(client, world, m["id"], b["id"], "agree")).status_code == 404
    r = await amend(client, world, m["id"], b["id"], "remove")
    assert r.status_code == 422 and r.json()["code"] == "roll.not_listed"
    # correct: re-read from the register (unchanged here), recorded all the same
    r = await amend(client, world, m["id"], a["id"], "correct", "核对面积")
    assert r.status_code == 201 and r.json()["amendment"]["before"] == r.json()["amendment"]["after"]
    # outside the scope: another community's household, or an unknown id
    cid, other_staff, _ = await other_community(client, world)
    other_hid = (await client.get(f"{API}/communities/{cid}/households", headers=other_staff)).json()["items"][0]["id"]
    r = await amend(client, world, m["id"], other_hid, "add")
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"
    assert (await amend(client, world, m["id"], "x" * 32, "correct")).status_code == 422
    now = await roll(client, world.staff, m["id"], limit=200)
    assert now["frozen_hash"] == frozen["roll_hash"] and now["roll_hash"] != now["frozen_hash"]
    assert now["roll_hash"] == recompute_hash(now["entries"]) and now["amendments"] == 3
    assert [x["action"] for x in now["amendment_log"]] == ["add", "remove", "correct"]
    assert now["amendment_log"][-1]["roll_hash"] == now["roll_hash"]
    # residents may not amend
    res = world.residents[0]
    r = await client.post(f"{API}/motions/{m['id']}/roll/amendments", headers=res.headers,
                          json={"household_id": a["id"], "action": "correct", "reason": "x"})
    assert r.status_code == 403
    # audited in the community's chain
    from app.core.audit import AuditEntry

    async with app.state.db.read_session() as s:
        actions = (await s.exec(select(AuditEntry.action).where(AuditEntry.chain == world.community_id))).all()
    assert actions.count("motion.roll_amended") == 3 and "motion.roll_frozen" in actions
    # after close: 409 roll.closed; the stored result is the roll's
    closed = (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).json()["tally"]["counts"]
    assert (closed["agree_households"], closed["total_households"]) == (3, 12)
    r = await amend(client, world, m["id"], b["id"], "add")
    assert r.status_code == 409 and r.json()["code"] == "roll.closed"


async def test_building_scope_amendment_outside_the_building_is_refused(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now(), scope="building", building="1")
    assert (await roll(client, world.staff, m["id"]))["totals"]["households"] == 6
    outside = world.household("2", "1", "102")
    r = await amend(client, world, m["id"], outside["id"], "add")
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"


async def test_residents_outside_the_scope_see_no_roll_and_cannot_vote(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now(), scope="building", building="2")
    building_of = {h["id"]: h["building"] for h in world.households}
    res_out = next(r for r in world.residents if building_of[r.household_id] == "1")
    r = await client.get(f"{API}/motions/{m['id']}/roll", headers=res_out.headers)
    assert r.status_code == 403 and r.json()["code"] == "roll.not_in_scope"
    assert (await vote(client, res_out.headers, m["id"], "agree")).status_code == 404
