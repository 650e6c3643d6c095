"""Plans: versioned renovation plans with items and funding sources in exact fen. Each new version is told to
the listeners in ``app.voting.contracts.PLAN_LISTENERS`` (funding's residents' share ledger) in its own
transaction."""


from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core import audit
from app.core.errors import Conflict, Invalid
from app.core.pagination import Page, PageParams, encode_cursor
from app.projects import service as projects_service
from app.projects.models import Project
from app.surveys import service as surveys_service
from app.voting import repository as repo
from app.voting.contracts import PLAN_LISTENERS, PlanVersioned
from app.voting.models import (
    FundingSource,
    Plan,
    PlanFunding,
    PlanItem,
    ScopeKind,
)
from app.voting.schemas import (
    FundingIn,
    FundingPublic,
    PlanCreate,
    PlanItemIn,
    PlanItemPublic,
    PlanPublic,
    PlanRevision,
    PlanSummary,
    PlanTotals,
)
from app.voting.state import plan_not_found

# ---- plans ---------------------------------------------------------------------------------------

@dataclass
class _ItemDraft:
    row: PlanItem
    funding: list[PlanFunding]


async def check_location(session: AsyncSession, *, community_id: str, scope: ScopeKind, building_id: str | None,
                          unit_id: str | None, loc: list[Any], building: str | None = None,
                          unit: str | None = None) -> tuple[str | None, str | None, list[dict]]:
    """(building_id, unit_id) for a community/building/unit scope (ids, or names within the community), or
    errors."""
    errors: list[dict] = []
    if scope == ScopeKind.COMMUNITY:
        if building_id or unit_id or building or unit:
            errors.append({"loc": loc, "msg": "a community-wide scope takes no building or unit"})
        return None, None, errors
    b = None
    if building_id:
        b = await repo.get_building(session, building_id)
    elif building:
        b = await repo.building_by_name(session, community_id, building)
    if (building_id or building) and (b is None or b.community_id != community_id):
        errors.append({"loc": [*loc, "building_id"], "msg": "no such building in this community"})
        return None, None, errors
    if scope == ScopeKind.BUILDING:
        if unit_id or unit:
            errors.append({"loc": [*loc, "unit_id"], "msg": "a building scope takes no unit"})
        if b is None:
            errors.append({"loc": [*loc, "building_id"], "msg": "a building scope needs building_id or building"})
            return None, None, errors
        return b.id, None, errors
    u = None
    if unit_id:
        u = await repo.get_unit(session, unit_id)
    elif unit and b is not None:
        u = await repo.unit_by_name(session, b.id, unit)
    if u is None or u.community_id != community_id:
        errors.append({"loc": [*loc, "unit_id"],
                       "msg": "no such unit in this community (give unit_id, or building and unit names)"})
        return None, None, errors
    if b is not None and b.id != u.building_id:
        errors.append({"loc": [*loc, "building_id"], "msg": "the unit is not in that building"})
    return u.building_id, u.id, errors


def _funding_rows(plan_id: str, item_id: str | None, funding: list[FundingIn], start: int) -> list[PlanFunding]:
    return [PlanFunding(plan_id=plan_id, item_id=item_id, position=start + i, source=f.source.value,
                        amount_fen=f.amount_fen) for i, f in enumerate(funding)]


