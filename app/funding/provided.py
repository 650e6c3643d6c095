"""What funding answers other domains: the project gate ``funding_complete`` (approved → construction), the
disclosure publicity publishes as a ``funding`` notice, and the listener voting calls for each new plan version
(all registered by the composition root, :mod:`app.wiring`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Invalid
from app.core.units import format_area
from app.funding import lines
from app.funding.lines import COUNTS_ZH, SOURCE_ZH, STATUS_ZH, Ledger, Line, Split
from app.funding.models import LineStatus
from app.funding.views import entries_of, items_of
from app.projects import service as projects_service
from app.projects.gates import GateState
from app.rules.shares import SPLIT_ZH, yuan_text
from app.voting.contracts import PlanVersioned
from app.voting.service import PlanItemFacts

GATE_NAME = "funding_complete"


# ---- the gate --------------------------------------------------------------------------------------

def _short_words(ln: Line) -> str:
    return (f"“{ln.title}”居民出资应筹 {yuan_text(ln.share_fen)} 元，已认缴 {yuan_text(ln.pledged_fen)} 元，"
            f"已收缴 {yuan_text(ln.net_fen)} 元，按{COUNTS_ZH.get(ln.funded_when, ln.funded_when)}计尚差 "
            f"{yuan_text(ln.short_fen)} 元")


async def funding_gate(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    """``funding_complete``: every item of the current plan with a residents' share is funded (collected — or
    pledged, as the line's profile setting says — covers the share); dropped items do not count. A residents'
    share the plan lists on no item keeps the gate shut (it cannot be split or collected). Figures: every item,
    the short ones, the dropped ones, each with its share, pledged, collected, counted and short amounts."""
    project = await projects_service.project_or_404(session, project_id=project_id)
    led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    if led.current is None:
        return GateState(name=GATE_NAME, met=False, detail="尚未制定改造方案", figures={"plan_id": None})
    live = led.live()
    short = [ln for ln in live if ln.status is not LineStatus.FUNDED]
    unallocated = lines.unallocated_residents(led.current)
    figures = {"plan_id": led.current.id, "plan_version": led.current.version,
               "items": [ln.figures() for ln in live], "short_items": [ln.figures() for ln in short],
               "dropped_items": [ln.figures() for ln in led.lines if ln.item is None],
               "unallocated_residents_fen": unallocated}
    problems = [_short_words(ln) for ln in short]
    if unallocated:
        problems.append(f"方案整体列有居民出资 {yuan_text(unallocated)} 元，未落到具体改造项目，无法分摊收缴，"
                        "请修订方案")
    if problems:
        return GateState(name=GATE_NAME, met=False, detail="居民出资未到位：" + "；".join(problems), figures=figures)
    if not live:
        return GateState(name=GATE_NAME, met=True,
                         detail=f"当前方案（第 {led.current.version} 版）没有需居民出资的项目", figures=figures)
    return GateState(name=GATE_NAME, met=True,
                     detail=f"当前方案（第 {led.current.version} 版）的 {len(live)} 项居民出资均已到位",
                     figures=figures)


# ---- the plan listener -----------------------------------------------------------------------------

async def on_plan_version(session: AsyncSession, *, plan: PlanVersioned, now: datetime) -> None:
    """Voting stored a plan version: carry the ledger over to its items, drop the lines it no longer lists,
    open lines for its new items (each change audited, in the plan's transaction)."""
    await lines.sync(session, project_id=plan.project_id, community_id=plan.community_id, now=now,
                     actor_id=plan.actor_id)


# ---- the disclosure (阳光操作) ----------------------------------------------------------------------

@dataclass(frozen=True)
class DisclosedSource:
    source: str
    label_zh: str
    amount_fen: int


@dataclass(frozen=True)
class DisclosedHousehold:
    """One household as the notice may list it: its room and area, never a name or a phone."""

    building: str
    unit: str
    room: str
    area_m2: str
    share_fen: int | None
    pledged_fen: int
    paid_fen: int


@dataclass(frozen=True)
class DisclosedItem:
    title: str
    scope: str  # community | building | unit
    building: str | None  # the scope's names, when known
    unit: str | None
    budget_fen: int | None
    sources: tuple[DisclosedSource, ...]
    residents_share_fen: int
    split_zh: str
    counts_zh: str  # 已收缴 | 已认缴: what must cover the share
    status: str
    status_zh: str
    pledges: int
    pledged_fen: int
    collected_fen: int
    short_fen: int
    households: tuple[DisclosedHousehold, ...] | None  # only where the rules profile allows it


@dataclass(frozen=True)
class FundingDisclosure:
    """What the funding notice publishes of the project's current plan: the budget and every source, per item
    with a residents' share the share, how it is split, what was pledged and collected and the status (per
    household only where the profile's ``funding_disclose_households`` allows it), and the dropped items."""

    project_id: str
    plan_id: str
    plan_version: int
    plan_title: str
    budget_fen: int
    residents_share_fen: int
    by_source: tuple[DisclosedSource, ...]
    items: tuple[DisclosedItem, ...]
    dropped: tuple[DisclosedItem, ...]
    unallocated_residents_fen: int
    pledged_fen: int
    collected_fen: int
    disclose_households: bool


def _source(source: str, amount_fen: int) -> DisclosedSource:
    return DisclosedSource(source=source, label_zh=SOURCE_ZH.get(source, source), amount_fen=amount_fen)


def _by_source(led: Ledger) -> tuple[DisclosedSource, ...]:
    assert led.current is not None
    totals: dict[str, int] = {s: 0 for s in SOURCE_ZH}
    for it in led.current.items:
        for s in it.sources:
            if s.source != "residents":
                totals[s.source] = totals.get(s.source, 0) + s.amount_fen
        totals["residents"] += it.residents_share_fen
    for s in led.current.sources:
        totals[s.source] = totals.get(s.source, 0) + s.amount_fen
    return tuple(_source(k, v) for k, v in totals.items() if v)


def _disclosed(ln: Line, item: PlanItemFacts | None, split: Split | None,
               households: tuple[DisclosedHousehold, ...] | None) -> DisclosedItem:
    first = split.households[0] if split is not None and split.households else None
    return DisclosedItem(
        title=ln.title, scope=ln.scope, building=first.building if first and ln.scope != "community" else None,
        unit=first.unit if first and ln.scope == "unit" else None, budget_fen=item.budget_fen if item else None,
        sources=tuple(_source(s.source, s.amount_fen) for s in item.sources) if item else (),
        residents_share_fen=ln.share_fen, split_zh=SPLIT_ZH[ln.split],
        counts_zh=COUNTS_ZH.get(ln.funded_when, ln.funded_when), status=ln.status.value, status_zh=STATUS_ZH[ln.status],
        pledges=ln.pledges, pledged_fen=ln.pledged_fen, collected_fen=ln.net_fen, short_fen=ln.short_fen,
        households=households)


async def disclosure(session: AsyncSession, *, project_id: str, plan_id: str | None = None) -> FundingDisclosure:
    """The funding notice's content for the project's current plan (``plan_id``, if given, must be it: 422
    ``funding.plan_not_current``; no plan: 409 ``funding.no_plan``). No authorization: publicity authorizes the
    notice."""
    project = await projects_service.project_or_404(session, project_id=project_id)
    led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    if led.current is None:
        raise Conflict("funding.no_plan", "项目尚无改造方案，无法公示资金", "The project has no plan to disclose")
    if plan_id is not None and plan_id != led.current.id:
        raise Invalid("funding.plan_not_current", "只能公示项目当前版本的方案", "Only the current plan version is disclosed",
                      errors=[{"loc": ["body", "plan_id"], "msg": "not the project's current plan version"}])
    disclose = led.profile.funding_disclose_households
    splits = await lines.splits(session, led)
    items = await items_of(session, led)
    entries = await entries_of(session, project.id, None) if disclose else None

    def households(ln: Line) -> tuple[DisclosedHousehold, ...] | None:
        split = splits.get(ln.key)
        if entries is None or split is None:
            return None
        out = []
        for h in split.households:
            pays = entries.payments.get((ln.line_id or "", h.id), [])
            paid = sum(p.amount_fen if p.kind == "collection" else -p.amount_fen for p in pays)
            out.append(DisclosedHousehold(building=h.building, unit=h.unit, room=h.room,
                                          area_m2=format_area(h.area_centi), share_fen=split.share_of(h.id),
                                          pledged_fen=led.pledge_of(ln, h.id), paid_fen=paid))
        return tuple(out)

    live = led.live()
    return FundingDisclosure(
        project_id=project.id, plan_id=led.current.id, plan_version=led.current.version,
        plan_title=led.current.title, budget_fen=led.current.total_budget_fen,
        residents_share_fen=sum(ln.share_fen for ln in live), by_source=_by_source(led),
        items=tuple(_disclosed(ln, items.get(ln.item_id), splits.get(ln.key), households(ln)) for ln in live),
        dropped=tuple(_disclosed(ln, items.get(ln.item_id), None, None) for ln in led.lines if ln.item is None),
        unallocated_residents_fen=lines.unallocated_residents(led.current),
        pledged_fen=sum(ln.pledged_fen for ln in live), collected_fen=sum(ln.net_fen for ln in live),
        disclose_households=disclose)
