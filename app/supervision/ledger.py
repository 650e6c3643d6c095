"""The rectification ledger (整改台账) of a project: one row per report, oldest first — where, what, who found
it, who rectifies it by when, when it was done in how many working days, whether late, who verified it,
reopenings and the same-spot check. An XLSX written by :mod:`app.core.spreadsheet` (a title or a description
typed by someone stays text; formula-like text is neutralised), built in a thread. Staff and admins only: it
names reporters and contractors.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from openpyxl.styles import Alignment, Font
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core import spreadsheet
from app.core.spreadsheet import Value
from app.rules import SHANGHAI, business_date
from app.supervision import repository as repo
from app.supervision.common import is_overdue, project_of, scope_of
from app.supervision.lifecycle import STATUS_ZH
from app.supervision.models import LocationCheck, Report, Status
from app.supervision.stats import days_taken, is_late

HEADERS = ("序号", "发现日期", "楼栋", "单元", "问题（清单项）", "问题描述", "严重程度", "上报人", "上报身份", "状态",
           "整改单位", "整改责任人", "首次派单日期", "规定工作日", "整改期限", "整改完成日期", "用时（工作日）", "是否超期",
           "复核人", "复核日期", "重新打开次数", "位置核验", "报告编号")
WIDTHS = (6, 12, 8, 8, 18, 36, 9, 12, 10, 10, 18, 12, 12, 10, 12, 12, 12, 9, 12, 12, 12, 12, 34)
SEVERITY_ZH = {"critical": "严重", "major": "较重", "minor": "一般"}
FILED_AS_ZH = {"supervisor": "监督员", "resident": "居民"}
LOCATION_ZH = {LocationCheck.SAME_SPOT.value: "同点位", LocationCheck.UNVERIFIED.value: "位置待核实",
               LocationCheck.NO_GPS.value: "无定位"}


@dataclass(frozen=True)
class Ledger:
    title: str
    generated_zh: str
    rows: list[tuple[Value, ...]]


def _day(at: datetime | None) -> str | None:
    return business_date(at).isoformat() if at is not None else None


def _late_zh(r: Report, today_late: bool) -> str | None:
    if r.due_date is None or r.status not in (Status.RECTIFYING, Status.RECTIFIED, Status.VERIFIED, Status.CLOSED):
        return None
    return "是" if today_late or is_late(r) else "否"


def render(ledger: Ledger) -> bytes:
    wb, ws = spreadsheet.workbook("整改台账")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    title = spreadsheet.put(ws, 1, 1, f"{ledger.title} — 质量问题整改台账")
    title.font = Font(bold=True, size=14)
    title.alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADERS))
    spreadsheet.put(ws, 2, 1, f"共 {len(ledger.rows)} 条。{ledger.generated_zh}")
    for i, name in enumerate(HEADERS, start=1):
        c = spreadsheet.put(ws, 3, i, name)
        c.font = Font(bold=True)
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in ledger.rows:
        spreadsheet.append(ws, row)
    for i, w in enumerate(WIDTHS, start=1):
        ws.column_dimensions[ws.cell(row=3, column=i).column_letter].width = w
    ws.freeze_panes = "A4"
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    return spreadsheet.xlsx_bytes(wb)


async def ledger(session: AsyncSession, *, principal: Principal, project_id: str,
                 now: datetime) -> tuple[bytes, str, str]:
    """(XLSX bytes, ASCII file name, UTF-8 file name) of the project's ledger."""
    p = await project_of(session, project_id=project_id)
    authorize(principal, "supervision.manage", scope_of(p))
    reports = await repo.reports_of_projects(session, [p.id])
    ids = [r.id for r in reports]
    verified = await repo.latest_events(session, ids, "verify")
    names = await repo.user_names(session, {r.filed_by for r in reports} | {r.assignee_id for r in reports if r.assignee_id}
                                  | {e.actor_id for e in verified.values() if e.actor_id})
    places = await repo.place_names(session, {r.building_id for r in reports if r.building_id},
                                    {r.unit_id for r in reports if r.unit_id})
    orgs = {a.user_id: a.organization for a in await repo.contractor_appointments(session, [p.id])}
    today = business_date(now)
    rows: list[tuple[Value, ...]] = []
    for i, r in enumerate(reports, start=1):
        v = verified.get(r.id) if r.status in (Status.VERIFIED, Status.CLOSED) else None
        taken = days_taken(r)
        rows.append((
            i, _day(r.created_at), places.get(r.building_id or ""), places.get(r.unit_id or ""),
            f"{r.catalog_seq}. {r.title}" if r.catalog_seq else r.title, r.description, SEVERITY_ZH.get(r.severity),
            names.get(r.filed_by), FILED_AS_ZH.get(r.filed_as, r.filed_as), STATUS_ZH.get(r.status, r.status),
            orgs.get(r.assignee_id or ""), names.get(r.assignee_id or ""), _day(r.assigned_at),
            r.deadline_working_days, r.due_date.isoformat() if r.due_date else None,
            _day(r.rectified_at) if taken is not None else None, taken, _late_zh(r, is_overdue(report=r, today=today)),
            names.get(v.actor_id or "") if v else None, _day(v.at) if v else None, r.reopen_count,
            LOCATION_ZH.get(r.location_check or ""), r.id))
    local = now.astimezone(SHANGHAI)
    data = Ledger(title=p.title, generated_zh=f"生成于 {local:%Y-%m-%d %H:%M}。", rows=rows)
    content = await asyncio.to_thread(render, data)
    day = f"{local:%Y%m%d}"
    return content, f"rectification-ledger-{day}.xlsx", f"整改台账-{p.title[:40]}-{day}.xlsx"
