"""Plans, motions, ballots and tallies.

* A plan is versioned: a revision is version n+1 and the old version stays readable, marked superseded.
* A motion decides by a rule: the explicit one given at creation, or the profile's rule for its matter. The
  rules profile version in force when the motion OPENS is frozen into it (stored the first time a write sees
  it open; until then it is derived from the profile versions' creation times, so it never depends on when
  somebody happens to look).
* Status comes from the server clock: scheduled → open → closed (closes_at passed, or closed by staff).
* One ballot per household, replaced until close; every version kept in ``ballot``; ``current_ballot`` is
  upserted (unique per motion and household). Owners with several households in scope have ONE choice:
  their latest ballot counts for all of them (see repository).
* The electoral roll (:mod:`app.voting.roll`) is frozen when the motion opens; who may vote, the denominators
  and owner grouping come from it only: a register change after opening changes nothing of an open motion.
* Tallies are running: each ballot moves its owner between the buckets of ``motion_tally`` in its own
  transaction, so a tally costs the same at 100 and at 100,000 households; the buckets are built from the
  roll when it is frozen and rebuilt by one aggregate pass after an amendment (see repository).
* The final tally is computed at close from the roll and the current ballots (under the motion's lock),
  compared with the running rows (a mismatch is logged and counted; the full count wins), stored once
  (``motion_result``) and served from there ever after.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, Scope, authorize, is_manager
from app.core import audit
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, encode_cursor
from app.core.security import keyed_hash, new_receipt
from app.core.units import format_area
from app.projects import service as projects_service
from app.projects.gates import ContributionFigures, GateState, Ratio
from app.projects.models import Project
from app.register import service as register_service
from app.register.contracts import OpenRoll
from app.register.profiles import RulesProfile
from app.rules import Choice, Counts, Rule, evaluate
from app.surveys import service as surveys_service
from app.voting import repository as repo
from app.voting import roll
from app.voting.contracts import CLOSE_LISTENERS, ClosedMotion, ConditionLine, ParticipantRow
from app.voting.models import (
    Ballot,
    Channel,
    FundingSource,
    Motion,
    MotionResult,
    MotionStatus,
    Plan,
    PlanFunding,
    PlanItem,
    ScopeKind,
)
from app.voting.schemas import (
    BallotCast,
    BallotHistoryEntry,
    BallotReceipt,
    CloseResult,
    FundingIn,
    FundingPublic,
    HouseholdChoice,
    MotionCreate,
    MotionPublic,
    MyHousehold,
    PlanCreate,
    PlanItemIn,
    PlanItemPublic,
    PlanPublic,
    PlanRevision,
    PlanSummary,
    PlanTotals,
    ReceiptCheck,
    RollAmended,
    RollAmendmentIn,
    RollAmendmentPublic,
    RollEntryPublic,
    RollPublic,
    RollTotals,
    RulePublic,
    ScopePublic,
    TallyPublic,
)

OPTIONS = [c.value for c in Choice]
MAX_WINDOW = timedelta(days=366)
MAX_AHEAD = timedelta(days=731)
PAPER_BALLOT = "paper_ballot"  # app.media owner type
API = "/api/v1"
STATUS_ZH = {"scheduled": "未开始", "open": "投票中", "closed": "已结束"}
OUTCOME_ZH = {"passed": "通过", "failed": "未通过", "pending": "未决"}
log = logging.getLogger("app.voting")
METRICS: Counter[str] = Counter()
"""``tally_mismatch``: closes whose running tally differed from the full count over the roll."""


# ---- errors --------------------------------------------------------------------------------------

def _plan_not_found() -> NotFound:
    return NotFound("plan.not_found", "改造方案不存在", "Plan not found")


def _motion_not_found() -> NotFound:
    return NotFound("motion.not_found", "表决事项不存在", "Motion not found")


def _window_closed(status: MotionStatus) -> Conflict:
    if status == MotionStatus.SCHEDULED:
        return Conflict("ballot.window_closed", "投票尚未开始", "Voting has not opened yet", motion_status=status.value)
    return Conflict("ballot.window_closed", "投票已截止", "Voting has closed", motion_status=status.value)


def _plan_superseded() -> Conflict:
    return Conflict("motion.plan_superseded", "该表决所依据的方案已被修订，不能再投票",
                    "The plan version of this motion was superseded; voting is no longer possible")


def _out_of_scope() -> NotFound:
    return NotFound("ballot.household_not_in_scope", "该房屋不在本次表决范围内",
                    "The household is not in the scope of this motion")


# ---- plans ---------------------------------------------------------------------------------------

@dataclass
class _ItemDraft:
    row: PlanItem
    funding: list[PlanFunding]


async def _check_location(session: AsyncSession, *, community_id: str, scope: ScopeKind, building_id: str | None,
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
        bid, uid, errs = await _check_location(session, community_id=plan.community_id, scope=it.scope,
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
    return _plan_public(plan, [d.row for d in drafts], [f for d in drafts for f in d.funding] + plan_rows)


async def create_plan(session: AsyncSession, *, principal: Principal, project_id: str, body: PlanCreate,
                      now: datetime) -> PlanPublic:
    """Version 1 of a project's plan, or (with ``supersedes``) a revision of the current version."""
    project = await projects_service.project_or_404(session, project_id)
    authorize(principal, "plan.manage", projects_service.project_scope(project))
    old: Plan | None = None
    if body.supersedes is not None:
        old = await repo.get_plan(session, body.supersedes)
        if old is None or old.project_id != project.id:
            raise _plan_not_found()
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
        raise _plan_not_found()
    project = await projects_service.project_or_404(session, old.project_id)
    authorize(principal, "plan.manage", projects_service.project_scope(project))
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
        raise _plan_not_found()
    project = await projects_service.project_or_404(session, p.project_id)
    authorize(principal, "plan.view", projects_service.project_scope(project))
    return await _load_plan_public(session, p)