async def _draft_plan(session: AsyncSession, *, plan: Plan, items: list[PlanItemIn],
                      funding: list[FundingIn]) -> tuple[list[_ItemDraft], list[PlanFunding]]:
    """Validate items and funding; fill the plan's exact totals. Every problem is listed at once (422)."""
    errors: list[dict] = []
    drafts: list[_ItemDraft] = []
    total_budget = 0
    total_residents = 0
    total_funded = 0
    pos = 0
    for i, it in enumerate(items):
        loc: list[Any] = ["body", "items", i]
        title = it.title
        if (it.catalog is None) != (it.catalog_seq is None):
            errors.append({"loc": [*loc, "catalog_seq"], "msg": "give both catalog and catalog_seq, or neither"})
        elif it.catalog is not None and it.catalog_seq is not None:
            found = await surveys_service.catalog_item_title(session, catalog=it.catalog, seq=it.catalog_seq)
            if found is None:
                errors.append({"loc": [*loc, "catalog_seq"], "msg": f"no item {it.catalog_seq} in catalog {it.catalog}"})
            elif title is None:
                title = found[:200]
        if title is None:
            errors.append({"loc": [*loc, "title"], "msg": "a title is required without a catalog reference"})
        bid, uid, errs = await check_location(session, community_id=plan.community_id, scope=it.scope,
                                               building_id=it.building_id, unit_id=it.unit_id, loc=loc,
                                               building=it.building, unit=it.unit)
        errors += errs
        from_sources = sum(f.amount_fen for f in it.funding if f.source == FundingSource.RESIDENTS)
        has_resident_source = any(f.source == FundingSource.RESIDENTS for f in it.funding)
        share = it.residents_share_fen if it.residents_share_fen is not None else from_sources
        if it.residents_share_fen is not None and has_resident_source and it.residents_share_fen != from_sources:
            errors.append({"loc": [*loc, "residents_share_fen"],
                           "msg": f"differs from the item's residents funding ({from_sources} fen)"})
        others = sum(f.amount_fen for f in it.funding if f.source != FundingSource.RESIDENTS)
        funded = others + share
        if funded > it.budget_fen:
            errors.append({"loc": [*loc, "funding"],
                           "msg": f"funding ({funded} fen) exceeds the item's budget ({it.budget_fen} fen)"})
        row = PlanItem(plan_id=plan.id, position=i, catalog=it.catalog, catalog_seq=it.catalog_seq, title=title or "",
                       scope=it.scope.value, building_id=bid, unit_id=uid, budget_fen=it.budget_fen,
                       residents_share_fen=share)
        rows = _funding_rows(plan.id, row.id, it.funding, pos)
        pos += len(rows)
        drafts.append(_ItemDraft(row, rows))
        total_budget += it.budget_fen
        total_residents += share
        total_funded += funded
    plan_rows = _funding_rows(plan.id, None, funding, pos)
    total_residents += sum(f.amount_fen for f in funding if f.source == FundingSource.RESIDENTS)
    total_funded += sum(f.amount_fen for f in funding)
    if total_funded > total_budget:
        errors.append({"loc": ["body", "funding"],
                       "msg": f"funding ({total_funded} fen) exceeds the plan's budget ({total_budget} fen)"})
    if errors:
        raise Invalid("plan.invalid", "改造方案内容有误", "The plan is invalid", errors=errors[:100])
    plan.total_budget_fen = total_budget
    plan.residents_share_fen = total_residents
    return drafts, plan_rows


def _plan_summary(p: Plan) -> PlanSummary:
    return PlanSummary(id=p.id, project_id=p.project_id, version=p.version, title=p.title,
                       status="superseded" if p.superseded_by else "current", supersedes=p.supersedes,
                       superseded_by=p.superseded_by, superseded_at=p.superseded_at,
                       total_budget_fen=p.total_budget_fen, residents_share_fen=p.residents_share_fen,
                       created_at=p.created_at)


def _plan_public(p: Plan, items: list[PlanItem], funding: list[PlanFunding]) -> PlanPublic:
    by_item: dict[str | None, list[PlanFunding]] = {}
    for f in funding:
        by_item.setdefault(f.item_id, []).append(f)
    by_source: dict[str, int] = {s.value: 0 for s in FundingSource}
    out_items: list[PlanItemPublic] = []
    funded_total = 0
    for it in items:
        fs = by_item.get(it.id, [])
        others = sum(f.amount_fen for f in fs if f.source != FundingSource.RESIDENTS)
        for f in fs:
            if f.source != FundingSource.RESIDENTS:
                by_source[f.source] = by_source.get(f.source, 0) + f.amount_fen
        by_source[FundingSource.RESIDENTS.value] += it.residents_share_fen
        funded_total += others + it.residents_share_fen
        out_items.append(PlanItemPublic(
            id=it.id, position=it.position, catalog=it.catalog, catalog_seq=it.catalog_seq, title=it.title,
            scope=it.scope, building_id=it.building_id, unit_id=it.unit_id, budget_fen=it.budget_fen,
            residents_share_fen=it.residents_share_fen,
            funding=[FundingPublic(source=f.source, amount_fen=f.amount_fen) for f in fs],
            funded_fen=others + it.residents_share_fen))
    plan_level = by_item.get(None, [])
    for f in plan_level:
        by_source[f.source] = by_source.get(f.source, 0) + f.amount_fen
        funded_total += f.amount_fen
    totals = PlanTotals(budget_fen=p.total_budget_fen, residents_share_fen=p.residents_share_fen,
                        funded_fen=funded_total, unfunded_fen=p.total_budget_fen - funded_total, by_source=by_source)
    s = _plan_summary(p)
    return PlanPublic(**s.model_dump(), description=p.description, created_by=p.created_by, items=out_items,
                      funding=[FundingPublic(source=f.source, amount_fen=f.amount_fen) for f in plan_level],
                      totals=totals)


async def _load_plan_public(session: AsyncSession, p: Plan) -> PlanPublic:
    return _plan_public(p, await repo.plan_items(session, p.id), await repo.plan_funding(session, p.id))


