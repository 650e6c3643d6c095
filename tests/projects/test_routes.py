"""Projects through HTTP: creation in eligible communities, gates, stage moves, history, concurrency, access."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from app.core.models import AuditEntry
from app.projects.gates import PROVIDERS, ProjectProviders
from tests.factories import add_staff, create_community
from tests.projects.helpers import fake_gate, make_project, other_community, travel

LIFECYCLE = ["survey", "planning", "plan_publicity", "approved", "construction", "acceptance", "evaluation", "closed"]


@pytest.fixture
def all_gates_met(monkeypatch):
    for name in list(PROVIDERS.gates):
        monkeypatch.setitem(PROVIDERS.gates, name, fake_gate(name, True))


async def advance(client, headers, pid, to_stage, reason="推进"):
    return await client.post(f"/api/v1/projects/{pid}/advance", headers=headers,
                             json={"to_stage": to_stage, "reason": reason})


async def test_create_view_and_list(client, world, clock) -> None:
    p = await make_project(client, world)
    assert p["stage"] == "survey" and p["next_stage"] == "planning" and p["version"] == 1
    assert p["history"] == []
    # every gated move of the lifecycle is shown with its gates
    moves = [(g["from_stage"], g["to_stage"]) for g in p["stage_gates"]]
    assert moves == [("survey", "planning"), ("plan_publicity", "approved"), ("approved", "construction"),
                     ("construction", "acceptance"), ("acceptance", "evaluation")]
    names = [g["name"] for sg in p["stage_gates"] for g in sg["gates"]]
    assert names == ["survey_passed", "motions_passed", "publicity_passed", "funding_complete",
                     "no_open_critical_reports", "acceptance_signed"]
    assert [g["name"] for g in p["next_gates"]] == ["survey_passed"]
    assert p["next_gates"][0]["met"] is False
    # the publicity gate is this domain's own: no plan notice yet
    pub = p["stage_gates"][1]["gates"][1]
    assert pub["name"] == "publicity_passed" and pub["met"] is False and "尚未发布" in pub["detail"]

    # residents of the community see it; the listing too
    r = await client.get(f"/api/v1/projects/{p['id']}", headers=world.residents[0].headers)
    assert r.status_code == 200 and r.json()["title"] == "幸福里小区综合改造"
    clock.advance(seconds=1)
    await make_project(client, world, title="第二期")
    r = await client.get(f"/api/v1/communities/{world.community_id}/projects", headers=world.residents[1].headers,
                         params={"limit": 1})
    assert r.status_code == 200
    first = r.json()
    assert len(first["items"]) == 1 and first["items"][0]["title"] == "第二期" and first["next_cursor"]
    r = await client.get(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                         params={"limit": 1, "cursor": first["next_cursor"]})
    assert [i["title"] for i in r.json()["items"]] == ["幸福里小区综合改造"] and r.json()["next_cursor"] is None


async def test_residents_cannot_create_and_bad_input(client, world) -> None:
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.residents[0].headers,
                          json={"title": "居民自建"})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": ""})
    assert r.status_code == 422
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": "x" * 201})
    assert r.status_code == 422
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": "ok", "sneaky": 1})
    assert r.status_code == 422
    r = await client.post("/api/v1/communities/nope/projects", headers=world.staff, json={"title": "ok"})
    assert r.status_code == 404


async def test_ineligible_community_cannot_start(client, world) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "新建小区", built="2006-01-01")
    r = await client.post(f"/api/v1/communities/{cid}/projects", headers=world.admin, json={"title": "改造"})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "project.community_ineligible"
    assert body["eligibility"]["eligible"] is False and body["eligibility"]["cutoff"] == "2005-12-31"
    # the cutoff day itself is eligible ("on or before")
    cid2 = await create_community(client, world.admin, world.jurisdiction_id, "截止日小区", built="2005-12-31")
    r = await client.post(f"/api/v1/communities/{cid2}/projects", headers=world.admin, json={"title": "改造"})
    assert r.status_code == 201


async def test_advance_two_stages_at_once_refused(client, world, all_gates_met) -> None:
    p = await make_project(client, world)
    r = await advance(client, world.staff, p["id"], "plan_publicity")
    assert r.status_code == 409
    assert r.json()["code"] == "project.invalid_stage"
    assert r.json()["current_stage"] == "survey" and r.json()["next_stage"] == "planning"
    r = await advance(client, world.staff, p["id"], "survey")  # not forward either
    assert r.status_code == 409 and r.json()["code"] == "project.invalid_stage"
    r = await advance(client, world.staff, p["id"], "launched")
    assert r.status_code == 422
    r = await client.post(f"/api/v1/projects/{p['id']}/advance", headers=world.staff, json={"to_stage": "planning"})
    assert r.status_code == 422  # a reason is required
    r = await client.get(f"/api/v1/projects/{p['id']}", headers=world.staff)
    assert r.json()["stage"] == "survey" and r.json()["history"] == []


async def test_gate_unmet_lists_every_unmet_gate(client, world, monkeypatch, clock) -> None:
    monkeypatch.setitem(PROVIDERS.gates, "survey_passed", fake_gate("survey_passed", True))
    monkeypatch.setitem(PROVIDERS.gates, "motions_passed", fake_gate(
        "motions_passed", False, "表决“改造方案”未通过", agree_area="5/12", required="3/4"))
    p = await make_project(client, world)
    for to in ("planning", "plan_publicity"):
        assert (await advance(client, world.staff, p["id"], to)).status_code == 200
    r = await advance(client, world.staff, p["id"], "approved")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "project.gate_unmet"
    assert body["from_stage"] == "plan_publicity" and body["to_stage"] == "approved"
    unmet = {g["name"]: g for g in body["unmet"]}
    assert set(unmet) == {"motions_passed", "publicity_passed"}
    assert unmet["motions_passed"]["figures"] == {"agree_area": "5/12", "required": "3/4"}
    assert "表决" in body["detail"] and "方案公示" in body["detail"]
    r = await client.post(f"/api/v1/projects/{p['id']}/advance", headers=world.staff | {"Accept-Language": "en"},
                          json={"to_stage": "approved", "reason": "x"})
    assert "motions_passed" in r.json()["detail"]
    # once the motion gate holds, only the publicity gate is listed
    monkeypatch.setitem(PROVIDERS.gates, "motions_passed", fake_gate("motions_passed", True))
    r = await advance(client, world.staff, p["id"], "approved")
    assert [g["name"] for g in r.json()["unmet"]] == ["publicity_passed"]


async def test_whole_lifecycle_with_history(app, client, world, all_gates_met, clock) -> None:
    p = await make_project(client, world)
    for i, to in enumerate(LIFECYCLE[1:], start=1):
        await travel(client, world, clock, clock.now() + timedelta(days=1))
        r = await advance(client, world.staff, p["id"], to, reason=f"第{i}步")
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == to and r.json()["version"] == 1 + i
    body = r.json()
    assert body["next_stage"] is None and body["next_gates"] == []
    hist = body["history"]
    assert [(m["from_stage"], m["to_stage"]) for m in hist] == list(zip(LIFECYCLE, LIFECYCLE[1:], strict=False))
    assert hist[0]["reason"] == "第1步" and hist[0]["actor_id"] == world.staff_user_id
    assert hist[0]["at"].startswith("2026-11-24")
    r = await advance(client, world.staff, p["id"], "closed")
    assert r.status_code == 409 and r.json()["code"] == "project.invalid_stage" and r.json()["next_stage"] is None
    # every move is in the audit chain
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == p["id"],
                                                      AuditEntry.action == "project.stage_moved"))).all()
    assert len(rows) == 7 and {r.data["to"] for r in rows} == set(LIFECYCLE[1:])


async def test_residents_and_supervisors_cannot_advance(client, world, all_gates_met) -> None:
    p = await make_project(client, world)
    r = await advance(client, world.residents[0].headers, p["id"], "planning")
    assert r.status_code == 403
    _, other_staff, other_resident = await other_community(client, world)
    for h in (other_staff, other_resident):
        assert (await advance(client, h, p["id"], "planning")).status_code == 404
        assert (await client.get(f"/api/v1/projects/{p['id']}", headers=h)).status_code == 404
        r = await client.get(f"/api/v1/communities/{world.community_id}/projects", headers=h)
        assert r.status_code == 404
    assert (await client.get("/api/v1/projects/nope", headers=world.staff)).status_code == 404


async def test_two_staff_advancing_at_the_same_moment(client, world, all_gates_met) -> None:
    _, staff2 = await add_staff(client, world.admin, world.community_id, "staff2")
    p = await make_project(client, world)
    r1, r2 = await asyncio.gather(
        advance(client, world.staff, p["id"], "planning", reason="甲"),
        advance(client, {"Authorization": f"Bearer {staff2}"}, p["id"], "planning", reason="乙"),
    )
    codes = sorted([r1.status_code, r2.status_code])
    assert codes == [200, 409], (r1.text, r2.text)
    loser = r1 if r1.status_code == 409 else r2
    assert loser.json()["code"] in ("project.concurrent_change", "project.invalid_stage")
    r = await client.get(f"/api/v1/projects/{p['id']}", headers=world.staff)
    assert r.json()["stage"] == "planning" and r.json()["version"] == 2
    assert len(r.json()["history"]) == 1


async def test_optimistic_version_refuses_a_stale_move(app, client, world, all_gates_met) -> None:
    """The compare-and-set itself: a move computed against an old version changes nothing."""
    from app.projects import repository as repo

    p = await make_project(client, world)
    assert (await advance(client, world.staff, p["id"], "planning")).status_code == 200
    async with app.state.db.write_session() as s:
        assert await repo.move_stage(s, project_id=p["id"], expected_version=1, to_stage="plan_publicity") is False
        assert await repo.move_stage(s, project_id=p["id"], expected_version=2, to_stage="plan_publicity") is True
        await s.rollback()
    r = await client.get(f"/api/v1/projects/{p['id']}", headers=world.staff)
    assert r.json()["stage"] == "planning"


def test_every_gate_and_figure_needs_a_provider() -> None:
    """The composition root registers every provider; a registry without them names what is missing."""
    from app.projects.service import gate_names

    assert ProjectProviders().missing(gate_names()) == [
        "acceptance_signed", "funding_complete", "motions_passed", "no_open_critical_reports", "publicity_passed",
        "survey_passed", "figures:willingness", "figures:contribution"]
    assert PROVIDERS.missing(gate_names()) == []
