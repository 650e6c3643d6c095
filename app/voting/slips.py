"""Printed ballot slips (业主表决票): one A4 page per household, for the owners who vote on paper.

Who gets one. The households of the motion's scope: its electoral roll once frozen (the entries as frozen:
place and area), before that the register's active households in scope (app.register.scope) — the same
households the roll will be frozen from, since a register change freezes open rolls first. Staff may narrow
them to one building or unit (422 ``slips.bad_filter`` for one that is not in the motion's community or
scope) and to the households that have not voted (``non_responders_only``). Printed in building, unit,
room order (numbers by value: 2号楼 before 10号楼).

What a slip carries. The community, the motion's title, the rule it decides by in words (the frozen rule once
it opened, else the one the profile gives now), the voting window, the household's place and exclusive area,
boxes for 同意 / 不同意 / 弃权, a signature and date line, and the slip code
(:func:`app.core.security.slip_code`: motion, household and a keyed check) as a QR code and in print, so a
clerk entering the signed slip scans which household and motion it belongs to.

Who may print. Staff who may enter paper ballots for the motion (``motion.paper_ballot``). Every print is
audited (``motion.slips_printed``: count and filters) in the community's chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal
from app.core import audit
from app.core.config import Settings
from app.core.errors import Invalid
from app.core.printing import A4_WIDTH, MARGIN, Sheet, zh_time
from app.core.security import slip_code
from app.core.units import format_area
from app.register import service as register_service
from app.rules.display import building_words, place_key, unit_words
from app.rules.wording import rule_words
from app.voting import repository as repo
from app.voting.models import Motion, ScopeKind
from app.voting.state import motion_for, rule_state

QR_SIZE = 42.0  # mm with the quiet zone: a slip code is a version 6 symbol, ~0.86 mm per module


@dataclass(frozen=True)
class Slip:
    household_id: str
    building: str
    unit: str
    room: str
    area_centi: int
    code: str


@dataclass(frozen=True)
class SlipSheet:
    """Everything the slips print, read before the PDF is built (plain values only)."""

    motion_id: str
    community: str
    title: str
    scope: str
    rule: str
    legal_source: str
    opens_at: datetime
    closes_at: datetime
    from_roll: bool
    slips: tuple[Slip, ...]


def _bad_filter(field: str, msg: str) -> Invalid:
    return Invalid("slips.bad_filter", "筛选条件不在本次表决的范围内", "The filter is not within this motion's scope",
                   errors=[{"loc": ["query", field], "msg": msg}])


async def _check_filters(session: AsyncSession, m: Motion, building_id: str | None, unit_id: str | None) -> None:
    """A building or unit of the motion's community and within its scope; a unit inside the building given."""
    if building_id is not None:
        b = await repo.get_building(session, building_id) if len(building_id) <= 32 else None
        if b is None or b.community_id != m.community_id:
            raise _bad_filter("building_id", "not a building of the motion's community")
        if m.scope in (ScopeKind.BUILDING, ScopeKind.UNIT) and m.building_id != b.id:
            raise _bad_filter("building_id", "outside the motion's scope")
    if unit_id is not None:
        u = await repo.get_unit(session, unit_id) if len(unit_id) <= 32 else None
        if u is None or u.community_id != m.community_id:
            raise _bad_filter("unit_id", "not a unit of the motion's community")
        if building_id is not None and u.building_id != building_id:
            raise _bad_filter("unit_id", "not a unit of the building given")
        if (m.scope == ScopeKind.BUILDING and m.building_id != u.building_id
                or m.scope == ScopeKind.UNIT and m.unit_id != u.id):
            raise _bad_filter("unit_id", "outside the motion's scope")


async def _scope_words(session: AsyncSession, m: Motion) -> str:
    b = await repo.get_building(session, m.building_id) if m.building_id else None
    u = await repo.get_unit(session, m.unit_id) if m.unit_id else None
    if m.scope == ScopeKind.UNIT and b is not None and u is not None:
        return f"{building_words(b.name)}{unit_words(u.name)}"
    if m.scope == ScopeKind.BUILDING and b is not None:
        return building_words(b.name)
    return "全小区"