async def list_plans(session: AsyncSession, *, principal: Principal, project_id: str,
                     page: PageParams) -> Page[PlanSummary]:
    project = await projects_service.project_or_404(session, project_id)
    authorize(principal, "plan.view", projects_service.project_scope(project))
    after = int(page.after) if page.after and page.after.isdigit() else None
    rows = await repo.plans_page(session, project_id, after_version=after, limit=page.limit)
    items = [_plan_summary(p) for p in rows[:page.limit]]
    nxt = encode_cursor(str(items[-1].version)) if len(rows) > page.limit and items else None
    return Page(items=items, next_cursor=nxt)


# ---- motions: state and rule ---------------------------------------------------------------------

def status_of(m: Motion, now: datetime) -> MotionStatus:
    if m.closed_at is not None or now >= m.closes_at:
        return MotionStatus.CLOSED
    if now < m.opens_at:
        return MotionStatus.SCHEDULED
    return MotionStatus.OPEN


def motion_scope(m: Motion) -> Scope:
    return Scope(jurisdiction_id=m.jurisdiction_id, community_id=m.community_id, project_id=m.project_id)


async def _motion_or_404(session: AsyncSession, motion_id: str, *, lock: bool = False) -> Motion:
    m = await repo.get_motion(session, motion_id, lock=lock) if motion_id and len(motion_id) <= 32 else None
    if m is None:
        raise _motion_not_found()
    return m


@dataclass(frozen=True)
class RuleState:
    spec: dict[str, Any]
    profile_version: int
    staff_see_choices: bool
    frozen: bool  # the motion has opened: this rule is final (stored, or to be stored by the next write)
    source: str  # explicit | profile

    @property
    def rule(self) -> Rule:
        return Rule.from_dict(self.spec)


async def _profile(session: AsyncSession, jurisdiction_id: str, version: int | None,
                   cache: dict | None = None) -> tuple[int, RulesProfile]:
    key = (jurisdiction_id, version)
    if cache is not None and key in cache:
        return cache[key]
    got = await register_service.profile_of(session, jurisdiction_id, version)
    if cache is not None:
        cache[key] = got
    return got


async def rule_state(session: AsyncSession, m: Motion, now: datetime, cache: dict | None = None) -> RuleState:
    """The rule the motion decides by. Once it has opened: the profile version in force at its opening
    (stored on the motion by the first write that sees it open); before: the profile in force now."""
    source = "explicit" if m.rule_spec else "profile"
    if m.rule_frozen is not None and m.profile_version is not None:
        return RuleState(m.rule_frozen, m.profile_version, bool(m.staff_see_choices), True, source)
    opened_at = max(m.opens_at, m.created_at)
    frozen = now >= opened_at
    version = await repo.profile_version_at(session, m.jurisdiction_id, opened_at) if frozen else None
    v, profile = await _profile(session, m.jurisdiction_id, version, cache)
    spec = m.rule_spec or Rule.from_dict(profile.rule_for(m.matter)).to_dict()
    return RuleState(spec, v, profile.staff_see_choices, frozen, source)


async def _freeze(session: AsyncSession, m: Motion, now: datetime) -> RuleState:
    """Write the rule and profile version into an opened motion (once), and freeze its electoral roll."""
    state = await rule_state(session, m, now)
    if state.frozen and m.rule_frozen is None:
        m.rule_frozen = state.spec
        m.profile_version = state.profile_version
        m.staff_see_choices = state.staff_see_choices
        session.add(m)
        await session.flush()
        await audit.append(session, chain=m.community_id, action="motion.opened", entity_type="motion",
                           entity_id=m.id, actor_id=None, at=now,
                           data={"profile_version": state.profile_version, "rule": state.spec,
                                 "opens_at": m.opens_at.isoformat(), "closes_at": m.closes_at.isoformat()})
    if state.frozen and m.roll_frozen_at is None:
        await roll.freeze(session, m, now)
    return state


def rule_public(spec: dict[str, Any]) -> RulePublic:
    r = Rule.from_dict(spec)
    return RulePublic(**r.to_dict(), description_zh=r.describe_zh(), legal_source=r.legal_source)


def _scope_refs(principal: Principal, m: Motion) -> list[HouseholdRef]:
    """The caller's households in the motion's scope."""
    out = []
    for h in principal.households_in(m.community_id):
        if m.scope == ScopeKind.BUILDING and h.building_id != m.building_id:
            continue
        if m.scope == ScopeKind.UNIT and h.unit_id != m.unit_id:
            continue
        out.append(h)
    return out


async def _scope_public(session: AsyncSession, m: Motion) -> ScopePublic:
    b = await repo.get_building(session, m.building_id) if m.building_id else None
    u = await repo.get_unit(session, m.unit_id) if m.unit_id else None
    return ScopePublic(kind=m.scope, building_id=m.building_id, unit_id=m.unit_id,
                       building=b.name if b else None, unit=u.name if u else None)


async def _motion_public(session: AsyncSession, m: Motion, now: datetime, *, principal: Principal | None,
                         plan: Plan | None = None, households: int | None = None,
                         cache: dict | None = None) -> MotionPublic:
    plan = plan or await repo.get_plan(session, m.plan_id)
    assert plan is not None
    state = await rule_state(session, m, now, cache)
    if households is None:
        header = await repo.get_roll(session, m.id) if m.roll_frozen_at is not None else None
        households = header.households if header else (await repo.scope_household_counts(session, [m])).get(m.id, 0)
    mine: list[MyHousehold] = []
    if principal is not None:
        refs = _scope_refs(principal, m)
        current = {c.household_id: c for c in await repo.current_ballots_for(
            session, [m.id], [r.household_id for r in refs])}
        for r in refs:
            c = current.get(r.household_id)
            mine.append(MyHousehold(household_id=r.household_id, relation=r.relation, may_vote=r.may_act,
                                    voted=c is not None, choice=c.choice if c else None,
                                    channel=c.channel if c else None, cast_at=c.cast_at if c else None))
    return MotionPublic(
        id=m.id, project_id=m.project_id, plan_id=m.plan_id, plan_version=plan.version,
        plan_superseded=plan.superseded_by is not None, plan_item_id=m.plan_item_id, title=m.title,
        description=m.description, matter=m.matter, scope=await _scope_public(session, m), required=m.required,
        rule=rule_public(state.spec), rule_source=state.source,  # type: ignore[arg-type]
        rule_frozen=state.frozen, profile_version=state.profile_version, options=list(OPTIONS),
        opens_at=m.opens_at, closes_at=m.closes_at, closed_at=m.closed_at, status=status_of(m, now),
        households_in_scope=households, created_at=m.created_at, my_households=mine)


