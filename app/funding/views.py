"""What the ledger shows: per item its share, pledged, collected and status (everyone who may see the plan);
a resident's own households with their shares, pledges and payments; every household for staff (a cursor page);
and the workbook for the street office. Reads only: nothing here writes, a line not stored yet is shown as the
current plan lists it (see :mod:`app.funding.lines`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize, is_manager
from app.core.pagination import Page, PageParams, make_page
from app.core.units import format_area
from app.funding import lines
from app.funding import repository as repo
from app.funding.common import payment_public, plan_and_project
from app.funding.lines import COUNTS_ZH, SOURCE_ZH, STATUS_ZH, Ledger, Line, Split
from app.funding.models import FundingPayment, FundingPledge, PaymentKind, PledgeChannel
from app.funding.schemas import (
    FundingTotals,
    FundingView,
    HouseholdFunding,
    HouseholdLine,
    LinePublic,
    SourcePublic,
)
from app.register import service as register_service
from app.register.service import PlacedHousehold
from app.rules.shares import SPLIT_ZH
from app.voting import service as voting_service
from app.voting.service import PlanItemFacts


async def items_of(session: AsyncSession, led: Ledger) -> dict[str, PlanItemFacts]:
    """item id -> the plan item each line names (dropped lines: of the last version that listed them)."""
    out = {ln.item.id: ln.item for ln in led.lines if ln.item is not None}
    for plan_id in {ln.plan_id for ln in led.lines if ln.item is None}:
        facts = await voting_service.plan_facts(session, plan_id=plan_id)
        if facts is not None:
            out.update({it.id: it for it in facts.items})
    return out


def _line_public(ln: Line, split: Split | None, item: PlanItemFacts | None) -> LinePublic:
    row = ln.row
    return LinePublic(
        line_id=ln.line_id, item_id=ln.item_id, plan_id=ln.plan_id, position=ln.position, title=ln.title,
        scope=ln.scope, building_id=ln.building_id, unit_id=ln.unit_id,
        budget_fen=item.budget_fen if item else None,
        sources=[SourcePublic(source=s.source, amount_fen=s.amount_fen) for s in item.sources] if item else [],
        residents_share_fen=ln.share_fen, split=ln.split, funded_when=ln.funded_when, status=ln.status,
        status_at=row.status_at if row is not None and row.status == ln.status.value else None,
        shares_frozen_at=ln.frozen_at,
        households=split.sharing if split else 0, pledges=ln.pledges, pledged_fen=ln.pledged_fen,
        collected_fen=ln.net_fen, refunded_fen=ln.refunded_fen, gross_collected_fen=ln.collected_fen,
        counted_fen=ln.counted_fen, short_fen=ln.short_fen)


def _totals(led: Ledger) -> FundingTotals:
    live = led.live()
    return FundingTotals(
        residents_share_fen=sum(ln.share_fen for ln in live), pledged_fen=sum(ln.pledged_fen for ln in live),
        collected_fen=sum(ln.net_fen for ln in live), short_fen=sum(ln.short_fen for ln in live),
        unallocated_residents_fen=lines.unallocated_residents(led.current) if led.current else 0,
        items=len(live), funded=sum(1 for ln in live if ln.status.value == "funded"))


@dataclass
class Entries:
    pledges: dict[tuple[str, str], FundingPledge]
    payments: dict[tuple[str, str], list[FundingPayment]]


async def entries_of(session: AsyncSession, project_id: str, household_ids: list[str] | None) -> Entries:
    pledges = {(p.line_id, p.household_id): p for p in await repo.pledges_of(session, project_id, household_ids)}
    payments: dict[tuple[str, str], list[FundingPayment]] = {}
    for p in await repo.payments_of(session, project_id, household_ids):
        payments.setdefault((p.line_id, p.household_id), []).append(p)
    return Entries(pledges, payments)


def _household(h: PlacedHousehold, led: Ledger, splits: dict[str, Split], entries: Entries) -> HouseholdFunding:
    items: list[HouseholdLine] = []
    for ln in led.lines:
        split = splits.get(ln.key)
        in_scope = split is not None and split.in_scope(h.id)
        lid = ln.line_id
        pledge = entries.pledges.get((lid, h.id)) if lid else None
        pays = entries.payments.get((lid, h.id), []) if lid else []
        if not in_scope and pledge is None and not pays:
            continue
        collected = sum(p.amount_fen for p in pays if p.kind == PaymentKind.COLLECTION)
        refunded = sum(p.amount_fen for p in pays if p.kind == PaymentKind.REFUND)
        items.append(HouseholdLine(
            line_id=lid, item_id=ln.item_id, title=ln.title, status=ln.status, in_scope=in_scope,
            opted_in=h.id in ln.standing,
            share_fen=split.share_of(h.id) if split is not None and in_scope else 0,
            pledged_fen=led.pledge_of(ln, h.id),
            pledge_follows_share=pledge is not None and pledge.amount_fen is None,
            pledge_channel=PledgeChannel(pledge.channel) if pledge else None,
            pledged_at=pledge.updated_at if pledge else None, collected_fen=collected, refunded_fen=refunded,
            paid_fen=collected - refunded, payments=[payment_public(p, ln.item_id) for p in pays]))
    return HouseholdFunding(household_id=h.id, building=h.building, unit=h.unit, room=h.room,
                            area_m2=format_area(h.area_centi), active=h.active, items=items)


async def household_funding(session: AsyncSession, led: Ledger, household: PlacedHousehold) -> HouseholdFunding:
    """One household's lines: its share, pledge and payments for each item it is in the scope of or has
    pledged or paid for."""
    splits = await lines.splits(session, led)
    return _household(household, led, splits, await entries_of(session, led.project_id, [household.id]))


async def funding_view(session: AsyncSession, *, principal: Principal, plan_id: str, now: datetime) -> FundingView:
    """Per item of the current plan (then dropped ones): budget, sources, residents' share, split, pledged,
    collected and status; for a resident also their own households' shares, pledges and payments."""
    plan, project, scope = await plan_and_project(session, plan_id)
    roles = authorize(principal, "funding.view", scope)
    led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    assert led.current is not None  # the project has a plan: plan_id is one of its versions
    splits = await lines.splits(session, led)
    items = await items_of(session, led)
    mine: list[HouseholdFunding] = []
    if not is_manager(roles):
        ids = [h.household_id for h in principal.households_in(project.community_id)]
        placed = await register_service.households_by_id(session, community_id=project.community_id, household_ids=ids)
        entries = await entries_of(session, project.id, ids)
        mine = [_household(h, led, splits, entries) for h in placed]
    return FundingView(plan_id=plan.id, current_plan_id=led.current.id, current_plan_version=led.current.version,
                       project_id=project.id,
                       items=[_line_public(ln, splits.get(ln.key), items.get(ln.item_id)) for ln in led.lines],
                       totals=_totals(led), households=mine)


