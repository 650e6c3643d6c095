"""Staged results (issue 15): a closed motion's result is provisional until its vote-result notice has passed
with every objection answered; an accepted objection lets staff correct the count (audited, recounted,
stored as a new revision, republished with a fresh window); the project gate needs final results."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import text

from app.core import audit
from app.voting.evidence import verify_pack
from tests.projects.helpers import sh, travel
from tests.voting.helpers import API, jpeg, make_motion, make_plan, make_project, paper, tally, vote

MAJORITY = {"kind": "majority_of_participants"}


async def notices_of(client, world, motion_id: str) -> list[dict]:
    """The motion's vote-result notices, oldest revision first."""
    r = await client.get(f"{API}/communities/{world.community_id}/notices", headers=world.staff,
                         params={"limit": 100})
    assert r.status_code == 200, r.text
    return sorted((n for n in r.json()["items"] if n["motion_id"] == motion_id and n["kind"] == "vote_result"),
                  key=lambda n: n["revision"])


async def object_to(client, headers: dict, notice_id: str, text_: str) -> str:
    r = await client.post(f"{API}/notices/{notice_id}/objections", headers=headers, json={"text": text_})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def resolve(client, world, objection_id: str, decision: str) -> None:
    r = await client.post(f"{API}/objections/{objection_id}/resolution", headers=world.staff,
                          json={"decision": decision, "reason": "经核实" if decision == "accepted" else "计票无误"})
    assert r.status_code == 200, r.text


async def correct(client, headers: dict, motion_id: str, *, photo: bytes | None = None, key: str | None = None,
                  **fields: str):
    files = {"photo": ("slip.jpg", photo, "image/jpeg")} if photo is not None else None
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"{API}/motions/{motion_id}/corrections", headers=h, data=fields, files=files)


async def gate_of(client, world, project_id: str) -> dict:
    r = await client.get(f"{API}/projects/{project_id}", headers=world.staff)
    assert r.status_code == 200, r.text
    return next(g for sg in r.json()["stage_gates"] if sg["to_stage"] == "approved" for g in sg["gates"]
                if g["name"] == "motions_passed")


