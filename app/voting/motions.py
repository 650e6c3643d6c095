"""Motions: create, read, list and close."""


from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core import audit
from app.core.errors import Conflict, Invalid
from app.core.pagination import Page, PageParams, encode_cursor
from app.projects import service as projects_service
from app.rules import Rule
from app.voting import repository as repo
from app.voting.models import (
    Motion,
    MotionStatus,
    Plan,
    ScopeKind,
    SlipStatus,
)
from app.voting.plans import check_location
from app.voting.results import StageOfResult, stage_for, stages_for
from app.voting.schemas import (
    CloseIn,
    CloseResult,
    MotionCreate,
    MotionPublic,
    MyHousehold,
    PaperUnsettled,
)
from app.voting.state import (
    MAX_AHEAD,
    MAX_WINDOW,
    OPTIONS,
    freeze,
    motion_for,
    paper_unsettled,
    plan_not_found,
    rule_public,
    rule_state,
    scope_public,
    scope_refs,
    status_of,
)
from app.voting.tallies import finalize, leave_uncounted, stored_tally


async def _motion_public(session: AsyncSession, m: Motion, now: datetime, *, principal: Principal | None,
                         plan: Plan | None = None, households: int | None = None,
                         cache: dict | None = None, stage: StageOfResult | None = None) -> MotionPublic:
    plan = plan or await repo.get_plan(session, m.plan_id)
    assert plan is not None
    if stage is None:
        closed = status_of(m=m, now=now) == MotionStatus.CLOSED
        stage = await stage_for(session, m, await repo.get_result(session, m.id) if closed else None, now)
    state = await rule_state(session, m=m, now=now, cache=cache)
    if households is None:
        header = await repo.get_roll(session, m.id) if m.roll_frozen_at is not None else None
        households = header.households if header else (await repo.scope_household_counts(session, [m])).get(m.id, 0)
    mine: list[MyHousehold] = []
    if principal is not None:
        refs = scope_refs(principal, m)
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
        description=m.description, matter=m.matter, scope=await scope_public(session, m), required=m.required,
        rule=rule_public(state.spec), rule_source=state.source,  # type: ignore[arg-type]
        rule_frozen=state.frozen, profile_version=state.profile_version, options=list(OPTIONS),
        opens_at=m.opens_at, closes_at=m.closes_at, closed_at=m.closed_at, status=status_of(m=m, now=now),
        households_in_scope=households, created_at=m.created_at, my_households=mine,
        result_stage=stage.stage, result_revision=stage.revision)  # type: ignore[arg-type]


# ---- motions: create, read, list, close -----------------------------------------------------------

async def create_motion(session: AsyncSession, *, principal: Principal, plan_id: str, body: MotionCreate,
                        now: datetime) -> MotionPublic:
    plan = await repo.get_plan(session, plan_id)
    if plan is None:
        raise plan_not_found()
    project = await projects_service.project_or_404(session, project_id=plan.project_id)
    authorize(principal, "motion.manage", projects_service.project_scope(project=project))
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
    bid, uid, errs = await check_location(session, community_id=plan.community_id, scope=scope, building_id=bid_in,
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
    await freeze(session, m, now)  # opening now: the roll is frozen and the running tally built from it
    return await _motion_public(session, m, now, principal=None, plan=plan)


async def get_motion(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime) -> MotionPublic:
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.view")
    return await _motion_public(session, m, now, principal=principal)


async def list_motions(session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams,
                       now: datetime) -> Page[MotionPublic]:
    project = await projects_service.project_or_404(session, project_id=project_id)
    authorize(principal, "motion.view", projects_service.project_scope(project=project))
    rows = await repo.motions_page(session, project_id, after=page.after, limit=page.limit)
    shown = rows[:page.limit]
    plans = await repo.plans_by_ids(session, {m.plan_id for m in shown})
    counts = await repo.scope_household_counts(session, [m for m in shown if m.roll_frozen_at is None])
    counts |= {mid: r.households for mid, r in (await repo.rolls_for(session, [m.id for m in shown])).items()}
    cache: dict = {}
    stages = await stages_for(session, shown, await repo.results_for(session, [m.id for m in shown]), now)
    items = [await _motion_public(session, m, now, principal=principal, plan=plans[m.plan_id],
                                  households=counts.get(m.id, 0), cache=cache, stage=stages[m.id]) for m in shown]
    nxt = encode_cursor(shown[-1].id) if len(rows) > page.limit and shown else None
    return Page(items=items, next_cursor=nxt)


async def close_motion(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime,
                       body: CloseIn | None = None) -> CloseResult:
    """Staff close an open motion now (closes_at := now); the final tally is stored and published. Closing
    a closed motion again returns its stored result. Paper slips pending or in conflict (double entry) refuse
    the close (409 ``motion.paper_unsettled`` with their numbers) unless ``force`` with a reason: then they stay
    uncounted, audited, and the answer lists them."""
    body = body or CloseIn()
    if body.force and not body.reason:
        raise Invalid("motion.force_reason_required", "强制结束须说明理由", "A forced close needs a reason",
                      errors=[{"loc": ["body", "reason"], "msg": "required with force"}])
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage", lock=True)
    st = status_of(m=m, now=now)
    if st == MotionStatus.SCHEDULED:
        raise Conflict("motion.not_open", "表决尚未开始，不能结束", "The motion has not opened yet")
    reason = "deadline"
    uncounted: PaperUnsettled | None = None
    if st == MotionStatus.OPEN:
        unsettled = await repo.unsettled_slips(session, m.id)
        if unsettled:
            pending = sum(s.status == SlipStatus.PENDING for s in unsettled)
            if not body.force:
                raise paper_unsettled(pending, len(unsettled) - pending)
            assert body.reason is not None
            uncounted = PaperUnsettled(pending=pending, conflict=len(unsettled) - pending,
                                       slip_ids=[s.id for s in unsettled])
            await audit.append(session, chain=m.community_id, action="motion.close_forced", entity_type="motion",
                               entity_id=m.id, actor_id=principal.user_id, at=now,
                               data={"reason": body.reason, "pending": uncounted.pending,
                                     "conflict": uncounted.conflict, "slip_ids": uncounted.slip_ids})
            await leave_uncounted(session, m, now=now, actor_id=principal.user_id, reason=body.reason)
        await freeze(session, m, now)
        m.closed_at = now
        m.closes_at = now
        m.closed_by = principal.user_id
        session.add(m)
        await session.flush()
        reason = "closed_by_staff"
    result = await finalize(session, m, now=now, actor_id=principal.user_id, reason=reason)
    stage = await stage_for(session, m, result, now)
    return CloseResult(motion=await _motion_public(session, m, now, principal=None, stage=stage),
                       tally=stored_tally(result, stage), paper_uncounted=uncounted)


