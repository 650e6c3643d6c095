"""The hash-chained audit of ballots and closes; the services other domains call (gate, notice, ranking)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from app.core import audit
from app.projects.gates import ContributionFigures, Ratio
from app.voting import repository as voting_repo
from app.voting import service, tallies
from app.voting.contracts import ParticipantRow
from tests.projects.helpers import sh, travel
from tests.voting.helpers import API, jpeg, make_motion, make_project, paper, plan_body, setup_motion, vote

ROOT = Path(__file__).resolve().parents[2]


async def test_audit_chain_verifies_and_names_an_edited_entry(client, world, clock, app, settings) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200
    assert (await vote(client, world.residents[1].headers, m["id"], "disagree")).status_code == 200
    hid = world.household("2", "2", "201")["id"]
    assert (await paper(client, world, m["id"], hid, "agree", photo=jpeg())).status_code == 201
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    async with app.state.db.read_session() as s:
        reports = await audit.verify(s, world.community_id)
        actions = (await s.exec(text("SELECT action, id FROM audit_entry WHERE chain = :c ORDER BY seq")
                                .bindparams(c=world.community_id))).all()
    assert reports[0].ok and reports[0].entries == len(actions)
    names = [a for a, _ in actions]
    assert names.count("ballot.cast") == 2 and names.count("ballot.paper_entered") == 1
    assert "motion.closed" in names and "motion.opened" in names and "motion.created" in names
    assert "plan.created" in names
    # somebody edits the second online ballot's entry directly in the database: who cast it
    target = [i for a, i in actions if a == "ballot.cast"][1]
    async with app.state.db.write_session() as s:
        res = await s.exec(text("UPDATE audit_entry SET actor_id = :u WHERE id = :i")
                           .bindparams(u=world.residents[2].user_id, i=target))
        assert res.rowcount == 1
        await s.commit()
    async with app.state.db.read_session() as s:
        report = (await audit.verify(s, world.community_id))[0]
    assert report.ok is False and report.first_broken_id == target and report.problem
    # the command line names it too
    env = os.environ | {"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
                        "ENVIRONMENT": "test"}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "app", "audit-verify"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"id={target}" in out.stdout and "BROKEN" in out.stdout


async def test_concurrent_ballots_keep_one_chain_and_one_current_row_each(client, world, clock, app) -> None:
    """Ballots of four households at once, each cast twice (on PostgreSQL a ballot and its current row are one
    statement, and so are an audit entry and its chain's head): the chain verifies with one entry per ballot in
    gap-free order, and each household's current row is its later ballot."""
    _, _, m = await setup_motion(client, world, clock.now())
    first = await asyncio.gather(*(vote(client, r.headers, m["id"], "agree") for r in world.residents))
    assert [r.status_code for r in first] == [200] * len(world.residents), [r.text for r in first]
    second = await asyncio.gather(*(vote(client, r.headers, m["id"], "disagree") for r in world.residents))
    assert [r.json()["version"] for r in second] == [2] * len(world.residents), [r.text for r in second]
    async with app.state.db.read_session() as s:
        report = (await audit.verify(s, world.community_id))[0]
        cast = (await s.exec(text("SELECT entity_id FROM audit_entry WHERE chain = :c AND action = 'ballot.cast'")
                             .bindparams(c=world.community_id))).all()
        ballots = (await s.exec(text("SELECT id, household_id, seq FROM ballot WHERE motion_id = :m")
                                .bindparams(m=m["id"]))).all()
        current = (await s.exec(text("SELECT household_id, ballot_id, seq, choice FROM current_ballot "
                                     "WHERE motion_id = :m").bindparams(m=m["id"]))).all()
    assert report.ok, report
    assert sorted(e for (e,) in cast) == sorted(b for b, _, _ in ballots) and len(ballots) == 2 * len(world.residents)
    later = {h: (b, seq) for b, h, seq in sorted(ballots, key=lambda x: x[2])}  # each household's highest seq
    assert {h: (b, seq) for h, b, seq, _ in current} == later
    assert {c for _, _, _, c in current} == {"disagree"}
    async with app.state.db.read_session() as s:  # the running tally the ballots moved equals a full count
        motion = await voting_repo.get_motion(s, m["id"])
        assert motion is not None
        running, full = await tallies.counts_of(s, m=motion), await tallies.full_counts(s, m=motion)
    assert running == full and running.disagree_households >= len(world.residents) and running.agree_households == 0


async def test_motions_gate(client, world, clock, app) -> None:
    now = clock.now()
    pid = await make_project(client, world)

    async def gate() -> dict:
        async with app.state.db.read_session() as s:
            return (await service.motions_gate(s, project_id=pid, now=clock.now())).model_dump()

    g = await gate()
    assert g["name"] == "motions_passed" and g["met"] is False and g["detail"] == "尚未制定改造方案"
    r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff, json=plan_body())
    plan = r.json()
    g = await gate()
    assert g["met"] is False and "尚未发起" in g["detail"]
    m = await make_motion(client, world, plan["id"], now, rule={"kind": "majority_of_participants"})
    optional = await make_motion(client, world, plan["id"], now, title="可选事项", required=False, matter="ordinary")
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200
    g = await gate()
    assert g["met"] is False and "投票中" in g["detail"]
    assert [x["id"] for x in g["figures"]["motions"]] == [m["id"]]  # only required motions
    assert g["figures"]["motions"][0]["outcome"] == "pending"
    assert g["figures"]["motions"][0]["counts"]["agree_households"] == 3  # OWNER-A's three households
    await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    # passed, but provisional until its vote-result notice (Tue 24 .. Mon 30 Nov) has passed
    g = await gate()
    assert g["met"] is False and "暂定" in g["detail"], g
    assert g["figures"]["motions"][0]["result_stage"] == "provisional"
    await travel(client, world, clock, sh(2026, 12, 1))
    g = await gate()
    assert g["met"] is True and g["figures"]["plan_version"] == 1, g
    fig = g["figures"]["motions"][0]
    assert fig["outcome"] == "passed" and fig["final"] is True and fig["result_stage"] == "final"
    assert fig["conditions"] == [{"name": "agree_households", "numerator": 3, "denominator": 3, "required": "1/2",
                                  "met": True}]
    assert optional["required"] is False
    # the project page shows the gate of plan_publicity → approved with the same state
    r = await client.get(f"{API}/projects/{pid}", headers=world.staff)
    gates = {gt["name"]: gt for sg in r.json()["stage_gates"] for gt in sg["gates"]}
    assert gates["motions_passed"]["met"] is True
    # a revised plan needs its own motions
    await client.post(f"{API}/plans/{plan['id']}/revisions", headers=world.staff,
                      json={"title": "修订", "items": [{"title": "x", "budget_fen": 10}]})
    g = await gate()
    assert g["met"] is False and g["figures"]["plan_version"] == 2


