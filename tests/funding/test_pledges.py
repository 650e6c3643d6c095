"""Pledges: a resident for their household, staff from a paper pledge, and a contribution questionnaire's
answers in one step; every pledge audited; bad input 422, state 409."""

from __future__ import annotations

from sqlmodel import select

from app.core.models import AuditEntry
from tests.funding.helpers import (
    API,
    ROOF_SHARE,
    all_households,
    get_funding,
    item_id,
    line,
    pledge,
    setup_plan,
    shares_of,
)
from tests.surveys.helpers import answer, make_questionnaire
from tests.voting.helpers import add_member


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app.state.db.write_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.seq))).all())


async def test_residents_and_staff_pledge(app, client, world) -> None:
    _, plan = await setup_plan(client, world)
    pid, roof = plan["id"], item_id(plan, "屋面防水")
    res = world.residents[0]
    # a resident pledges for their household: by default its share; again with another amount (replaces)
    r = await pledge(client, res.headers, pid, [{"item_id": roof}])
    assert r.status_code == 200, r.text
    share = next(i for i in r.json()["items"] if i["title"] == "屋面防水")["share_fen"]
    r = await pledge(client, res.headers, pid, [{"item_id": roof, "amount_fen": share + 100}], key="p-1")
    assert r.status_code == 200
    replay = await pledge(client, res.headers, pid, [{"item_id": roof, "amount_fen": share + 100}], key="p-1")
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == r.json()
    assert next(i for i in r.json()["items"] if i["title"] == "屋面防水")["pledged_fen"] == share + 100
    # staff enter a paper pledge for another household (household_id required)
    other = world.household("2", "2", "201")["id"]
    r = await pledge(client, world.staff, pid, [{"item_id": roof, "amount_fen": 3_000_00}])
    assert r.status_code == 422 and r.json()["code"] == "funding.household_required"
    r = await pledge(client, world.staff, pid, [{"item_id": roof, "amount_fen": 3_000_00}], household_id=other)
    assert r.status_code == 200, r.text
    assert r.json()["household_id"] == other
    assert next(i for i in r.json()["items"] if i["title"] == "屋面防水")["pledge_channel"] == "paper"
    view = await get_funding(client, world.staff, pid)
    assert line(view, "屋面防水")["pledged_fen"] == share + 100 + 3_000_00 and line(view, "屋面防水")["pledges"] == 2
    # a withdrawal (0) keeps the row, counts nothing
    r = await pledge(client, world.staff, pid, [{"item_id": roof, "amount_fen": 0}], household_id=other)
    assert r.status_code == 200
    assert line(await get_funding(client, world.staff, pid), "屋面防水")["pledges"] == 1
    # every pledge version is in the community's audit chain
    entries = await _audit(app, "funding.pledged")
    # ("my share" is stored without an amount: null, with what it counted when pledged)
    assert [(e.data["household_id"], e.data["amount_fen"], e.data["counts_fen"], e.data["previous_fen"],
             e.data["channel"]) for e in entries] == [
        (res.household_id, None, share, 0, "online"), (res.household_id, share + 100, share + 100, None, "online"),
        (other, 3_000_00, 3_000_00, 0, "paper"), (other, 0, 0, 3_000_00, "paper")]
    assert [e.data["follows_share"] for e in entries] == [True, False, False, False]
    assert all(e.chain == world.community_id for e in entries)