async def slip_sheet(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                     building_id: str | None, unit_id: str | None, non_responders_only: bool,
                     now: datetime) -> SlipSheet:
    """The slips to print (staff with ``motion.paper_ballot``: 404 / 403 otherwise), audited."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    await _check_filters(session, m, building_id, unit_id)
    rows = await repo.slip_households(session, m, building_id=building_id, unit_id=unit_id,
                                      non_responders_only=non_responders_only)
    rows.sort(key=lambda r: (place_key(r[1], r[2], r[3]), r[0]))
    slips = tuple(Slip(household_id=h, building=b, unit=u, room=room, area_centi=area,
                       code=slip_code(settings.secret_key, motion_id=m.id, household_id=h))
                  for h, b, u, room, area in rows)
    rule = (await rule_state(session, m=m, now=now)).rule
    community = await register_service.community_or_404(session, community_id=m.community_id)
    from_roll = m.roll_frozen_at is not None
    await audit.append(session, chain=m.community_id, action="motion.slips_printed", entity_type="motion",
                       entity_id=m.id, actor_id=principal.user_id, at=now,
                       data={"count": len(slips), "building_id": building_id, "unit_id": unit_id,
                             "non_responders_only": non_responders_only,
                             "source": "roll" if from_roll else "register"})
    return SlipSheet(motion_id=m.id, community=community.name, title=m.title, scope=await _scope_words(session, m),
                     rule=rule_words(rule), legal_source=rule.legal_source, opens_at=m.opens_at,
                     closes_at=m.closes_at, from_roll=from_roll, slips=slips)


# ---- the PDF (built in a worker thread from the sheet alone) ---------------------------------------------

CHOICES = ("同意", "不同意", "弃权")


def _code_lines(code: str) -> list[str]:
    """The slip code in two lines, broken after the motion part (it is too long for one line beside the QR)."""
    head, _, rest = code.partition("-")
    motion, _, tail = rest.partition("-")
    return [f"{head}-{motion}-", tail]


def _slip_page(sheet: Sheet, s: SlipSheet, slip: Slip) -> None:
    sheet.add_page()
    sheet.heading(f"{s.community}\n业主表决票", size=20, gap=5)
    sheet.fields([
        ("表决事项", s.title),
        ("表决范围", s.scope),
        ("表决规则", f"{s.rule}（{s.legal_source}）" if s.legal_source else s.rule),
        ("投票时间", f"{zh_time(s.opens_at)} 至 {zh_time(s.closes_at)}（北京时间）"),
    ], size=11.5, label_width=24, gap=3)
    sheet.fields([
        ("房屋", f"{building_words(slip.building)}{unit_words(slip.unit)}{slip.room}"),
        ("专有部分面积", f"{format_area(slip.area_centi)} m²"),
    ], size=15, label_width=40, gap=4)
    sheet.paragraph("表决意见（请在以下三项中选择一项，在对应的方框内打勾）",
                    size=11.5, gap=3)
    y = sheet.y
    box = 11.0
    step = (A4_WIDTH - 2 * MARGIN) / 3
    for i, label in enumerate(CHOICES):
        x = MARGIN + i * step + 6
        sheet.box(x=x, y=y, size=box)
        sheet.text_at(label, x=x + box + 4, y=y + 1.2, size=18, width=step - box - 8)
    sheet.y = y + box + 12
    y = sheet.y
    sheet.text_at("业主签名（或按手印）：", x=MARGIN, y=y, size=13)
    sheet.rule(x1=MARGIN + 52, y=y + 7, x2=MARGIN + 110)
    sheet.text_at("日期：", x=MARGIN + 116, y=y, size=13)
    sheet.rule(x1=MARGIN + 130, y=y + 7, x2=A4_WIDTH - MARGIN)
    sheet.y = y + 18
    y = sheet.y
    sheet.qr(slip.code, x=A4_WIDTH - MARGIN - QR_SIZE, y=y, size=QR_SIZE)
    text_width = A4_WIDTH - 2 * MARGIN - QR_SIZE - 6
    sheet.y = y
    sheet.paragraph("填写说明", size=12, gap=1, width=text_width)
    for line in ("1. 本票由业主本人（或共有产权人）填写并签名，每户一票。",
                 "2. 填好后交回社区居委会或业主委员会，工作人员扫描右侧二维码登记，并拍照存档。",
                 "3. 已在小程序上投票的，以最后一次有效投票为准。",
                 "4. 选票编码用于核对本票所属房屋和表决事项，请勿涂改。"):
        sheet.paragraph(line, size=10.5, gap=0.5, width=text_width)
    sheet.y = max(sheet.y, y + QR_SIZE) + 2
    sheet.paragraph("选票编码：", size=9, gap=0)
    for line in _code_lines(slip.code):
        sheet.paragraph(line, size=9, gap=0)


def build(font: Path, *, sheet_data: SlipSheet, created: datetime) -> bytes:
    s = sheet_data
    sheet = Sheet(font, title=f"业主表决票：{s.title}", subject="ballot slips", created=created)
    if not s.slips:
        sheet.add_page()
        sheet.heading(f"{s.community}\n业主表决票", size=20, gap=6)
        sheet.paragraph(f"表决事项：{s.title}", size=13)
        sheet.paragraph("所选范围内没有需要打印表决票的房屋（均已投票，或范围内没有房屋）。", size=13)
        return sheet.output()
    sheet.footer("第 {page} 页 / 共 {nb}页")
    for slip in s.slips:
        _slip_page(sheet, s, slip)
    return sheet.output()

