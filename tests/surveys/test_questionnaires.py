"""Questionnaires: building them (custom, from the catalog, defaults), drafts, open/close, visibility, scope."""

from __future__ import annotations

import pytest

from tests.factories import activate, auth
from tests.surveys.helpers import answer, make_project, make_questionnaire, paper, sh, travel


async def _needs_from_catalog_in_one_call(client, world) -> None:
    pid = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff,
                          json={"kind": "needs", "from_catalog": True})
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["status"] == "draft" and q["kind"] == "needs" and q["title"] == "改造需求征询"
    assert q["catalog"] == "qingdao" and q["scope"]["kind"] == "community" and q["households_in_scope"] == 12
    assert len(q["questions"]) == 1
    question = q["questions"][0]
    assert question["type"] == "catalog_items" and question["required"] is True
    items = question["items"]
    assert [i["seq"] for i in items] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                         22, 23, 26, 27, 28, 29]
    mandatory = [i["title"] for i in items if i["mandatory"]]
    assert "拆除违法建设" in mandatory and "道路铺装" not in mandatory
    assert all(i["selection"] == "mandatory" for i in items if i["mandatory"])


async def _willingness_gets_the_default_question(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, open_=False)
    assert [(x["id"], x["type"], x["text"], x["willingness"]) for x in q["questions"]] == [
        ("q1", "yes_no", "是否同意实施改造", True)]
    # with the catalog too: the willingness question then the item list
    q = await make_questionnaire(client, world, pid, open_=False, from_catalog=True, title="意愿与需求征询")
    assert [x["type"] for x in q["questions"]] == ["yes_no", "catalog_items"]
    assert q["title"] == "意愿与需求征询"


async def _custom_questions_are_normalized(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, open_=False, kind="contribution", questions=[
        {"type": "single_choice", "text": "出资方式", "options": [{"text": "一次性"}, {"id": "o1", "text": "分期"}]},
        {"id": "q1", "type": "multiple_choice", "text": "最关心的问题", "max_choices": 2,
         "options": [{"text": "停车"}, {"text": "漏水"}, {"text": "电梯"}]},
        {"type": "amount_fen", "text": "愿意出资金额", "required": False, "max_fen": 500000},
        {"type": "rating", "text": "对现状的满意度"},
        {"type": "text", "text": "其他建议", "required": False, "max_length": 100},
    ])
    ids = [x["id"] for x in q["questions"]]
    assert ids == ["q2", "q1", "q3", "q4", "q5"]
    assert [o["id"] for o in q["questions"][0]["options"]] == ["o2", "o1"]
    assert (q["questions"][1]["min_choices"], q["questions"][1]["max_choices"]) == (1, 2)
    assert q["questions"][2]["max_fen"] == 500000
    assert (q["questions"][3]["min_rating"], q["questions"][3]["max_rating"]) == (1, 5)
    assert q["questions"][4]["max_length"] == 100


async def _invalid_questions(client, world) -> None:
    pid = await make_project(client, world)
    url = f"/api/v1/projects/{pid}/questionnaires"
    cases = [
        {"kind": "needs"},  # no questions, no catalog
        {"kind": "willingness", "questions": [{"type": "rating", "text": "评分"}]},  # no yes_no
        {"kind": "needs", "questions": [{"type": "single_choice", "text": "只有一个选项", "options": [{"text": "a"}]}]},
        {"kind": "needs", "questions": [{"type": "yes_no", "text": "x", "options": [{"text": "a"}, {"text": "b"}]}]},
        {"kind": "needs", "questions": [{"type": "catalog_items", "text": "x", "items": [1, 99]}]},
        {"kind": "needs", "questions": [{"id": "a", "type": "rating", "text": "x"}, {"id": "a", "type": "rating",
                                                                                     "text": "y"}]},
        {"kind": "needs", "questions": [{"type": "yes_no", "text": "x", "willingness": True}]},
        {"kind": "satisfaction", "from_catalog": True},
        {"kind": "needs", "questions": [{"type": "multiple_choice", "text": "x", "min_choices": 3,
                                         "options": [{"text": "a"}, {"text": "b"}]}]},
    ]
    for body in cases:
        r = await client.post(url, headers=world.staff, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["code"] == "survey.invalid_questions", body
        assert r.json()["errors"] and all("loc" in e and "msg" in e for e in r.json()["errors"])
    # shape errors (pydantic): unknown field, too long, too many questions, unknown type
    for body in ({"kind": "needs", "from_catalog": True, "surprise": 1},
                 {"kind": "needs", "title": "x" * 201, "from_catalog": True},
                 {"kind": "needs", "questions": [{"type": "yes_no", "text": "x"}] * 51},
                 {"kind": "needs", "questions": [{"type": "essay", "text": "x"}]},
                 {"kind": "opinion", "from_catalog": True}):
        r = await client.post(url, headers=world.staff, json=body)
        assert r.status_code == 422, r.text


async def _scope_validation(client, world) -> None:
    pid = await make_project(client, world)
    url = f"/api/v1/projects/{pid}/questionnaires"
    for scope in ({"kind": "building"}, {"kind": "building", "building_id": "x" * 32}, {"kind": "unit"},
                  {"kind": "community", "building_id": "x"}):
        r = await client.post(url, headers=world.staff, json={"kind": "willingness", "scope": scope})
        assert r.status_code == 422 and r.json()["code"] == "survey.invalid_scope", (scope, r.text)


async def _only_staff_create_and_manage(client, world) -> None:
    pid = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=world.residents[0].headers,
                          json={"kind": "willingness"})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/projects/{'0' * 32}/questionnaires", headers=world.staff,
                          json={"kind": "willingness"})
    assert r.status_code == 404
    q = await make_questionnaire(client, world, pid, open_=False)
    r = await client.post(f"/api/v1/questionnaires/{q['id']}/open", headers=world.residents[0].headers)
    assert r.status_code == 403


