"""The items turnout works on, as the domains that own them describe them.

A motion (app.voting) or a questionnaire (app.surveys) is seen here as an :class:`Item`: its community and
scope, its state by the server clock, the rule that decides it, a :class:`Population` (the households
counted — a motion's roll — and the select of those with a current ballot / response), and how to count it
for the rules engine — always the owning domain's own numbers, so progress agrees with the tally and the results page:

* motions: ``app.voting.service.motion_turnout`` (status, scope, the rule, the population as the tally counts
  it — the frozen electoral roll, with its areas and owner groups — the select of households with a current
  ballot, and the tally's own counts: owner grouping, the owner's latest ballot decides);
* questionnaires: ``app.surveys.service.turnout_facts`` (status, scope, the willingness rule of the
  profile version it opened with, the population as the results count it — the frozen electoral roll of a
  questionnaire whose rule counts households, with its areas and owner groups; the register's households in
  scope when it keeps no roll or has not frozen it yet — and the selects of responses and willingness
  answers); counted with owner grouping as the surveys results do (the owner's household with the smallest id
  decides).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Scope
from app.core.errors import NotFound
from app.rules import Counts
from app.turnout import repository as repo
from app.turnout.models import ItemType
from app.turnout.repository import Population

if TYPE_CHECKING:
    from app.surveys.service import TurnoutFacts
    from app.voting.service import MotionTurnout

OPEN = "open"
CountsFn = Callable[[AsyncSession], Awaitable[Counts]]


@dataclass(frozen=True)
class Item:
    type: ItemType
    id: str
    title: str
    jurisdiction_id: str
    community_id: str
    project_id: str | None
    scope_kind: str  # community | building | unit
    building_id: str | None
    unit_id: str | None
    status: str  # draft | scheduled | open | closed (by the server clock)
    opens_at: datetime | None
    closes_at: datetime | None
    kind: str | None  # questionnaire kind, motion matter
    rule_spec: dict[str, Any] | None  # the rule deciding it (None: none applies)
    population: Population
    counts: CountsFn | None = None  # the Counts the rule is evaluated on

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def scope(self) -> Scope:
        return Scope(jurisdiction_id=self.jurisdiction_id, community_id=self.community_id, project_id=self.project_id)


def _not_found(item_type: ItemType) -> NotFound:
    if item_type is ItemType.MOTION:
        return NotFound("motion.not_found", "表决事项不存在", "Motion not found")
    return NotFound("questionnaire.not_found", "问卷不存在", "Questionnaire not found")


async def load_item(session: AsyncSession, *, item_type: ItemType, item_id: str, now: datetime) -> Item:
    """The item, or 404."""
    item = None
    if item_id and len(item_id) <= 32:
        if item_type is ItemType.MOTION:
            item = await _load_motion(session, item_id, now)
        else:
            item = await _load_questionnaire(session, item_id, now)
    if item is None:
        raise _not_found(item_type)
    return item


async def open_items(session: AsyncSession, *, now: datetime, community_id: str | None = None) -> list[Item]:
    """Every motion and questionnaire open at ``now``, of one community when given (automatic reminders, the
    lobby board)."""
    return [*(await _open_motions(session, now, community_id)),
            *(await _open_questionnaires(session, now, community_id))]


# ---- motions (app.voting) -------------------------------------------------------------------------

def _motion_item(f: MotionTurnout) -> Item:
    pop = Population(community_id=f.community_id, building_id=f.building_id if f.scope_kind == "building" else None,
                     unit_id=f.unit_id, answered_ids=f.voted, owner_grouping=True, electorate=f.electorate)
    return Item(type=ItemType.MOTION, id=f.id, title=f.title, jurisdiction_id=f.jurisdiction_id,
                community_id=f.community_id, project_id=f.project_id, scope_kind=f.scope_kind,
                building_id=f.building_id, unit_id=f.unit_id, status=f.status, opens_at=f.opens_at,
                closes_at=f.closes_at, kind=f.matter, rule_spec=dict(f.rule_spec), population=pop, counts=f.counts)


async def _load_motion(session: AsyncSession, item_id: str, now: datetime) -> Item | None:
    from app.voting import service as voting

    f = await voting.motion_turnout(session, motion_id=item_id, now=now)
    return None if f is None else _motion_item(f)


async def _open_motions(session: AsyncSession, now: datetime, community_id: str | None) -> list[Item]:
    from app.voting import service as voting

    return [_motion_item(f) for f in await voting.open_motions_turnout(session, now=now, community_id=community_id)]


# ---- questionnaires (app.surveys) ------------------------------------------------------------------

def _questionnaire_item(f: TurnoutFacts) -> Item:
    pop = Population(community_id=f.community_id, building_id=f.building_id, unit_id=f.unit_id,
                     answered_ids=f.answered_ids, owner_grouping=False, electorate=f.electorate)
    counts = None
    if f.rule_spec is not None and f.choices is not None:
        choices = f.choices

        async def counts(session: AsyncSession) -> Counts:
            return await owner_counts(session, pop, choices)

    return Item(type=ItemType.QUESTIONNAIRE, id=f.id, title=f.title, jurisdiction_id=f.jurisdiction_id,
                community_id=f.community_id, project_id=f.project_id, scope_kind=f.scope_kind,
                building_id=f.building_id, unit_id=f.unit_id, status=f.status, opens_at=f.opens_at,
                closes_at=f.closes_at, kind=f.kind, rule_spec=dict(f.rule_spec) if f.rule_spec else None,
                population=pop, counts=counts)


async def owner_counts(session: AsyncSession, pop: Population, choices: Any) -> Counts:
    """Counts with one owner one choice (the owner's answering household with the smallest id decides)."""
    by_choice = await repo.owner_choice_counts(session, pop, choices)
    values: dict[str, int] = {"total_owners": sum(v[0] for v in by_choice.values()),
                              "total_households": sum(v[1] for v in by_choice.values()),
                              "total_area": sum(v[2] for v in by_choice.values())}
    for choice in ("agree", "disagree", "abstain"):
        o, n, a = by_choice.get(choice, (0, 0, 0))
        values.update({f"{choice}_owners": o, f"{choice}_households": n, f"{choice}_area": a})
    return Counts(**values)


async def _load_questionnaire(session: AsyncSession, item_id: str, now: datetime) -> Item | None:
    from app.surveys import service as surveys

    f = await surveys.turnout_facts(session, questionnaire_id=item_id, now=now)
    return None if f is None else _questionnaire_item(f)


async def _open_questionnaires(session: AsyncSession, now: datetime, community_id: str | None) -> list[Item]:
    from app.surveys import service as surveys

    return [_questionnaire_item(f) for f in await surveys.open_turnout_facts(session, now=now,
                                                                             community_id=community_id)]
