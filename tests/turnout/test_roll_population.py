"""Turnout counts a motion's population as voting does: its electoral roll once frozen. A household imported
while the vote runs is not on the roll — it is not a non-responder, gets no reminder and moves no number of
progress — and progress agrees with the tally, also after roll amendments."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
from sqlmodel import select

from app.turnout.models import OutboxMessage
from tests.factories import all_households, import_csv, issue_codes
from tests.turnout.helpers import bind_wechat
from tests.voting.helpers import API, jpeg, paper, setup_motion, tally


async def progress_and_tally(client, world, motion_id: str) -> tuple[dict, dict]:
    p = await client.get(f"{API}/motions/{motion_id}/progress", headers=world.staff)
    t = await tally(client, world.staff, motion_id)
    assert p.status_code == 200 and t.status_code == 200, (p.text, t.text)
    return p.json(), t.json()


def centi(m2: str) -> int:
    return int(Decimal(m2) * 100)


def assert_progress_is_the_tally(p: dict, t: dict) -> None:
    c = t["counts"]
    assert (p["households"]["answered"], p["households"]["total"]) == (c["participating_households"],
                                                                      c["total_households"])
    assert (p["owners"]["answered"], p["owners"]["total"]) == (c["participating_owners"], c["total_owners"])
    assert (centi(p["area"]["answered_m2"]), centi(p["area"]["total_m2"])) == (c["participating_area"],
                                                                                        c["total_area"])
    assert sum(b["households"]["total"] for b in p["buildings"]) == c["total_households"]
    mine = {x["name"]: (x["numerator"], x["denominator"], x["met"]) for x in p["rule"]["conditions"]}
    theirs = {x["name"]: (x["numerator"], x["denominator"], x["met"]) for x in t["conditions"]}
    assert mine == theirs


def listed(nr: dict) -> set[str]:
    return {h["household_id"] for b in nr["buildings"] for u in b["units"] for h in u["households"]}


async def test_household_imported_during_the_vote_is_not_on_turnout_lists(app, client, wechat, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    mid = m["id"]
    a = world.household("1", "1", "101")  # OWNER-A also owns 1-2-101 and 2-1-101
    assert (await paper(client, world, mid, a["id"], "agree", photo=jpeg())).status_code == 201
    a_ids = {world.household(*k)["id"] for k in (("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101"))}
    old = next(h["id"] for h in world.households[4:8] if h["id"] not in a_ids)
    await bind_wechat(client, wechat, world, old, openid="o-old", phone="13700000004")
    before, _ = await progress_and_tally(client, world, mid)

    # while the vote runs: a 500 m² household of OWNER-A and a newcomer's household, bound to WeChat
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,901,500.00,OWNER-A\n2,2,902,40.00,OWNER-NEW\n")
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [mid]
    rooms = {h["room"]: h["id"] for h in await all_households(client, world.staff, world.community_id)}
    of_a, newcomer = rooms["901"], rooms["902"]
    world.codes.update(await issue_codes(client, world.staff, world.community_id, [newcomer]))
    await bind_wechat(client, wechat, world, newcomer, openid="o-newcomer", phone="13700000902")

    p, t = await progress_and_tally(client, world, mid)
    assert_progress_is_the_tally(p, t)
    assert p["households"]["share"] == "3/12" and p["owners"]["share"] == "1/10"
    assert (p["households"], p["owners"], p["area"], p["buildings"]) == (
        before["households"], before["owners"], before["area"], before["buildings"])

    r = await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)
    assert r.status_code == 200, r.text
    nr = r.json()
    assert nr["households_in_scope"] == 12 and nr["answered"] == 3 and nr["non_responders"] == 9
    assert len(listed(nr)) == 9 and not listed(nr) & {of_a, newcomer}

    x = await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff, params={"format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"
    cells = {str(c) for row in openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True)
             for c in row if c is not None}
    rooms_listed = {h["room"] for b in nr["buildings"] for u in b["units"] for h in u["households"]}
    assert rooms_listed <= cells and "902" not in cells and "901" not in cells

    r = await client.post(f"{API}/motions/{mid}/reminders", headers=world.staff)
    assert r.status_code == 202, r.text
    assert r.json()["non_responders"] == 9
    async with app.state.db.read_session() as s:
        sent = (await s.exec(select(OutboxMessage).where(OutboxMessage.item_id == mid))).all()
    assert {o.household_id for o in sent} == {old} and {o.recipient for o in sent} == {"o-old"}
    assert r.json()["queued_households"] == 1


async def test_progress_follows_roll_amendments_as_the_tally_does(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    mid = m["id"]
    a = world.household("1", "1", "101")
    assert (await paper(client, world, mid, a["id"], "agree", photo=jpeg())).status_code == 201
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,902,40.00,OWNER-NEW\n")
    assert r.status_code == 200, r.text
    newcomer = {h["room"]: h["id"] for h in await all_households(client, world.staff, world.community_id)}["902"]

    async def amend(household_id: str, action: str) -> None:
        r = await client.post(f"{API}/motions/{mid}/roll/amendments", headers=world.staff,
                              json={"household_id": household_id, "action": action, "reason": "核对产权登记"})
        assert r.status_code == 201, r.text

    # added to the roll: counted and listed
    await amend(newcomer, "add")
    p, t = await progress_and_tally(client, world, mid)
    assert_progress_is_the_tally(p, t)
    assert p["households"]["share"] == "3/13"
    nr = (await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)).json()
    assert newcomer in listed(nr) and nr["households_in_scope"] == 13
    # the household that carried OWNER-A's ballot taken off: the ballot no longer counts for A's other two
    await amend(a["id"], "remove")
    p, t = await progress_and_tally(client, world, mid)
    assert_progress_is_the_tally(p, t)
    assert p["households"]["share"] == "0/12" and p["owners"]["share"] == "0/11"
    nr = (await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)).json()
    assert a["id"] not in listed(nr) and world.household("1", "2", "101")["id"] in listed(nr)


# ---- questionnaires: the same, with surveys' roll ----------------------------------------------------

async def q_progress_and_results(client, world, qid: str) -> tuple[dict, dict]:
    p = await client.get(f"{API}/questionnaires/{qid}/progress", headers=world.staff)
    r = await client.get(f"{API}/questionnaires/{qid}/results", headers=world.staff)
    assert p.status_code == 200 and r.status_code == 200, (p.text, r.text)
    return p.json(), r.json()


def assert_progress_is_the_results(p: dict, res: dict) -> None:
    """Progress counts the households, owners and area the results count, and the willingness rule's numbers."""
    assert p["households"]["total"] == res["households_in_scope"]
    assert p["owners"]["total"] == res["owners_in_scope"]
    assert p["area"]["total_m2"] == res["area_in_scope_m2"]
    assert sum(b["households"]["total"] for b in p["buildings"]) == res["households_in_scope"]
    part = res["participation"]["households"]
    assert (p["households"]["answered"], p["households"]["total"]) == (part["count"], part["base"])
    if res.get("willingness"):
        mine = {x["name"]: (x["numerator"], x["denominator"], x["met"]) for x in p["rule"]["conditions"]}
        theirs = {x["name"]: (x["numerator"], x["denominator"], x["met"])
                  for x in res["willingness"]["tally"]["conditions"]}
        assert mine == theirs