# ---- motions: create, read, list, close -----------------------------------------------------------

async def create_motion(session: AsyncSession, *, principal: Principal, plan_id: str, body: MotionCreate,
                        now: datetime) -> MotionPublic:
    plan = await repo.get_plan(session, plan_id)
    if plan is None:
        raise _plan_not_found()
    project = await projects_service.project_or_404(session, plan.project_id)
    authorize(principal, "motion.manage", projects_service.project_scope(project))
    if plan.superseded_by is not None:
        raise Conflict("plan.superseded", "该方案版本已被修订，不能再发起表决",
                       "This plan version was superseded; motions go on the current version")
    errors: list[dict] = []
    item = None
    if body.plan_item_id is not None:
        item = await repo.plan_item(session, plan.id, body.plan_item_id)
        if item is None:
            errors.append({"loc": ["body", "plan_item_id"], "msg": "no such item in this plan"})
    bname = uname = None
    if body.scope is None and item is not None:
        scope, bid_in, uid_in = ScopeKind(item.scope), item.building_id, item.unit_id
    else:
        scope, bid_in, uid_in = body.scope or ScopeKind.COMMUNITY, body.building_id, body.unit_id
        bname, uname = body.building, body.unit
    bid, uid, errs = await _check_location(session, community_id=plan.community_id, scope=scope, building_id=bid_in,
                                           unit_id=uid_in, loc=["body"], building=bname, unit=uname)
    errors += errs
    rule_spec = None
    if body.rule is not None:
        try:
            rule_spec = Rule.from_dict(body.rule).to_dict()
        except (ValueError, TypeError, KeyError) as exc:
            raise Invalid("motion.invalid_rule", "表决规则无效", "Invalid rule",
                          errors=[{"loc": ["body", "rule"], "msg": str(exc)[:300]}]) from None
    if body.opens_at > now + MAX_AHEAD:
        errors.append({"loc": ["body", "opens_at"], "msg": "opens_at is more than two years ahead"})
    if body.closes_at <= body.opens_at:
        errors.append({"loc": ["body", "closes_at"], "msg": "closes_at must be after opens_at"})
    elif body.closes_at <= now:
        errors.append({"loc": ["body", "closes_at"], "msg": "closes_at is in the past"})
    elif body.closes_at - body.opens_at > MAX_WINDOW:
        errors.append({"loc": ["body", "closes_at"], "msg": "the window may last at most 366 days"})
    if errors:
        window = all(e["loc"][-1] in ("opens_at", "closes_at") for e in errors)
        code = "motion.invalid_window" if window else "motion.invalid"
        raise Invalid(code, "表决事项内容有误", "The motion is invalid", errors=errors)
    m = Motion(project_id=project.id, plan_id=plan.id, plan_item_id=item.id if item else None,
               community_id=project.community_id, jurisdiction_id=project.jurisdiction_id, title=body.title,
               description=body.description, matter=body.matter.value, scope=scope.value, building_id=bid,
               unit_id=uid, required=body.required, rule_spec=rule_spec, opens_at=body.opens_at,
               closes_at=body.closes_at, created_at=now, created_by=principal.user_id)
    session.add(m)
    await session.flush()
    await audit.append(session, chain=m.community_id, action="motion.created", entity_type="motion", entity_id=m.id,
                       actor_id=principal.user_id, at=now,
                       data={"plan_id": plan.id, "plan_version": plan.version, "matter": m.matter,
                             "scope": m.scope, "building_id": bid, "unit_id": uid, "rule": rule_spec,
                             "opens_at": m.opens_at.isoformat(), "closes_at": m.closes_at.isoformat(),
                             "required": m.required})
    await _freeze(session, m, now)  # opening now: the roll is frozen and the running tally built from it
    return await _motion_public(session, m, now, principal=None, plan=plan)


async def get_motion(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime) -> MotionPublic:
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.view", motion_scope(m))
    return await _motion_public(session, m, now, principal=principal)


async def list_motions(session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams,
                       now: datetime) -> Page[MotionPublic]:
    project = await projects_service.project_or_404(session, project_id)
    authorize(principal, "motion.view", projects_service.project_scope(project))
    rows = await repo.motions_page(session, project_id, after=page.after, limit=page.limit)
    shown = rows[:page.limit]
    plans = await repo.plans_by_ids(session, {m.plan_id for m in shown})
    counts = await repo.scope_household_counts(session, [m for m in shown if m.roll_frozen_at is None])
    counts |= {mid: r.households for mid, r in (await repo.rolls_for(session, [m.id for m in shown])).items()}
    cache: dict = {}
    items = [await _motion_public(session, m, now, principal=principal, plan=plans[m.plan_id],
                                  households=counts.get(m.id, 0), cache=cache) for m in shown]
    nxt = encode_cursor(shown[-1].id) if len(rows) > page.limit and shown else None
    return Page(items=items, next_cursor=nxt)


