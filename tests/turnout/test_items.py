"""Turnout of motions and questionnaires over HTTP: who may see it, scopes, the open window, replays,
automatic reminders, and a willingness questionnaire's progress against the surveys results."""

from __future__ import annotations

from datetime import date

from app.turnout import service
from app.turnout.service import closing_reminder_day
from tests.projects.helpers import other_community, sh
from tests.surveys.helpers import make_questionnaire
from tests.surveys.helpers import paper as paper_response
from tests.turnout.helpers import bind_wechat
from tests.voting.helpers import make_motion, make_plan, make_project, setup_motion, unit_ids

API = "/api/v1"


async def test_turnout_is_for_staff_of_the_community(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    resident = world.residents[0].headers
    paths = [f"{API}/motions/{m['id']}/progress", f"{API}/motions/{m['id']}/non-responders",
             f"{API}/motions/{m['id']}/non-responders?format=xlsx"]
    for path in paths:
        assert (await client.get(path, headers=resident)).status_code == 403, path
    r = await client.post(f"{API}/motions/{m['id']}/reminders", headers=resident)
    assert r.status_code == 403
    _, other_staff, _ = await other_community(client, world)
    for path in paths:
        assert (await client.get(path, headers=other_staff)).status_code == 404, path
    assert (await client.post(f"{API}/motions/{m['id']}/reminders", headers=other_staff)).status_code == 404
    r = await client.get(f"{API}/motions/{'x' * 32}/progress", headers=world.staff)
    assert r.status_code == 404 and r.json()["code"] == "motion.not_found"
    r = await client.get(f"{API}/questionnaires/{'x' * 300}/non-responders", headers=world.staff)
    assert r.status_code == 404 and r.json()["code"] == "questionnaire.not_found"
    r = await client.get(paths[1], headers=world.staff, params={"format": "pdf"})
    assert r.status_code == 422
    assert (await client.get(paths[0])).status_code == 401


async def test_reminders_only_while_open_and_replays(client, world, clock) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    later = await make_motion(client, world, plan["id"], sh(2026, 11, 25, 9), title="下周的表决")
    r = await client.post(f"{API}/motions/{later['id']}/reminders", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "reminder.not_open" and r.json()["status_now"] == "scheduled"
    p = (await client.get(f"{API}/motions/{later['id']}/progress", headers=world.staff)).json()
    assert p["status"] == "scheduled" and p["households"]["total"] == 12

    now = await make_motion(client, world, plan["id"], clock.now())
    key = {"Idempotency-Key": "remind-1"}
    first = await client.post(f"{API}/motions/{now['id']}/reminders", headers=world.staff | key)
    replay = await client.post(f"{API}/motions/{now['id']}/reminders", headers=world.staff | key)
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json() and replay.headers.get("idempotent-replayed") == "true"
    r = await client.post(f"{API}/motions/{later['id']}/reminders", headers=world.staff | key)
    assert r.status_code == 409 and r.json()["code"] == "idempotency.key_reused"


async def test_building_scoped_motion(client, wechat, world, clock) -> None:
    b2 = await bind_wechat(client, wechat, world, world.household("2", "2", "201")["id"], openid="o-2-2-201")
    building_2, _ = (await unit_ids(client, b2.headers))[b2.household_id]
    _, _, m = await setup_motion(client, world, clock.now(), scope="building", building_id=building_2,
                                 matter="elevator", title="2号楼加装电梯")
    p = (await client.get(f"{API}/motions/{m['id']}/progress", headers=world.staff)).json()
    assert p["scope"] == {"kind": "building", "building_id": building_2, "unit_id": None}
    assert p["households"]["share"] == "0/6" and p["owners"]["share"] == "0/6"
    assert [b["building"] for b in p["buildings"]] == ["2"]
    nr = (await client.get(f"{API}/motions/{m['id']}/non-responders", headers=world.staff)).json()
    assert nr["non_responders"] == 6 and [b["building"] for b in nr["buildings"]] == ["2"]
    # an owner's household outside the scope answers nothing for the scope: OWNER-A's 1-1-101 votes elsewhere
    r = (await client.post(f"{API}/motions/{m['id']}/reminders", headers=world.staff)).json()
    assert r["non_responders"] == 6 and r["queued_households"] == 1 and r["skipped"]["no_wechat"] == 5
    # filters of the list
    unit_2_2 = next(u["unit_id"] for u in nr["buildings"][0]["units"] if u["unit"] == "2")
    nr = (await client.get(f"{API}/motions/{m['id']}/non-responders", headers=world.staff,
                           params={"unit_id": unit_2_2})).json()
    assert [h["room"] for h in nr["buildings"][0]["units"][0]["households"]] == ["101", "102", "201"]


def test_closing_reminder_day_counts_working_days() -> None:
    # closes at 24:00 on Friday 2026-11-27: the last day is Friday, one working day before is Thursday
    assert closing_reminder_day(closes_at=sh(2026, 11, 28), working_days=1) == date(2026, 11, 26)
    assert closing_reminder_day(closes_at=sh(2026, 11, 28), working_days=0) == date(2026, 11, 27)
    # closes Tuesday 10:00: the last day is Tuesday; one working day before is Monday, two is Friday
    assert closing_reminder_day(closes_at=sh(2026, 12, 1, 10), working_days=1) == date(2026, 11, 30)
    assert closing_reminder_day(closes_at=sh(2026, 12, 1, 10), working_days=2) == date(2026, 11, 27)
    # National Day 2026 (Oct 1–7 off): closing at 24:00 on Thursday Oct 8 → reminded on Wednesday Sep 30
    assert closing_reminder_day(closes_at=sh(2026, 10, 9), working_days=1) == date(2026, 9, 30)
    # closing at 24:00 on Monday Oct 12: the Saturday before (Oct 10) is an adjusted working day (调休)
    assert closing_reminder_day(closes_at=sh(2026, 10, 13), working_days=1) == date(2026, 10, 10)


async def _due(app, clock) -> int:
    async with app.state.db.write_session() as s:
        n = await service.schedule_due_reminders(s, now=clock.now())
        await s.commit()
    return n


async def test_automatic_reminders_when_opening_and_before_closing(app, client, wechat, world, clock) -> None:
    for i, key in enumerate((("2", "1", "102"), ("2", "2", "102"))):
        await bind_wechat(client, wechat, world, world.household(*key)["id"], openid=f"auto-{i}")
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    # opens now (Monday 10:00), closes at 24:00 on Friday; another opens on Wednesday
    m = await make_motion(client, world, plan["id"], clock.now(), closes_at=sh(2026, 11, 28).isoformat())
    later = await make_motion(client, world, plan["id"], sh(2026, 11, 25, 9), closes_at=sh(2026, 12, 5).isoformat(),
                              title="周三开始的表决")
    assert await _due(app, clock) == 2  # "opened" for m: two WeChat-bound households
    assert await _due(app, clock) == 0  # once only
    clock.set(sh(2026, 11, 24, 10))
    assert await _due(app, clock) == 0
    clock.set(sh(2026, 11, 25, 10))
    assert await _due(app, clock) == 2  # the later motion has opened
    clock.set(sh(2026, 11, 26, 8, 30))
    assert await _due(app, clock) == 0  # Thursday, but before 09:00
    clock.set(sh(2026, 11, 26, 9))
    assert await _due(app, clock) == 2  # one working day before m closes
    assert await _due(app, clock) == 0
    async with app.state.db.read_session() as s:
        from sqlmodel import select

        from app.turnout.models import AutoReminder

        markers = sorted((a.item_id == m["id"], a.reason, a.messages) for a in (await s.exec(select(AutoReminder))).all())
    assert markers == [(False, "opened", 2), (True, "closing", 2), (True, "opened", 2)]
    assert later["id"]


async def test_ops_run_is_for_global_admins(client, world, clock) -> None:
    await setup_motion(client, world, clock.now())
    r = await client.post(f"{API}/ops/reminders:run", headers=world.admin)
    assert r.status_code == 200 and r.json() == {"queued_messages": 0}  # nobody is bound to WeChat
    assert (await client.post(f"{API}/ops/reminders:run", headers=world.staff)).status_code == 403


async def test_willingness_questionnaire_turnout(client, wechat, world, clock) -> None:
    await bind_wechat(client, wechat, world, world.household("2", "2", "201")["id"], openid="q-1")
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, kind="willingness", closes_at=sh(2026, 12, 4).isoformat())
    qid = q["id"]
    question = q["questions"][0]["id"]
    p = (await client.get(f"{API}/questionnaires/{qid}/progress", headers=world.staff)).json()
    assert p["status"] == "open" and p["households"]["share"] == "0/12"
    rule = p["rule"]
    assert rule["rule"]["kind"] == "share_of_all_households" and rule["rule"]["threshold"] == "2/3"
    assert rule["conditions"][0]["shortfall_households"] == 8 and rule["conditions"][0]["hint_zh"] == "还需 8 户同意"

    r = (await client.post(f"{API}/questionnaires/{qid}/reminders", headers=world.staff)).json()
    assert r["queued_households"] == 1 and r["needs_visit"] == 11

    for key in (("2", "2", "101"), ("2", "2", "102")):
        r = await paper_response(client, world, qid, world.household(*key)["id"],
                                 [{"question_id": question, "value": True}])
        assert r.status_code == 201, r.text
    # OWNER-A answers for household 1-1-101 only: the list keeps their two other households (one response
    # per household), the willingness tally counts the owner's one choice for all three (surveys results)
    r = await client.put(f"{API}/questionnaires/{qid}/response", headers=world.residents[0].headers,
                         json={"answers": [{"question_id": question, "value": True}]})
    assert r.status_code == 200, r.text
    p = (await client.get(f"{API}/questionnaires/{qid}/progress", headers=world.staff)).json()
    assert p["households"]["share"] == "3/12"
    cond = p["rule"]["conditions"][0]
    results = (await client.get(f"{API}/questionnaires/{qid}/results", headers=world.staff)).json()
    theirs = results["willingness"]["tally"]["conditions"][0]
    assert (cond["numerator"], cond["denominator"], cond["shortfall"]) == \
        (theirs["numerator"], theirs["denominator"], theirs["shortfall"]) == (5, 12, 3)
    nr = (await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff)).json()
    assert nr["non_responders"] == 9
    r = await client.get(f"{API}/questionnaires/{qid}/non-responders", headers=world.staff, params={"format": "xlsx"})
    assert r.status_code == 200 and 'filename="door-to-door-questionnaire-20261123.xlsx"' in r.headers["content-disposition"]

    r = await client.post(f"{API}/questionnaires/{qid}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/questionnaires/{qid}/reminders", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "reminder.not_open"
