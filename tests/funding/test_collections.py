"""Collections and refunds, the status of an item (funding → funded → funding after a refund → dropped after a
plan revision removes it), the ledger carried across plan versions, and the approved → construction gate."""

from __future__ import annotations

from sqlmodel import select

from app.core.models import AuditEntry
from tests.funding.helpers import (
    API,
    WINDOWS_SHARE,
    all_households,
    collect,
    earlier_gates_met,
    get_funding,
    item_id,
    line,
    plan_body,
    pledge,
    refund,
    setup_plan,
    shares_of,
    to_approved,
)


async def _statuses(app) -> list[tuple[str, str, str]]:
    async with app.state.db.write_session() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.action == "funding.status_changed")
                             .order_by(AuditEntry.seq))).all()
        return [(e.data["title"], e.data["from"], e.data["to"]) for e in rows]


async def test_collections_refunds_and_bad_input(app, client, world, clock) -> None:
    _, plan = await setup_plan(client, world)
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    hid = world.household("1", "1", "101")["id"]
    r = await collect(client, world, pid, hid, roof, 1_000_00, "SJ-0001", key="c-1")
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["payment"]["kind"] == "collection" and paid["payment"]["receipt_no"] == "SJ-0001"
    assert paid["item"]["collected_fen"] == 1_000_00 and paid["item"]["status"] == "funding"
    replay = await collect(client, world, pid, hid, roof, 1_000_00, "SJ-0001", key="c-1")
    assert replay.status_code == 201 and replay.json() == paid  # one record, the first answer
    # the same receipt number again: 409
    r = await collect(client, world, pid, hid, roof, 500, "SJ-0001")
    assert r.status_code == 409 and r.json()["code"] == "funding.receipt_taken"
    # a household outside the item's scope (windows: building 1 only): 422; unknown household: 422
    r = await collect(client, world, pid, world.household("2", "1", "101")["id"], windows, 100, "SJ-0002")
    assert r.status_code == 422 and r.json()["code"] == "funding.household_out_of_scope"
    assert r.json()["errors"][0]["loc"] == ["body", "household_id"]
    r = await collect(client, world, pid, "0" * 32, roof, 100, "SJ-0002")
    assert r.status_code == 422 and r.json()["code"] == "funding.household_out_of_scope"
    # amounts: 0, negative, a fraction of a fen, decimal text; a date after today (Shanghai); bad method: 422
    for amount in (0, -5, 0.5, "1.00"):
        assert (await collect(client, world, pid, hid, roof, amount, "SJ-0003")).status_code == 422  # type: ignore[arg-type]
    r = await collect(client, world, pid, hid, roof, 100, "SJ-0003", day="2026-11-24")
    assert r.status_code == 422 and r.json()["code"] == "funding.date_in_future"
    r = await client.post(f"{API}/plans/{pid}/collections", headers=world.staff, json={
        "household_id": hid, "item_id": roof, "amount_fen": 100, "received_on": "2026-11-23", "method": "gold",
        "receipt_no": "SJ-0003"})
    assert r.status_code == 422
    # refunds: at most what the household paid, net
    r = await refund(client, world, pid, hid, roof, 1_000_01)
    assert r.status_code == 422 and r.json()["code"] == "funding.refund_exceeds_paid" and r.json()["paid_fen"] == 1_000_00
    r = await refund(client, world, pid, world.household("1", "1", "102")["id"], roof, 1)
    assert r.status_code == 422 and r.json()["code"] == "funding.refund_exceeds_paid"
    r = await refund(client, world, pid, hid, roof, 400_00, receipt_no="TK-1")
    assert r.status_code == 201, r.text
    assert r.json()["payment"]["kind"] == "refund" and r.json()["item"]["collected_fen"] == 600_00
    r = await refund(client, world, pid, hid, roof, 600_01)
    assert r.status_code == 422
    # residents record nothing
    r = await client.post(f"{API}/plans/{pid}/collections", headers=world.residents[0].headers, json={
        "household_id": hid, "item_id": roof, "amount_fen": 100, "received_on": "2026-11-23", "method": "cash",
        "receipt_no": "SJ-9"})
    assert r.status_code == 403
    # what the household sees
    view = await get_funding(client, world.residents[0].headers, pid)
    roof_line = next(i for i in view["households"][0]["items"] if i["title"] == "屋面防水")
    assert (roof_line["collected_fen"], roof_line["refunded_fen"], roof_line["paid_fen"]) == (1_000_00, 400_00, 600_00)
    assert [(p["kind"], p["amount_fen"]) for p in roof_line["payments"]] == [("collection", 1_000_00), ("refund", 400_00)]
    assert line(view, "屋面防水")["collected_fen"] == 600_00 and line(view, "屋面防水")["refunded_fen"] == 400_00
    # each entry audited in the community's chain
    async with app.state.db.write_session() as s:
        actions = [e.action for e in (await s.exec(select(AuditEntry).where(
            AuditEntry.chain == world.community_id, AuditEntry.entity_type == "funding_payment"))).all()]
    assert sorted(actions) == ["funding.collected", "funding.refunded"]