async def test_questionnaire_turnout_counts_its_roll(app, client, wechat, world, clock) -> None:
    from tests.surveys.helpers import make_questionnaire
    from tests.voting.helpers import make_project

    old = world.household("2", "2", "201")["id"]
    gone = world.household("2", "2", "102")["id"]
    await bind_wechat(client, wechat, world, old, openid="q-old", phone="13700000201")
    await bind_wechat(client, wechat, world, gone, openid="q-gone", phone="13700000102")
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)  # willingness, opens at once: its roll is frozen
    qid = q["id"]
    yes = [{"question_id": q["questions"][0]["id"], "value": True}]
    assert (await client.put(f"{API}/questionnaires/{qid}/response", headers=world.residents[0].headers,
                             json={"answers": yes})).status_code == 200
    before, _ = await q_progress_and_results(client, world, qid)

    # while it runs: a 500 m² household of OWNER-A and a newcomer's household, bound to WeChat
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,901,500.00,OWNER-A\n2,2,902,40.00,OWNER-NEW\n")
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [qid]
    rooms = {h["room"]: h["id"] for h in await all_households(client, world.staff, world.community_id)}
    of_a, newcomer = rooms["901"], rooms["902"]
    world.codes.update(await issue_codes(client, world.staff, world.community_id, [newcomer]))
    await bind_wechat(client, wechat, world, newcomer, openid="q-newcomer", phone="13700000902")

    p, res = await q_progress_and_results(client, world, qid)
    assert_progress_is_the_results(p, res)
    assert p["households"]["share"] == "1/12" and p["owners"]["share"] == "1/10"
    assert (p["households"], p["owners"], p["area"], p["buildings"]) == (
        before["households"], before["owners"], before["area"], before["buildings"])
    nr = (await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff)).json()
    assert nr["households_in_scope"] == 12 and nr["non_responders"] == 11
    assert not listed(nr) & {of_a, newcomer} and {old, gone} <= listed(nr)

    # a household taken off the roll: not counted, not listed, not reminded
    r = await client.post(f"{API}/questionnaires/{qid}/roll/amendments", headers=world.staff,
                          json={"household_id": gone, "action": "remove", "reason": "房屋已合并"})
    assert r.status_code == 201, r.text
    p, res = await q_progress_and_results(client, world, qid)
    assert_progress_is_the_results(p, res)
    assert p["households"]["share"] == "1/11"
    nr = (await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff)).json()
    assert nr["households_in_scope"] == 11 and gone not in listed(nr)
    x = await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff,
                         params={"format": "xlsx"})
    cells = {str(c) for row in openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True)
             for c in row if c is not None}
    assert x.status_code == 200 and not {"901", "902"} & cells
    r = await client.post(f"{API}/questionnaires/{qid}/reminders", headers=world.staff)
    assert r.status_code == 202, r.text
    assert r.json()["non_responders"] == 10 and r.json()["queued_households"] == 1
    async with app.state.db.read_session() as s:
        sent = (await s.exec(select(OutboxMessage).where(OutboxMessage.item_id == qid))).all()
    assert {o.household_id for o in sent} == {old} and {o.recipient for o in sent} == {"q-old"}

    # the newcomer added to the roll: counted and listed, with the roll's area
    r = await client.post(f"{API}/questionnaires/{qid}/roll/amendments", headers=world.staff,
                          json={"household_id": newcomer, "action": "add", "reason": "漏登房屋，经产权核对补入"})
    assert r.status_code == 201, r.text
    p, res = await q_progress_and_results(client, world, qid)
    assert_progress_is_the_results(p, res)
    assert p["households"]["share"] == "1/12"
    nr = (await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff)).json()
    assert newcomer in listed(nr) and nr["households_in_scope"] == 12

    # a questionnaire that keeps no roll counts the register's households in scope as they are now
    c = await make_questionnaire(client, world, pid, kind="contribution",
                                 questions=[{"type": "amount_fen", "text": "您愿意出资多少？"}])
    p, res = await q_progress_and_results(client, world, c["id"])
    assert_progress_is_the_results(p, res)
    assert p["households"]["total"] == 14 and res["households_in_scope"] == 14
    nr = (await client.get(f"{API}/questionnaires/{c['id']}/non-responders", headers=world.staff)).json()
    assert {of_a, newcomer, gone} <= listed(nr)