async def _everyone(session: AsyncSession, led: Ledger,
                    splits: dict[str, Split]) -> tuple[list[PlacedHousehold], Entries]:
    """Every household in some item's scope or with a pledge or payment, by id, and all the entries."""
    entries = await entries_of(session, led.project_id, None)
    placed = {h.id: h for s in splits.values() for h in s.households}
    others = {hid for _, hid in entries.pledges} | {hid for _, hid in entries.payments}
    for h in await register_service.households_by_id(session, community_id=led.community_id,
                                                     household_ids=sorted(others - set(placed))):
        placed[h.id] = h
    return [placed[k] for k in sorted(placed)], entries


async def households_page(session: AsyncSession, *, principal: Principal, plan_id: str,
                          page: PageParams) -> Page[HouseholdFunding]:
    """Staff: every household in an item's scope or with a pledge or payment, by id (cursor pages)."""
    _, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    splits = await lines.splits(session, led)
    everyone, entries = await _everyone(session, led, splits)
    chosen = [h for h in everyone if page.after is None or h.id > page.after][:page.limit + 1]
    rows = [_household(h, led, splits, entries) for h in chosen]
    return make_page(rows, page.limit, rows[min(len(rows), page.limit) - 1].household_id if rows else None)


# ---- the workbook ----------------------------------------------------------------------------------

