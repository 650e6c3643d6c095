"""The automatic vote-result notice, and the publicity gate of plan_publicity → approved."""

from __future__ import annotations

from datetime import date

from app.projects.gates import PROVIDERS
from app.publicity.service import publish_vote_result
from app.voting.contracts import ClosedMotion, ConditionLine, ParticipantRow
from tests.projects.helpers import SH, fake_gate, make_project, sh, travel


def closed(project_id: str, motion_id: str, closed_at) -> ClosedMotion:
    return ClosedMotion(
        motion_id=motion_id, project_id=project_id, plan_id=None, title="关于加装电梯的表决", outcome="passed",
        opens_at=sh(2026, 11, 20, 9), closed_at=closed_at,
        conditions=(ConditionLine(name="participation_area", label_zh="参与表决的专有面积", numerator="800.00",
                                  denominator="1000.00", required="2/3", met=True),
                    ConditionLine(name="agree_headcount", label_zh="同意人数", numerator="7", denominator="8",
                                  required="3/4", met=True)),
        participants=(ParticipantRow(building="1", unit="1", room="101", area_m2="80.00"),
                      ParticipantRow(building="1", unit="1", room="102", area_m2="75.50")))


async def test_vote_result_notice_is_published_once_per_motion(app, client, world, clock, monkeypatch) -> None:
    p = await make_project(client, world)
    await travel(client, world, clock, sh(2026, 11, 27, 15))  # the motion closes on Friday afternoon
    result = closed(p["id"], "m" * 32, clock.now())
    async with app.state.db.write_session() as s:
        n = await publish_vote_result(s, closed=result, now=clock.now())
        await s.commit()
    assert n.kind == "vote_result" and n.motion_id == "m" * 32 and n.project_id == p["id"]
    # within one working day of the close: the next working day (Monday), five working days
    assert n.start_date == date(2026, 11, 30) and n.counting_starts == date(2026, 11, 30)
    assert n.end_date == date(2026, 12, 4) and n.working_days == 5
    assert "关于加装电梯的表决" in n.title
    assert "101" in n.body and "80.00" in n.body and "102" in n.body and "75.50" in n.body
    assert "7/8" in n.body and "800.00/1000.00" in n.body and "通过" in n.body
    assert "1号楼1单元101  80.00 m²" in n.body and "2026-11-27 15:00" in n.body
    async with app.state.db.write_session() as s:
        again = await publish_vote_result(s, closed=result, now=clock.now())
        await s.commit()
    assert again.id == n.id
    # a race that got past the first check still inserts nothing twice
    from app.publicity import repository as repo

    async with app.state.db.write_session() as s:
        inserted = await repo.insert_notice_once(s, {
            "id": "x" * 32, "jurisdiction_id": world.jurisdiction_id, "community_id": world.community_id,
            "project_id": p["id"], "kind": "vote_result", "title": "dup", "body": "dup", "start_date": n.start_date,
            "counting_starts": n.start_date, "end_date": n.end_date, "working_days": 5, "provisional": False,
            "partial_day_excluded": False, "opens_at": n.opens_at, "closes_at": n.closes_at, "motion_id": "m" * 32,
            "created_at": clock.now()})
        assert inserted is False
        await s.rollback()
    r = await client.get(f"/api/v1/notices/{n.id}", headers=world.residents[0].headers)
    assert r.status_code == 200 and r.json()["status"] == "scheduled" and r.json()["motion_id"] == "m" * 32
    r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=world.residents[0].headers)
    assert [x["kind"] for x in r.json()["items"]] == ["vote_result"]


async def test_vote_result_before_a_holiday_starts_after_it(app, client, world, clock, monkeypatch) -> None:
    p = await make_project(client, world)
    clock.set(sh(2026, 9, 30, 18))  # closes on the eve of National Day (service call only: no token needed)
    async with app.state.db.write_session() as s:
        n = await publish_vote_result(s, closed=closed(p["id"], "n" * 32, clock.now()), now=clock.now())
        await s.commit()
    # the next working day is Thu 8 Oct; then Fri 9, Sat 10 (调休), Mon 12, Tue 13
    assert n.start_date == date(2026, 10, 8) and n.end_date == date(2026, 10, 13)


async def test_publicity_gate_follows_the_latest_plan_notice(client, world, clock, monkeypatch) -> None:
    for name in ("survey_passed", "motions_passed"):
        monkeypatch.setitem(PROVIDERS.gates, name, fake_gate(name, True))
    p = await make_project(client, world)
    for to in ("planning", "plan_publicity"):
        assert (await client.post(f"/api/v1/projects/{p['id']}/advance", headers=world.staff,
                                  json={"to_stage": to, "reason": "ok"})).status_code == 200

    async def gate() -> dict:
        r = await client.get(f"/api/v1/projects/{p['id']}", headers=world.staff)
        gates = {g["name"]: g for g in r.json()["next_gates"]}
        return gates["publicity_passed"]

    async def publish(kind: str = "plan") -> str:
        r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                              json={"kind": kind, "title": "方案公示", "body": "方案",
                                    "start_date": clock.now().astimezone(SH).date().isoformat()})
        assert r.status_code == 201, r.text
        clock.advance(seconds=1)
        return r.json()["id"]

    g = await gate()
    assert g["met"] is False and g["figures"]["notice_id"] is None
    await publish(kind="funding")  # not a plan notice
    assert (await gate())["met"] is False
    first = await publish()
    g = await gate()
    assert g["met"] is False and g["figures"]["status"] == "open" and "尚未期满" in g["detail"]
    assert g["figures"]["end_date"] == "2026-11-30" and g["figures"]["days_left"] == 5
    await travel(client, world, clock, sh(2026, 12, 1))
    g = await gate()
    assert g["met"] is True and g["figures"]["notice_id"] == first
    # a revised plan notice supersedes it; accepted objection → failed → gate shut
    second = await publish()
    assert (await gate())["figures"]["notice_id"] == second and (await gate())["met"] is False
    o = await client.post(f"/api/v1/notices/{second}/objections", headers=world.residents[0].headers,
                          json={"text": "不同意"})
    assert o.status_code == 201
    await client.post(f"/api/v1/objections/{o.json()['id']}/resolution", headers=world.staff,
                      json={"decision": "accepted", "reason": "采纳"})
    g = await gate()
    assert g["met"] is False and g["figures"]["status"] == "failed" and "重新公示" in g["detail"]
    r = await client.post(f"/api/v1/projects/{p['id']}/advance", headers=world.staff,
                          json={"to_stage": "approved", "reason": "公示期满"})
    assert r.status_code == 409 and [u["name"] for u in r.json()["unmet"]] == ["publicity_passed"]
    third = await publish()
    await travel(client, world, clock, sh(2026, 12, 9))
    g = await gate()
    assert g["met"] is True and g["figures"]["notice_id"] == third
    r = await client.post(f"/api/v1/projects/{p['id']}/advance", headers=world.staff,
                          json={"to_stage": "approved", "reason": "公示期满"})
    assert r.status_code == 200 and r.json()["stage"] == "approved"