async def test_worker_tick_freezes_a_due_questionnaire_roll(app, client, world, clock) -> None:
    """Nobody touches a questionnaire after it opens: the worker's round freezes its roll (audited, recorded at
    the round's time, the register as at opening), and turnout counts that roll from then on."""
    from datetime import datetime, timedelta

    from app.core.models import AuditEntry
    from app.surveys.models import Questionnaire, QuestionnaireRoll
    from app.turnout.worker import tick
    from tests.surveys.helpers import make_questionnaire
    from tests.voting.helpers import make_project, relogin

    pid = await make_project(client, world)
    opens_at = clock.now() + timedelta(minutes=5)
    q = await make_questionnaire(client, world, pid, opens_at=opens_at.isoformat())
    qid = q["id"]
    assert q["status"] == "scheduled"
    stats = await tick(app)
    assert stats["questionnaire_rolls_frozen"] == 0 and stats["errors"] == 0  # not opened yet
    clock.advance(minutes=7)
    ticked_at = clock.now()
    stats = await tick(app)
    assert stats["questionnaire_rolls_frozen"] == 1 and stats["errors"] == 0
    async with app.state.db.read_session() as s:
        row = (await s.exec(select(Questionnaire).where(Questionnaire.id == qid))).one()
        header = (await s.exec(select(QuestionnaireRoll).where(QuestionnaireRoll.questionnaire_id == qid))).one()
        frozen = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == qid,
                                                        AuditEntry.action == "questionnaire.roll_frozen"))).all()
    assert row.opens_at == opens_at and row.roll_frozen_at == ticked_at and header.frozen_at == ticked_at
    assert header.households == 12
    assert len(frozen) == 1 and frozen[0].at == ticked_at and frozen[0].actor_id is None
    assert frozen[0].data["roll_hash"] == header.roll_hash
    # a second round finds nothing to do
    clock.advance(minutes=1)
    assert (await tick(app))["questionnaire_rolls_frozen"] == 0

    await relogin(client, world)
    got = (await client.get(f"{API}/questionnaires/{qid}/roll", headers=world.staff)).json()
    assert datetime.fromisoformat(got["frozen_at"]) == ticked_at and got["frozen_hash"] == header.frozen_hash
    shown = (await client.get(f"{API}/questionnaires/{qid}", headers=world.staff)).json()
    assert datetime.fromisoformat(shown["opens_at"]) == opens_at and shown["status"] == "open"
    # frozen: a household imported now is reported as not on it and moves nothing of turnout
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,902,40.00,OWNER-NEW\n")
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [qid]
    p = (await client.get(f"{API}/questionnaires/{qid}/progress", headers=world.staff)).json()
    assert p["households"]["share"] == "0/12"
