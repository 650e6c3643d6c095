"""The items turnout works on, as the domains that own them describe them.

A motion (app.voting) or a questionnaire (app.surveys) is seen here as an :class:`Item`: its community and
scope, its state by the server clock, the rule that decides it, a :class:`Population` (the households in
scope and the subquery of those with a current ballot / response), and how to count it for the rules
engine — always the owning domain's own numbers, so progress agrees with the tally and the results page:

* motions: ``app.voting.service`` (status_of, rule_state, counts_of: owner grouping, the owner's latest
  ballot decides), the motion row read from its table;
* questionnaires: ``app.surveys.service.turnout_facts`` (status, scope, the willingness rule of the
  profile version it opened with, the selects of responses and willingness answers); counted with owner
  grouping as the surveys results do (the owner's household with the smallest id decides).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Scope
from app.core.errors import NotFound
from app.rules import Counts
from app.turnout import repository as repo
from app.turnout.models import ItemType
from app.turnout.repository import Population

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


async def open_items(session: AsyncSession, *, now: datetime) -> list[Item]:
    """Every motion and questionnaire open at ``now`` (for automatic reminders)."""
    return [*(await _open_motions(session, now)), *(await _open_questionnaires(session, now))]


# ---- motions (app.voting) -------------------------------------------------------------------------

async def _motion_item(session: AsyncSession, m: Any, now: datetime, cache: dict[Any, Any]) -> Item:
    from app.voting import service as voting

    state = await voting.rule_state(session, m, now, cache)
    building_id = m.building_id if m.scope in ("building", "unit") else None
    unit_id = m.unit_id if m.scope == "unit" else None
    # the same households as app.voting counts: a unit scope is its unit alone
    pop = Population(community_id=m.community_id, building_id=building_id if m.scope == "building" else None,
                     unit_id=unit_id, answered_ids=repo.motion_voted_ids(m.id), owner_grouping=True)

    async def counts(session: AsyncSession) -> Counts:
        return await voting.counts_of(session, m)

    return Item(type=ItemType.MOTION, id=m.id, title=m.title, jurisdiction_id=m.jurisdiction_id,
                community_id=m.community_id, project_id=m.project_id, scope_kind=m.scope, building_id=building_id,
                unit_id=unit_id, status=voting.status_of(m, now).value, opens_at=m.opens_at, closes_at=m.closes_at,
                kind=m.matter, rule_spec=dict(state.spec), population=pop, counts=counts)


async def _load_motion(session: AsyncSession, item_id: str, now: datetime) -> Item | None:
    m = await repo.get_motion(session, item_id)
    return None if m is None else await _motion_item(session, m, now, {})


async def _open_motions(session: AsyncSession, now: datetime) -> list[Item]:
    cache: dict[Any, Any] = {}
    return [await _motion_item(session, m, now, cache) for m in await repo.open_motions(session, now)]


# ---- questionnaires (app.surveys) ------------------------------------------------------------------

def _questionnaire_item(f: Any) -> Item:
    pop = Population(community_id=f.community_id, building_id=f.building_id, unit_id=f.unit_id,
                     answered_ids=f.answered_ids, owner_grouping=False)
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


async def _open_questionnaires(session: AsyncSession, now: datetime) -> list[Item]:
    from app.surveys import service as surveys

    return [_questionnaire_item(f) for f in await surveys.open_turnout_facts(session, now=now)]
