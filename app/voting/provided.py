"""What voting answers other domains: the project gate, the ranking's figures, a motion's population
for the street office, each motion as turnout sees it, and plan versions as funding reads them."""


from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.projects.gates import ContributionFigures, GateState, Ratio
from app.rules import Counts
from app.voting import repository as repo
from app.voting.contracts import ConditionLine
from app.voting.models import (
    Motion,
    MotionResult,
    MotionStatus,
    Plan,
    ScopeKind,
)
from app.voting.results import stages_for
from app.voting.state import STATUS_ZH, motion_or_404, rule_state, status_of
from app.voting.tallies import counts_of, full_counts, participants_of, tally_dict

# ---- for other domains ---------------------------------------------------------------------------

async def _final_or_live(session: AsyncSession, m: Motion, now: datetime,
                         stored: MotionResult | None) -> dict[str, Any]:
    """The stored final tally, or (read-only) what it is / will be stored as."""
    if stored is not None:
        return stored.tally
    st = status_of(m=m, now=now)
    state = await rule_state(session, m=m, now=now)
    counts = await counts_of(session, m=m)
    return tally_dict(m, state, counts, status=st, final=False, now=now)


async def motions_gate(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    """"motions_passed": the project's current plan has at least one required motion, and every required
    motion of it is closed and passed with a FINAL result (its vote-result notice has passed with every
    objection to the count answered: :mod:`app.voting.results`)."""
    plan = await repo.current_plan(session, project_id)
    if plan is None:
        return GateState(name="motions_passed", met=False, detail="尚未制定改造方案",
                         figures={"plan_id": None, "motions": []})
    motions = [m for m in await repo.motions_of_plan(session, plan.id) if m.required]
    results = await repo.results_for(session, [m.id for m in motions])
    stages = await stages_for(session, motions, results, now)
    figures: list[dict[str, Any]] = []
    problems: list[str] = []
    for m in motions:
        t = await _final_or_live(session, m, now, results.get(m.id))
        st = status_of(m=m, now=now)
        stage = stages[m.id]
        # "final" as TallyPublic.final: the count is closed (stored), not live; whether it stands: result_stage
        figures.append({
            "id": m.id, "title": m.title, "matter": m.matter, "status": st.value, "outcome": t["outcome"],
            "final": st == MotionStatus.CLOSED, "result_stage": stage.stage, "result_revision": stage.revision,
            "result_notice_id": stage.notice.notice_id if stage.notice is not None else None,
            "result_detail": stage.detail if stage.stage is not None else None, "rule": t["rule"]["kind"],
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
            problems.append(f"表决“{m.title}”未通过" + ("" if stage.final else "（暂定结果）"))
        elif not stage.final:
            problems.append(f"表决“{m.title}”的通过结果尚为暂定：{stage.detail}")
    fig = {"plan_id": plan.id, "plan_version": plan.version, "motions": figures}
    if not motions:
        return GateState(name="motions_passed", met=False,
                         detail=f"当前方案（第 {plan.version} 版）尚未发起需表决的事项", figures=fig)
    if problems:
        return GateState(name="motions_passed", met=False, detail="；".join(problems), figures=fig)
    return GateState(name="motions_passed", met=True,
                     detail=f"当前方案（第 {plan.version} 版）的 {len(motions)} 项表决均已通过，"
                            "表决结果公示均已期满，结果已确定", figures=fig)


async def participating_households(session: AsyncSession, *, motion_id: str) -> list[dict[str, Any]]:
    """Households counted as taking part (owner grouping applied): building, unit, room and area only."""
    m = await motion_or_404(session, motion_id=motion_id)
    r = await repo.get_result(session, m.id, participants=True)
    if r is not None:
        return list(r.participants)
    return await participants_of(session, m)


async def ranking_figures(session: AsyncSession, *, project_id: str) -> ContributionFigures:
    """The residents' contribution share of the project's current plan (for the street office's ranking)."""
    plan = await repo.current_plan(session, project_id)
    if plan is None:
        return ContributionFigures()
    return ContributionFigures(contribution=Ratio(plan.residents_share_fen, plan.total_budget_fen))


async def motion_scope_households(session: AsyncSession, *, motion_id: str) -> dict[str, Any]:
    """The motion's scope and its households / owners / area (0.01 m²) on its roll (before it is frozen: in
    the register's scope)."""
    m = await motion_or_404(session, motion_id=motion_id)
    c = await full_counts(session, m=m)
    n, owners, area = c.total_households, c.total_owners, c.total_area
    return {"motion_id": m.id, "community_id": m.community_id, "scope": m.scope, "building_id": m.building_id,
            "unit_id": m.unit_id, "households": n, "owners": owners, "area": area}


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
        return await counts_of(session, m=self.motion)


async def _turnout(session: AsyncSession, m: Motion, now: datetime, cache: dict | None) -> MotionTurnout:
    state = await rule_state(session, m=m, now=now, cache=cache)
    return MotionTurnout(
        id=m.id, title=m.title, jurisdiction_id=m.jurisdiction_id, community_id=m.community_id,
        project_id=m.project_id, scope_kind=m.scope,
        building_id=m.building_id if m.scope in (ScopeKind.BUILDING, ScopeKind.UNIT) else None,
        unit_id=m.unit_id if m.scope == ScopeKind.UNIT else None, status=status_of(m=m, now=now).value,
        opens_at=m.opens_at, closes_at=m.closes_at, matter=m.matter, rule_spec=dict(state.spec),
        electorate=repo.population(m), voted=repo.voted_households(m), motion=m)


async def motion_turnout(session: AsyncSession, *, motion_id: str, now: datetime) -> MotionTurnout | None:
    """The motion as turnout sees it, or None (never writes: an opened motion whose roll nobody has frozen yet
    is counted on the register's households in scope, as its tally would freeze them now)."""
    m = await repo.get_motion(session, motion_id) if motion_id and len(motion_id) <= 32 else None
    return None if m is None else await _turnout(session, m, now, None)


async def open_motions_turnout(session: AsyncSession, *, now: datetime,
                               community_id: str | None = None) -> list[MotionTurnout]:
    """Every motion open at ``now`` (of one community, when given), as turnout sees it (automatic reminders,
    the lobby board's turnout)."""
    cache: dict[Any, Any] = {}
    motions = (await repo.open_motions(session, now) if community_id is None
               else await repo.open_motions_of(session, community_id, now))
    return [await _turnout(session, m, now, cache) for m in motions]


# ---- for public screens (the lobby board) ----------------------------------------------------------

@dataclass(frozen=True)
class PublishedResult:
    """A closed motion as a public screen may show it: its result only as its vote-result notice publishes it
    (``published`` False: closed, but no notice of the current count has opened yet — then neither the outcome
    nor any figure). The figures are the notice's own lines (households, owners, area as printed there); no
    household, room or person."""

    title: str
    closed_at: datetime
    published: bool
    outcome: str | None  # passed | failed, when published
    revision: int | None
    stage: str | None  # provisional | final (app.voting.results), when published
    stage_detail: str
    notice_end_date: date | None
    conditions: tuple[ConditionLine, ...]


async def published_results(session: AsyncSession, *, community_id: str, now: datetime,
                            limit: int = 10) -> list[PublishedResult]:
    """The community's latest closed motions (at most ``limit``, the latest close first) with the result their
    vote-result notice shows. No authorization: what is returned is public once the notice has opened."""
    motions = await repo.closed_motions_of(session, community_id, now, limit)
    results = await repo.results_for(session, [m.id for m in motions])
    stages = await stages_for(session, motions, results, now)
    out = []
    for m in motions:
        r, st = results.get(m.id), stages[m.id]
        n = st.notice
        closed_at = r.closed_at if r is not None else (m.closed_at or m.closes_at)
        if r is None or n is None or n.revision != r.revision or n.status == "scheduled":
            out.append(PublishedResult(title=m.title, closed_at=closed_at, published=False, outcome=None, revision=None,
                                       stage=None, stage_detail="表决已截止，结果待公示", notice_end_date=None,
                                       conditions=()))
            continue
        conditions = tuple(ConditionLine(name=c["name"], label_zh=c["label_zh"], numerator=c["numerator_display"],
                                         denominator=c["denominator_display"], required=c["required"], met=c["met"])
                           for c in r.tally["conditions"])
        out.append(PublishedResult(title=m.title, closed_at=closed_at, published=True, outcome=r.outcome,
                                   revision=r.revision, stage=st.stage, stage_detail=st.detail,
                                   notice_end_date=n.end_date, conditions=conditions))
    return out


# ---- for funding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceAmount:
    source: str  # a FundingSource value
    amount_fen: int


@dataclass(frozen=True)
class PlanItemFacts:
    """One item of a plan version: where it applies, its budget, its funding sources and the residents' share
    (fen). ``building_id``/``unit_id`` are set for a building / unit scope."""

    id: str
    position: int
    catalog: str | None
    catalog_seq: int | None
    title: str
    scope: str  # community | building | unit
    building_id: str | None
    unit_id: str | None
    budget_fen: int
    residents_share_fen: int
    sources: tuple[SourceAmount, ...]


@dataclass(frozen=True)
class PlanFacts:
    """A plan version as other domains read it: its items, the plan-level funding sources and exact totals.
    ``superseded_by`` is None for the project's current version."""

    id: str
    project_id: str
    community_id: str
    version: int
    title: str
    superseded_by: str | None
    total_budget_fen: int
    residents_share_fen: int
    items: tuple[PlanItemFacts, ...]
    sources: tuple[SourceAmount, ...]


async def _plan_facts(session: AsyncSession, plan: Plan) -> PlanFacts:
    funding = await repo.plan_funding(session, plan.id)
    by_item: dict[str | None, list[SourceAmount]] = {}
    for f in funding:
        by_item.setdefault(f.item_id, []).append(SourceAmount(f.source, f.amount_fen))
    items = tuple(PlanItemFacts(
        id=it.id, position=it.position, catalog=it.catalog, catalog_seq=it.catalog_seq, title=it.title,
        scope=it.scope, building_id=it.building_id, unit_id=it.unit_id, budget_fen=it.budget_fen,
        residents_share_fen=it.residents_share_fen, sources=tuple(by_item.get(it.id, ())))
        for it in await repo.plan_items(session, plan.id))
    return PlanFacts(id=plan.id, project_id=plan.project_id, community_id=plan.community_id, version=plan.version,
                     title=plan.title, superseded_by=plan.superseded_by, total_budget_fen=plan.total_budget_fen,
                     residents_share_fen=plan.residents_share_fen, items=items,
                     sources=tuple(by_item.get(None, ())))


async def plan_facts(session: AsyncSession, *, plan_id: str) -> PlanFacts | None:
    """One plan version (any, superseded ones too), or None. No authorization: the caller authorizes on the
    plan's project."""
    plan = await repo.get_plan(session, plan_id)
    return None if plan is None else await _plan_facts(session, plan)


async def current_plan_facts(session: AsyncSession, *, project_id: str) -> PlanFacts | None:
    """The project's current plan version, or None when it has no plan."""
    plan = await repo.current_plan(session, project_id)
    return None if plan is None else await _plan_facts(session, plan)
