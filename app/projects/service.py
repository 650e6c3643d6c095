"""Projects: creation in eligible communities, the stage lifecycle with its gates, and the ranking.

Gates and ranking figures are answered by the domains that own the facts (surveys, voting, funding,
supervision, publicity), which sit above projects: they reach it through the providers registered in
:data:`app.projects.gates.PROVIDERS` by the composition root (:mod:`app.wiring`).
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, Scope, authorize, roles_in
from app.core import audit, pagination
from app.core.errors import Conflict, NotFound
from app.core.pagination import Page, PageParams
from app.projects import repository as repo
from app.projects.gates import PROVIDERS, GateState, Ratio
from app.projects.models import STAGE_ORDER, Project, Stage, StageMove
from app.projects.schemas import (
    AdvanceRequest,
    ExcludedCommunity,
    Figure,
    ProjectCreate,
    ProjectPublic,
    ProjectSummary,
    RankedCommunity,
    Ranking,
    StageGates,
    StageMovePublic,
)
from app.register import service as register_service
from app.rules import percent_text

# (from, to) -> the gates that move needs (DOMAIN.md "Project lifecycle"); other moves need none
STAGE_GATES: dict[tuple[Stage, Stage], tuple[str, ...]] = {
    (Stage.SURVEY, Stage.PLANNING): ("survey_passed",),
    (Stage.PLAN_PUBLICITY, Stage.APPROVED): ("motions_passed", "publicity_passed"),
    (Stage.APPROVED, Stage.CONSTRUCTION): ("funding_complete",),  # residents' share collected (app.funding)
    (Stage.CONSTRUCTION, Stage.ACCEPTANCE): ("no_open_critical_reports",),
    (Stage.ACCEPTANCE, Stage.EVALUATION): ("acceptance_signed",),
}

STAGE_ZH = {
    Stage.SURVEY: "意愿/需求征询", Stage.PLANNING: "方案制定", Stage.PLAN_PUBLICITY: "方案公示",
    Stage.APPROVED: "方案通过", Stage.CONSTRUCTION: "施工", Stage.ACCEPTANCE: "竣工验收",
    Stage.EVALUATION: "满意度/效果评价", Stage.CLOSED: "结束",
}


def next_stage(*, stage: str) -> Stage | None:
    i = STAGE_ORDER.index(Stage(stage))
    return STAGE_ORDER[i + 1] if i + 1 < len(STAGE_ORDER) else None


def project_scope(*, project: Project) -> Scope:
    return Scope(jurisdiction_id=project.jurisdiction_id, community_id=project.community_id, project_id=project.id)


async def project_or_404(session: AsyncSession, *, project_id: str) -> Project:
    """For other domains: the project row or 404 (no existence leak)."""
    p = await repo.get_project(session, project_id)
    if p is None:
        raise NotFound("project.not_found", "项目不存在", "Project not found")
    return p


async def member_scope(session: AsyncSession, *, principal: Principal, jurisdiction_id: str, community_id: str,
                       project_id: str | None = None) -> Scope:
    """The scope to authorize a community-wide read (notices) against: the community (and the project, if
    any); a supervisor or contractor of ANOTHER project of the community is a member of it too."""
    scope = Scope(jurisdiction_id=jurisdiction_id, community_id=community_id, project_id=project_id)
    if roles_in(principal, scope):
        return scope
    mine = await repo.project_ids_in_community(session, community_id,
                                               set(principal.supervisor_of | principal.contractor_of))
    if mine:
        return Scope(jurisdiction_id=jurisdiction_id, community_id=community_id, project_id=sorted(mine)[0])
    return scope


async def gates_for(session: AsyncSession, *, project: Project, from_stage: Stage, to_stage: Stage,
                    now: datetime) -> list[GateState]:
    return [await PROVIDERS.gate(name)(session, project_id=project.id, now=now)
            for name in STAGE_GATES.get((from_stage, to_stage), ())]


def gate_names() -> set[str]:
    """Every gate some stage move needs (each must have a registered provider)."""
    return {name for names in STAGE_GATES.values() for name in names}


# ---- projects ------------------------------------------------------------------------------------

def _summary(p: Project) -> ProjectSummary:
    return ProjectSummary(id=p.id, community_id=p.community_id, jurisdiction_id=p.jurisdiction_id, title=p.title,
                          stage=p.stage, version=p.version, created_at=p.created_at)


async def _public(session: AsyncSession, p: Project, now: datetime) -> ProjectPublic:
    nxt = next_stage(stage=p.stage)
    stage_gates: list[StageGates] = []
    next_gates: list[GateState] = []
    for (frm, to) in STAGE_GATES:
        gates = await gates_for(session, project=p, from_stage=frm, to_stage=to, now=now)
        stage_gates.append(StageGates(from_stage=frm, to_stage=to, gates=gates, all_met=all(g.met for g in gates)))
        if frm == p.stage and to == nxt:
            next_gates = gates
    history = [StageMovePublic(from_stage=m.from_stage, to_stage=m.to_stage, reason=m.reason, actor_id=m.actor_id,
                               at=m.at) for m in await repo.moves_of(session, p.id)]
    return ProjectPublic(**_summary(p).model_dump(), description=p.description, created_by=p.created_by,
                         next_stage=nxt, next_gates=next_gates, stage_gates=stage_gates, history=history)


async def create_project(session: AsyncSession, *, principal: Principal, community_id: str, body: ProjectCreate,
                         now: datetime) -> ProjectPublic:
    community = await register_service.community_or_404(session, community_id=community_id)
    authorize(principal, "project.manage", Scope(jurisdiction_id=community.jurisdiction_id, community_id=community.id))
    _, profile = await register_service.profile_of(session, jurisdiction_id=community.jurisdiction_id)
    eligibility = register_service.eligibility_of(community=community, profile=profile)
    if not eligibility.eligible:
        raise Conflict("project.community_ineligible", f"该小区不符合改造条件，不能启动项目：{eligibility.reason}",
                       "This community is not eligible for renovation; a project cannot start",
                       eligibility=eligibility.model_dump(mode="json"))
    p = Project(community_id=community.id, jurisdiction_id=community.jurisdiction_id, title=body.title,
                description=body.description, stage=Stage.SURVEY, version=1, created_at=now,
                created_by=principal.user_id)
    session.add(p)
    await session.flush()
    await audit.append(session, chain=community.id, action="project.created", entity_type="project", entity_id=p.id,
                       actor_id=principal.user_id, at=now, data={"title": p.title, "stage": p.stage})
    return await _public(session, p, now)


async def get_project(session: AsyncSession, *, principal: Principal, project_id: str, now: datetime) -> ProjectPublic:
    p = await project_or_404(session, project_id=project_id)
    authorize(principal, "project.view", project_scope(project=p))
    return await _public(session, p, now)


async def list_projects(session: AsyncSession, *, principal: Principal, community_id: str,
                        page: PageParams) -> Page[ProjectSummary]:
    """Staff, admins and residents see every project of the community; supervisors and contractors only
    the projects they are appointed to."""
    community = await register_service.community_or_404(session, community_id=community_id)
    scope = await member_scope(session, principal=principal, jurisdiction_id=community.jurisdiction_id,
                               community_id=community.id)
    authorize(principal, "project.view", scope)
    only: set[str] | None = None
    if scope.project_id is not None:  # a supervisor/contractor: only the projects they are appointed to
        only = set(await repo.project_ids_in_community(session, community.id,
                                                       set(principal.supervisor_of | principal.contractor_of)))
    rows = await repo.projects_page(session, community.id, after=pagination.parse_time_cursor(page.after), limit=page.limit,
                                    only_ids=only)
    items = [_summary(p) for p in rows[:page.limit]]
    nxt = pagination.time_cursor(rows[page.limit - 1].created_at, rows[page.limit - 1].id) if len(rows) > page.limit else None
    return Page(items=items, next_cursor=nxt)


async def advance(session: AsyncSession, *, principal: Principal, project_id: str, body: AdvanceRequest,
                  now: datetime) -> ProjectPublic:
    """Move the project to the NEXT stage if every gate of that move holds; recorded and audited.

    Two concurrent advances: the optimistic ``version`` compare-and-set lets exactly one through.
    """
    p = await project_or_404(session, project_id=project_id)
    authorize(principal, "project.manage", project_scope(project=p))
    current = Stage(p.stage)
    nxt = next_stage(stage=current)
    if body.to_stage != nxt:
        raise Conflict(
            "project.invalid_stage",
            f"项目当前处于“{STAGE_ZH[current]}”阶段，只能推进到下一阶段"
            + (f"“{STAGE_ZH[nxt]}”" if nxt else "（已结束，无下一阶段）"),
            f"The project is at stage {current.value}; it can only move to the next stage "
            + (nxt.value if nxt else "(none: closed)"),
            current_stage=current.value, next_stage=nxt.value if nxt else None, requested=body.to_stage.value,
        )
    expected_version = p.version
    gates = await gates_for(session, project=p, from_stage=current, to_stage=nxt, now=now)
    unmet = [g for g in gates if not g.met]
    if unmet:
        raise Conflict(
            "project.gate_unmet",
            "不满足推进条件：" + "；".join(g.detail for g in unmet),
            "Stage move refused; unmet: " + ", ".join(g.name for g in unmet),
            from_stage=current.value, to_stage=nxt.value, unmet=[g.model_dump(mode="json") for g in unmet],
        )
    if not await repo.move_stage(session, project_id=p.id, expected_version=expected_version, to_stage=nxt.value):
        raise Conflict("project.concurrent_change", "项目已被他人同时修改，请刷新后重试",
                       "The project was changed concurrently; reload and retry")
    await repo.add_move(session, StageMove(project_id=p.id, from_stage=current.value, to_stage=nxt.value,
                                           reason=body.reason, actor_id=principal.user_id, at=now))
    await audit.append(session, chain=p.community_id, action="project.stage_moved", entity_type="project",
                       entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"from": current.value, "to": nxt.value, "reason": body.reason,
                             "version": expected_version + 1,
                             "gates": [{"name": g.name, "met": g.met} for g in gates]})
    fresh = await repo.get_project(session, p.id, fresh=True)
    assert fresh is not None
    return await _public(session, fresh, now)


# ---- ranking (street office) ---------------------------------------------------------------------

def figure(*, ratio: Ratio | None) -> Figure | None:
    if ratio is None:
        return None
    n, d = ratio.numerator, ratio.denominator
    if d == 0:
        return Figure(numerator=n, denominator=d, share=None, percent=None)
    f = Fraction(n, d)
    return Figure(numerator=n, denominator=d, share=f"{f.numerator}/{f.denominator}",
                  percent=percent_text(n, d))


def _share(fig: Figure | None) -> Fraction | None:
    if fig is None or fig.denominator == 0:
        return None
    return Fraction(fig.numerator, fig.denominator)


async def ranking(session: AsyncSession, *, principal: Principal, jurisdiction_id: str, now: datetime) -> Ranking:
    """Eligible communities by willingness share, then participation share, then residents' contribution
    share of their latest project; exact fractions compared, never floats; no data ranks last."""
    _, profile = await register_service.profile_of(session, jurisdiction_id=jurisdiction_id)
    authorize(principal, "ranking.view", Scope(jurisdiction_id=jurisdiction_id))
    ranked: list[tuple[tuple[Any, ...], RankedCommunity]] = []
    excluded: list[ExcludedCommunity] = []
    for c in await repo.communities_of(session, jurisdiction_id):
        el = register_service.eligibility_of(community=c, profile=profile)
        if not el.eligible:
            excluded.append(ExcludedCommunity(community_id=c.id, community_name=c.name, reason=el.reason))
            continue
        p = await repo.latest_project(session, c.id)
        will = part = contrib = None
        if p is not None:
            assert PROVIDERS.willingness is not None and PROVIDERS.contribution is not None
            s_fig = await PROVIDERS.willingness(session, project_id=p.id, now=now)
            v_fig = await PROVIDERS.contribution(session, project_id=p.id)
            will, part = figure(ratio=s_fig.willingness), figure(ratio=s_fig.participation)
            contrib = figure(ratio=v_fig.contribution)
        shares = [_share(will), _share(part), _share(contrib)]
        has_data = any(s is not None for s in shares)
        # sort ascending: data first, then each share descending (missing share below any share)
        key = (0 if has_data else 1,) + tuple((0, -s) if s is not None else (1, Fraction(0)) for s in shares) + (c.name, c.id)
        ranked.append((key, RankedCommunity(
            rank=0, community_id=c.id, community_name=c.name, project_id=p.id if p else None,
            project_title=p.title if p else None, project_stage=p.stage if p else None, has_data=has_data,
            willingness=will, participation=part, contribution=contrib)))
    ranked.sort(key=lambda kv: kv[0])
    items = []
    for i, (_, item) in enumerate(ranked, start=1):
        item.rank = i
        items.append(item)
    return Ranking(jurisdiction_id=jurisdiction_id, ordered_by=["willingness", "participation", "contribution"],
                   items=items, excluded=excluded)