async def _new_plan_version(session: AsyncSession, *, principal: Principal, project: Project, title: str,
                            description: str | None, items: list[PlanItemIn], funding: list[FundingIn],
                            supersedes: Plan | None, now: datetime) -> PlanPublic:
    version = await repo.max_plan_version(session, project.id) + 1
    plan = Plan(project_id=project.id, community_id=project.community_id, version=version, title=title,
                description=description, supersedes=supersedes.id if supersedes else None, total_budget_fen=0,
                residents_share_fen=0, created_at=now, created_by=principal.user_id)
    drafts, plan_rows = await _draft_plan(session, plan=plan, items=items, funding=funding)
    session.add(plan)
    await session.flush()  # the (project_id, version) unique key settles concurrent revisions
    for d in drafts:
        session.add(d.row)
    await session.flush()
    for d in drafts:
        session.add_all(d.funding)
    session.add_all(plan_rows)
    await session.flush()
    if supersedes is not None and not await repo.mark_superseded(session, plan_id=supersedes.id, by=plan.id, at=now):
        raise Conflict("plan.superseded", "该方案版本已被修订，请基于最新版本修改",
                       "This plan version was already revised; revise the current version")
    await audit.append(session, chain=project.community_id, action="plan.revised" if supersedes else "plan.created",
                       entity_type="plan", entity_id=plan.id, actor_id=principal.user_id, at=now,
                       data={"project_id": project.id, "version": version,
                             "supersedes": supersedes.id if supersedes else None,
                             "total_budget_fen": plan.total_budget_fen,
                             "residents_share_fen": plan.residents_share_fen, "items": len(drafts)})
    versioned = PlanVersioned(plan_id=plan.id, project_id=project.id, community_id=project.community_id,
                              version=version, supersedes=supersedes.id if supersedes else None,
                              actor_id=principal.user_id)
    for listener in PLAN_LISTENERS:
        await listener(session, plan=versioned, now=now)
    return _plan_public(plan, [d.row for d in drafts], [f for d in drafts for f in d.funding] + plan_rows)


async def create_plan(session: AsyncSession, *, principal: Principal, project_id: str, body: PlanCreate,
                      now: datetime) -> PlanPublic:
    """Version 1 of a project's plan, or (with ``supersedes``) a revision of the current version."""
    project = await projects_service.project_or_404(session, project_id=project_id)
    authorize(principal, "plan.manage", projects_service.project_scope(project=project))
    old: Plan | None = None
    if body.supersedes is not None:
        old = await repo.get_plan(session, body.supersedes)
        if old is None or old.project_id != project.id:
            raise plan_not_found()
        if old.superseded_by is not None:
            raise Conflict("plan.superseded", "该方案版本已被修订，请基于最新版本修改",
                           "This plan version was already revised; revise the current version")
    else:
        current = await repo.current_plan(session, project.id)
        if current is not None:
            raise Conflict("plan.exists", "该项目已有改造方案，请提交修订版本",
                           "The project has a plan already; submit a revision", plan_id=current.id)
    return await _new_plan_version(session, principal=principal, project=project, title=body.title,
                                   description=body.description, items=body.items, funding=body.funding,
                                   supersedes=old, now=now)


async def revise_plan(session: AsyncSession, *, principal: Principal, plan_id: str, body: PlanRevision,
                      now: datetime) -> PlanPublic:
    old = await repo.get_plan(session, plan_id)
    if old is None:
        raise plan_not_found()
    project = await projects_service.project_or_404(session, project_id=old.project_id)
    authorize(principal, "plan.manage", projects_service.project_scope(project=project))
    if old.superseded_by is not None:
        raise Conflict("plan.superseded", "该方案版本已被修订，请基于最新版本修改",
                       "This plan version was already revised; revise the current version",
                       superseded_by=old.superseded_by)
    return await _new_plan_version(session, principal=principal, project=project, title=body.title,
                                   description=body.description, items=body.items, funding=body.funding,
                                   supersedes=old, now=now)


async def get_plan(session: AsyncSession, *, principal: Principal, plan_id: str) -> PlanPublic:
    p = await repo.get_plan(session, plan_id)
    if p is None:
        raise plan_not_found()
    project = await projects_service.project_or_404(session, project_id=p.project_id)
    authorize(principal, "plan.view", projects_service.project_scope(project=project))
    return await _load_plan_public(session, p)


async def list_plans(session: AsyncSession, *, principal: Principal, project_id: str,
                     page: PageParams) -> Page[PlanSummary]:
    project = await projects_service.project_or_404(session, project_id=project_id)
    authorize(principal, "plan.view", projects_service.project_scope(project=project))
    after = int(page.after) if page.after and page.after.isdigit() else None
    rows = await repo.plans_page(session, project_id, after_version=after, limit=page.limit)
    items = [_plan_summary(p) for p in rows[:page.limit]]
    nxt = encode_cursor(str(items[-1].version)) if len(rows) > page.limit and items else None
    return Page(items=items, next_cursor=nxt)