async def test_who_may_pledge_and_bad_input(client, world) -> None:
    _, plan = await setup_plan(client, world)
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    res = world.residents[0]
    # amounts: negative, a fraction of a fen, a string, too large → 422
    for amount in (-1, 12.5, "100", 10**14):
        r = await pledge(client, res.headers, pid, [{"item_id": roof, "amount_fen": amount}])
        assert r.status_code == 422, (amount, r.text)
    r = await pledge(client, res.headers, pid, [{"item_id": "no-such-item"}])
    assert r.status_code == 422 and r.json()["code"] == "funding.unknown_item"
    assert r.json()["errors"][0]["loc"] == ["body", "items", 0, "item_id"]
    sewer = item_id(plan, "雨污分流")  # an item without a residents' share
    assert (await pledge(client, res.headers, pid, [{"item_id": sewer}])).json()["code"] == "funding.unknown_item"
    r = await pledge(client, res.headers, pid, [{"item_id": roof}, {"item_id": roof}])
    assert r.status_code == 422 and r.json()["code"] == "funding.duplicate_item"
    r = await pledge(client, res.headers, pid, [])
    assert r.status_code == 422
    # another household than one's own: 404; a tenant cannot pledge
    r = await pledge(client, res.headers, pid, [{"item_id": roof}], household_id=world.residents[1].household_id)
    assert r.status_code == 404
    tenant = await add_member(client, world, res.household_id, "tenant", "13700137000")
    r = await pledge(client, tenant, pid, [{"item_id": roof}])
    assert r.status_code == 403 and r.json()["code"] == "funding.not_permitted_relation"
    # out of the item's scope: windows are for building 1; staff pledging for building 2
    r = await pledge(client, world.staff, pid, [{"item_id": windows}], household_id=world.household("2", "1", "101")["id"])
    assert r.status_code == 422 and r.json()["code"] == "funding.household_out_of_scope"
    # nothing was recorded by any refused request
    view = await get_funding(client, world.staff, pid)
    assert line(view, "屋面防水")["pledges"] == 0 and line(view, "门窗更换")["pledges"] == 0
    # an unknown plan: 404
    assert (await pledge(client, res.headers, "nope", [{"item_id": roof}])).status_code == 404


async def test_pledges_after_funded_are_refused(client, world) -> None:
    """Where the profile counts pledges, the item is funded once pledges cover the share; then 409."""
    r = await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    profile = r.json()["profile"] | {"residents_funded_when": "pledged"}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200, r.text
    _, plan = await setup_plan(client, world)
    pid, roof = plan["id"], item_id(plan, "屋面防水")
    assert line(await get_funding(client, world.staff, pid), "屋面防水")["funded_when"] == "pledged"
    rows = await all_households(client, world.staff, pid, limit=200)
    shares = shares_of(rows, "屋面防水")
    *first, last = sorted(shares)
    for hid in first:
        r = await pledge(client, world.staff, pid, [{"item_id": roof}], household_id=hid)
        assert r.status_code == 200, r.text
    assert line(await get_funding(client, world.staff, pid), "屋面防水")["short_fen"] == shares[last]
    r = await pledge(client, world.staff, pid, [{"item_id": roof}], household_id=last)
    view = await get_funding(client, world.staff, pid)
    roof_line = line(view, "屋面防水")
    assert roof_line["status"] == "funded" and roof_line["pledged_fen"] == ROOF_SHARE and roof_line["short_fen"] == 0
    r = await pledge(client, world.staff, pid, [{"item_id": roof, "amount_fen": 1}], household_id=last)
    assert r.status_code == 409 and r.json()["code"] == "funding.item_funded"
    r = await pledge(client, world.residents[0].headers, pid, [{"item_id": roof, "amount_fen": 0}])
    assert r.status_code == 409 and r.json()["code"] == "funding.item_funded"


