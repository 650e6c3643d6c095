"""Motion state: status by the clock, the rule a motion decides by (frozen at opening together with
its electoral roll), the caller's households in its scope, and the errors the voting modules share."""


from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, Role, Scope, authorize
from app.core import audit
from app.core.errors import Conflict, NotFound
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.rules import Choice, Rule
from app.voting import repository as repo
from app.voting import roll
from app.voting.models import (
    Motion,
    MotionStatus,
    ScopeKind,
)
from app.voting.schemas import (
    RulePublic,
    ScopePublic,
)

OPTIONS = [c.value for c in Choice]
MAX_WINDOW = timedelta(days=366)
MAX_AHEAD = timedelta(days=731)
PAPER_BALLOT = "paper_ballot"  # app.media owner type
STATUS_ZH = {"scheduled": "未开始", "open": "投票中", "closed": "已结束"}
OUTCOME_ZH = {"passed": "通过", "failed": "未通过", "pending": "未决"}
# ---- errors --------------------------------------------------------------------------------------

def plan_not_found() -> NotFound:
    return NotFound("plan.not_found", "改造方案不存在", "Plan not found")


def motion_not_found() -> NotFound:
    return NotFound("motion.not_found", "表决事项不存在", "Motion not found")


def window_closed(status: MotionStatus) -> Conflict:
    if status == MotionStatus.SCHEDULED:
        return Conflict("ballot.window_closed", "投票尚未开始", "Voting has not opened yet", motion_status=status.value)
    return Conflict("ballot.window_closed", "投票已截止", "Voting has closed", motion_status=status.value)


def plan_superseded() -> Conflict:
    return Conflict("motion.plan_superseded", "该表决所依据的方案已被修订，不能再投票",
                    "The plan version of this motion was superseded; voting is no longer possible")


def out_of_scope() -> NotFound:
    return NotFound("ballot.household_not_in_scope", "该房屋不在本次表决范围内",
                    "The household is not in the scope of this motion")


# ---- motions: state and rule ---------------------------------------------------------------------

def status_of(*, m: Motion, now: datetime) -> MotionStatus:
    if m.closed_at is not None or now >= m.closes_at:
        return MotionStatus.CLOSED
    if now < m.opens_at:
        return MotionStatus.SCHEDULED
    return MotionStatus.OPEN


def motion_scope(*, m: Motion) -> Scope:
    return Scope(jurisdiction_id=m.jurisdiction_id, community_id=m.community_id, project_id=m.project_id)


async def motion_or_404(session: AsyncSession, *, motion_id: str, lock: bool = False) -> Motion:
    m = await repo.get_motion(session, motion_id, lock=lock) if motion_id and len(motion_id) <= 32 else None
    if m is None:
        raise motion_not_found()
    return m


async def motion_for(session: AsyncSession, *, principal: Principal, motion_id: str, permission: str,
                     lock: bool = False) -> tuple[Motion, frozenset[Role]]:
    """The motion, once the caller is authorized for it (404 / 403 otherwise), with the caller's roles in its
    scope. ``lock``: re-read under the motion's row lock, taken only after authorization (so nobody without the
    permission can make others wait), for the writes that must not interleave with ballots or a close."""
    m = await motion_or_404(session, motion_id=motion_id)
    roles = authorize(principal, permission, motion_scope(m=m))
    if lock:
        m = await motion_or_404(session, motion_id=motion_id, lock=True)
    return m, roles


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
    got = await register_service.profile_of(session, jurisdiction_id=jurisdiction_id, version=version)
    if cache is not None:
        cache[key] = got
    return got


async def rule_state(session: AsyncSession, *, m: Motion, now: datetime, cache: dict | None = None) -> RuleState:
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


async def freeze(session: AsyncSession, m: Motion, now: datetime) -> RuleState:
    """Write the rule and profile version into an opened motion (once), and freeze its electoral roll."""
    state = await rule_state(session, m=m, now=now)
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


def scope_refs(principal: Principal, m: Motion) -> list[HouseholdRef]:
    """The caller's households in the motion's scope."""
    out = []
    for h in principal.households_in(m.community_id):
        if m.scope == ScopeKind.BUILDING and h.building_id != m.building_id:
            continue
        if m.scope == ScopeKind.UNIT and h.unit_id != m.unit_id:
            continue
        out.append(h)
    return out


async def scope_public(session: AsyncSession, m: Motion) -> ScopePublic:
    b = await repo.get_building(session, m.building_id) if m.building_id else None
    u = await repo.get_unit(session, m.unit_id) if m.unit_id else None
    return ScopePublic(kind=m.scope, building_id=m.building_id, unit_id=m.unit_id,
                       building=b.name if b else None, unit=u.name if u else None)




@dataclass(frozen=True)
class PaperRules:
    """The rules profile's paper settings the motion decides by (the version frozen at its opening)."""

    double_entry: bool
    proxy_max_households: int


# A profile version never changes once written, nor do its paper settings: kept per process by (jurisdiction id,
# version) like the profiles themselves (register_service.profile_of), so that a paper ballot copies no profile
# (the deep copy of the whole profile was 0.36 M of its 12.45 M instructions, issue 17). Bounded: emptied when
# full.
_PAPER_RULES: dict[tuple[str, int], PaperRules] = {}
_PAPER_RULES_MAX = 512


async def paper_rules(session: AsyncSession, *, m: Motion, now: datetime) -> PaperRules:
    state = await rule_state(session, m=m, now=now)
    key = (m.jurisdiction_id, state.profile_version)
    rules = _PAPER_RULES.get(key)
    if rules is None:
        _, profile = await _profile(session, m.jurisdiction_id, state.profile_version)
        rules = PaperRules(profile.paper_double_entry, profile.proxy_max_households)
        if len(_PAPER_RULES) >= _PAPER_RULES_MAX:
            _PAPER_RULES.clear()
        _PAPER_RULES[key] = rules
    return rules


def paper_unsettled(pending: int, conflict: int) -> Conflict:
    return Conflict("motion.paper_unsettled", "还有未核对或有冲突的纸质选票，请先处理（或说明理由强制结束）",
                    "Paper slips are pending or in conflict: settle them first, or close with force and a reason",
                    pending=pending, conflict=conflict)
