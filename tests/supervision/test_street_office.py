"""The figures a district judges contractors by — per project and per jurisdiction — and the 整改台账 ledger.

Seven reports of one project, assigned on Monday 2026-09-28 and rectified across the National Day week, counted
on Friday Oct 9: working days to rectify 1 (con2), 2, 3 (late: shortened to Sep 29) and 4 (con), so the median
is 2.5; one critical report still rectifying is overdue; (1 overdue + 1 late) / 5 with a deadline = 2/5.
"""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl

from app.rules import SHANGHAI
from app.supervision.ledger import HEADERS
from tests.factories import STAFF_PASSWORD, build_world
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import (
    act,
    appoint,
    file_report,
    photo_files,
    project_with_people,
    relogin,
    street_office,
    token_for,
)

API = "/api/v1"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def _rectify(client, rid: str, contractor: dict) -> None:
    up = await client.post(f"{API}/reports/{rid}/photos", headers=contractor, files=photo_files(phone_jpeg()))
    assert up.status_code == 201, up.text
    r = await act(client, rid, contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert r.status_code == 200, r.text


async def test_project_and_jurisdiction_figures_and_the_ledger(app, client, clock) -> None:
    clock.set(sh(2026, 9, 28, 10, 0))
    world = await build_world(app, client)
    p = await project_with_people(client, world)
    con2_id, con2 = await appoint(client, world, p.id, "contractors", "con2", organization="另一家施工单位")
    office = await street_office(app, world.jurisdiction_id)
    staff = world.staff

    async def report(severity: str, **fields) -> str:
        r = await file_report(client, p.id, p.supervisor, phone_jpeg(), severity=severity, **fields)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def assign(rid: str, assignee: str, **body) -> None:
        assert (await act(client, rid, staff, "acknowledge")).status_code == 200
        r = await act(client, rid, staff, "assign", assignee_id=assignee, **body)
        assert r.status_code == 200, r.text

    r1 = await report("critical", catalog_item="1")
    r2 = await report("major", catalog_item="1")
    r3, r4 = await report("minor"), await report("critical")
    r5 = await report("minor", description='=HYPERLINK("http://example.test","点此")')
    r6, r7 = await report("major"), await report("major")
    for rid in (r1, r2, r4):
        await assign(rid, p.contractor_id)
    await assign(r3, p.contractor_id, due_date="2026-09-29")
    await assign(r7, con2_id)
    assert (await act(client, r6, staff, "dismiss", reason="不属于本项目")).status_code == 200
    p2 = await project_with_people(client, world, suffix="-b")  # another project of the jurisdiction: one report
    r = await file_report(client, p2.id, p2.supervisor, phone_jpeg(), severity="critical", catalog_item="1")
    assert r.status_code == 201, r.text

    clock.set(sh(2026, 9, 29, 10, 0))
    await _rectify(client, r7, await token_for(app, con2_id))
    clock.set(sh(2026, 9, 30, 10, 0))
    await _rectify(client, r1, await token_for(app, p.contractor_id))
    assert (await act(client, r1, await token_for(app, p.supervisor_id), "verify")).status_code == 200
    assert (await act(client, r1, await relogin(client, "staff1", STAFF_PASSWORD), "close")).status_code == 200
    clock.set(sh(2026, 10, 8, 10, 0))
    await _rectify(client, r3, await token_for(app, p.contractor_id))
    clock.set(sh(2026, 10, 9, 10, 0))
    await _rectify(client, r2, await token_for(app, p.contractor_id))

    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    url = f"{API}/projects/{p.id}/supervision-stats"
    r = await client.get(url, headers=staff)
    assert r.status_code == 200, r.text
    stats = r.json()
    assert (stats["project_id"], stats["as_of"], stats["reports"]) == (p.id, "2026-10-09", 7)
    assert stats["by_status"] == {"submitted": 1, "acknowledged": 0, "rectifying": 1, "rectified": 3, "verified": 0,
                                  "closed": 1, "dismissed": 1}
    assert stats["by_severity"] == {"minor": 2, "major": 3, "critical": 2}
    assert stats["by_catalog_item"] == [{"catalog_seq": None, "title": "外墙保温", "reports": 5},
                                        {"catalog_seq": 1, "title": "拆除违法建设", "reports": 2}]
    assert stats["rectification"] == {
        "with_deadline": 5, "rectified": 4, "overdue_now": 1, "late": 1,
        "overdue_share": {"numerator": 2, "denominator": 5, "share": "2/5", "percent": "40.00"},
        "median_working_days": "2.5", "reopened": 0, "flagged": 0, "location_unverified": 0}
    by = {c["organization"]: c for c in stats["contractors"]}
    assert [c["organization"] for c in stats["contractors"]] == ["另一家施工单位", "青岛建工"]
    assert (by["青岛建工"]["assigned"], by["青岛建工"]["median_working_days"]) == (4, "3")
    assert by["青岛建工"]["overdue_share"] == {"numerator": 2, "denominator": 4, "share": "1/2", "percent": "50.00"}
    assert (by["另一家施工单位"]["user_id"], by["另一家施工单位"]["name"]) == (con2_id, "contractors-con2")
    assert (by["另一家施工单位"]["median_working_days"], by["另一家施工单位"]["overdue_share"]["share"]) == ("1", "0/1")
    # supervisors see the figures too; contractors and residents do not
    assert (await client.get(url, headers=await token_for(app, p.supervisor_id))).status_code == 200
    assert (await client.get(url, headers=await token_for(app, p.contractor_id))).status_code == 403
    assert (await client.get(url, headers=await token_for(app, world.residents[0].user_id))).status_code == 403

    # the jurisdiction, with the second project's report; the street office and global admins only
    jurl = f"{API}/jurisdictions/{world.jurisdiction_id}/supervision-stats"
    r = await client.get(jurl, headers=await token_for(app, office))
    assert r.status_code == 200, r.text
    js = r.json()
    assert (js["jurisdiction_id"], js["reports"], js["by_severity"]["critical"]) == (world.jurisdiction_id, 8, 3)
    assert js["by_catalog_item"][1] == {"catalog_seq": 1, "title": "拆除违法建设", "reports": 3}
    assert js["rectification"] == stats["rectification"]
    assert [(x["project_id"], x["reports"]) for x in js["projects"]] == [(p.id, 7), (p2.id, 1)]
    assert js["projects"][1]["rectification"]["overdue_share"] == {"numerator": 0, "denominator": 0, "share": None,
                                                                   "percent": None}
    assert js["projects"][1]["rectification"]["median_working_days"] is None
    assert len(js["contractors"]) == 2 and js["community_ids"] is None
    r = await client.get(jurl, headers=staff)  # staff of the community: its part (here, all of it)
    assert r.status_code == 200 and r.json()["community_ids"] == [world.community_id]
    assert r.json()["rectification"] == js["rectification"] and r.json()["reports"] == 8
    assert (await client.get(jurl, headers=await relogin(client, "admin", "admin-pass-2026!"))).status_code == 200
    assert (await client.get(f"{API}/jurisdictions/nope/supervision-stats",
                             headers=await token_for(app, office))).status_code == 404
    overdue = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}/overdue-reports",
                                headers=await token_for(app, office))).json()
    assert [i["id"] for i in overdue["items"]] == [r4] and overdue["items"][0]["working_days_overdue"] == 1

    # the ledger: staff only, one row per report, oldest first, typed text kept as text
    lurl = f"{API}/projects/{p.id}/rectification-ledger.xlsx"
    assert (await client.get(lurl, headers=await token_for(app, p.supervisor_id))).status_code == 403
    assert (await client.get(lurl, headers=await token_for(app, p.contractor_id))).status_code == 403
    r = await client.get(lurl, headers=staff)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''%E6%95%B4%E6%94%B9%E5%8F%B0%E8%B4%A6" in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["整改台账"]
    assert tuple(c.value for c in ws[3]) == HEADERS
    rows = {row[-1]: dict(zip(HEADERS, row, strict=True)) for row in ws.iter_rows(min_row=4, values_only=True)}
    assert list(rows) == [r1, r2, r3, r4, r5, r6, r7]
    assert rows[r1] | {"报告编号": None} == {
        "序号": 1, "发现日期": "2026-09-28", "楼栋": None, "单元": None, "问题（清单项）": "1. 拆除违法建设",
        "问题描述": "三号楼东侧外墙保温层空鼓脱落", "严重程度": "严重", "上报人": "supervisors-sup", "上报身份": "监督员",
        "状态": "已关闭", "整改单位": "青岛建工", "整改责任人": "contractors-con", "首次派单日期": "2026-09-28",
        "规定工作日": 3, "整改期限": "2026-10-08", "整改完成日期": "2026-09-30", "用时（工作日）": 2, "是否超期": "否",
        "复核人": "supervisors-sup", "复核日期": "2026-09-30", "重新打开次数": 0, "位置核验": "同点位", "报告编号": None}
    assert (rows[r3]["用时（工作日）"], rows[r3]["是否超期"], rows[r3]["整改期限"]) == (3, "是", "2026-09-29")
    assert (rows[r4]["是否超期"], rows[r4]["整改完成日期"], rows[r4]["状态"]) == ("是", None, "整改中")
    assert rows[r5]["问题描述"] == "'=HYPERLINK(\"http://example.test\",\"点此\")" and rows[r5]["是否超期"] is None
    assert (rows[r6]["状态"], rows[r7]["整改单位"], rows[r7]["用时（工作日）"]) == ("已驳回", "另一家施工单位", 1)