async def test_contribution_answers_become_pledges(app, client, world) -> None:
    pid_project, plan = await setup_plan(client, world)
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    q = await make_questionnaire(client, world, pid_project, kind="contribution")
    yes_q, amount_q = (x["id"] for x in q["questions"])
    amounts = [(world.residents[0], 6_000_00), (world.residents[1], 0), (world.residents[2], 4_500_00)]
    for res, amount in amounts:
        r = await answer(client, res.headers, q["id"], [{"question_id": yes_q, "value": amount > 0},
                                                         {"question_id": amount_q, "value": amount}])
        assert r.status_code == 200, r.text
    body = {"questionnaire_id": q["id"], "item_id": roof}
    # still open: its answers may change
    r = await client.post(f"{API}/plans/{pid}/pledges:from-questionnaire", headers=world.staff, json=body)
    assert r.status_code == 409 and r.json()["code"] == "funding.questionnaire_open"
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    # one resident had pledged already: kept unless replace
    assert (await pledge(client, world.residents[2].headers, pid, [{"item_id": roof, "amount_fen": 100}])).status_code == 200
    r = await client.post(f"{API}/plans/{pid}/pledges:from-questionnaire", headers=world.staff, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["question_id"] == amount_q and out["created"] == 1 and out["replaced"] == 0
    assert sorted((s["household_id"], s["reason"]) for s in out["skipped"]) == sorted([
        (world.residents[1].household_id, "zero"), (world.residents[2].household_id, "already_pledged")])
    assert out["item"]["pledged_fen"] == 6_000_00 + 100
    r = await client.post(f"{API}/plans/{pid}/pledges:from-questionnaire", headers=world.staff,
                          json=body | {"replace": True})
    assert r.json()["replaced"] == 2 and r.json()["item"]["pledged_fen"] == 6_000_00 + 4_500_00
    rows = {h["household_id"]: h for h in await all_households(client, world.staff, pid, limit=200)}
    got = next(i for i in rows[world.residents[0].household_id]["items"] if i["title"] == "屋面防水")
    assert got["pledged_fen"] == 6_000_00 and got["pledge_channel"] == "questionnaire"
    (entry, *_) = await _audit(app, "funding.pledges_imported")
    assert entry.data["questionnaire_id"] == q["id"] and entry.data["pledges"] == [
        {"household_id": world.residents[0].household_id, "amount_fen": 6_000_00, "previous_fen": 0}]
    # wrong kind, unknown questionnaire, unknown question: 422
    will = await make_questionnaire(client, world, pid_project, kind="willingness")
    for bad, code in (({"questionnaire_id": will["id"], "item_id": windows}, "funding.not_contribution"),
                      ({"questionnaire_id": "nope", "item_id": windows}, "funding.questionnaire_not_found"),
                      (body | {"question_id": yes_q}, "funding.unknown_question"),
                      ({"questionnaire_id": q["id"], "item_id": "nope"}, "funding.unknown_item")):
        r = await client.post(f"{API}/plans/{pid}/pledges:from-questionnaire", headers=world.staff, json=bad)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    # residents cannot
    r = await client.post(f"{API}/plans/{pid}/pledges:from-questionnaire", headers=world.residents[0].headers,
                          json=body)
    assert r.status_code == 403


async def test_questionnaire_pledges_skip_households_outside_the_item(client, world) -> None:
    pid_project, plan = await setup_plan(client, world, items=[
        {"title": "二号楼外墙保温", "scope": "building", "building": "2", "budget_fen": 10_000_00,
         "residents_share_fen": 7_000_00}])
    q = await make_questionnaire(client, world, pid_project, kind="contribution",
                                 questions=[{"type": "amount_fen", "text": "愿意出资金额"}])
    (amount_q,) = (x["id"] for x in q["questions"])
    for res in world.residents[:2]:  # both in building 1
        r = await answer(client, res.headers, q["id"], [{"question_id": amount_q, "value": 1_000_00}])
        assert r.status_code == 200, r.text
    outsider = world.household("2", "1", "102")["id"]
    r = await client.post(f"{API}/questionnaires/{q['id']}/paper-responses", headers=world.staff,
                          json={"household_id": outsider, "answers": [{"question_id": amount_q, "value": 2_000_00}]})
    assert r.status_code in (200, 201), r.text
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    r = await client.post(f"{API}/plans/{plan['id']}/pledges:from-questionnaire", headers=world.staff,
                          json={"questionnaire_id": q["id"], "item_id": plan["items"][0]["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1 and r.json()["item"]["pledged_fen"] == 2_000_00
    assert sorted(s["reason"] for s in r.json()["skipped"]) == ["out_of_scope", "out_of_scope"]


async def _funded_when(client, world, value: str) -> None:
    r = await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    profile = r.json()["profile"] | {"residents_funded_when": value}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200, r.text


def _mine(r, title: str) -> dict:
    return next(i for i in r.json()["items"] if i["title"] == title)


async def test_my_share_follows_the_opt_ins_and_never_overstates_the_share(client, world) -> None:
    """Where collections count: three households opt in to the windows with "my share" (no amount); each counts
    a third of the share, together exactly the share — not 12,000 + 6,000 + 4,000."""
    _, plan = await setup_plan(client, world)
    pid, windows = plan["id"], item_id(plan, "门窗更换")
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": windows, "split": "opted_in"}]})
    assert r.status_code == 200, r.text
    first = await pledge(client, world.residents[0].headers, pid, [{"item_id": windows}])
    assert first.status_code == 200, first.text
    assert _mine(first, "门窗更换")["pledged_fen"] == 12_000_00 and _mine(first, "门窗更换")["pledge_follows_share"]
    for res in world.residents[1:3]:
        r = await pledge(client, res.headers, pid, [{"item_id": windows}])
        assert r.status_code == 200, r.text
    assert _mine(r, "门窗更换")["share_fen"] == _mine(r, "门窗更换")["pledged_fen"] == 4_000_00
    windows_line = line(await get_funding(client, world.staff, pid), "门窗更换")
    assert (windows_line["pledged_fen"], windows_line["pledges"], windows_line["households"]) == (12_000_00, 3, 3)
    # the first household's pledge followed: it counts its share now, 4,000, not the 12,000 it was alone
    mine = (await get_funding(client, world.residents[0].headers, pid))["households"][0]
    assert next(i for i in mine["items"] if i["title"] == "门窗更换")["pledged_fen"] == 4_000_00
    # an explicit amount stays as given while the "my share" pledges keep following the split
    r = await pledge(client, world.residents[3].headers, pid, [{"item_id": windows, "amount_fen": 5_000_00}])
    assert r.status_code == 200, r.text
    assert _mine(r, "门窗更换")["pledged_fen"] == 5_000_00 and not _mine(r, "门窗更换")["pledge_follows_share"]
    assert _mine(r, "门窗更换")["share_fen"] == 3_000_00
    rows = await all_households(client, world.staff, pid, limit=200)
    pledged = {h["household_id"]: i["pledged_fen"] for h in rows for i in h["items"]
               if i["title"] == "门窗更换" and i["opted_in"]}
    assert pledged == {world.residents[0].household_id: 3_000_00, world.residents[1].household_id: 3_000_00,
                       world.residents[2].household_id: 3_000_00, world.residents[3].household_id: 5_000_00}
    assert line(await get_funding(client, world.staff, pid), "门窗更换")["pledged_fen"] == 14_000_00


async def test_an_opt_in_is_taken_after_the_item_is_covered(app, client, world) -> None:
    """Where pledges count: the first "my share" opt-in covers the windows alone; the next opt-ins are still
    taken (each lowers everyone's share) and the item stays covered by exactly its share. Other pledges for a
    covered item are refused as before."""
    await _funded_when(client, world, "pledged")
    _, plan = await setup_plan(client, world)
    pid, windows = plan["id"], item_id(plan, "门窗更换")
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": windows, "split": "opted_in"}]})
    assert r.status_code == 200, r.text
    r = await pledge(client, world.residents[0].headers, pid, [{"item_id": windows}])
    assert r.status_code == 200, r.text
    got = line(await get_funding(client, world.staff, pid), "门窗更换")
    assert (got["status"], got["pledged_fen"], got["short_fen"]) == ("funded", 12_000_00, 0)
    r = await pledge(client, world.residents[1].headers, pid, [{"item_id": windows}])
    assert r.status_code == 200, r.text  # not 409 funding.item_funded
    assert _mine(r, "门窗更换")["share_fen"] == _mine(r, "门窗更换")["pledged_fen"] == 6_000_00
    # staff enter a paper opt-in for a household without an account, also after the item is covered
    other = world.household("1", "2", "102")["id"]
    r = await pledge(client, world.staff, pid, [{"item_id": windows}], household_id=other)
    assert r.status_code == 200, r.text
    got = line(await get_funding(client, world.staff, pid), "门窗更换")
    assert (got["status"], got["pledged_fen"], got["pledges"], got["households"]) == ("funded", 12_000_00, 3, 3)
    # a household already in may not change or withdraw its pledge once the item is covered
    r = await pledge(client, world.residents[0].headers, pid, [{"item_id": windows, "amount_fen": 0}])
    assert r.status_code == 409 and r.json()["code"] == "funding.item_funded"
    r = await pledge(client, world.residents[1].headers, pid, [{"item_id": windows, "amount_fen": 1}])
    assert r.status_code == 409 and r.json()["code"] == "funding.item_funded"
    # nothing above the share ever counted, and no status flip-flopped
    statuses = [(e.data["from"], e.data["to"]) for e in await _audit(app, "funding.status_changed")]
    assert statuses == [("funding", "funded")]
    counts = [(e.data["household_id"], e.data["amount_fen"], e.data["counts_fen"])
              for e in await _audit(app, "funding.pledged")]
    assert counts == [(world.residents[0].household_id, None, 12_000_00),
                      (world.residents[1].household_id, None, 6_000_00), (other, None, 4_000_00)]