async def close_motion(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime) -> CloseResult:
    """Staff close an open motion now (closes_at := now); the final tally is stored and published. Closing
    a closed motion again returns its stored result."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.manage", motion_scope(m))
    m = await _motion_or_404(session, motion_id, lock=True)
    st = status_of(m, now)
    if st == MotionStatus.SCHEDULED:
        raise Conflict("motion.not_open", "表决尚未开始，不能结束", "The motion has not opened yet")
    reason = "deadline"
    if st == MotionStatus.OPEN:
        await _freeze(session, m, now)
        m.closed_at = now
        m.closes_at = now
        m.closed_by = principal.user_id
        session.add(m)
        await session.flush()
        reason = "closed_by_staff"
    result = await _finalize(session, m, now=now, actor_id=principal.user_id, reason=reason)
    return CloseResult(motion=await _motion_public(session, m, now, principal=None), tally=_stored_tally(result))


# ---- tallies -------------------------------------------------------------------------------------

def _counts(rows: dict[Any, repo.ChoiceRow], total: repo.ChoiceRow) -> Counts:
    values = {"total_households": total.households, "total_owners": total.owners, "total_area": total.area}
    for c in Choice:
        r = rows.get(c.value)
        values[f"{c.value}_households"] = r.households if r else 0
        values[f"{c.value}_owners"] = r.owners if r else 0
        values[f"{c.value}_area"] = r.area if r else 0
    return Counts(**values)


async def full_counts(session: AsyncSession, m: Motion) -> Counts:
    """Counts of the motion's roll (before it is frozen: the register's scope) and current ballots by one
    aggregate pass (owner grouping applied)."""
    rows = await repo.full_choice_counts(session, m)
    return _counts(rows, repo.ChoiceRow.total_of(rows.values()))


async def counts_of(session: AsyncSession, m: Motion) -> Counts:
    """The running tally of a frozen roll, else (a scheduled motion's preview, or rows missing) the full
    aggregate (a read never writes)."""
    running = await repo.running_tally(session, m) if m.roll_frozen_at is not None else None
    if running is None:
        return await full_counts(session, m)
    return _counts(running, running[repo.TOTAL])


async def rebuild_running_tally(session: AsyncSession, m: Motion) -> None:
    """Recompute the running tally from the roll and the current ballots (after a bulk load)."""
    await repo.write_running_tally(session, m, await repo.full_choice_counts(session, m))


async def _keep_running_tally(session: AsyncSession, m: Motion, *, household_id: str, choice: Choice) -> Any:
    """Called with the motion row locked and its roll frozen, BEFORE the household's new ballot is stored:
    a household not on the roll cannot vote (404); returns what to do after storing it: move the owner to the
    new choice's bucket — or, when the buckets are missing (the move changes nothing then), rebuild them."""
    n, area, prev = await repo.owner_before_ballot(session, m, household_id)
    if n == 0:
        raise _out_of_scope()

    async def after_store() -> None:
        if prev == choice.value:
            return  # the owner's choice is unchanged
        if not await repo.move_in_running_tally(session, m, to=choice.value, from_=prev, households=n, area=area):
            await rebuild_running_tally(session, m)
    return after_store


def _display(n: int, unit: str) -> str:
    return format_area(n) if unit == "area" else str(n)


def _tally_dict(m: Motion, state: RuleState, counts: Counts, *, status: MotionStatus, final: bool,
                now: datetime) -> dict[str, Any]:
    window_open = status != MotionStatus.CLOSED
    result = evaluate(state.rule, counts, window_open=window_open)
    d = result.to_dict()
    conditions = [c | {"numerator_display": _display(c["numerator"], c["unit"]),
                       "denominator_display": _display(c["denominator"], c["unit"])} for c in d["conditions"]]
    closed_at = (m.closed_at or m.closes_at) if status == MotionStatus.CLOSED else None
    return {
        "motion_id": m.id, "title": m.title, "status": status.value, "final": final, "rule": d["rule"],
        "profile_version": state.profile_version, "counts": d["counts"], "conditions": conditions,
        "outcome": d["outcome"], "decided_early": d["decided_early"], "window_open": d["window_open"],
        "closed_at": closed_at.isoformat() if closed_at else None, "computed_at": now.isoformat(),
    }


def _stored_tally(r: MotionResult) -> TallyPublic:
    return TallyPublic.model_validate(r.tally)


async def _participants(session: AsyncSession, m: Motion) -> list[dict[str, Any]]:
    return [{"building": b, "unit": u, "room": room, "area_m2": format_area(area)}
            for b, u, room, area in await repo.participants(session, m)]


async def _finalize(session: AsyncSession, m: Motion, *, now: datetime, actor_id: str | None,
                    reason: str) -> MotionResult:
    """Store the final tally of a closed motion once (idempotent; the motion row is locked first so no
    ballot or amendment is still being recorded): the full count over the roll and the current ballots,
    checked against the running rows. Append the audit entry and publish the vote-result notice."""
    locked = await repo.get_motion(session, m.id, lock=True)
    assert locked is not None
    existing = await repo.get_result(session, m.id)
    if existing is not None:
        return existing
    state = await _freeze(session, locked, now)
    counts = await full_counts(session, locked)
    running = await repo.running_tally(session, locked)
    if running is None or _counts(running, running[repo.TOTAL]) != counts:
        METRICS["tally_mismatch"] += 1
        log.warning("motion %s: running tally %s differs from the full count over the roll %s; the full count "
                    "is stored", locked.id, running, counts)
    tally = _tally_dict(locked, state, counts, status=MotionStatus.CLOSED, final=True, now=now)
    closed_at = locked.closed_at or locked.closes_at
    participants = await _participants(session, locked)
    values = {"id": new_id(), "motion_id": locked.id, "outcome": tally["outcome"], "tally": tally,
              "participants": participants, "closed_at": closed_at, "recorded_at": now}
    inserted = await repo.insert_result_once(session, values)
    result = await repo.get_result(session, locked.id)
    assert result is not None
    if inserted:
        await audit.append(session, chain=locked.community_id, action="motion.closed", entity_type="motion",
                           entity_id=locked.id, actor_id=actor_id, at=now,
                           data={"reason": reason, "closed_at": closed_at.isoformat(), "outcome": tally["outcome"],
                                 "profile_version": state.profile_version, "rule": state.spec,
                                 "counts": tally["counts"]})
        closed = await closed_motion(session, motion_id=locked.id, result=MotionResult(**values))  # as stored
        for listener in CLOSE_LISTENERS:
            await listener(session, closed=closed, now=now)
    return result


async def tally(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime) -> TallyPublic:
    """Live for staff (with pending / decided_early); residents in scope only after close. The first look
    after close stores the final tally (needs a write session)."""
    m = await _motion_or_404(session, motion_id)
    roles = authorize(principal, "motion.view", motion_scope(m))
    st = status_of(m, now)
    if not is_manager(roles):
        if not _scope_refs(principal, m):
            raise Forbidden("tally.not_in_scope", "您的房屋不在本次表决范围内", "Your household is not in scope")
        if st != MotionStatus.CLOSED:
            raise Forbidden("tally.not_public", "表决结束后公布结果", "Results are published after the vote closes")
    if st == MotionStatus.CLOSED:
        return _stored_tally(await _finalize(session, m, now=now, actor_id=None, reason="deadline"))
    state = await _freeze(session, m, now)
    counts = await counts_of(session, m)
    return TallyPublic.model_validate(_tally_dict(m, state, counts, status=st, final=False, now=now))


async def close_due_motions(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[str]:
    """For a periodic job: freeze the roll of every opened motion nobody has touched yet, then store (and
    publish) the final tally of every motion whose window has ended."""
    for opened in await repo.motions_to_freeze(session, community_id=None, now=now, opened_only=True):
        await _freeze(session, opened, now)
    done = []
    for mid in await repo.due_motions(session, now=now, limit=limit):
        m = await repo.get_motion(session, mid)
        if m is not None:
            await _finalize(session, m, now=now, actor_id=None, reason="deadline")
            done.append(mid)
    return done


# ---- ballots -------------------------------------------------------------------------------------

def _choose_household(principal: Principal, m: Motion, household_id: str | None) -> HouseholdRef:
    refs = _scope_refs(principal, m)
    if household_id is not None:
        ref = next((r for r in refs if r.household_id == household_id), None)
        if ref is None:
            raise _out_of_scope()
        acting = [ref]
    else:
        if not refs:
            raise _out_of_scope()
        acting = [r for r in refs if r.may_act]
        if len(acting) > 1:
            raise Invalid("ballot.household_required", "您代表多户，请指定投票的房屋",
                          "You act for several households in scope: give household_id",
                          errors=[{"loc": ["body", "household_id"], "msg": "required",
                                   "choices": [r.household_id for r in acting]}])
        if not acting:
            acting = refs[:1]
    ref = acting[0]
    if not ref.may_act:
        raise Forbidden("ballot.not_permitted_relation", "只有业主或共有人可以投票",
                        "Only an owner or co-owner may vote for the household")
    return ref


async def _check_plan_current(session: AsyncSession, m: Motion) -> None:
    plan = await repo.get_plan(session, m.plan_id)
    if plan is None or plan.superseded_by is not None:
        raise _plan_superseded()


async def _record(session: AsyncSession, settings: Settings, m: Motion, *, household_id: str, choice: Choice,
                  channel: Channel, actor_id: str, now: datetime, photo_sha256: str | None = None,
                  ) -> tuple[Ballot, BallotReceipt]:
    st = status_of(m, now)
    if st != MotionStatus.OPEN:
        raise _window_closed(st)
    seq = await repo.next_ballot_seq(session, motion_id=m.id, now=now)
    if seq is None:  # closed by a concurrent request
        raise _window_closed(MotionStatus.CLOSED)
    await _freeze(session, m, now)
    receipt = new_receipt()
    b = Ballot(motion_id=m.id, household_id=household_id, seq=seq, choice=choice.value, channel=channel.value,
               actor_id=actor_id, cast_at=now, receipt_hash=keyed_hash(settings.secret_key, receipt, purpose="receipt"),
               photo_sha256=photo_sha256)
    after_store = await _keep_running_tally(session, m, household_id=household_id, choice=choice)
    await repo.insert_ballot(session, b)
    await repo.upsert_current(session, b)
    await after_store()
    version = await repo.ballot_versions(session, m.id, household_id)
    # the audit entry carries a keyed digest of the choice: integrity checkable, the choice not revealed
    await audit.append(session, chain=m.community_id,
                       action="ballot.paper_entered" if channel == Channel.PAPER else "ballot.cast",
                       entity_type="ballot", entity_id=b.id, actor_id=actor_id, at=now,
                       data={"motion_id": m.id, "household_id": household_id, "seq": seq, "version": version,
                             "channel": channel.value, "photo_sha256": photo_sha256,
                             "choice_digest": keyed_hash(settings.secret_key, f"{b.id}|{b.choice}", purpose="choice")})
    return b, BallotReceipt(receipt=receipt, ballot_id=b.id, household_id=household_id, choice=choice,
                            channel=channel, cast_at=now, version=version)


async def cast_ballot(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                      body: BallotCast, now: datetime) -> BallotReceipt:
    """A resident's online ballot for one household in scope (owner / co-owner); replaces the household's
    earlier ballot until close."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.vote", motion_scope(m))
    ref = _choose_household(principal, m, body.household_id)
    await _check_plan_current(session, m)
    _, receipt = await _record(session, settings, m, household_id=ref.household_id, choice=body.choice,
                               channel=Channel.ONLINE, actor_id=principal.user_id, now=now)
    return receipt


async def check_paper_ballot(session: AsyncSession, *, principal: Principal, motion_id: str,
                             household_id: str) -> Motion:
    """Before the slip photo is stored: the caller may enter paper ballots here, the household is in scope."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.paper_ballot", motion_scope(m))
    if not household_id or len(household_id) > 32:
        raise _out_of_scope()
    if m.roll_frozen_at is not None:
        listed = await repo.roll_entry(session, m.id, household_id) is not None
    else:  # the first write freezes the roll from the register as it is now
        listed = await repo.household_in_scope(session, m, household_id) is not None
    if not listed:
        raise _out_of_scope()
    return m


async def record_paper_ballot(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                              household_id: str, choice: Choice, photo: Any, now: datetime) -> BallotReceipt:
    """Staff enter a household's signed paper slip (channel paper, with the photo); same one-ballot rule."""
    from app.media import service as media_service

    m = await check_paper_ballot(session, principal=principal, motion_id=motion_id, household_id=household_id)
    await _check_plan_current(session, m)
    b, receipt = await _record(session, settings, m, household_id=household_id, choice=choice,
                               channel=Channel.PAPER, actor_id=principal.user_id, now=now,
                               photo_sha256=photo.sha256)
    media = await media_service.attach(session, stored=photo, owner_type=PAPER_BALLOT, owner_id=b.id,
                                       community_id=m.community_id, project_id=m.project_id,
                                       uploaded_by=principal.user_id, now=now)
    b.photo_media_id = media.id
    session.add(b)
    await session.flush()
    return receipt


async def paper_ballot_photo(session: AsyncSession, *, principal: Principal, motion_id: str, ballot_id: str) -> Any:
    """The media row of a paper ballot's slip photo (staff only)."""
    from app.media import service as media_service

    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.paper_ballot", motion_scope(m))
    b = await repo.get_ballot(session, m.id, ballot_id) if ballot_id and len(ballot_id) <= 32 else None
    media = await media_service.media_or_none(session, b.photo_media_id) if b and b.photo_media_id else None
    if media is None:
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    return media


async def ballot_history(session: AsyncSession, *, principal: Principal, motion_id: str, channel: Channel | None,
                         page: PageParams, now: datetime) -> Page[BallotHistoryEntry]:
    """Every ballot version (staff), oldest first; choices only where the profile lets staff see them."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.paper_ballot", motion_scope(m))
    state = await rule_state(session, m, now)
    after = int(page.after) if page.after and page.after.isdigit() else None
    rows = await repo.ballots_page(session, m, channel=channel.value if channel else None, after_seq=after,
                                   limit=page.limit)
    items = []
    for b, building, unit, room, current in rows[:page.limit]:
        version = await repo.ballot_version_of(session, b)
        url = f"{API}/motions/{m.id}/paper-ballots/{b.id}/photo" if b.photo_media_id else None
        items.append(BallotHistoryEntry(
            ballot_id=b.id, household_id=b.household_id, building=building, unit=unit, room=room, version=version,
            channel=Channel(b.channel), cast_at=b.cast_at, actor_id=b.actor_id, current=current,
            has_photo=b.photo_media_id is not None, photo_url=url,
            choice=Choice(b.choice) if state.staff_see_choices else None))
    nxt = encode_cursor(str(rows[page.limit - 1][0].seq)) if len(rows) > page.limit else None
    return Page(items=items, next_cursor=nxt)


async def household_choices(session: AsyncSession, *, principal: Principal, motion_id: str, page: PageParams,
                            now: datetime) -> Page[HouseholdChoice]:
    """Each household's counted choice, for staff only where the profile's ``staff_see_choices`` is set."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.manage", motion_scope(m))
    state = await rule_state(session, m, now)
    if not state.staff_see_choices:
        raise Forbidden("ballot.choices_private", "按规则，工作人员只能查看汇总结果",
                        "By the rules profile, staff see aggregates only")
    rows = await repo.households_with_choices(session, m, limit=page.limit + 1, after=page.after)
    items = [HouseholdChoice(household_id=hid, building=b, unit=u, room=room, area_m2=format_area(area),
                             choice=Choice(c) if c else None, own_ballot=own)
             for hid, b, u, room, area, c, own in rows[:page.limit]]
    nxt = encode_cursor(items[-1].household_id) if len(rows) > page.limit and items else None
    return Page(items=items, next_cursor=nxt)