async def test_close_provisional_correction_revisions_republish_and_final(client, world, clock, app) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now(), rule=MAJORITY)
    mid = m["id"]
    assert m["result_stage"] is None and m["result_revision"] is None
    # 1-1-102 agrees online; the committee enters 2-2-102's paper slip (disagree) for 2-2-201 by mistake
    assert (await vote(client, world.residents[1].headers, mid, "agree")).status_code == 200
    wrong, right = world.household("2", "2", "201")["id"], world.household("2", "2", "102")["id"]
    r = await paper(client, world, mid, wrong, "disagree", photo=jpeg((200, 30, 30)))
    assert r.status_code == 201, r.text
    slip_ballot = r.json()["ballot_id"]
    t = (await tally(client, world.staff, mid)).json()
    assert t["result_stage"] is None and t["final"] is False

    # ---- close: the result is stored, published, and provisional ------------------------------------
    r = await client.post(f"{API}/motions/{mid}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["tally"]["outcome"] == "failed"  # 1 of 2 participating households agree: not a majority
    assert closed["tally"]["result_stage"] == "provisional" and closed["tally"]["result_revision"] == 1
    assert closed["motion"]["result_stage"] == "provisional" and closed["motion"]["result_revision"] == 1
    (first,) = await notices_of(client, world, mid)
    assert first["revision"] == 1 and first["status"] == "scheduled" and first["superseded_by"] is None
    assert closed["tally"]["result_notice_id"] == first["id"]
    assert "尚未开始" in closed["tally"]["result_detail"]
    before = closed["tally"]["counts"]
    assert before["participating_area"] == 7550 + 9999
    g = await gate_of(client, world, pid)
    assert g["met"] is False and "未通过（暂定结果）" in g["detail"]

    # ---- the window opens (Tue 24 Nov): a resident objects to the count -----------------------------
    await travel(client, world, clock, sh(2026, 11, 24, 9))
    objector = world.residents[2]  # 1-1-201
    o1 = await object_to(client, objector.headers, first["id"], "2号楼2单元102的纸质选票被登记到了201")
    # a correction needs an ACCEPTED objection to this motion's result: pending → 409, another id → 409
    fields = {"objection_id": o1, "action": "move", "ballot_id": slip_ballot, "household_id": right,
              "reason": "选票照片上的签字与房号为 2号楼2单元102"}
    r = await correct(client, world.staff, mid, **fields)
    assert r.status_code == 409 and r.json()["code"] == "correction.objection_not_accepted", r.text
    r = await correct(client, world.staff, mid, **(fields | {"objection_id": "x" * 32}))
    assert r.status_code == 409 and r.json()["code"] == "correction.objection_not_on_result", r.text
    # staff only
    r = await correct(client, world.residents[1].headers, mid, **fields)
    assert r.status_code == 403
    await resolve(client, world, o1, "accepted")
    t = (await tally(client, world.staff, mid)).json()
    assert t["result_stage"] == "provisional" and "被采纳" in t["result_detail"]
    # fields the action lacks or does not use: 422 listing them
    r = await correct(client, world.staff, mid, objection_id=o1, action="move", ballot_id=slip_ballot,
                      choice="agree", reason="x")
    assert r.status_code == 422 and r.json()["code"] == "correction.invalid"
    assert {tuple(e["loc"]) for e in r.json()["errors"]} == {("body", "household_id"), ("body", "choice")}
    # an online ballot is never moved (it was cast by the household's own owner)
    online = (await client.get(f"{API}/motions/{mid}/ballots", headers=world.staff,
                               params={"channel": "online"})).json()["items"][0]["ballot_id"]
    r = await correct(client, world.staff, mid, **(fields | {"ballot_id": online}))
    assert r.status_code == 422 and r.json()["code"] == "correction.not_paper"

    # ---- the correction: moved, recounted, revision 2, republished ---------------------------------
    r = await correct(client, world.staff, mid, key="fix-1", **fields)
    assert r.status_code == 201, r.text
    fixed = r.json()
    c = fixed["correction"]
    assert c["revision"] == 2 and c["objection_id"] == o1 and c["action"] == "move"
    assert c["ballot_id"] == slip_ballot and c["from_household_id"] == wrong and c["household_id"] == right
    assert c["outcome_before"] == "failed" and c["outcome"] == "failed" and c["actor_id"] == world.staff_user_id
    assert fixed["receipt"]
    t2 = fixed["tally"]
    assert t2["result_revision"] == 2 and t2["result_stage"] == "provisional"
    assert t2["counts"]["participating_area"] == 7550 + 4500  # 2-2-102 (45.00 m²) instead of 2-2-201 (99.99 m²)
    assert t2["counts"]["disagree_households"] == 1 and t2["counts"]["agree_households"] == 1
    # a replay with the same key returns the first result; the same change again is refused
    again = await correct(client, world.staff, mid, key="fix-1", **fields)
    assert again.status_code == 201 and again.json() == fixed
    r = await correct(client, world.staff, mid, **fields)
    assert r.status_code == 409 and r.json()["code"] == "correction.ballot_already_corrected"
    assert (await tally(client, world.staff, mid)).json() == t2

    # the moved ballot counts for 2-2-102 now, with the same slip photo; the wrong entry no longer counts
    hist = (await client.get(f"{API}/motions/{mid}/ballots", headers=world.staff)).json()["items"]
    by_id = {b["ballot_id"]: b for b in hist}
    moved = by_id[c["new_ballot_id"]]
    assert moved["household_id"] == right and moved["current"] is True and moved["channel"] == "paper"
    assert moved["has_photo"] is True and by_id[slip_ballot]["current"] is False
    photo = await client.get(moved["photo_url"], headers=world.staff)
    original = await client.get(by_id[slip_ballot]["photo_url"], headers=world.staff)
    assert photo.status_code == 200 and photo.content == original.content

    # the earlier revision stays readable
    r = await client.get(f"{API}/motions/{mid}/results", headers=world.staff)
    assert r.status_code == 200, r.text
    rev1, rev2 = r.json()["items"]
    assert (rev1["revision"], rev1["current"], rev1["correction"]) == (1, False, None)
    assert rev1["tally"]["counts"] == before and rev1["superseded_at"] is not None
    assert rev2["revision"] == 2 and rev2["current"] is True and rev2["correction"]["id"] == c["id"]
    assert rev2["tally"]["result_stage"] == "provisional"
    page = await client.get(f"{API}/motions/{mid}/results", headers=world.staff, params={"limit": 1})
    assert [x["revision"] for x in page.json()["items"]] == [1] and page.json()["next_cursor"]
    r = await client.get(f"{API}/motions/{mid}/results", headers=world.residents[1].headers)
    assert r.status_code == 403

    # republished: a new vote-result notice (revision 2) with a fresh window; the old one is superseded
    first, second = await notices_of(client, world, mid)
    assert first["status"] == "failed" and first["superseded_by"] == second["id"]
    assert second["revision"] == 2 and second["superseded_by"] is None and second["status"] == "scheduled"
    assert second["start_date"] == "2026-11-25" and second["end_date"] == "2026-12-01"
    assert "更正" in second["title"] and "第 2 版" in second["title"]
    body = second["body"]
    assert "原登记为 2号楼2单元201 的纸质选票经核实属于 2号楼2单元102" in body and fields["reason"] in body
    assert "  2号楼2单元102  45.00 m²" in body and "  2号楼2单元201  99.99 m²" not in body
    assert "disagree" not in body and "反对" not in body  # places only, never a choice

    # audited: the correction on the motion with its counts, the new ballot version on the ballot; chain intact
    async with app.state.db.read_session() as s:
        rows = (await s.exec(text("SELECT action, entity_id, data FROM audit_entry WHERE action IN "
                                  "('motion.result_corrected', 'ballot.corrected') ORDER BY seq"))).all()
        reports = await audit.verify(s, world.community_id)
    assert [(a, e) for a, e, _ in rows] == [("ballot.corrected", c["new_ballot_id"]), ("motion.result_corrected", mid)]
    data = {a: (json.loads(d) if isinstance(d, str) else d) for a, _, d in rows}
    assert data["motion.result_corrected"]["counts"] == t2["counts"]
    assert data["motion.result_corrected"]["objection_id"] == o1 and data["motion.result_corrected"]["revision"] == 2
    assert data["ballot.corrected"]["household_id"] == right and data["ballot.corrected"]["moved_from"] == slip_ballot
    assert all(rep.ok for rep in reports)

    # ---- the second window: the moved slip should not count at all (an objection accepted) -----------
    await travel(client, world, clock, sh(2026, 11, 26, 9))
    r = await client.post(f"{API}/notices/{first['id']}/objections", headers=objector.headers,
                          json={"text": "旧公示"})
    assert r.status_code == 409  # the failed notice takes no objection
    o2 = await object_to(client, objector.headers, second["id"], "2号楼2单元102的选票不是业主本人签字")
    await resolve(client, world, o2, "accepted")
    r = await correct(client, world.staff, mid, objection_id=o2, action="void", ballot_id=c["new_ballot_id"],
                      reason="签字人非业主，该选票作废")
    assert r.status_code == 201, r.text
    t3 = r.json()["tally"]
    assert t3["result_revision"] == 3 and t3["outcome"] == "passed"  # 1 of 1 participating household agrees
    assert t3["counts"]["participating_households"] == 1 and r.json()["receipt"] is None
    first, second, third = await notices_of(client, world, mid)
    assert second["superseded_by"] == third["id"] and third["revision"] == 3
    assert third["start_date"] == "2026-11-27" and third["end_date"] == "2026-12-03"
    assert "作废" in third["body"]
    g = await gate_of(client, world, pid)
    assert g["met"] is False and "通过结果尚为暂定" in g["detail"]
    fig = g["figures"]["motions"][0]
    assert fig["result_stage"] == "provisional" and fig["result_revision"] == 3
    assert fig["result_notice_id"] == third["id"]

    # ---- the third notice passes with no objection: the result is final ---------------------------
    await travel(client, world, clock, sh(2026, 12, 3, 23, 59))
    assert (await tally(client, world.staff, mid)).json()["result_stage"] == "provisional"
    await travel(client, world, clock, sh(2026, 12, 4, 0, 1))
    t = (await tally(client, world.staff, mid)).json()
    assert t["result_stage"] == "final" and t["result_revision"] == 3 and "结果已确定" in t["result_detail"]
    assert t["final"] is True and t["counts"] == t3["counts"]
    resident_view = (await tally(client, world.residents[1].headers, mid)).json()
    assert resident_view["result_stage"] == "final"
    m_now = (await client.get(f"{API}/motions/{mid}", headers=world.residents[1].headers)).json()
    assert m_now["result_stage"] == "final" and m_now["result_revision"] == 3
    listed = (await client.get(f"{API}/projects/{pid}/motions", headers=world.staff)).json()["items"]
    assert [(x["id"], x["result_stage"]) for x in listed] == [(mid, "final")]
    g = await gate_of(client, world, pid)
    assert g["met"] is True and g["figures"]["motions"][0]["result_stage"] == "final", g
    # a final result is not corrected any more
    r = await correct(client, world.staff, mid, objection_id=o2, action="void", ballot_id=online, reason="x")
    assert r.status_code == 409 and r.json()["code"] == "correction.result_final"

    # ---- the evidence pack carries the revisions and corrections, and still verifies ----------------
    r = await client.get(f"{API}/motions/{mid}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        results = json.loads(z.read("results.json"))
        tally_json = json.loads(z.read("tally.json"))
    assert [x["revision"] for x in results["replaced_revisions"]] == [1, 2]
    assert [(x["revision"], x["action"]) for x in results["corrections"]] == [(2, "move"), (3, "void")]
    assert tally_json["result_revision"] == 3 and tally_json["counts"] == t3["counts"]
    verdict = verify_pack(r.content)
    assert verdict.ok, verdict.message


async def test_pending_objection_keeps_the_result_provisional_until_answered(client, world, clock) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now(), rule=MAJORITY)
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    g = await gate_of(client, world, pid)
    assert g["met"] is False and "暂定" in g["detail"]
    (notice,) = await notices_of(client, world, m["id"])
    await travel(client, world, clock, sh(2026, 11, 25, 9))
    o = await object_to(client, world.residents[2].headers, notice["id"], "我家投了票但没有计入")
    # the window ends (Mon 30 Nov 24:00) with the objection unanswered: still provisional
    await travel(client, world, clock, sh(2026, 12, 1, 9))
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["result_stage"] == "provisional" and "1 条异议未答复" in t["result_detail"]
    assert (await gate_of(client, world, pid))["met"] is False
    # a rejected objection: nothing to correct (409), and the notice has passed: final
    r = await correct(client, world.staff, m["id"], objection_id=o, action="void",
                      ballot_id="b" * 32, reason="x")
    assert r.status_code == 409 and r.json()["code"] == "correction.objection_not_accepted"
    await resolve(client, world, o, "rejected")
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["result_stage"] == "final" and t["result_revision"] == 1 and t["outcome"] == "passed"
    g = await gate_of(client, world, pid)
    assert g["met"] is True and "结果已确定" in g["detail"]


async def test_add_a_missing_slip_and_the_refusals(client, world, clock, app) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now(), rule=MAJORITY)
    mid = m["id"]
    early = world.household("2", "1", "201")["id"]
    r = await paper(client, world, mid, early, "agree", photo=jpeg((30, 30, 200)))
    assert r.status_code == 201, r.text
    early_slip = r.json()["ballot_id"]
    # 1-2-201 has no activated resident; OWNER-A (1-1-101 …) votes online after the slip was entered
    assert (await vote(client, world.residents[0].headers, mid, "disagree")).status_code == 200
    r = await correct(client, world.staff, mid, objection_id="o" * 32, action="void", ballot_id=early_slip,
                      reason="x")
    assert r.status_code == 409 and r.json()["code"] == "motion.not_closed"
    assert (await client.post(f"{API}/motions/{mid}/close", headers=world.staff)).status_code == 200
    (notice,) = await notices_of(client, world, mid)
    await travel(client, world, clock, sh(2026, 11, 24, 9))
    o = await object_to(client, world.residents[2].headers, notice["id"], "1号楼2单元201交了纸质票但未计入")
    await resolve(client, world, o, "accepted")
    missing = world.household("1", "2", "201")["id"]
    owner_a = world.household("2", "1", "101")["id"]  # OWNER-A's third household: its owner voted
    base = {"objection_id": o, "reason": "纸质选票漏登"}
    r = await correct(client, world.staff, mid, action="add", household_id=missing, choice="agree", **base)
    assert r.status_code == 422 and r.json()["code"] == "correction.photo_required"
    r = await correct(client, world.staff, mid, action="void", ballot_id=early_slip, photo=jpeg(), **base)
    assert r.status_code == 422 and r.json()["code"] == "correction.photo_not_expected"
    r = await correct(client, world.staff, mid, action="add", household_id=owner_a, choice="agree",
                      photo=jpeg(), **base)
    assert r.status_code == 409 and r.json()["code"] == "correction.household_voted"
    r = await correct(client, world.staff, mid, action="add", household_id="z" * 32, choice="agree",
                      photo=jpeg(), **base)
    assert r.status_code == 422 and r.json()["code"] == "correction.household_not_listed"
    # moving the early slip onto OWNER-A's household: its owner voted later, so it would not count
    r = await correct(client, world.staff, mid, action="move", ballot_id=early_slip, household_id=owner_a, **base)
    assert r.status_code == 409 and r.json()["code"] == "correction.later_ballot"

    before = (await tally(client, world.staff, mid)).json()
    r = await correct(client, world.staff, mid, action="add", household_id=missing, choice="agree",
                      photo=jpeg((10, 120, 10)), key="add-1", **base)
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["correction"]["action"] == "add" and added["correction"]["household_id"] == missing
    assert added["correction"]["photo_sha256"] and added["receipt"]
    after = added["tally"]
    assert after["counts"]["agree_households"] == before["counts"]["agree_households"] + 1
    assert after["counts"]["participating_area"] == before["counts"]["participating_area"] + 8888
    replay = await correct(client, world.staff, mid, action="add", household_id=missing, choice="agree",
                           photo=jpeg((10, 120, 10)), key="add-1", **base)
    assert replay.status_code == 201 and replay.json() == added
    hist = (await client.get(f"{API}/motions/{mid}/ballots", headers=world.staff)).json()["items"]
    new = next(b for b in hist if b["ballot_id"] == added["correction"]["new_ballot_id"])
    assert new["household_id"] == missing and new["current"] and new["channel"] == "paper" and new["has_photo"]
    assert (await client.get(new["photo_url"], headers=world.staff)).status_code == 200
    # the new ballot's receipt confirms it is counted
    r = await client.get(f"{API}/ballot-receipts/{added['receipt']}")
    assert r.status_code == 200 and r.json()["counted"] is True
    # the same accepted objection found a second error: a second correction, revision 3; the notice of
    # revision 2 (not yet open) is superseded and takes no objection once its window opens
    r = await correct(client, world.staff, mid, objection_id=o, action="void", ballot_id=early_slip,
                      reason="该户业主已书面撤回")
    assert r.status_code == 201, r.text
    assert r.json()["correction"]["revision"] == 3 and r.json()["tally"]["result_revision"] == 3
    first, second, third = await notices_of(client, world, mid)
    assert (first["status"], second["status"], third["status"]) == ("failed", "scheduled", "scheduled")
    assert first["superseded_by"] == second["id"] and second["superseded_by"] == third["id"]
    await travel(client, world, clock, sh(2026, 11, 25, 9))
    r = await client.post(f"{API}/notices/{second['id']}/objections", headers=world.residents[2].headers,
                          json={"text": "第二版有误"})
    assert r.status_code == 409 and r.json()["code"] == "objection.notice_superseded"
    assert r.json()["superseded_by"] == third["id"]
    assert (await client.post(f"{API}/notices/{third['id']}/objections", headers=world.residents[2].headers,
                              json={"text": "第三版有误"})).status_code == 201
    async with app.state.db.read_session() as s:
        n = (await s.exec(text("SELECT count(*) FROM motion_correction WHERE motion_id = :m").bindparams(m=mid))).one()
        kept = (await s.exec(text("SELECT revision FROM motion_result_revision WHERE motion_id = :m ORDER BY revision")
                             .bindparams(m=mid))).all()
    assert n[0] == 2 and [k[0] for k in kept] == [1, 2]