async def test_status_funding_funded_refund_and_dropped(app, client, world) -> None:
    pid_project, plan = await setup_plan(client, world)
    pid, windows = plan["id"], item_id(plan, "门窗更换")
    # windows: 6 households of building 1, by area; collect each household's share
    rows = await all_households(client, world.staff, pid, limit=200)
    shares = shares_of(rows, "门窗更换")
    assert len(shares) == 6 and sum(shares.values()) == WINDOWS_SHARE  # type: ignore[arg-type]
    for i, (hid, share) in enumerate(sorted(shares.items())):
        r = await collect(client, world, pid, hid, windows, share, f"MC-{i}")  # type: ignore[arg-type]
        assert r.status_code == 201, r.text
    assert r.json()["item"]["status"] == "funded" and r.json()["item"]["short_fen"] == 0
    # once funded, pledges are refused; money may still come in
    r = await pledge(client, world.residents[0].headers, pid, [{"item_id": windows}])
    assert r.status_code == 409 and r.json()["code"] == "funding.item_funded"
    # a refund that takes it below the share: funding again
    r = await refund(client, world, pid, hid, windows, 1)
    assert r.json()["item"]["status"] == "funding" and r.json()["item"]["short_fen"] == 1
    r = await collect(client, world, pid, hid, windows, 1, "MC-last")
    assert r.json()["item"]["status"] == "funded"
    # a revision keeps the roof (same catalog item and scope) with a larger share, drops the windows
    body = plan_body()
    body["items"][0]["funding"][1]["amount_fen"] += 1_00
    body["items"][0]["budget_fen"] += 1_00
    del body["items"][1]
    r = await client.post(f"{API}/plans/{pid}/revisions", headers=world.staff,
                          json={"title": "修订方案", "items": body["items"]})
    assert r.status_code == 201, r.text
    new_plan = r.json()
    view = await get_funding(client, world.staff, new_plan["id"])
    assert [(i["title"], i["status"]) for i in view["items"]] == [("屋面防水", "funding"), ("门窗更换", "dropped")]
    dropped = line(view, "门窗更换")
    assert dropped["collected_fen"] == WINDOWS_SHARE and dropped["short_fen"] == 0 and dropped["item_id"] == windows
    roof_old, roof_new = item_id(plan, "屋面防水"), item_id(new_plan, "屋面防水")
    assert line(view, "屋面防水")["item_id"] == roof_new != roof_old
    assert line(view, "屋面防水")["line_id"] == line(await get_funding(client, world.staff, pid), "屋面防水")["line_id"]
    assert await _statuses(app) == [("门窗更换", "funding", "funded"), ("门窗更换", "funded", "funding"),
                                    ("门窗更换", "funding", "funded"), ("门窗更换", "funded", "dropped")]
    # the old version takes nothing any more; the dropped item takes no pledge or collection, only refunds
    r = await collect(client, world, pid, hid, roof_old, 100, "X-1")
    assert r.status_code == 409 and r.json()["code"] == "plan.superseded"
    assert r.json()["current_plan_id"] == new_plan["id"]
    r = await collect(client, world, new_plan["id"], hid, windows, 100, "X-1")
    assert r.status_code == 409 and r.json()["code"] == "funding.item_dropped"
    r = await pledge(client, world.residents[0].headers, new_plan["id"], [{"item_id": windows}])
    assert r.status_code == 409 and r.json()["code"] == "funding.item_dropped"
    r = await refund(client, world, new_plan["id"], hid, windows, shares[hid], reason="项目撤销，退还已缴款项")  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    assert r.json()["item"]["status"] == "dropped"
    async with app.state.db.write_session() as s:
        revised = (await s.exec(select(AuditEntry).where(AuditEntry.action == "funding.line_revised"))).all()
    assert [(e.data["before"]["item_id"], e.data["after"]["item_id"], e.data["after"]["residents_share_fen"])
            for e in revised] == [(roof_old, roof_new, 70_000_01 + 1_00)]
    # a later revision listing the windows again revives the line with what was paid
    again = plan_body()
    r = await client.post(f"{API}/plans/{new_plan['id']}/revisions", headers=world.staff,
                          json={"title": "再次修订", "items": again["items"]})
    assert r.status_code == 201, r.text
    view = await get_funding(client, world.staff, r.json()["id"])
    assert line(view, "门窗更换")["status"] == "funding"
    assert line(view, "门窗更换")["collected_fen"] == WINDOWS_SHARE - shares[hid]  # type: ignore[operator]