async def check_receipt(session: AsyncSession, *, settings: Settings, principal: Principal | None, receipt: str,
                        now: datetime) -> ReceiptCheck:
    """Anyone holding a receipt learns that the ballot is recorded as cast and whether it still counts; the
    choice is shown only to members of the household."""
    if not receipt or len(receipt) > 64:
        raise NotFound("receipt.not_found", "回执无效", "Unknown receipt")
    b = await repo.ballot_by_receipt(session, keyed_hash(settings.secret_key, receipt, purpose="receipt"))
    if b is None:
        raise NotFound("receipt.not_found", "回执无效", "Unknown receipt")
    m = await repo.get_motion(session, b.motion_id)
    assert m is not None
    cur = await repo.current_ballot(session, m.id, b.household_id)
    current = cur is not None and cur.ballot_id == b.id
    counted = False
    if current:
        counted = await repo.owner_latest_seq(session, m, b.household_id) == b.seq
    member = principal is not None and any(r.household_id == b.household_id for r in principal.households)
    return ReceiptCheck(motion_id=m.id, motion_title=m.title, motion_status=status_of(m, now), cast_at=b.cast_at,
                        channel=Channel(b.channel), current=current, counted=counted,
                        status="current" if current else "superseded",
                        choice=Choice(b.choice) if member else None)


