"""Responses: one current per household, replaced until close, every version kept; who may answer; answer
validation; concurrency; Idempotency-Key; staff paper forms."""

from __future__ import annotations

import asyncio

from sqlalchemy import func
from sqlmodel import select

from app.surveys.models import SurveyAnswer, SurveyResponse, SurveyResponseVersion
from tests.factories import activate
from tests.surveys.helpers import answer, make_project, make_questionnaire, new_member, paper

YES = [{"question_id": "q1", "value": True}]
NO = [{"question_id": "q1", "value": False}]


async def _rows(app, model, **where) -> int:
    async with app.state.db.read_session() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return (await s.exec(q)).one()


async def test_answer_replace_and_history(app, client, world) -> None:
    await _draft_cannot_be_answered(client, world)
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    res = world.residents[1]
    r = await answer(client, res.headers, q["id"], YES)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["household_id"] == res.household_id and first["version"] == 1 and first["channel"] == "online"
    assert first["answers"] == [{"question_id": "q1", "value": True}] and first["actor_id"] == res.user_id
    r = await answer(client, res.headers, q["id"], [{"question_id": "q1", "value": "no"}])  # "yes"/"no" accepted
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["answers"][0]["value"] is False
    view = (await client.get(f"/api/v1/questionnaires/{q['id']}", headers=res.headers)).json()
    assert view["response"]["version"] == 2 and view["response"]["answers"][0]["value"] is False
    assert [(h["room"], h["may_act"]) for h in view["my_households"]] == [("102", True)]
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/response/history", headers=res.headers)
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert [(v["version"], v["answers"][0]["value"], v["actor_name"]) for v in versions] == [
        (1, True, "居民2"), (2, False, "居民2")]
    # staff see who and when but not the choice (the Laoshan profile keeps staff_see_choices off)
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/response/history", headers=world.staff,
                         params={"household_id": res.household_id})
    assert r.status_code == 200 and [v["answers"] for v in r.json()["versions"]] == [None, None]
    assert await _rows(app, SurveyResponse, questionnaire_id=q["id"]) == 1
    assert await _rows(app, SurveyResponseVersion, questionnaire_id=q["id"]) == 2
    # the answer rows are replaced, not added to
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(SurveyAnswer.choice).where(SurveyAnswer.questionnaire_id == q["id"]))).all()
    assert list(rows) == ["no"]
    # after close nothing changes
    assert (await client.post(f"/api/v1/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    r = await answer(client, res.headers, q["id"], YES)
    assert r.status_code == 409 and r.json()["code"] == "survey.window_closed"
    assert await _rows(app, SurveyResponseVersion, questionnaire_id=q["id"]) == 2


async def _draft_cannot_be_answered(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, open_=False)
    r = await answer(client, world.residents[1].headers, q["id"], YES)
    assert r.status_code == 409 and r.json()["code"] == "survey.window_closed"
    r = await paper(client, world, q["id"], world.households[5]["id"], YES)
    assert r.status_code == 409 and r.json()["code"] == "survey.window_closed"


async def test_who_may_answer(client, world) -> None:
    await _several_households_need_household_id(client, world)
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    owner = world.residents[2]
    tenant = await new_member(client, world, owner.household_id, "tenant", "租户", "13911110001")
    family = await new_member(client, world, owner.household_id, "family", "家属", "13911110002")
    for headers in (tenant, family):
        r = await answer(client, headers, q["id"], YES)
        assert r.status_code == 403 and r.json()["code"] == "survey.not_permitted_relation"
        r = await answer(client, headers, q["id"], YES, household_id=owner.household_id)
        assert r.status_code == 403 and r.json()["code"] == "survey.not_permitted_relation"
    # the tenant sees the questionnaire but not the household's answers
    assert (await answer(client, owner.headers, q["id"], YES)).status_code == 200
    view = (await client.get(f"/api/v1/questionnaires/{q['id']}", headers=tenant)).json()
    assert view["my_households"][0]["may_act"] is False and view["my_households"][0]["response"] is None
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/response/history", headers=tenant)
    assert r.status_code == 403
    # staff cannot answer as residents; a stranger to the community gets 404
    assert (await answer(client, world.staff, q["id"], YES)).status_code == 403
    r = await answer(client, owner.headers, q["id"], YES, household_id=world.households[8]["id"])
    assert r.status_code == 404 and r.json()["code"] == "survey.household_not_found"
    r = await client.put(f"/api/v1/questionnaires/{'0' * 32}/response", headers=owner.headers, json={"answers": YES})
    assert r.status_code == 404


async def _several_households_need_household_id(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    res = world.residents[1]
    second = world.households[9]
    r = await activate(client, world.codes[second["id"]], res.name, phone="13800130001", headers=res.headers)
    assert r.status_code == 200, r.text
    r = await answer(client, res.headers, q["id"], YES)
    assert r.status_code == 422 and r.json()["code"] == "survey.household_required"
    assert sorted(r.json()["household_ids"]) == sorted([res.household_id, second["id"]])
    r = await answer(client, res.headers, q["id"], NO, household_id=second["id"])
    assert r.status_code == 200 and r.json()["household_id"] == second["id"]
    view = (await client.get(f"/api/v1/questionnaires/{q['id']}", headers=res.headers)).json()
    assert view["response"] is None and len(view["my_households"]) == 2
    answered = {h["household_id"]: h["response"] for h in view["my_households"]}
    assert answered[second["id"]]["answers"] == NO and answered[res.household_id] is None


async def test_invalid_answers(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, kind="needs", from_catalog=True, questions=[
        {"type": "single_choice", "text": "出资方式", "options": [{"text": "一次性"}, {"text": "分期"}]},
        {"type": "multiple_choice", "text": "最关心", "max_choices": 2,
         "options": [{"text": "停车"}, {"text": "漏水"}, {"text": "电梯"}]},
        {"type": "rating", "text": "满意度", "required": False},
        {"type": "amount_fen", "text": "出资", "required": False, "max_fen": 100000},
        {"type": "text", "text": "建议", "required": False, "max_length": 10},
    ])
    items = q["questions"][5]["items"]
    votable = {i["key"]: "want" for i in items if not i["mandatory"]}
    mandatory_key = next(i["key"] for i in items if i["mandatory"])
    good = [{"question_id": "q1", "value": "o1"}, {"question_id": "q2", "value": ["o3", "o1"]},
            {"question_id": "q6", "value": votable}]
    res = world.residents[1]
    url = f"/api/v1/questionnaires/{q['id']}/response"

    async def refused(answers: list, where: list) -> None:
        r = await client.put(url, headers=res.headers, json={"answers": answers})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "survey.invalid_answers"
        assert any(e["loc"] == where for e in body["errors"]), body["errors"]
        assert all(e["msg"] for e in body["errors"])

    await refused(good + [{"question_id": "nope", "value": 1}], ["body", "answers", 3, "question_id"])
    await refused([good[0], good[0], good[2], good[1]], ["body", "answers", 1, "question_id"])  # twice
    await refused(good[1:], ["body", "answers"])  # q1 missing
    await refused([{"question_id": "q1", "value": "o9"}] + good[1:], ["body", "answers", 0, "value"])  # not offered
    await refused([{"question_id": "q1", "value": 1}] + good[1:], ["body", "answers", 0, "value"])  # wrong type
    await refused([good[0], {"question_id": "q2", "value": ["o1", "o2", "o3"]}, good[2]],
                  ["body", "answers", 1, "value"])  # above max_choices
    await refused([good[0], {"question_id": "q2", "value": ["o1", "o1"]}, good[2]], ["body", "answers", 1, "value"])
    for bad in (True, 0, 6, 4.5, "5"):
        await refused(good + [{"question_id": "q3", "value": bad}], ["body", "answers", 3, "value"])
    for bad in (-1, 100001, True, 12.5):
        await refused(good + [{"question_id": "q4", "value": bad}], ["body", "answers", 3, "value"])
    await refused(good + [{"question_id": "q5", "value": "x" * 11}], ["body", "answers", 3, "value"])
    await refused(good[:2] + [{"question_id": "q6", "value": votable | {mandatory_key: "want"}}],
                  ["body", "answers", 2, "value"])  # mandatory items take no vote
    await refused(good[:2] + [{"question_id": "q6", "value": votable | {"2": "maybe"}}], ["body", "answers", 2, "value"])
    await refused(good[:2] + [{"question_id": "q6", "value": votable | {"99": "want"}}], ["body", "answers", 2, "value"])
    partial = dict(list(votable.items())[:3])
    await refused(good[:2] + [{"question_id": "q6", "value": partial}], ["body", "answers", 2, "value"])
    await refused(good[:2] + [{"question_id": "q6", "value": ["want"]}], ["body", "answers", 2, "value"])
    # shape limits: 10,000 answers, oversized ids → 422, never 500
    r = await client.put(url, headers=res.headers, json={"answers": [{"question_id": "q1", "value": "o1"}] * 10_000})
    assert r.status_code == 422 and r.json()["code"] == "validation.failed"
    r = await client.put(url, headers=res.headers, json={"answers": [{"question_id": "q" * 41, "value": 1}]})
    assert r.status_code == 422
    r = await client.put(url, headers=res.headers, json={"answers": "yes"})
    assert r.status_code == 422
    # a good one with every optional type is stored normalized (choices in the questionnaire's order)
    r = await client.put(url, headers=res.headers, json={"answers": good + [
        {"question_id": "q3", "value": 4}, {"question_id": "q4", "value": 100000},
        {"question_id": "q5", "value": "  多种树  "}]})
    assert r.status_code == 200, r.text
    stored = {a["question_id"]: a["value"] for a in r.json()["answers"]}
    assert stored["q2"] == ["o1", "o3"] and stored["q5"] == "多种树" and stored["q4"] == 100000
    assert stored["q6"] == votable


async def test_two_members_answer_at_once(app, client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    owner = world.residents[1]
    co_owner = await new_member(client, world, owner.household_id, "co_owner", "共有人", "13911110003")
    r1, r2 = await asyncio.gather(answer(client, owner.headers, q["id"], YES),
                                  answer(client, co_owner, q["id"], NO))
    assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
    assert sorted([r1.json()["version"], r2.json()["version"]]) == [1, 2]
    assert await _rows(app, SurveyResponse, questionnaire_id=q["id"], household_id=owner.household_id) == 1
    assert await _rows(app, SurveyResponseVersion, questionnaire_id=q["id"], household_id=owner.household_id) == 2
    assert await _rows(app, SurveyAnswer, questionnaire_id=q["id"], household_id=owner.household_id) == 1
    last = r1.json() if r1.json()["version"] == 2 else r2.json()
    view = (await client.get(f"/api/v1/questionnaires/{q['id']}", headers=co_owner)).json()
    assert view["response"]["version"] == 2 and view["response"]["answers"] == last["answers"]
    results = (await client.get(f"/api/v1/questionnaires/{q['id']}/results", headers=world.staff)).json()
    assert results["participation"]["households"]["count"] == 1
    counts = {o["key"]: o["count"] for o in results["questions"][0]["options"]}
    assert counts == ({"yes": 1, "no": 0} if last["answers"] == YES else {"yes": 0, "no": 1})


async def test_idempotency_key(app, client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    res = world.residents[1]
    headers = res.headers | {"Idempotency-Key": "resp-1"}
    url = f"/api/v1/questionnaires/{q['id']}/response"
    r1 = await client.put(url, headers=headers, json={"answers": YES})
    r2 = await client.put(url, headers=headers, json={"answers": YES})
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json() and r2.headers.get("idempotent-replayed") == "true"
    assert await _rows(app, SurveyResponseVersion, questionnaire_id=q["id"]) == 1
    r3 = await client.put(url, headers=headers, json={"answers": NO})
    assert r3.status_code == 409 and r3.json()["code"] == "idempotency.key_reused"
    staff = world.staff | {"Idempotency-Key": "paper-1"}
    body = {"household_id": world.households[6]["id"], "answers": YES, "note": "入户 张三"}
    p1 = await client.post(f"/api/v1/questionnaires/{q['id']}/paper-responses", headers=staff, json=body)
    p2 = await client.post(f"/api/v1/questionnaires/{q['id']}/paper-responses", headers=staff, json=body)
    assert p1.status_code == p2.status_code == 201 and p1.json() == p2.json()
    assert await _rows(app, SurveyResponseVersion, questionnaire_id=q["id"]) == 2


async def test_paper_responses(client, world) -> None:
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid)
    target = world.households[7]
    r = await paper(client, world, q["id"], target["id"], YES, note="入户问卷 No.17，王阿姨代签")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["channel"] == "paper" and body["note"] == "入户问卷 No.17，王阿姨代签"
    assert body["actor_id"] == world.staff_user_id and body["version"] == 1
    # a resident's online answer later replaces it (one response per household whatever the channel)
    res = world.residents[1]
    r = await paper(client, world, q["id"], res.household_id, NO)
    assert r.status_code == 201
    r = await answer(client, res.headers, q["id"], YES)
    assert r.json()["version"] == 2 and r.json()["channel"] == "online"
    r = await client.get(f"/api/v1/questionnaires/{q['id']}/response/history", headers=res.headers)
    assert [(v["channel"], v["answers"][0]["value"]) for v in r.json()["versions"]] == [("paper", False),
                                                                                       ("online", True)]
    results = (await client.get(f"/api/v1/questionnaires/{q['id']}/results", headers=world.staff)).json()
    assert results["participation"]["by_channel"] == {"online": 1, "paper": 1}
    # residents cannot enter paper forms; bad answers are refused the same way
    r = await client.post(f"/api/v1/questionnaires/{q['id']}/paper-responses", headers=res.headers,
                          json={"household_id": target["id"], "answers": YES})
    assert r.status_code == 403
    r = await paper(client, world, q["id"], target["id"], [{"question_id": "q1", "value": "maybe"}])
    assert r.status_code == 422 and r.json()["code"] == "survey.invalid_answers"
    r = await paper(client, world, q["id"], "0" * 32, YES)
    assert r.status_code == 404 and r.json()["code"] == "survey.household_out_of_scope"
