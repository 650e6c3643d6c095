"""Money in the open: the funding notice generated from the plan (per-household amounts only where the rules
profile allows), and the street office's XLSX ledger written by the shared spreadsheet writer."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from tests.funding.helpers import (
    API,
    all_households,
    collect,
    item_id,
    plan_body,
    pledge,
    setup_plan,
    shares_of,
)


async def _notice(client, world, project_id: str, **extra) -> dict:
    r = await client.post(f"{API}/projects/{project_id}/notices", headers=world.staff,
                          json={"kind": "funding", "title": "改造资金公示", "start_date": "2026-11-23", **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def _set_profile(client, world, **changes) -> None:
    r = await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                         json=r.json()["profile"] | changes)
    assert r.status_code == 200, r.text


async def test_funding_notice_without_household_amounts(client, world) -> None:
    pid_project, plan = await setup_plan(client, world)
    pid, roof = plan["id"], item_id(plan, "屋面防水")
    hid = world.residents[0].household_id
    assert (await pledge(client, world.residents[0].headers, pid, [{"item_id": roof, "amount_fen": 3_000_00}])).status_code == 200
    assert (await collect(client, world, pid, hid, roof, 1_234_56, "N-1")).status_code == 201
    n = await _notice(client, world, pid_project)
    assert n["kind"] == "funding" and n["kind_zh"] == "资金预算" and n["plan_id"] == pid
    body = n["body"]
    assert f"资金公示：{plan['title']}（第 1 版）" in body
    assert "总预算：162,000.01 元" in body  # 100,000.01 + 12,000.00 + 50,000.00
    assert "省级补助 30,000.00 元" in body and "专营单位 50,000.00 元" in body and "居民出资 82,000.01 元" in body
    assert "1. 屋面防水（全小区）" in body and "2. 门窗更换（1号楼）" in body
    assert ("居民出资 70,000.01 元，按专有部分面积分摊；已认缴 3,000.00 元（1 户），已收缴 1,234.56 元；"
            "按已收缴计尚差 68,765.45 元；状态：筹集中") in body
    assert "分户明细" not in body and "本公示只列各项目的汇总金额" in body
    # no room, name or phone of anyone
    for h in world.households:
        assert f"{h['unit']}单元{h['room']}" not in body
    assert all(res.name not in body for res in world.residents)
    # residents read it like any notice; a funding notice with a body of its own is published as written
    r = await client.get(f"{API}/notices/{n['id']}", headers=world.residents[1].headers)
    assert r.status_code == 200 and r.json()["body"] == body
    own = await _notice(client, world, pid_project, body="资金情况详见附件")
    assert own["body"] == "资金情况详见附件"
    # only the current plan version is disclosed
    r = await client.post(f"{API}/projects/{pid_project}/notices", headers=world.staff, json={
        "kind": "funding", "title": "x", "start_date": "2026-11-23", "plan_id": "0" * 32})
    assert r.status_code == 422 and r.json()["code"] == "funding.plan_not_current"


async def test_funding_notice_lists_households_where_the_profile_allows(client, world) -> None:
    await _set_profile(client, world, funding_disclose_households=True)
    pid_project, plan = await setup_plan(client, world)
    pid, roof = plan["id"], item_id(plan, "屋面防水")
    hid = world.household("2", "2", "101")["id"]
    assert (await collect(client, world, pid, hid, roof, 500_00, "N-2")).status_code == 201
    body = (await _notice(client, world, pid_project))["body"]
    assert body.count("分户明细") == 2
    rows = await all_households(client, world.staff, pid, limit=200)
    share = shares_of(rows, "屋面防水")[hid]
    assert share is not None
    whole, cents = divmod(share, 100)
    assert f"2号楼2单元101  120.10 m²  应缴 {whole:,}.{cents:02d} 元  认缴 0.00 元  已缴 500.00 元" in body
    # the windows (building 1) list only building 1's households
    windows_part = body[body.index("2. 门窗更换"):]
    assert "1号楼1单元101" in windows_part and "2号楼" not in windows_part.split("居民出资合计")[0]
    # rooms and areas only: no name or phone
    assert all(res.name not in body for res in world.residents)
    assert "138" not in body


async def test_the_ledger_workbook(client, world) -> None:
    body = plan_body()
    body["items"][1]["title"] = '=HYPERLINK("http://evil.example","门窗")'
    pid_project, plan = await setup_plan(client, world, items=body["items"])
    pid, roof, windows = plan["id"], item_id(plan, "屋面防水"), plan["items"][1]["id"]
    hid = world.household("1", "1", "101")["id"]
    assert (await collect(client, world, pid, hid, roof, 1_00, "@SUM(A1)", note="-2+3")).status_code == 201
    assert (await collect(client, world, pid, hid, windows, 2_50, "R-2")).status_code == 201
    r = await client.get(f"{API}/plans/{pid}/funding/ledger.xlsx", headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert r.headers["content-disposition"].startswith("attachment;") and r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["资金汇总", "分户明细", "收退款记录"]
    summary = list(wb["资金汇总"].iter_rows(values_only=True))
    assert summary[0][:3] == ("序号", "改造项目", "范围") and len(summary) == 3
    assert summary[2][1] == "'" + body["items"][1]["title"]  # text, never a formula
    assert wb["资金汇总"].cell(row=3, column=2).data_type == "s"
    assert Decimal(str(summary[1][5])) == Decimal("70000.01") and Decimal(str(summary[1][12])) == Decimal("1.00")
    per_household = list(wb["分户明细"].iter_rows(values_only=True))[1:]
    roof_rows = [row for row in per_household if row[4] == "屋面防水"]
    assert len(roof_rows) == 12 and sum(Decimal(str(row[6])) for row in roof_rows) == Decimal("70000.01")
    payments = list(wb["收退款记录"].iter_rows(values_only=True))
    assert [row[1] for row in payments[1:]] == ["收款", "收款"]
    assert payments[1][8] == "'@SUM(A1)" and payments[1][9] == "'-2+3" and payments[1][4] == "101"
    # the street office (the jurisdiction's admin) may download it; residents may not
    assert (await client.get(f"{API}/plans/{pid}/funding/ledger.xlsx", headers=world.admin)).status_code == 200
    assert (await client.get(f"{API}/plans/{pid}/funding/ledger.xlsx",
                             headers=world.residents[0].headers)).status_code == 403
    assert (await client.get(f"{API}/plans/nope/funding/ledger.xlsx", headers=world.staff)).status_code == 404