async def test_building_questions(client, world) -> None:
    """From the catalog in one call, the willingness default, custom questions normalized."""
    await _needs_from_catalog_in_one_call(client, world)
    await _willingness_gets_the_default_question(client, world)
    await _custom_questions_are_normalized(client, world)


async def test_refused_questionnaires(client, world) -> None:
    """Invalid questions and scopes (422 with errors[]), and who may create and open."""
    await _invalid_questions(client, world)
    await _scope_validation(client, world)
    await _only_staff_create_and_manage(client, world)


async def test_draft_edit_then_frozen_once_open(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, open_=False)
    url = f"/api/v1/questionnaires/{q['id']}"
    r = await client.patch(url, headers=world.staff, json={"title": "新标题", "questions": [
        {"type": "yes_no", "text": "您是否同意本小区实施综合改造？"}, {"type": "text", "text": "意见", "required": False}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "新标题" and body["version"] == 2
    assert [x["willingness"] for x in body["questions"]] == [True, False]
    # residents do not see drafts
    r = await client.get(url, headers=world.residents[0].headers)
    assert r.status_code == 404
    r = await client.post(f"{url}/open", headers=world.staff, json={"closes_at": "2026-11-30T18:00:00+08:00"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["closes_at"] == "2026-11-30T10:00:00Z"
    assert r.json()["profile_version"] == 1
    r = await client.patch(url, headers=world.staff, json={"title": "再改"})
    assert r.status_code == 409 and r.json()["code"] == "survey.frozen"
    r = await client.post(f"{url}/open", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "survey.not_draft"
    r = await client.get(url, headers=world.residents[0].headers)
    assert r.status_code == 200 and r.json()["status"] == "open"
    r = await client.post(f"{url}/close", headers=world.staff)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"] == "2026-11-23T02:00:00Z"
    r = await client.post(f"{url}/close", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "survey.already_closed"


async def test_window_by_the_server_clock(client, world, clock) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, open_=False)
    url = f"/api/v1/questionnaires/{q['id']}"
    r = await client.post(f"{url}/open", headers=world.staff, json={"closes_at": "2026-11-23T09:00:00+08:00"})
    assert r.status_code == 422 and r.json()["code"] == "survey.invalid_window"  # already past
    r = await client.post(f"{url}/open", headers=world.staff, json={
        "opens_at": "2026-11-24T08:00:00+08:00", "closes_at": "2026-11-27T18:00:00+08:00"})
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    resident = world.residents[1]
    yes = [{"question_id": "q1", "value": True}]
    r = await answer(client, resident.headers, q["id"], yes)
    assert r.status_code == 409 and r.json()["code"] == "survey.window_closed"  # not yet open
    await travel(client, world, clock, sh(2026, 11, 24, 8, 0))
    assert (await client.get(url, headers=resident.headers)).json()["status"] == "open"
    assert (await answer(client, resident.headers, q["id"], yes)).status_code == 200
    await travel(client, world, clock, sh(2026, 11, 27, 18, 0))  # closes_at reached: closed without /close
    r = await client.get(url, headers=resident.headers)
    assert r.json()["status"] == "closed"
    r = await answer(client, resident.headers, q["id"], yes)
    assert r.status_code == 409 and r.json()["code"] == "survey.window_closed"
    r = await client.post(f"{url}/close", headers=world.staff)  # records the close as of closes_at
    assert r.status_code == 200 and r.json()["closed_at"] == "2026-11-27T10:00:00Z"


async def test_building_and_unit_scope(client, world) -> None:
    pid = await make_project(client, world)
    target = world.household("2", "1", "102")
    r = await activate(client, world.codes[target["id"]], "二号楼居民", phone="13900000021")
    assert r.status_code == 200, r.text
    b2_resident = auth(r.json()["access_token"])
    mine = (await client.get("/api/v1/me", headers=b2_resident)).json()["households"][0]
    building_2, unit_21 = mine["building"]["id"], mine["unit"]["id"]
    q = await make_questionnaire(client, world, pid, scope={"kind": "building", "building_id": building_2})
    assert q["scope"] == {"kind": "building", "building_id": building_2, "unit_id": None, "building": "2",
                          "unit": None}
    assert q["households_in_scope"] == 6
    yes = [{"question_id": "q1", "value": True}]
    outsider = world.residents[0]  # building 1
    r = await client.get(f"/api/v1/questionnaires/{q['id']}", headers=outsider.headers)
    assert r.status_code == 404
    r = await answer(client, outsider.headers, q["id"], yes)
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
    r = await answer(client, outsider.headers, q["id"], yes, household_id=outsider.household_id)
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
    r = await paper(client, world, q["id"], outsider.household_id, yes)
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
    r = await client.get(f"/api/v1/questionnaires/{q['id']}", headers=b2_resident)
    assert r.status_code == 200 and [h["room"] for h in r.json()["my_households"]] == ["102"]
    r = await answer(client, b2_resident, q["id"], yes)
    assert r.status_code == 200 and r.json()["household_id"] == target["id"]
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/results", headers=world.staff)
    assert r.json()["households_in_scope"] == 6 and r.json()["participation"]["households"]["share"] == "1/6"
    # the residents' list shows only questionnaires taking in their households
    r = await client.get(f"/api/v1/projects/{pid}/questionnaires", headers=outsider.headers)
    assert r.json()["items"] == []
    q_unit = await make_questionnaire(client, world, pid, scope={"kind": "unit", "unit_id": unit_21})
    assert q_unit["households_in_scope"] == 3 and q_unit["scope"]["building_id"] == building_2
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff, json={
        "kind": "willingness", "scope": {"kind": "unit", "unit_id": unit_21, "building_id": "x" * 32}})
    assert r.status_code == 422 and r.json()["code"] == "survey.invalid_scope"


async def test_list_questionnaires(client, world) -> None:
    pid = await make_project(client, world)
    draft = await make_questionnaire(client, world, pid, open_=False, title="草稿")
    opened = await make_questionnaire(client, world, pid, title="已发布")
    r = await client.get(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["items"]] == [opened["id"], draft["id"]]
    r = await client.get(f"/api/v1/projects/{pid}/questionnaires", headers=world.residents[0].headers)
    assert [x["id"] for x in r.json()["items"]] == [opened["id"]]
    r = await client.get(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff, params={"limit": 1})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r2 = await client.get(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff,
                          params={"limit": 1, "cursor": r.json()["next_cursor"]})
    assert [x["id"] for x in r2.json()["items"]] == [draft["id"]] and r2.json()["next_cursor"] is None


async def test_services_for_other_domains(app, client, world) -> None:
    """create_questionnaire_for (supervision's satisfaction survey), questionnaire_scope_households, and the
    facts turnout reads (their selects run)."""

    from app.auth.policy import Principal
    from app.core.errors import Invalid
    from app.surveys import service

    pid = await make_project(client, world, title="长" * 200)
    staff = Principal(user_id=world.staff_user_id, name="社区工作人员", staff_of=frozenset({world.community_id}))
    now = app.state.clock.now()
    async with app.state.db.write_session() as s:
        q = await service.create_questionnaire_for(
            s, principal=staff, project_id=pid, kind="satisfaction", title=f"“{'长' * 200}”改造满意度评价", now=now,
            questions=[{"type": "rating", "text": "您对工程质量是否满意？", "required": True},
                       {"type": "text", "text": "其他意见和建议", "required": False}])
        with pytest.raises(Invalid) as exc:
            await service.create_questionnaire_for(s, principal=staff, project_id=pid, kind="satisfaction",
                                                   title="x", now=now, questions=[{"type": "stars", "text": "?"}])
        assert exc.value.code == "survey.invalid_questions"
        await s.commit()
    assert q.status == "draft" and len(q.title) == 200 and [x.type for x in q.questions] == ["rating", "text"]
    r = await client.get(f"/api/v1/questionnaires/{q.id}", headers=world.staff)
    assert r.status_code == 200 and r.json()["kind"] == "satisfaction"

    will = await make_questionnaire(client, world, pid)
    await paper(client, world, will["id"], world.households[5]["id"], [{"question_id": "q1", "value": True}])
    await paper(client, world, will["id"], world.households[6]["id"], [{"question_id": "q1", "value": False}])
    async with app.state.db.read_session() as s:
        ids = await service.questionnaire_scope_households(s, questionnaire_id=will["id"])
        assert ids == [h["id"] for h in world.households]  # by building, unit, room
        facts = await service.turnout_facts(s, questionnaire_id=will["id"], now=now)
        assert facts is not None and facts.status == "open" and facts.rule_spec["kind"] == "share_of_all_households"
        answered = set((await s.exec(facts.answered_ids)).all())
        assert answered == {world.households[5]["id"], world.households[6]["id"]}
        choices = dict((await s.exec(facts.choices)).all())
        assert choices == {world.households[5]["id"]: "agree", world.households[6]["id"]: "disagree"}
        assert [f.id for f in await service.open_turnout_facts(s, now=now)] == [will["id"]]
        assert await service.turnout_facts(s, questionnaire_id="0" * 32, now=now) is None