async def test_failed_motion_keeps_the_gate_shut_and_notice_data(client, world, clock, app) -> None:
    pid, plan, m = await setup_motion(client, world, clock.now())
    assert (await vote(client, world.residents[1].headers, m["id"], "disagree")).status_code == 200
    await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    async with app.state.db.read_session() as s:
        g = await service.motions_gate(s, project_id=pid, now=clock.now())
        data = await service.closed_motion(s, motion_id=m["id"])
        fig = await service.ranking_figures(s, project_id=pid)
        scope = await service.motion_scope_households(s, motion_id=m["id"])
        part = await service.participating_households(s, motion_id=m["id"])
    assert g.met is False and "未通过" in g.detail
    assert data.outcome == "failed" and data.project_id == pid and data.plan_id == plan["id"]
    assert part == [{"building": "1", "unit": "1", "room": "102", "area_m2": "75.50"}]
    assert data.participants == (ParticipantRow(building="1", unit="1", room="102", area_m2="75.50"),)
    assert {c.name for c in data.conditions} == {"participation_area", "participation_headcount",
                                                 "agree_area", "agree_headcount"}
    area_cond = next(c for c in data.conditions if c.name == "participation_area")
    assert area_cond.numerator == "75.50" and area_cond.denominator == "951.87"
    assert fig == ContributionFigures(contribution=Ratio(40_000_00, 200_000_01))
    assert scope["households"] == 12 and scope["owners"] == 10 and scope["area"] == 95187