# ---- for other domains ---------------------------------------------------------------------------

async def _final_or_live(session: AsyncSession, m: Motion, now: datetime,
                         stored: MotionResult | None) -> dict[str, Any]:
    """The stored final tally, or (read-only) what it is / will be stored as."""
    if stored is not None:
        return stored.tally
    st = status_of(m, now)
    state = await rule_state(session, m, now)
    counts = await counts_of(session, m)
    return _tally_dict(m, state, counts, status=st, final=False, now=now)


async def motions_gate(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    """"motions_passed": the project's current plan has at least one required motion, and every required
    motion of it is closed and passed."""
    plan = await repo.current_plan(session, project_id)
    if plan is None:
        return GateState(name="motions_passed", met=False, detail="尚未制定改造方案",
                         figures={"plan_id": None, "motions": []})
    motions = [m for m in await repo.motions_of_plan(session, plan.id) if m.required]
    results = await repo.results_for(session, [m.id for m in motions])
    figures: list[dict[str, Any]] = []
    problems: list[str] = []
    for m in motions:
        t = await _final_or_live(session, m, now, results.get(m.id))
        st = status_of(m, now)
        figures.append({
            "id": m.id, "title": m.title, "matter": m.matter, "status": st.value, "outcome": t["outcome"],
            "final": st == MotionStatus.CLOSED, "rule": t["rule"]["kind"],
            "conditions": [{k: c[k] for k in ("name", "numerator", "denominator", "required", "met")}
                           for c in t["conditions"]],
            "counts": {k: t["counts"][k] for k in ("total_households", "total_owners", "total_area",
                                                   "participating_households", "participating_owners",
                                                   "participating_area", "agree_households", "agree_owners",
                                                   "agree_area")},
        })
        if st != MotionStatus.CLOSED:
            problems.append(f"表决“{m.title}”{STATUS_ZH[st.value]}")
        elif t["outcome"] != "passed":
            problems.append(f"表决“{m.title}”未通过")
    fig = {"plan_id": plan.id, "plan_version": plan.version, "motions": figures}
    if not motions:
        return GateState(name="motions_passed", met=False,
                         detail=f"当前方案（第 {plan.version} 版）尚未发起需表决的事项", figures=fig)
    if problems:
        return GateState(name="motions_passed", met=False, detail="；".join(problems), figures=fig)
    return GateState(name="motions_passed", met=True,
                     detail=f"当前方案（第 {plan.version} 版）的 {len(motions)} 项表决均已通过", figures=fig)


async def closed_motion(session: AsyncSession, *, motion_id: str, result: MotionResult | None = None) -> ClosedMotion:
    """What the vote-result notice shows: the motion, every condition with its numbers, the outcome and per
    participating household only building, unit, room and area (no names, no phones). ``result``: the stored
    result when the caller has just stored it (saves reading its participants back)."""
    m = await _motion_or_404(session, motion_id)
    r = result if result is not None else await repo.get_result(session, m.id, participants=True)
    if r is None:
        raise Conflict("motion.not_closed", "表决尚未结束", "The motion has not closed yet")
    conditions = tuple(ConditionLine(name=c["name"], label_zh=c["label_zh"], numerator=c["numerator_display"],
                                     denominator=c["denominator_display"], required=c["required"], met=c["met"])
                       for c in r.tally["conditions"])
    participants = tuple(ParticipantRow(building=str(h["building"]), unit=str(h["unit"]), room=str(h["room"]),
                                        area_m2=str(h["area_m2"])) for h in r.participants)
    return ClosedMotion(motion_id=m.id, project_id=m.project_id, plan_id=m.plan_id, title=m.title,
                        outcome=r.outcome, opens_at=m.opens_at, closed_at=r.closed_at, conditions=conditions,
                        participants=participants)


async def participating_households(session: AsyncSession, *, motion_id: str) -> list[dict[str, Any]]:
    """Households counted as taking part (owner grouping applied): building, unit, room and area only."""
    m = await _motion_or_404(session, motion_id)
    r = await repo.get_result(session, m.id, participants=True)
    if r is not None:
        return list(r.participants)
    return await _participants(session, m)


async def ranking_figures(session: AsyncSession, *, project_id: str) -> ContributionFigures:
    """The residents' contribution share of the project's current plan (for the street office's ranking)."""
    plan = await repo.current_plan(session, project_id)
    if plan is None:
        return ContributionFigures()
    return ContributionFigures(contribution=Ratio(plan.residents_share_fen, plan.total_budget_fen))


async def motion_scope_households(session: AsyncSession, *, motion_id: str) -> dict[str, Any]:
    """The motion's scope and its households / owners / area (0.01 m²) on its roll (before it is frozen: in
    the register's scope)."""
    m = await _motion_or_404(session, motion_id)
    c = await full_counts(session, m)
    n, owners, area = c.total_households, c.total_owners, c.total_area
    return {"motion_id": m.id, "community_id": m.community_id, "scope": m.scope, "building_id": m.building_id,
            "unit_id": m.unit_id, "households": n, "owners": owners, "area": area}


# ---- the electoral roll --------------------------------------------------------------------------

def _roll_not_open() -> Conflict:
    return Conflict("roll.not_open", "表决尚未开始，名册在开始时冻结", "The roll is frozen when the motion opens")


def _entry_public(e: Any) -> RollEntryPublic:
    d = roll.entry_dict(e)
    assert d is not None
    return RollEntryPublic(**d, area_m2=format_area(int(d["area_centi"])))


def _totals_public(header: Any) -> RollTotals:
    return RollTotals(households=header.households, owners=header.owners, area_centi=header.area,
                      area_m2=format_area(header.area))


def _amendment_public(a: Any) -> RollAmendmentPublic:
    return RollAmendmentPublic(seq=a.seq, household_id=a.household_id, action=a.action, reason=a.reason,
                               before=_entry_public(a.before) if a.before else None,
                               after=_entry_public(a.after) if a.after else None, roll_hash=a.roll_hash,
                               actor_id=a.actor_id, at=a.at)


async def _frozen_roll(session: AsyncSession, m: Motion, now: datetime) -> Any:
    """The roll header of an opened motion (frozen now if this is the first touch); 409 before opening."""
    if status_of(m, now) == MotionStatus.SCHEDULED:
        raise _roll_not_open()
    await _freeze(session, m, now)
    header = await repo.get_roll(session, m.id)
    assert header is not None
    return header


async def get_roll(session: AsyncSession, *, principal: Principal, motion_id: str, page: PageParams,
                   now: datetime) -> RollPublic:
    """Staff: totals, hash, a page of the entries and every amendment. Residents with a household in scope:
    totals, hash and their own entries (403 ``roll.not_in_scope`` otherwise)."""
    m = await _motion_or_404(session, motion_id)
    roles = authorize(principal, "motion.view", motion_scope(m))
    staff = is_manager(roles)
    refs = [] if staff else _scope_refs(principal, m)
    if not staff and not refs:
        raise Forbidden("roll.not_in_scope", "您的房屋不在本次表决范围内", "Your household is not in scope")
    header = await _frozen_roll(session, m, now)
    nxt = None
    log_: list[RollAmendmentPublic] | None = None
    if staff:
        rows = await repo.roll_entries(session, m.id, after=page.after, limit=page.limit + 1)
        entries = [_entry_public(e) for e in rows[:page.limit]]
        nxt = encode_cursor(entries[-1].household_id) if len(rows) > page.limit and entries else None
        log_ = [_amendment_public(a) for a in await repo.roll_amendments(session, m.id)]
    else:
        entries = [_entry_public(e) for e in await repo.roll_entries_of(session, m.id, [r.household_id for r in refs])]
    return RollPublic(motion_id=m.id, status=status_of(m, now), frozen_at=header.frozen_at,
                      frozen_hash=header.frozen_hash, roll_hash=header.roll_hash, totals=_totals_public(header),
                      amendments=header.amendments, entries=entries, next_cursor=nxt, amendment_log=log_)


ROLL_HEADERS = ("房屋ID", "楼栋", "单元", "房号", "专有部分面积（㎡）", "面积（0.01㎡）", "业主组")


async def roll_table(session: AsyncSession, *, principal: Principal, motion_id: str,
                     now: datetime) -> tuple[Motion, Any, list[list[Any]]]:
    """Staff: the whole roll as table rows (header first) for the CSV / XLSX export, with its header."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.manage", motion_scope(m))
    header = await _frozen_roll(session, m, now)
    rows: list[list[Any]] = [list(ROLL_HEADERS)]
    rows += [[e.household_id, e.building, e.unit, e.room, format_area(e.area_centi), e.area_centi, e.owner_group]
             for e in await repo.roll_entries(session, m.id)]
    return m, header, rows


async def amend_roll(session: AsyncSession, *, principal: Principal, motion_id: str, body: RollAmendmentIn,
                     now: datetime) -> RollAmended:
    """Staff: add, remove or correct one household on the roll of an open motion (audited; the running tally
    is rebuilt in the same transaction). Scheduled: 409 ``roll.not_open``; closed: 409 ``roll.closed``."""
    m = await _motion_or_404(session, motion_id)
    authorize(principal, "motion.manage", motion_scope(m))
    m = await _motion_or_404(session, motion_id, lock=True)
    st = status_of(m, now)
    if st == MotionStatus.CLOSED:
        raise Conflict("roll.closed", "表决已结束，名册不能再更正", "The motion has closed; its roll is final")
    await _frozen_roll(session, m, now)
    a = await roll.amend(session, m, household_id=body.household_id, action=body.action, reason=body.reason,
                         actor_id=principal.user_id, now=now)
    header = await repo.get_roll(session, m.id)
    assert header is not None
    return RollAmended(amendment=_amendment_public(a), roll_hash=header.roll_hash, totals=_totals_public(header))


async def freeze_open_rolls(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]:
    """For the register, BEFORE it changes a community's households: freeze the roll of every opened motion of
    the community not frozen yet, and hold the row lock of every still-scheduled one until the change commits
    (a motion opening meanwhile freezes from the changed register). Returns the open motions, whose rolls the
    change does not touch."""
    for m in await repo.motions_to_freeze(session, community_id=community_id, now=now, opened_only=False):
        if status_of(m, now) != MotionStatus.SCHEDULED:
            await _freeze(session, m, now)
    return [OpenRoll(kind="motion", id=m.id, title=m.title)
            for m in await repo.open_motions_of(session, community_id, now)]


# ---- for turnout ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MotionTurnout:
    """What turnout needs of a motion: its place, status by the clock, the rule it decides by, and its
    population exactly as the tally counts it — ``electorate`` is the subquery (household_id, building, unit,
    room, area, owner) of the frozen roll (before the roll is frozen: the register's households in scope;
    ``owner`` groups one owner's households), ``voted`` the select of household ids with a current ballot."""

    id: str
    title: str
    jurisdiction_id: str
    community_id: str
    project_id: str
    scope_kind: str
    building_id: str | None
    unit_id: str | None
    status: str
    opens_at: datetime
    closes_at: datetime
    matter: str
    rule_spec: dict[str, Any]
    electorate: Any
    voted: Any
    motion: Motion

    async def counts(self, session: AsyncSession) -> Counts:
        """The tally's counts (the running tally; a read never writes)."""
        return await counts_of(session, self.motion)


async def _turnout(session: AsyncSession, m: Motion, now: datetime, cache: dict | None) -> MotionTurnout:
    state = await rule_state(session, m, now, cache)
    return MotionTurnout(
        id=m.id, title=m.title, jurisdiction_id=m.jurisdiction_id, community_id=m.community_id,
        project_id=m.project_id, scope_kind=m.scope,
        building_id=m.building_id if m.scope in (ScopeKind.BUILDING, ScopeKind.UNIT) else None,
        unit_id=m.unit_id if m.scope == ScopeKind.UNIT else None, status=status_of(m, now).value,
        opens_at=m.opens_at, closes_at=m.closes_at, matter=m.matter, rule_spec=dict(state.spec),
        electorate=repo.population(m), voted=repo.voted_households(m), motion=m)


async def motion_turnout(session: AsyncSession, *, motion_id: str, now: datetime) -> MotionTurnout | None:
    """The motion as turnout sees it, or None (never writes: an opened motion whose roll nobody has frozen yet
    is counted on the register's households in scope, as its tally would freeze them now)."""
    m = await repo.get_motion(session, motion_id) if motion_id and len(motion_id) <= 32 else None
    return None if m is None else await _turnout(session, m, now, None)


async def open_motions_turnout(session: AsyncSession, *, now: datetime) -> list[MotionTurnout]:
    """Every motion open at ``now``, as turnout sees it (automatic reminders)."""
    cache: dict[Any, Any] = {}
    return [await _turnout(session, m, now, cache) for m in await repo.open_motions(session, now)]