async def test_the_construction_gate(app, client, world, monkeypatch) -> None:
    earlier_gates_met(monkeypatch)
    pid_project, plan = await setup_plan(client, world)
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    await to_approved(client, world, pid_project)
    hid = world.household("1", "1", "101")["id"]
    assert (await collect(client, world, pid, hid, roof, 2_000_00, "G-1")).status_code == 201
    assert (await pledge(client, world.staff, pid, [{"item_id": windows, "amount_fen": 500_00}],
                         household_id=hid)).status_code == 200
    r = await client.post(f"{API}/projects/{pid_project}/advance", headers=world.staff,
                          json={"to_stage": "construction", "reason": "开工"})
    assert r.status_code == 409 and r.json()["code"] == "project.gate_unmet", r.text
    (gate,) = r.json()["unmet"]
    assert gate["name"] == "funding_complete" and not gate["met"]
    short = {i["title"]: i for i in gate["figures"]["short_items"]}
    assert short["屋面防水"] == {
        "line_id": short["屋面防水"]["line_id"], "item_id": roof, "title": "屋面防水",
        "residents_share_fen": 70_000_01, "pledged_fen": 0, "collected_fen": 2_000_00, "counts": "collected",
        "counted_fen": 2_000_00, "short_fen": 68_000_01, "status": "funding"}
    assert short["门窗更换"]["pledged_fen"] == 500_00 and short["门窗更换"]["short_fen"] == WINDOWS_SHARE
    assert "屋面防水" in gate["detail"] and "68,000.01" in gate["detail"] and "12,000.00" in gate["detail"]
    # the project view shows the gate too
    p = (await client.get(f"{API}/projects/{pid_project}", headers=world.staff)).json()
    assert [g["name"] for g in p["next_gates"]] == ["funding_complete"] and not p["next_gates"][0]["met"]
    # collect everyone's share; the last fen opens the gate
    rows = await all_households(client, world.staff, pid, limit=200)
    n = 0
    for title, item in (("屋面防水", roof), ("门窗更换", windows)):
        for h, share in sorted(shares_of(rows, title).items()):
            owed = share - (2_000_00 if (title, h) == ("屋面防水", hid) else 0)  # type: ignore[operator]
            if owed > 0:
                n += 1
                assert (await collect(client, world, pid, h, item, owed, f"G-{title}-{n}")).status_code == 201
    view = await get_funding(client, world.staff, pid)
    assert [i["status"] for i in view["items"]] == ["funded", "funded"] and view["totals"]["short_fen"] == 0
    assert view["totals"]["funded"] == 2 and view["totals"]["collected_fen"] == 70_000_01 + WINDOWS_SHARE
    r = await client.post(f"{API}/projects/{pid_project}/advance", headers=world.staff,
                          json={"to_stage": "construction", "reason": "居民出资已全部到位"})
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "construction"