async def test_reaffirm_when_an_accepted_objection_finds_nothing_to_correct(client, world, clock, app) -> None:
    """An accepted objection fails the result notice; when the committee then finds the count right, a
    `reaffirm` republishes the same counts as the next revision, whose window runs: the result can become final."""
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now(), rule=MAJORITY)
    mid = m["id"]
    assert (await vote(client, world.residents[1].headers, mid, "agree")).status_code == 200
    slip = await paper(client, world, mid, world.household("2", "2", "201")["id"], "agree", photo=jpeg())
    assert slip.status_code == 201, slip.text
    r = await client.post(f"{API}/motions/{mid}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    before = r.json()["tally"]
    assert before["outcome"] == "passed" and before["final"] is True and before["result_stage"] == "provisional"
    (first,) = await notices_of(client, world, mid)
    await travel(client, world, clock, sh(2026, 11, 24, 9))
    o = await object_to(client, world.residents[2].headers, first["id"], "2号楼2单元201的纸质选票不是业主签字")
    reason = "经核对选票照片与产权登记，签字人为该户业主，计票无误"
    r = await correct(client, world.staff, mid, objection_id=o, action="reaffirm", reason=reason)
    assert r.status_code == 409 and r.json()["code"] == "correction.objection_not_accepted"
    await resolve(client, world, o, "accepted")
    stuck = (await tally(client, world.staff, mid)).json()
    assert stuck["result_stage"] == "provisional" and "维持原结果" in stuck["result_detail"]
    # a reaffirm takes no ballot, household, choice or photo
    r = await correct(client, world.staff, mid, objection_id=o, action="reaffirm", reason=reason,
                      ballot_id=slip.json()["ballot_id"])
    assert r.status_code == 422 and r.json()["code"] == "correction.invalid"
    assert [tuple(e["loc"]) for e in r.json()["errors"]] == [("body", "ballot_id")]
    r = await correct(client, world.staff, mid, objection_id=o, action="reaffirm", reason=reason, photo=jpeg())
    assert r.status_code == 422 and r.json()["code"] == "correction.photo_not_expected"
    r = await correct(client, world.residents[1].headers, mid, objection_id=o, action="reaffirm", reason=reason)
    assert r.status_code == 403

    r = await correct(client, world.staff, mid, key="reaffirm-1", objection_id=o, action="reaffirm", reason=reason)
    assert r.status_code == 201, r.text
    done = r.json()
    c = done["correction"]
    assert (c["revision"], c["action"], c["objection_id"], c["reason"]) == (2, "reaffirm", o, reason)
    assert (c["ballot_id"], c["from_household_id"], c["household_id"], c["new_ballot_id"]) == (None,) * 4
    assert c["outcome_before"] == c["outcome"] == "passed" and done["receipt"] is None
    t2 = done["tally"]
    assert t2["counts"] == before["counts"] and t2["conditions"] == before["conditions"]
    assert t2["result_revision"] == 2 and t2["result_stage"] == "provisional" and t2["final"] is True
    # a replay returns the first result; the same objection is not reaffirmed twice
    again = await correct(client, world.staff, mid, key="reaffirm-1", objection_id=o, action="reaffirm",
                          reason=reason)
    assert again.status_code == 201 and again.json() == done
    r = await correct(client, world.staff, mid, objection_id=o, action="reaffirm", reason=reason)
    assert r.status_code == 409 and r.json()["code"] == "correction.objection_superseded", r.text
    # every ballot counts as before
    hist = (await client.get(f"{API}/motions/{mid}/ballots", headers=world.staff)).json()["items"]
    assert len(hist) == 2 and all(b["current"] for b in hist)

    # republished as revision 2 with a fresh window; the failed notice is superseded
    first, second = await notices_of(client, world, mid)
    assert first["status"] == "failed" and first["superseded_by"] == second["id"]
    assert (second["revision"], second["status"], second["start_date"], second["end_date"]) == (
        2, "scheduled", "2026-11-25", "2026-12-01")
    assert "第 2 版" in second["title"] and reason in second["body"]
    # what changed, in words (app/publicity/service.py::_correction_words): nothing, the result stands
    assert "计票无误" in second["body"] and "维持原表决结果" in second["body"] and "补录" not in second["body"]
    assert t2["result_notice_id"] == second["id"]

    # audited as a correction of the count with the (unchanged) counts; no ballot entry
    async with app.state.db.read_session() as s:
        rows = (await s.exec(text("SELECT action, data FROM audit_entry WHERE action IN "
                                  "('motion.result_corrected', 'ballot.corrected') ORDER BY seq"))).all()
        reports = await audit.verify(s, world.community_id)
    assert [a for a, _ in rows] == ["motion.result_corrected"]
    data = json.loads(rows[0][1]) if isinstance(rows[0][1], str) else rows[0][1]
    assert (data["action"], data["objection_id"], data["reason"], data["revision"]) == ("reaffirm", o, reason, 2)
    assert data["counts"] == before["counts"] and data["outcome_before"] == data["outcome"] == "passed"
    assert all(rep.ok for rep in reports)

    # the new window passes with no objection: final, and the project gate passes
    await travel(client, world, clock, sh(2026, 12, 2, 0, 1))
    t = (await tally(client, world.staff, mid)).json()
    assert t["result_stage"] == "final" and t["result_revision"] == 2 and t["counts"] == before["counts"]
    g = await gate_of(client, world, pid)
    assert g["met"] is True and g["figures"]["motions"][0]["result_stage"] == "final", g
    r = await correct(client, world.staff, mid, objection_id=o, action="reaffirm", reason=reason)
    assert r.status_code == 409 and r.json()["code"] == "correction.result_final"
    r = await client.get(f"{API}/motions/{mid}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        results = json.loads(z.read("results.json"))
    assert [(x["revision"], x["action"]) for x in results["corrections"]] == [(2, "reaffirm")]
    verdict = verify_pack(r.content)
    assert verdict.ok, verdict.message
