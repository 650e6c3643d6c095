"""The electoral roll of a questionnaire whose rule counts households: frozen at opening, the only source of the
results' denominators, owner grouping and numerators; amendments by staff; who sees what."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

from sqlmodel import select

from app.core.models import AuditEntry
from app.register.models import Household
from app.surveys.models import Questionnaire, QuestionnaireRoll
from tests.factories import import_csv
from tests.projects.helpers import other_community
from tests.surveys.helpers import answer, make_project, make_questionnaire, paper
from tests.voting.helpers import relogin
from tests.voting.test_roll import recompute_hash

API = "/api/v1"


def yes(q: dict, value: bool = True) -> list[dict]:
    return [{"question_id": q["questions"][0]["id"], "value": value}]


async def roll(client, headers: dict, qid: str, **params) -> dict:
    r = await client.get(f"{API}/questionnaires/{qid}/roll", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def amend(client, world, qid: str, household_id: str, action: str, reason: str = "核对产权登记"):
    return await client.post(f"{API}/questionnaires/{qid}/roll/amendments", headers=world.staff,
                             json={"household_id": household_id, "action": action, "reason": reason})


async def results(client, world, qid: str) -> dict:
    r = await client.get(f"{API}/questionnaires/{qid}/results", headers=world.staff)
    assert r.status_code == 200, r.text
    return r.json()


async def household_id(client, world, room: str) -> str:
    hh = (await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                           params={"limit": 200})).json()["items"]
    return next(h["id"] for h in hh if h["room"] == room)


async def test_roll_is_frozen_at_opening_hashed_and_shown_by_role(client, world, app) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)  # willingness, opens at once: the open call freezes it
    async with app.state.db.read_session() as s:
        stored = (await s.exec(select(Questionnaire).where(Questionnaire.id == q["id"]))).one()
        keys = {h.id: h.owner_key for h in (await s.exec(select(Household))).all()}
    assert stored.counts_households is True and stored.roll_frozen_at is not None
    r = await roll(client, world.staff, q["id"], limit=200)
    entries = r["entries"]
    assert len(entries) == 12 and r["next_cursor"] is None and r["amendment_log"] == [] and r["amendments"] == 0
    assert r["totals"] == {"households": 12, "owners": 10, "area_centi": sum(e["area_centi"] for e in entries),
                           "area_m2": "951.87"}
    assert r["roll_hash"] == r["frozen_hash"] == recompute_hash(entries)
    # the owner group is the documented digest of the stored owner key, per questionnaire
    for e in entries:
        expected = hashlib.sha256(f"roll-owner|{q['id']}|{keys[e['household_id']]}".encode()).hexdigest()[:32]
        assert e["owner_group"] == expected
    a_groups = {e["owner_group"] for e in entries if e["household_id"] in {
        world.household("1", "1", "101")["id"], world.household("1", "2", "101")["id"],
        world.household("2", "1", "101")["id"]}}
    assert len(a_groups) == 1 and not a_groups & set(keys.values())
    # another questionnaire: another group for the same owner
    q2 = await make_questionnaire(client, world, pid)
    other = await roll(client, world.staff, q2["id"], limit=200)
    assert not {e["owner_group"] for e in other["entries"]} & {e["owner_group"] for e in entries}
    # staff pages
    first = await roll(client, world.staff, q["id"], limit=5)
    assert len(first["entries"]) == 5 and first["next_cursor"]
    rest = await roll(client, world.staff, q["id"], limit=200, cursor=first["next_cursor"])
    assert [e["household_id"] for e in first["entries"] + rest["entries"]] == [e["household_id"] for e in entries]
    # a resident in scope: totals, hash and their own entry only
    res = world.residents[0]
    mine = await roll(client, res.headers, q["id"])
    assert [e["household_id"] for e in mine["entries"]] == [res.household_id]
    assert mine["roll_hash"] == r["roll_hash"] and mine["totals"] == r["totals"] and mine["amendment_log"] is None
    assert (await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=res.headers,
                             params={"format": "csv"})).status_code == 403
    # another community: not revealed
    _, other_staff, other_resident = await other_community(client, world)
    for headers in (other_staff, other_resident):
        assert (await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=headers)).status_code == 404
    # CSV and XLSX for staff through the shared writer
    c = await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.staff, params={"format": "csv"})
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    assert c.headers["content-disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert table[0][0] == "房屋ID" and len(table) == 13
    assert {row[0] for row in table[1:]} == {e["household_id"] for e in entries}
    assert {row[6] for row in table[1:]} == {e["owner_group"] for e in entries}
    x = await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.staff, params={"format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"
    # audited
    async with app.state.db.read_session() as s:
        frozen = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == q["id"],
                                                        AuditEntry.action == "questionnaire.roll_frozen"))).all()
    assert len(frozen) == 1 and frozen[0].data["roll_hash"] == r["roll_hash"] and frozen[0].data["households"] == 12


async def test_a_questionnaire_no_rule_counts_by_households_keeps_no_roll(client, world, clock) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, kind="contribution",
                                 questions=[{"type": "amount_fen", "text": "您愿意出资多少？"}])
    r = await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "roll.none"
    r = await amend(client, world, q["id"], world.household("1", "1", "101")["id"], "correct")
    assert r.status_code == 409 and r.json()["code"] == "roll.none"
    # it counts the register as it is: a household imported while open is in its denominators
    assert (await import_csv(client, world.staff, world.community_id,
                             "building,unit,room,area_m2,owner_key\n1,1,301,50.00,\n")).json()["open_rolls_unchanged"] == []
    assert (await results(client, world, q["id"]))["households_in_scope"] == 13
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    r = await client.get(f"{API}/questionnaires/{q['id']}/evidence.zip", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "roll.none"


async def test_register_changes_after_opening_never_move_the_results(client, world, clock, app) -> None:
    pid = await make_project(client, world)
    now = clock.now()
    q = await make_questionnaire(client, world, pid, opens_at=(now + timedelta(minutes=5)).isoformat())
    r = await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "roll.not_open"
    # before opening: part of the register the roll will be frozen from
    r = await import_csv(client, world.staff, world.community_id, "building,unit,room,area_m2,owner_key\n1,1,301,50.00,\n")
    assert r.status_code == 200 and r.json()["open_rolls_unchanged"] == []
    clock.advance(minutes=6)
    await relogin(client, world)
    # opened, nobody touched it: the import freezes its roll first and reports it
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n1,1,302,500.00,OWNER-A\n")
    assert r.status_code == 200, r.text
    assert r.json()["open_rolls_unchanged"] == [{"kind": "questionnaire", "id": q["id"], "title": q["title"]}]
    got = await roll(client, world.staff, q["id"], limit=200)
    rooms = {(e["building"], e["unit"], e["room"]) for e in got["entries"]}
    assert ("1", "1", "301") in rooms and ("1", "1", "302") not in rooms
    assert (got["totals"]["households"], got["totals"]["owners"]) == (13, 11)
    # the new household of OWNER-A may not answer and does not join A's group
    new = await household_id(client, world, "302")
    r = await paper(client, world, q["id"], new, yes(q))
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
    assert (await answer(client, world.residents[0].headers, q["id"], yes(q))).status_code == 200
    assert (await answer(client, world.residents[1].headers, q["id"], yes(q, False))).status_code == 200
    res = await results(client, world, q["id"])
    assert (res["households_in_scope"], res["owners_in_scope"], res["area_in_scope_m2"]) == (13, 11, "1001.87")
    counts = res["willingness"]["tally"]["counts"]
    assert (counts["agree_owners"], counts["agree_households"], counts["agree_area"]) == (1, 3, 24000)
    assert (counts["disagree_households"], counts["total_households"], counts["total_area"]) == (1, 13, 100187)
    assert res["participation"]["households"] == {"count": 2, "base": 13, "share": "2/13", "percent": "15.38"}
    # a register change while open changes nothing of it
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,909,300.00,OWNER-A\n")
    assert r.json()["open_rolls_unchanged"] == [{"kind": "questionnaire", "id": q["id"], "title": q["title"]}]
    assert (await results(client, world, q["id"]))["willingness"] == res["willingness"]
    shown = (await client.get(f"{API}/questionnaires/{q['id']}", headers=world.staff)).json()
    assert shown["households_in_scope"] == 13
    # closed: the gate reads the same roll
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    project = (await client.get(f"{API}/projects/{pid}", headers=world.staff)).json()
    gate = next(g for g in project["next_gates"] if g["name"] == "survey_passed")
    assert gate["figures"]["total_households"] == 13 and gate["figures"]["agree_households"] == 3
    async with app.state.db.read_session() as s:
        closed = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == q["id"],
                                                        AuditEntry.action == "questionnaire.closed"))).one()
    assert closed.data["roll_hash"] == got["roll_hash"]


async def test_amendments_move_the_results_and_are_audited(client, world, clock, app) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    frozen = await roll(client, world.staff, q["id"], limit=200)
    assert (await import_csv(client, world.staff, world.community_id,
                             "building,unit,room,area_m2,owner_key\n2,2,901,40.00,OWNER-A\n")).status_code == 200
    new = await household_id(client, world, "901")
    a, b = world.residents[0], world.residents[1]
    assert (await answer(client, a.headers, q["id"], yes(q))).status_code == 200
    assert (await answer(client, b.headers, q["id"], yes(q, False))).status_code == 200
    assert (await paper(client, world, q["id"], new, yes(q))).status_code == 404  # not on the roll
    # add: the new household joins OWNER-A's group, A's yes now covers it
    r = await amend(client, world, q["id"], new, "add", "漏登房屋，经产权核对补入")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["totals"]["households"] == 13 and body["totals"]["owners"] == 10
    assert body["amendment"]["before"] is None and body["amendment"]["after"]["room"] == "901"
    c = (await results(client, world, q["id"]))["willingness"]["tally"]["counts"]
    assert (c["agree_owners"], c["agree_households"], c["agree_area"], c["total_households"]) == (1, 4, 28000, 13)
    r = await amend(client, world, q["id"], new, "add")
    assert r.status_code == 409 and r.json()["code"] == "roll.already_listed"
    # remove B's household: B's answer no longer counts anywhere
    r = await amend(client, world, q["id"], b.household_id, "remove", "房屋已合并")
    assert r.status_code == 201, r.text
    res = await results(client, world, q["id"])
    c = res["willingness"]["tally"]["counts"]
    assert (c["disagree_households"], c["total_households"]) == (0, 12)
    assert res["participation"]["households"]["count"] == 1
    assert res["questions"][0]["options"][1]["count"] == 0  # the plain count of "no" too
    r = await answer(client, b.headers, q["id"], yes(q))
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
    r = await amend(client, world, q["id"], b.household_id, "remove")
    assert r.status_code == 422 and r.json()["code"] == "roll.not_listed"
    # correct: re-read from the register (unchanged here), recorded all the same
    r = await amend(client, world, q["id"], a.household_id, "correct", "核对面积")
    assert r.status_code == 201 and r.json()["amendment"]["before"] == r.json()["amendment"]["after"]
    # outside the scope: another community's household, an unknown id
    cid, other_staff, _ = await other_community(client, world)
    other_hid = (await client.get(f"{API}/communities/{cid}/households", headers=other_staff)).json()["items"][0]["id"]
    r = await amend(client, world, q["id"], other_hid, "add")
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"
    assert (await amend(client, world, q["id"], "x" * 32, "correct")).json()["code"] == "roll.out_of_scope"
    now = await roll(client, world.staff, q["id"], limit=200)
    assert now["frozen_hash"] == frozen["roll_hash"] != now["roll_hash"]
    assert now["roll_hash"] == recompute_hash(now["entries"]) and now["amendments"] == 3
    assert [x["action"] for x in now["amendment_log"]] == ["add", "remove", "correct"]
    assert now["amendment_log"][-1]["roll_hash"] == now["roll_hash"]
    # residents may not amend
    r = await client.post(f"{API}/questionnaires/{q['id']}/roll/amendments", headers=a.headers,
                          json={"household_id": a.household_id, "action": "correct", "reason": "x"})
    assert r.status_code == 403
    async with app.state.db.read_session() as s:
        entries = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == q["id"],
                                                         AuditEntry.action == "questionnaire.roll_amended"))).all()
    assert [e.data["action"] for e in entries] == ["add", "remove", "correct"]
    assert entries[0].actor_id == world.staff_user_id and entries[1].data["reason"] == "房屋已合并"
    # after close: 409 roll.closed; the results stay the roll's
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    r = await amend(client, world, q["id"], b.household_id, "add")
    assert r.status_code == 409 and r.json()["code"] == "roll.closed"
    assert (await results(client, world, q["id"]))["households_in_scope"] == 12


async def test_building_scope_and_residents_outside_it(client, world) -> None:
    pid = await make_project(client, world)
    building = world.household("2", "1", "101")
    r = await client.get(f"{API}/communities/{world.community_id}/buildings", headers=world.staff)
    building_id = next(b["id"] for b in r.json() if b["name"] == "2")
    q = await make_questionnaire(client, world, pid, scope={"kind": "building", "building_id": building_id})
    got = await roll(client, world.staff, q["id"], limit=200)
    assert got["totals"]["households"] == 6 and building["id"] in {e["household_id"] for e in got["entries"]}
    r = await amend(client, world, q["id"], world.household("1", "1", "102")["id"], "add")
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"
    # a resident of building 1 does not see this questionnaire, nor its roll
    r = await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.residents[1].headers)
    assert r.status_code == 404


async def test_the_worker_and_every_write_freeze_a_roll_once(client, world, clock, app) -> None:
    from app.surveys.service import freeze_due_rolls

    pid = await make_project(client, world)
    now = clock.now()
    q = await make_questionnaire(client, world, pid, opens_at=(now + timedelta(minutes=5)).isoformat())
    async with app.state.db.write_session() as s:
        assert await freeze_due_rolls(s, now=clock.now()) == 0  # not opened yet
        await s.commit()
    clock.advance(minutes=6)
    await relogin(client, world)
    async with app.state.db.write_session() as s:
        assert await freeze_due_rolls(s, now=clock.now()) == 1
        await s.commit()
    async with app.state.db.write_session() as s:
        assert await freeze_due_rolls(s, now=clock.now()) == 0
        header = await s.get(QuestionnaireRoll, q["id"])
        assert header is not None and header.households == 12
    # one opened before migration 0007 (undecided): its first response decides and freezes it
    q2 = await make_questionnaire(client, world, pid, opens_at=(clock.now() + timedelta(minutes=1)).isoformat())
    async with app.state.db.write_session() as s:
        row = (await s.exec(select(Questionnaire).where(Questionnaire.id == q2["id"]))).one()
        row.counts_households = None
        s.add(row)
        await s.commit()
    clock.advance(minutes=2)
    await relogin(client, world)
    assert (await answer(client, world.residents[0].headers, q2["id"], yes(q2))).status_code == 200
    async with app.state.db.read_session() as s:
        row = (await s.exec(select(Questionnaire).where(Questionnaire.id == q2["id"]))).one()
        assert row.counts_households is True and row.roll_frozen_at == clock.now()


async def test_deactivated_households_are_never_frozen_in(client, world) -> None:
    gone = world.household("2", "2", "102")["id"]
    r = await client.post(f"{API}/households/{gone}/deactivate", headers=world.staff, json={"reason": "房屋已合并"})
    assert r.status_code == 200, r.text
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    got = await roll(client, world.staff, q["id"], limit=200)
    assert got["totals"]["households"] == 11 and gone not in {e["household_id"] for e in got["entries"]}
    r = await amend(client, world, q["id"], gone, "add")
    assert r.status_code == 422 and r.json()["code"] == "roll.out_of_scope"
    # deactivating one after opening leaves the open roll as it is, and says so
    later = world.household("2", "2", "201")["id"]
    r = await client.post(f"{API}/households/{later}/deactivate", headers=world.staff, json={"reason": "灭失"})
    assert r.status_code == 200, r.text
    assert {"kind": "questionnaire", "id": q["id"], "title": q["title"]} in r.json()["open_rolls_unchanged"]
    assert (await roll(client, world.staff, q["id"], limit=200))["roll_hash"] == got["roll_hash"]
    assert (await results(client, world, q["id"]))["households_in_scope"] == 11