async def test_gate_without_residents_share_and_with_unallocated_residents_funding(client, world) -> None:
    pid_project, plan = await setup_plan(client, world, items=[
        {"title": "道路", "budget_fen": 100_00, "funding": [{"source": "city_subsidy", "amount_fen": 100_00}]}])
    p = (await client.get(f"{API}/projects/{pid_project}", headers=world.staff)).json()
    funding_gate = next(g for sg in p["stage_gates"] for g in sg["gates"] if g["name"] == "funding_complete")
    assert funding_gate["met"] and "没有需居民出资" in funding_gate["detail"]
    assert (await get_funding(client, world.staff, plan["id"]))["items"] == []
    # residents' funding for the plan as a whole is on no item: it cannot be split, so the gate stays shut
    pid2 = (await client.post(f"{API}/communities/{world.community_id}/projects", headers=world.staff,
                              json={"title": "二期"})).json()["id"]
    r = await client.post(f"{API}/projects/{pid2}/plans", headers=world.staff, json={
        "title": "二期方案", "items": [{"title": "绿化", "budget_fen": 100_00}],
        "funding": [{"source": "residents", "amount_fen": 50_00}]})
    assert r.status_code == 201, r.text
    p = (await client.get(f"{API}/projects/{pid2}", headers=world.staff)).json()
    funding_gate = next(g for sg in p["stage_gates"] for g in sg["gates"] if g["name"] == "funding_complete")
    assert not funding_gate["met"] and funding_gate["figures"]["unallocated_residents_fen"] == 50_00
    assert (await get_funding(client, world.staff, r.json()["id"]))["totals"]["unallocated_residents_fen"] == 50_00


async def test_a_collection_beyond_the_households_share_is_refused(app, client, world) -> None:
    _, plan = await setup_plan(client, world)
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    hid = world.household("1", "1", "101")["id"]
    share = shares_of(await all_households(client, world.staff, pid, limit=200), "屋面防水")[hid]
    assert share is not None
    assert (await collect(client, world, pid, hid, roof, share - 100, "OC-1")).status_code == 201
    r = await collect(client, world, pid, hid, roof, 101, "OC-2")
    assert r.status_code == 422 and r.json()["code"] == "funding.over_collected", r.text
    assert (r.json()["share_fen"], r.json()["paid_fen"], r.json()["max_fen"]) == (share, share - 100, 100)
    assert r.json()["errors"][0]["loc"] == ["body", "amount_fen"]
    assert (await collect(client, world, pid, hid, roof, 100, "OC-2")).status_code == 201  # exactly the share
    r = await collect(client, world, pid, hid, roof, 1, "OC-3")
    assert r.status_code == 422 and r.json()["max_fen"] == 0
    # only when the body says so explicitly; the audit entry records it
    r = await collect(client, world, pid, hid, roof, 1, "OC-3", over_share=True, note="按户协商多缴一分")
    assert r.status_code == 201, r.text
    entries = await _audits(app, "funding.collected")
    assert [e.data.get("over_share") for e in entries] == [None, None, {"share_fen": share, "paid_before_fen": share}]
    # refunds as before: up to what was paid, net; after a refund the household may pay up to its share again
    assert (await refund(client, world, pid, hid, roof, 1_00)).status_code == 201
    assert (await collect(client, world, pid, hid, roof, 1_00 - 1, "OC-4")).status_code == 201
    assert (await collect(client, world, pid, hid, roof, 1, "OC-5")).json()["code"] == "funding.over_collected"
    # an opted_in item: a household that has not opted in owes nothing yet
    r = await client.put(f"{API}/plans/{pid}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": windows, "split": "opted_in"}]})
    assert r.status_code == 200, r.text
    r = await collect(client, world, pid, hid, windows, 100, "OC-6")
    assert r.status_code == 422 and r.json()["code"] == "funding.over_collected" and r.json()["share_fen"] == 0
    assert (await pledge(client, world.staff, pid, [{"item_id": windows}], household_id=hid)).status_code == 200
    r = await collect(client, world, pid, hid, windows, WINDOWS_SHARE, "OC-6")
    assert r.status_code == 201 and r.json()["item"]["status"] == "funded"


async def _audits(app, action: str) -> list[AuditEntry]:
    async with app.state.db.write_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.seq))).all())
