"""Results: counts and exact shares, the profile's rules through the rules engine (one owner one choice),
visibility, the survey gate and the ranking figures, exports."""

from __future__ import annotations

import csv
import io
import random
from urllib.parse import unquote

from openpyxl import load_workbook

from app.rules import Choice, Voter, count_electorate
from app.surveys.export import HEADERS
from app.surveys.service import willingness_gate
from tests.factories import add_staff, create_community
from tests.surveys.helpers import answer, make_project, make_questionnaire, paper

YES = [{"question_id": "q1", "value": True}]
NO = [{"question_id": "q1", "value": False}]
OWNER_A = {("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101")}


def _not_a(world) -> list[dict]:
    """The nine households with an owner of their own."""
    return [h for h in world.households if (h["building"], h["unit"], h["room"]) not in OWNER_A]


async def _close(client, world, qid: str) -> None:
    r = await client.post(f"/api/v1/questionnaires/{qid}/close", headers=world.staff)
    assert r.status_code == 200, r.text


async def _results(client, headers, qid: str) -> dict:
    r = await client.get(f"/api/v1/questionnaires/{qid}/results", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _advance(client, world, pid: str):
    return await client.post(f"/api/v1/projects/{pid}/advance", headers=world.staff,
                             json={"to_stage": "planning", "reason": "意愿征询结束"})


async def test_laoshan_two_thirds_of_all_households(client, world) -> None:
    """Exactly 8 of 12 households agreeing passes (≥ 2/3 inclusive); 7 fails. The gate follows."""
    others = _not_a(world)
    outcomes = {}
    for agree in (8, 7):
        pid = await make_project(client, world, title=f"改造 {agree}")
        q = await make_questionnaire(client, world, pid)
        for i, h in enumerate(others):
            r = await paper(client, world, q["id"], h["id"], YES if i < agree else NO)
            assert r.status_code == 201, r.text
        staff_view = await _results(client, world.staff, q["id"])
        assert staff_view["status"] == "open" and staff_view["final"] is False
        r = await client.get(f"/api/v1/questionnaires/{q['id']}/results", headers=world.residents[0].headers)
        assert r.status_code == 403 and r.json()["code"] == "survey.results_not_public"
        r = await _advance(client, world, pid)  # still open: the gate waits for the close
        assert r.status_code == 409 and r.json()["unmet"][0]["name"] == "survey_passed"
        await _close(client, world, q["id"])
        res = await _results(client, world.residents[0].headers, q["id"])  # public once closed
        w = res["willingness"]
        assert w["rule"]["kind"] == "share_of_all_households" and w["rule"]["threshold"] == "2/3"
        cond = w["tally"]["conditions"][0]
        assert (cond["numerator"], cond["denominator"], cond["required"], cond["inclusive"]) == (agree, 12, "2/3", True)
        assert w["tally"]["counts"]["agree_households"] == agree
        assert w["tally"]["counts"]["disagree_households"] == 9 - agree
        assert res["participation"]["households"] == {"count": 9, "base": 12, "share": "3/4", "percent": "75.00"}
        yes = res["questions"][0]["options"][0]
        assert (yes["key"], yes["count"], yes["share"]) == ("yes", agree, f"{agree}/9" if agree == 7 else "8/9")
        outcomes[agree] = (w["outcome"], w["passed"], cond["shortfall"])
        r = await _advance(client, world, pid)
        if agree == 8:
            assert r.status_code == 200, r.text
            assert r.json()["stage"] == "planning"
        else:
            assert r.status_code == 409 and r.json()["code"] == "project.gate_unmet"
            gate = r.json()["unmet"][0]
            assert gate["figures"]["willingness"] == {"numerator": 7, "denominator": 12}
            assert "未通过" in gate["detail"]
    assert outcomes == {8: ("passed", True, 0), 7: ("failed", False, 1)}  # 1 more of the 3 silent ones


async def test_one_owner_one_choice_matches_the_rules_engine(client, world) -> None:
    """Tallies built in SQL equal app.rules.count_electorate on random patterns (OWNER-A holds three
    households: the answer of their smallest household id counts for all three); then a civil-code rule
    adopted by a new profile version applies to questionnaires opened after it only."""
    await _one_owner_patterns(client, world)
    await _profile_version_is_frozen_at_open(client, world)


async def _one_owner_patterns(client, world) -> None:
    voters = [Voter(h["id"], "A" if (h["building"], h["unit"], h["room"]) in OWNER_A else h["id"],
                    int(h["area_m2"].replace(".", ""))) for h in world.households]
    pid = await make_project(client, world)
    rng = random.Random(20261123)
    for _ in range(3):
        q = await make_questionnaire(client, world, pid)
        ballots = {}
        for h in world.households:
            pick = rng.choice(["yes", "no", None])
            if pick is not None:
                assert (await paper(client, world, q["id"], h["id"], YES if pick == "yes" else NO)).status_code == 201
                ballots[h["id"]] = Choice.AGREE if pick == "yes" else Choice.DISAGREE
        expected = count_electorate(voters, ballots)
        counts = (await _results(client, world.staff, q["id"]))["willingness"]["tally"]["counts"]
        for k in ("total_households", "total_owners", "total_area", "agree_households", "agree_owners", "agree_area",
                  "disagree_households", "disagree_owners", "disagree_area"):
            assert counts[k] == getattr(expected, k), (k, counts, expected)
    # OWNER-A answering yes for one household counts all three
    q = await make_questionnaire(client, world, pid)
    await paper(client, world, q["id"], world.household("1", "2", "101")["id"], YES)
    counts = (await _results(client, world.staff, q["id"]))["willingness"]["tally"]["counts"]
    assert (counts["agree_households"], counts["agree_owners"], counts["agree_area"]) == (3, 1, 24000)  # 80.00 + 60.00 + 100.00 m²


async def _profile_version_is_frozen_at_open(client, world) -> None:
    pid = await make_project(client, world)
    before = await make_questionnaire(client, world, pid)
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    profile = r.json()["profile"] | {"willingness_rule": {"kind": "civil_code_major"}}
    r = await client.put(f"/api/v1/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200 and r.json()["profile_version"] == 2
    after = await make_questionnaire(client, world, pid)
    for h in world.households[4:12]:
        await paper(client, world, before["id"], h["id"], YES)
        await paper(client, world, after["id"], h["id"], YES)
    old = await _results(client, world.staff, before["id"])
    new = await _results(client, world.staff, after["id"])
    assert old["profile_version"] == 1 and old["willingness"]["rule"]["kind"] == "share_of_all_households"
    assert new["profile_version"] == 2 and new["willingness"]["rule"]["kind"] == "civil_code_major"
    names = [c["name"] for c in new["willingness"]["tally"]["conditions"]]
    assert names == ["participation_area", "participation_headcount", "agree_area", "agree_headcount"]
    # households 4..11 are 8 owners of 10 (2-1-101 is OWNER-A's, whose answer counts for their 3 households)
    head = new["willingness"]["tally"]["conditions"][1]
    assert (head["numerator"], head["denominator"], head["met"]) == (8, 10, True)
    assert new["willingness"]["tally"]["counts"]["participating_households"] == 10
    assert new["willingness"]["outcome"] == "passed"  # decided early: 8/10 owners and the area already agree


async def test_needs_survey_content_rule_per_item(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, kind="needs", from_catalog=True)
    items = q["questions"][0]["items"]
    base = {i["key"]: "dont_need" for i in items if not i["mandatory"]}
    for i, h in enumerate(world.households):
        value = dict(base)
        if i < 8:
            value["2"] = "want"
        if i < 7:
            value["3"] = "want"
        if i == 11:
            value["4"] = "no_opinion"
        r = await paper(client, world, q["id"], h["id"], [{"question_id": "q1", "value": value}])
        assert r.status_code == 201, r.text
    await _close(client, world, q["id"])
    res = await _results(client, world.residents[1].headers, q["id"])
    assert res["willingness"] is None
    assert res["content_rule"]["kind"] == "share_of_all_households"
    by_key = {i["key"]: i for i in res["questions"][0]["items"]}
    two, three, four, one = by_key["2"], by_key["3"], by_key["4"], by_key["1"]
    assert (two["want"], two["dont_need"], two["want_of_all"]["share"], two["status"]) == (8, 4, "2/3", "passed")
    assert (three["want"], three["want_of_all"]["share"], three["want_of_all"]["percent"], three["status"]) == (
        7, "7/12", "58.33", "failed")
    assert three["tally"]["conditions"][0]["shortfall"] is None and three["tally"]["outcome"] == "failed"
    assert (four["want"], four["no_opinion"], four["status"]) == (0, 1, "failed")
    assert one["mandatory"] and one["status"] == "no_vote_needed" and one["status_zh"] == "必选项，无需表决"
    assert one["tally"] is None and one["answered"] == 0


ITEM_CHOICE = {"want": Choice.AGREE, "dont_need": Choice.DISAGREE, "no_opinion": Choice.ABSTAIN}
COUNT_KEYS = [f"{c}_{w}" for c in ("total", "agree", "disagree", "abstain") for w in ("households", "owners", "area")]


async def test_catalog_items_one_owner_one_choice_across_questions(client, world) -> None:
    """Under a content rule, every item of two catalog questions is tallied one owner one choice: OWNER-A's
    response through their smallest responding household id decides for all three of their households, also
    when that response leaves a question out (then OWNER-A has no choice there, whatever their other
    households said). Tallies equal app.rules.count_electorate; plain counts and "answered" count households."""
    voters = [Voter(h["id"], "A" if (h["building"], h["unit"], h["room"]) in OWNER_A else h["id"],
                    int(h["area_m2"].replace(".", ""))) for h in world.households]
    owners: dict[str, list[str]] = {}
    for v in voters:
        owners.setdefault(v.owner_key, []).append(v.household_id)
    a_ids = sorted(owners["A"])
    pid = await make_project(client, world)
    rng = random.Random(20261124)
    for round_ in range(3):
        q = await make_questionnaire(client, world, pid, kind="needs", from_catalog=True, questions=[
            {"type": "catalog_items", "text": "本单元最急需的项目", "required": False}])
        assert [(x["id"], x["type"], x["required"]) for x in q["questions"]] == [
            ("q1", "catalog_items", False), ("q2", "catalog_items", True)]
        keys = {x["id"]: [i["key"] for i in x["items"] if not i["mandatory"]] for x in q["questions"]}
        given: dict[str, dict[str, dict[str, str]]] = {}  # household -> question -> item -> choice
        for h in world.households:
            hid = h["id"]
            responds = rng.random() < 0.8
            q1 = {k: rng.choice(list(ITEM_CHOICE)) for k in keys["q1"] if rng.random() < 0.7}
            if hid in a_ids:  # round 0: the smallest id answers without q1; round 1: it does not respond
                responds = not (round_ == 1 and hid == a_ids[0])
                q1 = {} if round_ == 0 and hid == a_ids[0] else q1 or {keys["q1"][0]: "want"}
            if not responds:
                continue
            given[hid] = {"q2": {k: rng.choice(list(ITEM_CHOICE)) for k in keys["q2"]}} | ({"q1": q1} if q1 else {})
            answers = [{"question_id": qid, "value": v} for qid, v in given[hid].items()]
            assert (await paper(client, world, q["id"], hid, answers)).status_code == 201
        res = await _results(client, world.staff, q["id"])
        assert res["content_rule"]["kind"] == "share_of_all_households"
        reps = [min(hs for hs in households if hs in given) for households in owners.values()
                if any(hs in given for hs in households)]
        for x in res["questions"]:
            qid = x["question_id"]
            assert x["answered"]["count"] == sum(qid in g for g in given.values())
            for item in x["items"]:
                if item["mandatory"]:
                    assert item["tally"] is None and item["answered"] == 0
                    continue
                k = item["key"]
                plain = [g[qid][k] for g in given.values() if k in g.get(qid, {})]
                assert (item["want"], item["dont_need"], item["no_opinion"], item["answered"]) == (
                    plain.count("want"), plain.count("dont_need"), plain.count("no_opinion"), len(plain)), (qid, k)
                ballots = {r: ITEM_CHOICE[given[r][qid][k]] for r in reps if k in given[r].get(qid, {})}
                expected = count_electorate(voters, ballots)
                counts = item["tally"]["counts"]
                assert [counts[c] for c in COUNT_KEYS] == [getattr(expected, c) for c in COUNT_KEYS], (round_, qid, k)
        # OWNER-A's three households count through their deciding response only: round 0 it has no q1 answer
        # (their other households' q1 answers count for nothing), round 1 the second household decides
        a_rep = min(h for h in a_ids if h in given)
        assert (a_rep, "q1" in given[a_rep]) == [(a_ids[0], False), (a_ids[1], True), (a_rep, "q1" in given[a_rep])][
            round_]
        assert any("q1" in given.get(h, {}) for h in a_ids if h != a_rep)
        q1_items = {it["key"]: it for it in res["questions"][0]["items"]}
        for k in keys["q1"]:
            others = sum(k in g.get("q1", {}) for h, g in given.items() if h not in a_ids)
            owner_a = 3 if k in given[a_rep].get("q1", {}) else 0
            assert q1_items[k]["tally"]["counts"]["participating_households"] == others + owner_a


async def test_question_statistics_and_visibility(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, kind="satisfaction", questions=[
        {"type": "rating", "text": "总体满意度"},
        {"type": "multiple_choice", "text": "最满意", "options": [{"text": "道路"}, {"text": "照明"}, {"text": "绿化"}]},
        {"type": "amount_fen", "text": "愿意出资", "required": False},
        {"type": "text", "text": "建议", "required": False},
    ])
    plan = [(5, ["o1"], 10000, "很好"), (4, ["o1", "o2"], 0, None), (4, ["o3"], None, "路灯再多些"),
            (1, ["o2", "o3"], 2502, None)]
    for h, (rating, picks, fen, text) in zip(world.households[4:8], plan, strict=True):
        answers = [{"question_id": "q1", "value": rating}, {"question_id": "q2", "value": picks}]
        if fen is not None:
            answers.append({"question_id": "q3", "value": fen})
        if text is not None:
            answers.append({"question_id": "q4", "value": text})
        assert (await paper(client, world, q["id"], h["id"], answers)).status_code == 201
    res = await _results(client, world.staff, q["id"])
    rating, multi, amount, text = res["questions"]
    assert {o["key"]: o["count"] for o in rating["options"]} == {"5": 1, "4": 2, "3": 0, "2": 0, "1": 1}
    assert (rating["average"], rating["average_display"]) == ("7/2", "3.50")
    assert rating["answered"] == {"count": 4, "base": 12, "share": "1/3", "percent": "33.33"}
    assert [(o["key"], o["count"], o["share"]) for o in multi["options"]] == [
        ("o1", 2, "1/2"), ("o2", 2, "1/2"), ("o3", 2, "1/2")]
    assert (amount["answered"]["count"], amount["total_fen"], amount["min_fen"], amount["max_fen"]) == (3, 12502, 0, 10000)
    assert (amount["average_fen"], amount["average_yuan"]) == ("12502/3", "41.67")
    assert sorted(text["texts"]) == ["很好", "路灯再多些"] and text["answered"]["count"] == 2
    assert res["willingness"] is None
    # residents see results only after close, and never the texts
    res_headers = world.residents[0].headers
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results", headers=res_headers)
    assert r.status_code == 403 and r.json()["code"] == "survey.results_not_public"
    await _close(client, world, q["id"])
    public = await _results(client, res_headers, q["id"])
    assert public["final"] is True and public["questions"][3]["texts"] is None
    assert public["questions"][0]["average"] == "7/2"
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results.csv", headers=res_headers)
    assert r.status_code == 403


async def test_no_households_in_scope(client, world) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "空小区")
    _, token = await add_staff(client, world.admin, cid, "staff-empty")
    staff = {"Authorization": f"Bearer {token}"}
    r = await client.post(f"/api/v1/communities/{cid}/projects", headers=staff, json={"title": "空小区改造"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=staff, json={"kind": "willingness",
                                                                                          "from_catalog": True})
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    assert r.json()["households_in_scope"] == 0
    assert (await client.post(f"/api/v1/questionnaires/{qid}/open", headers=staff)).status_code == 200
    assert (await client.post(f"/api/v1/questionnaires/{qid}/close", headers=staff)).status_code == 200
    res = await _results(client, staff, qid)
    assert res["households_in_scope"] == 0 and res["area_in_scope_m2"] == "0.00"
    assert res["participation"]["households"] == {"count": 0, "base": 0, "share": None, "percent": None}
    assert res["participation"]["area"]["share"] is None
    assert res["willingness"]["outcome"] == "failed" and res["willingness"]["passed"] is False
    assert all(i["status"] in ("failed", "no_vote_needed") for i in res["questions"][1]["items"])
    assert res["questions"][1]["items"][1]["want_of_all"]["share"] is None
    for ext in ("csv", "xlsx"):
        assert (await client.get(f"/api/v1/questionnaires/{qid}/results.{ext}", headers=staff)).status_code == 200
    r = await client.post(f"/api/v1/projects/{pid}/advance", headers=staff,
                          json={"to_stage": "planning", "reason": "试试"})
    assert r.status_code == 409 and r.json()["unmet"][0]["figures"]["total_households"] == 0


async def test_exports(client, world) -> None:
    pid = await make_project(client, world, title="幸福里")
    q = await make_questionnaire(client, world, pid, from_catalog=True, title="意愿/需求=征询")
    items = {i["key"]: "want" for i in q["questions"][1]["items"] if not i["mandatory"]}
    for h in world.households[4:12]:
        await paper(client, world, q["id"], h["id"], [YES[0], {"question_id": "q2", "value": items}])
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results.csv", headers=world.staff)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv") and "utf-8" in r.headers["content-type"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert f'filename="questionnaire-{q["id"]}-results.csv"' in disposition
    utf8_name = unquote(disposition.split("filename*=UTF-8''")[1])
    assert utf8_name == "意愿_需求=征询-统计结果.csv"
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(table[0]) == HEADERS == ("类别", "题号", "题目", "选项/改造内容", "户数", "基数（户）", "占比",
                                          "百分比(%)", "结论")
    participation = next(row for row in table if row[2] == "参与户数")
    assert participation[4:8] == ["8", "12", "2 / 3", "66.67"]  # "2/3" alone would turn into a date in Excel
    item_row = next(row for row in table if row[3].startswith("2. 道路铺装"))
    assert item_row[4] == "8" and item_row[5] == "12" and item_row[8].startswith("通过（征询进行中）")
    assert any(row[0] == "意愿表决" and row[8] == "通过" for row in table)  # decided early: 8 of 12 already
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results.xlsx", headers=world.staff)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb["统计结果"]
    assert tuple(c.value for c in ws[1]) == HEADERS
    title_row = next(row for row in ws.iter_rows(values_only=True) if row[2] == "问卷")
    assert title_row[3] == "意愿/需求=征询"
    values = [row for row in ws.iter_rows(values_only=True) if row[3] and str(row[3]).startswith("2. 道路铺装")]
    assert values and values[0][4] == 8
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results.xlsx", headers=world.residents[0].headers)
    assert r.status_code == 403


async def test_gate_and_ranking_figures(app, client, world, clock) -> None:
    pid = await make_project(client, world)
    async with app.state.db.read_session() as s:
        gate = await willingness_gate(s, project_id=pid)
    assert gate.name == "survey_passed" and gate.met is False and "尚未开展" in gate.detail
    q = await make_questionnaire(client, world, pid, closes_at="2026-11-27T18:00:00+08:00")
    for h in _not_a(world)[:8]:
        await paper(client, world, q["id"], h["id"], YES)
    await answer(client, world.residents[0].headers, q["id"], NO)  # OWNER-A: three households disagree
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}/ranking", headers=world.admin)
    assert r.status_code == 200, r.text
    mine = next(i for i in r.json()["items"] if i["community_id"] == world.community_id)
    assert mine["willingness"] == {"numerator": 8, "denominator": 12, "share": "2/3", "percent": "66.67"}
    assert mine["participation"] == {"numerator": 9, "denominator": 12, "share": "3/4", "percent": "75.00"}
    # closes_at passing closes it for a gate given the clock (without the clock only /close counts)
    clock.advance(days=5)
    async with app.state.db.read_session() as s:
        assert (await willingness_gate(s, project_id=pid)).met is False
        gate = await willingness_gate(s, project_id=pid, now=clock.now())
    assert gate.met is True and gate.figures["willingness"] == {"numerator": 8, "denominator": 12}
    assert gate.figures["disagree_households"] == 3 and "已通过" in gate.detail
