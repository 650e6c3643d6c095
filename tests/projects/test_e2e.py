"""Done-when, tried as a new user would, over real HTTP with the real surveys, voting and publicity domains:
the demo project goes from survey to approved only after its survey passed, its motion passed and its plan
notice ran its full working days with one objection rejected; every refused step names why."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import Resident, activate, auth
from tests.projects.helpers import sh, travel


async def activate_everyone(client, world) -> dict[tuple[str, str, str], Resident]:
    """Activate the households that have no member yet; residents by (building, unit, room)."""
    for i, h in enumerate(world.households):
        code = world.codes.pop(h["id"], None)
        if code is None:
            continue
        r = await activate(client, code, f"居民{i + 1}", phone=f"1380013{i:04d}")
        assert r.status_code == 200, r.text
        me = await client.get("/api/v1/me", headers=auth(r.json()["access_token"]))
        world.residents.append(Resident(me.json()["user"]["id"], h["id"], r.json()["access_token"],
                                        r.json()["refresh_token"], f"居民{i + 1}"))
    by_id = {res.household_id: res for res in world.residents}
    return {(h["building"], h["unit"], h["room"]): by_id[h["id"]] for h in world.households}


async def test_survey_to_approved_end_to_end(client, world, clock) -> None:
    staff = world.staff
    pid_url = "/api/v1/projects/{}"

    async def advance(to: str, reason: str):
        return await client.post(f"/api/v1/projects/{pid}/advance", headers=world.staff,
                                 json={"to_stage": to, "reason": reason})

    def refused(r, *gates: str) -> list[dict]:
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "project.gate_unmet", r.text
        unmet = r.json()["unmet"]
        assert [g["name"] for g in unmet] == list(gates)
        assert all(g["met"] is False and g["detail"] for g in unmet)
        return unmet

    # ---- the project starts in survey; nothing moves before the willingness survey passed -------
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=staff,
                          json={"title": "幸福里小区老旧小区改造", "description": "屋面防水、雨污分流、加装电梯"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["stage"] == "survey"
    (gate,) = refused(await advance("planning", "征询完成"), "survey_passed")
    assert "尚未开展" in gate["detail"]
    r = await advance("plan_publicity", "跳过方案制定")
    assert r.status_code == 409 and r.json()["code"] == "project.invalid_stage"

    residents = await activate_everyone(client, world)
    assert len(residents) == 12
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=staff,
                          json={"kind": "willingness", "title": "改造意愿征询"})
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    (question,) = r.json()["questions"]
    r = await client.post(f"/api/v1/questionnaires/{qid}/open", headers=staff,
                          json={"closes_at": (clock.now() + timedelta(days=3)).isoformat()})
    assert r.status_code == 200, r.text
    # Laoshan: at least 2/3 of ALL 12 households must agree; two households say no
    no = {("2", "2", "102"), ("1", "2", "201")}
    for loc, res in residents.items():
        r = await client.put(f"/api/v1/questionnaires/{qid}/response", headers=res.headers,
                             json={"answers": [{"question_id": question["id"], "value": loc not in no}]})
        assert r.status_code == 200, (loc, r.text)
    (gate,) = refused(await advance("planning", "征询完成"), "survey_passed")
    assert "尚未结束" in gate["detail"]
    r = await client.post(f"/api/v1/questionnaires/{qid}/close", headers=staff)
    assert r.status_code == 200, r.text
    r = await advance("planning", "意愿征询通过")
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "planning"

    # ---- planning: the plan; then its publicity and its vote ------------------------------------
    r = await client.post(f"/api/v1/projects/{pid}/plans", headers=staff, json={
        "title": "幸福里小区改造方案（第一版）",
        "items": [{"title": "屋面防水", "budget_fen": 120_000_00,
                   "funding": [{"source": "district_subsidy", "amount_fen": 90_000_00},
                               {"source": "residents", "amount_fen": 30_000_00}]}],
    })
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = await advance("plan_publicity", "方案已制定")
    assert r.status_code == 200, r.text
    motions_gate, publicity_gate = refused(await advance("approved", "方案通过"), "motions_passed",
                                           "publicity_passed")
    assert "尚未发起" in motions_gate["detail"] and "尚未发布" in publicity_gate["detail"]

    r = await client.post(f"/api/v1/plans/{plan_id}/motions", headers=staff, json={
        "title": "关于实施幸福里小区改造方案的表决", "matter": "renovation_plan",
        "opens_at": clock.now().isoformat(), "closes_at": (clock.now() + timedelta(days=5)).isoformat()})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    r = await client.post(f"/api/v1/projects/{pid}/notices", headers=staff, json={
        "kind": "plan", "title": "幸福里小区改造方案公示", "body": "改造内容：屋面防水。总预算 120,000.00 元。",
        "start_date": "2026-11-23", "plan_id": plan_id})
    assert r.status_code == 201, r.text
    notice = r.json()
    # published on Monday 10:00: the partial day does not count; five working days Tue 24 .. Mon 30
    assert notice["partial_day_excluded"] is True and notice["counting_starts"] == "2026-11-24"
    assert notice["end_date"] == "2026-11-30" and notice["status"] == "open"

    # every owner votes once (OWNER-A's three households are one owner: one ballot); one disagrees
    owner_a_others = {("1", "2", "101"), ("2", "1", "101")}
    for loc, res in residents.items():
        if loc in owner_a_others:
            continue
        choice = "disagree" if loc == ("2", "2", "102") else "agree"
        r = await client.put(f"/api/v1/motions/{mid}/ballot", headers=res.headers, json={"choice": choice})
        assert r.status_code == 200, (loc, r.text)
    motions_gate, publicity_gate = refused(await advance("approved", "方案通过"), "motions_passed",
                                           "publicity_passed")
    assert "尚未期满" in publicity_gate["detail"]
    r = await client.post(f"/api/v1/motions/{mid}/close", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["tally"]["outcome"] == "passed"

    # the vote result was published automatically, rooms and areas only
    r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=residents[("2", "2", "201")].headers,
                         params={"limit": 10})
    assert r.status_code == 200
    vote_notice = next(n for n in r.json()["items"] if n["kind"] == "vote_result")
    assert vote_notice["motion_id"] == mid and vote_notice["start_date"] == "2026-11-24"
    assert "101" in vote_notice["body"] and "80.00" in vote_notice["body"]
    assert "居民" not in vote_notice["body"] and "1380013" not in vote_notice["body"]

    # one resident objects during the window
    objector = residents[("1", "1", "201")]
    r = await client.post(f"/api/v1/notices/{notice['id']}/objections", headers=objector.headers,
                          json={"text": "屋面防水应包括楼道窗户"})
    assert r.status_code == 201, r.text
    objection_id = r.json()["id"]
    # the vote passed, but its result is provisional until its own result notice (询异) has passed
    motions_gate, gate = refused(await advance("approved", "表决已通过"), "motions_passed", "publicity_passed")
    assert "暂定" in motions_gate["detail"] and "尚未期满" in gate["detail"]

    # the last second of both windows: still running
    await travel(client, world, clock, sh(2026, 11, 30, 23, 59, 59))
    motions_gate, gate = refused(await advance("approved", "公示期满"), "motions_passed", "publicity_passed")
    assert gate["figures"]["days_left"] == 1
    assert motions_gate["figures"]["motions"][0]["result_stage"] == "provisional"
    # the window has ended, but the objection is not answered yet; no new objection is taken
    await travel(client, world, clock, sh(2026, 12, 1, 0, 0, 1))
    (gate,) = refused(await advance("approved", "公示期满"), "publicity_passed")
    assert "1 条异议未答复" in gate["detail"]
    r = await client.post(f"/api/v1/notices/{notice['id']}/objections", headers=residents[("2", "1", "102")].headers,
                          json={"text": "迟到的异议"})
    assert r.status_code == 409 and r.json()["code"] == "objection.window_closed"
    r = await client.get(pid_url.format(pid), headers=residents[("2", "2", "201")].headers)
    assert r.json()["stage"] == "plan_publicity"

    # staff answer it (rejected, with a reason, published); the notice passes; the project is approved
    r = await client.post(f"/api/v1/objections/{objection_id}/resolution", headers=world.staff,
                          json={"decision": "rejected", "reason": "楼道窗户更换已列入第二期，不在本方案范围"})
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/notices/{notice['id']}/objections", headers=residents[("2", "2", "201")].headers)
    assert [(o["status"], o["reason"]) for o in r.json()["items"]] == [
        ("rejected", "楼道窗户更换已列入第二期，不在本方案范围")]
    r = await client.get(f"/api/v1/notices/{notice['id']}", headers=objector.headers)
    assert r.json()["status"] == "passed"
    r = await advance("approved", "表决通过且方案公示期满，异议不予采纳")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stage"] == "approved" and body["next_stage"] == "construction"
    assert [(m["from_stage"], m["to_stage"]) for m in body["history"]] == [
        ("survey", "planning"), ("planning", "plan_publicity"), ("plan_publicity", "approved")]
    assert all(m["actor_id"] == world.staff_user_id for m in body["history"])
    assert body["history"][-1]["reason"] == "表决通过且方案公示期满，异议不予采纳"
    gates = {g["name"]: g for sg in body["stage_gates"] for g in sg["gates"]}
    assert gates["survey_passed"]["met"] and gates["motions_passed"]["met"] and gates["publicity_passed"]["met"]

    # the street office sees the community ranked with its figures
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}/ranking", headers=world.admin)
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["project_id"] == pid and item["has_data"] is True
    assert item["participation"]["share"] == "1/1"
    assert item["contribution"] == {"numerator": 30_000_00, "denominator": 120_000_00, "share": "1/4",
                                    "percent": "25.00"}
    assert item["willingness"]["denominator"] == 12 and item["willingness"]["numerator"] >= 8
