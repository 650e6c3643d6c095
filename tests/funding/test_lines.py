"""The ledger lines themselves: a plan made before the ledger existed (its lines stored by the first write,
reads never write), concurrent collections settling one status change, and the key that follows an item
across plan versions."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, func
from sqlmodel import col, select

from app.core.models import AuditEntry
from app.funding.models import FundingLine
from tests.funding.helpers import (
    API,
    WINDOWS_SHARE,
    all_households,
    collect,
    get_funding,
    item_id,
    line,
    plan_body,
    pledge,
    setup_plan,
    shares_of,
)


async def _count(app, model, *where) -> int:
    async with app.state.db.write_session() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


async def test_a_plan_from_before_the_ledger(app, client, world) -> None:
    _, plan = await setup_plan(client, world)
    async with app.state.db.write_session() as s:  # as if the plan had been made before migration 0010
        await s.exec(delete(FundingLine))
        await s.commit()
    view = await get_funding(client, world.staff, plan["id"])
    assert [(i["title"], i["line_id"], i["status"]) for i in view["items"]] == [
        ("屋面防水", None, "funding"), ("门窗更换", None, "funding")]
    rows = await all_households(client, world.staff, plan["id"], limit=200)
    assert sum(v for v in shares_of(rows, "屋面防水").values() if v) == 70_000_01
    # reading (the view, the households, the gate on the project view, the workbook) stores nothing
    assert (await client.get(f"{API}/projects/{plan['project_id']}", headers=world.staff)).status_code == 200
    assert (await client.get(f"{API}/plans/{plan['id']}/funding/ledger.xlsx", headers=world.staff)).status_code == 200
    assert await _count(app, FundingLine) == 0
    # the first write stores every line, each audited once
    r = await pledge(client, world.residents[0].headers, plan["id"], [{"item_id": item_id(plan, "屋面防水")}])
    assert r.status_code == 200, r.text
    assert await _count(app, FundingLine) == 2
    assert await _count(app, AuditEntry, col(AuditEntry.action) == "funding.line_opened") == 4  # 2 with the plan


async def test_concurrent_collections_settle_one_status_change(app, client, world) -> None:
    _, plan = await setup_plan(client, world)
    pid, windows = plan["id"], item_id(plan, "门窗更换")
    shares = shares_of(await all_households(client, world.staff, pid, limit=200), "门窗更换")
    results = await asyncio.gather(*(collect(client, world, pid, hid, windows, share, f"C-{i}")  # type: ignore[arg-type]
                                     for i, (hid, share) in enumerate(sorted(shares.items()))))
    assert [r.status_code for r in results] == [201] * 6
    view = await get_funding(client, world.staff, pid)
    assert line(view, "门窗更换")["status"] == "funded" and line(view, "门窗更换")["collected_fen"] == WINDOWS_SHARE
    async with app.state.db.write_session() as s:
        changes = (await s.exec(select(AuditEntry).where(AuditEntry.action == "funding.status_changed"))).all()
    assert [(e.data["from"], e.data["to"], e.data["collected_fen"]) for e in changes] == [
        ("funding", "funded", WINDOWS_SHARE)]


async def test_items_are_followed_by_catalog_entry_or_title_and_scope(client, world) -> None:
    _, plan = await setup_plan(client, world)
    before = {i["title"]: i["line_id"] for i in (await get_funding(client, world.staff, plan["id"]))["items"]}
    body = plan_body()
    # the roof renamed (same catalog entry: same line); the windows moved to building 2 (another line, the old one
    # dropped); a new building-1 item whose title differs by a space is a line of its own
    body["items"][0]["title"] = "屋面防水（含保温）"
    body["items"][1] = body["items"][1] | {"building": "2"}
    body["items"].append({"title": "门窗 更换", "scope": "building", "building": "1", "budget_fen": 1_00,
                          "residents_share_fen": 1_00})
    r = await client.post(f"{API}/plans/{plan['id']}/revisions", headers=world.staff,
                          json={"title": "修订", "items": body["items"]})
    assert r.status_code == 201, r.text
    view = await get_funding(client, world.staff, r.json()["id"])
    got = [(i["title"], i["status"], i["line_id"]) for i in view["items"]]
    assert got[0] == ("屋面防水（含保温）", "funding", before["屋面防水"])
    assert got[1][0] == "门窗更换" and got[1][2] != before["门窗更换"] and got[1][1] == "funding"
    # "门窗 更换" is not the same title as "门窗更换" (titles are compared as written, NFKC and case aside)
    assert got[2][0] == "门窗 更换" and got[2][2] not in (before["门窗更换"], got[1][2])
    assert got[3] == ("门窗更换", "dropped", before["门窗更换"])