Cell = str | int | Decimal | None


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class LedgerBook:
    """The street office's workbook as sheets of rows (header first), written by app.core.spreadsheet."""

    plan_id: str
    plan_version: int
    sheets: tuple[tuple[str, list[Sequence[Cell]]], ...]


SCOPE_ZH = {"community": "全小区", "building": "楼栋", "unit": "单元"}
METHOD_ZH = {"cash": "现金", "bank_transfer": "银行转账", "wechat_pay": "微信支付", "alipay": "支付宝", "other": "其他"}
CHANNEL_ZH = {"online": "线上认缴", "paper": "纸质认缴", "questionnaire": "问卷转认缴"}


async def ledger_book(session: AsyncSession, *, principal: Principal, plan_id: str) -> LedgerBook:
    """Staff and the street office: the items, every household's share, pledge and payments, and every
    collection and refund, as three sheets."""
    _, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    assert led.current is not None
    splits = await lines.splits(session, led)
    items = await items_of(session, led)
    summary: list[Sequence[Cell]] = [(
        "序号", "改造项目", "范围", "预算（元）", "资金来源", "居民出资（元）", "分摊方式", "到位口径", "认缴户数",
        "已认缴（元）", "已收缴（元）", "已退款（元）", "实收（元）", "尚差（元）", "状态")]
    for i, ln in enumerate(led.lines, 1):
        it = items.get(ln.item_id)
        sources = "；".join(f"{SOURCE_ZH.get(s.source, s.source)} {_yuan(s.amount_fen)}" for s in it.sources) if it else ""
        summary.append((i, ln.title, SCOPE_ZH.get(ln.scope, ln.scope), _yuan(it.budget_fen) if it else None, sources,
                        _yuan(ln.share_fen), SPLIT_ZH[ln.split], COUNTS_ZH.get(ln.funded_when, ln.funded_when),
                        ln.pledges, _yuan(ln.pledged_fen), _yuan(ln.collected_fen), _yuan(ln.refunded_fen),
                        _yuan(ln.net_fen), _yuan(ln.short_fen), STATUS_ZH[ln.status]))
    everyone, entries = await _everyone(session, led, splits)
    per_household: list[Sequence[Cell]] = [(
        "楼栋", "单元", "房号", "面积（m²）", "改造项目", "在范围内", "应缴（元）", "认缴（元）", "认缴方式",
        "已收缴（元）", "已退款（元）", "实收（元）")]
    place: dict[str, PlacedHousehold] = {h.id: h for h in everyone}
    titles = {ln.line_id: ln.title for ln in led.lines if ln.line_id}
    for h in everyone:
        for hl in _household(h, led, splits, entries).items:
            per_household.append((
                h.building, h.unit, h.room, format_area(h.area_centi), hl.title, "是" if hl.in_scope else "否",
                _yuan(hl.share_fen) if hl.share_fen is not None else None, _yuan(hl.pledged_fen),
                CHANNEL_ZH.get(hl.pledge_channel.value, "") if hl.pledge_channel else "", _yuan(hl.collected_fen),
                _yuan(hl.refunded_fen), _yuan(hl.paid_fen)))
    payments: list[Sequence[Cell]] = [(
        "日期", "类型", "楼栋", "单元", "房号", "改造项目", "金额（元）", "方式", "票据号", "备注", "经办人", "登记时间")]
    for p in await repo.payments_of(session, project.id):
        h = place[p.household_id]
        payments.append((p.paid_on.isoformat(), "收款" if p.kind == PaymentKind.COLLECTION else "退款", h.building,
                         h.unit, h.room, titles.get(p.line_id, ""), _yuan(p.amount_fen), METHOD_ZH.get(p.method, p.method),
                         p.receipt_no, p.note, p.actor_id, p.created_at.isoformat()))
    return LedgerBook(plan_id=led.current.id, plan_version=led.current.version,
                      sheets=(("资金汇总", summary), ("分户明细", per_household), ("收退款记录", payments)))
