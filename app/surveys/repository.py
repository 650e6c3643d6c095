"""Every query of the surveys domain.

Results are GROUP BY aggregates over ``survey_answer`` joined with the households a questionnaire counts (its
:class:`Population`: the frozen electoral roll, else the register's households in scope); no response is
loaded into Python to count it. The current response is upserted (INSERT … ON CONFLICT DO UPDATE) so that
two members answering at once leave exactly one current row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from app.auth.models import User
from app.core.db import new_id, upsert_insert
from app.register.models import Building, Household, Unit
from app.register.scope import households_in
from app.surveys.models import (
    CatalogItem,
    Questionnaire,
    QuestionnaireRoll,
    QuestionnaireRollAmendment,
    QuestionnaireRollEntry,
    QuestionnaireStatus,
    SurveyAnswer,
    SurveyResponse,
    SurveyResponseVersion,
)

CHUNK = 1000

# select() of SQLModel is typed for at most four columns; for more, the Select it builds at run time
WideSelect = Select[*tuple[Any, ...]]


def _int(v: Any) -> int:
    return int(v or 0)


# ---- catalogs ------------------------------------------------------------------------------------

async def catalog_rows(session: AsyncSession, catalog: str) -> list[CatalogItem]:
    q = select(CatalogItem).where(CatalogItem.catalog == catalog).order_by(col(CatalogItem.seq))
    return list((await session.exec(q)).all())


async def catalog_item(session: AsyncSession, catalog: str, seq: int) -> CatalogItem | None:
    q = select(CatalogItem).where(CatalogItem.catalog == catalog, CatalogItem.seq == seq)
    return (await session.exec(q)).first()


async def upsert_catalog_items(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or update by (catalog, seq)."""
    if not rows:
        return
    ins = upsert_insert(session, CatalogItem)
    stmt = ins.values(rows).on_conflict_do_update(
        index_elements=["catalog", "seq"],
        set_={"category": ins.excluded.category, "title": ins.excluded.title, "standard": ins.excluded.standard,
              "selection": ins.excluded.selection},
    )
    await session.exec(stmt)


# ---- questionnaires ------------------------------------------------------------------------------

async def get_questionnaire(session: AsyncSession, questionnaire_id: str, *, lock: bool = False) -> Questionnaire | None:
    """The row, fresh from the database; ``lock``: FOR SHARE on PostgreSQL (a concurrent close waits for the
    responses being written, and a response written after a close sees it; SQLite serializes writers)."""
    q = select(Questionnaire).where(Questionnaire.id == questionnaire_id).execution_options(populate_existing=True)
    if lock and session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(read=True)
    return (await session.exec(q)).first()


async def add_questionnaire(session: AsyncSession, q: Questionnaire) -> None:
    session.add(q)
    await session.flush()


async def update_questionnaire(session: AsyncSession, *, questionnaire_id: str, expected_version: int,
                               values: dict[str, Any]) -> bool:
    """Compare-and-set on ``version``: False when someone else changed it first."""
    stmt = (update(Questionnaire)
            .where(col(Questionnaire.id) == questionnaire_id, col(Questionnaire.version) == expected_version)
            .values(**values, version=expected_version + 1))
    res = await session.exec(stmt)
    return res.rowcount == 1


async def questionnaires_page(
    session: AsyncSession, project_id: str, *, after: str | None, limit: int,
    resident_of: tuple[set[str], set[str]] | None = None,
) -> list[Questionnaire]:
    """Newest first (ids sort by creation). ``resident_of`` = (building ids, unit ids): only questionnaires
    past draft whose scope takes in one of them."""
    q = select(Questionnaire).where(Questionnaire.project_id == project_id)
    if resident_of is not None:
        buildings, units = resident_of
        q = q.where(Questionnaire.status != QuestionnaireStatus.DRAFT, or_(
            col(Questionnaire.scope_kind) == "community",
            and_(col(Questionnaire.scope_kind) == "building", col(Questionnaire.building_id).in_(buildings or {""})),
            and_(col(Questionnaire.scope_kind) == "unit", col(Questionnaire.unit_id).in_(units or {""})),
        ))
    if after:
        q = q.where(col(Questionnaire.id) < after)
    q = q.order_by(col(Questionnaire.id).desc()).limit(limit + 1)
    return list((await session.exec(q)).all())


async def willingness_questionnaires(session: AsyncSession, project_id: str) -> list[Questionnaire]:
    """Willingness questionnaires of a project past draft, newest first."""
    q = (select(Questionnaire)
         .where(Questionnaire.project_id == project_id, Questionnaire.kind == "willingness",
                Questionnaire.status != QuestionnaireStatus.DRAFT)
         .order_by(col(Questionnaire.id).desc()))
    return list((await session.exec(q)).all())


async def open_questionnaires(session: AsyncSession, now: datetime, *,
                              community_id: str | None = None) -> list[Questionnaire]:
    """Questionnaires open at ``now`` by the server clock (of one community, when given)."""
    q = (select(Questionnaire)
         .where(Questionnaire.status == QuestionnaireStatus.OPEN,
                or_(col(Questionnaire.opens_at).is_(None), col(Questionnaire.opens_at) <= now),
                or_(col(Questionnaire.closes_at).is_(None), col(Questionnaire.closes_at) > now))
         .order_by(col(Questionnaire.id)))
    if community_id is not None:
        q = q.where(Questionnaire.community_id == community_id)
    return list((await session.exec(q)).all())


# ---- households and scope ------------------------------------------------------------------------

@dataclass(frozen=True)
class ScopeSpec:
    community_id: str
    building_id: str | None = None
    unit_id: str | None = None

    def conditions(self, h: Any = Household) -> list[Any]:
        """The register's households in this scope (app.register.scope: active ones only)."""
        return households_in(self.community_id, building_id=self.building_id, unit_id=self.unit_id, h=h)


async def get_building(session: AsyncSession, building_id: str) -> Building | None:
    return await session.get(Building, building_id)


async def get_unit(session: AsyncSession, unit_id: str) -> Unit | None:
    return await session.get(Unit, unit_id)


@dataclass(frozen=True)
class Population:
    """The households a questionnaire's figures count: its frozen electoral roll (``roll_of``, the
    questionnaire's id; owners are the roll's owner groups), else the register's households in ``scope``."""

    scope: ScopeSpec
    roll_of: str | None = None

    def source(self) -> tuple[Any, Any, Any, Any, list[Any]]:
        """(table, household id column, area column, owner column, WHERE conditions)."""
        if self.roll_of is not None:
            e = QuestionnaireRollEntry
            return (e, col(e.household_id), col(e.area_centi), col(e.owner_group),
                    [col(e.questionnaire_id) == self.roll_of])
        h = Household
        return h, col(h.id), col(h.area_centi), col(h.owner_key), self.scope.conditions()


def roll_electorate(questionnaire_id: str) -> Any:
    """Subquery (household_id, area, owner) of the questionnaire's frozen roll — area and owner group as the
    roll holds them — for what turnout counts (:class:`app.surveys.facts.TurnoutFacts`)."""
    e = QuestionnaireRollEntry
    return (select(col(e.household_id).label("household_id"), col(e.area_centi).label("area"),
                   col(e.owner_group).label("owner"))
            .where(e.questionnaire_id == questionnaire_id).subquery("electorate"))


def _on_roll(questionnaire_id: str, household_id: Any) -> Any:
    """``household_id`` is on the questionnaire's roll (a probe of the roll's primary key)."""
    e = QuestionnaireRollEntry
    return household_id.in_(select(e.household_id).where(e.questionnaire_id == questionnaire_id))


async def scope_totals(session: AsyncSession, population: Population) -> tuple[int, int, int]:
    """(households, distinct owners, exclusive area in 0.01 m²) of the population."""
    t, _, area, owner, conds = population.source()
    q = select(func.count(), func.count(func.distinct(owner)), func.coalesce(func.sum(area), 0)).select_from(t)
    n, owners, total = (await session.exec(q.where(*conds))).one()
    return _int(n), _int(owners), _int(total)


async def household_count(session: AsyncSession, scope: ScopeSpec) -> int:
    q = select(func.count()).select_from(Household).where(*scope.conditions())
    return _int((await session.exec(q)).one())


async def household_in_scope(session: AsyncSession, scope: ScopeSpec, household_id: str) -> Household | None:
    q = select(Household).where(Household.id == household_id, *scope.conditions())
    return (await session.exec(q)).first()


async def scope_household_ids(session: AsyncSession, scope: ScopeSpec) -> list[str]:
    q = (select(Household.id).join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id).where(*scope.conditions())
         .order_by(Building.name, Unit.name, Household.room))
    return list((await session.exec(q)).all())


async def household_locations(session: AsyncSession, household_ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """household id -> (building, unit, room) names."""
    if not household_ids:
        return {}
    q = (select(Household.id, Building.name, Unit.name, Household.room)
         .join(Building, col(Building.id) == Household.building_id).join(Unit, col(Unit.id) == Household.unit_id)
         .where(col(Household.id).in_(list(household_ids))))
    return {hid: (b, u, r) for hid, b, u, r in (await session.exec(q)).all()}


# ---- responses -----------------------------------------------------------------------------------

async def upsert_current(
    session: AsyncSession, *, questionnaire_id: str, household_id: str, channel: str, actor_id: str | None,
    note: str | None, answers: list[dict[str, Any]], now: datetime,
) -> int:
    """Insert the household's current response or replace it; returns its new version (1, 2, …).

    ON CONFLICT DO UPDATE takes the row lock, so concurrent replacements are applied one after the other and
    each gets its own version number.
    """
    ins = upsert_insert(session, SurveyResponse)
    stmt = ins.values(
        id=new_id(), questionnaire_id=questionnaire_id, household_id=household_id, version=1, channel=channel,
        actor_id=actor_id, note=note, answers=answers, first_at=now, updated_at=now,
    ).on_conflict_do_update(
        index_elements=["questionnaire_id", "household_id"],
        set_={"version": col(SurveyResponse.version) + 1, "channel": ins.excluded.channel,
              "actor_id": ins.excluded.actor_id, "note": ins.excluded.note, "answers": ins.excluded.answers,
              "updated_at": ins.excluded.updated_at},
    ).returning(col(SurveyResponse.version))
    res = await session.exec(stmt)
    return int(res.scalar_one())


async def add_version(session: AsyncSession, row: SurveyResponseVersion) -> None:
    session.add(row)
    await session.flush()


async def replace_answers(session: AsyncSession, *, questionnaire_id: str, household_id: str,
                          rows: list[dict[str, Any]]) -> None:
    await session.exec(delete(SurveyAnswer).where(
        col(SurveyAnswer.questionnaire_id) == questionnaire_id, col(SurveyAnswer.household_id) == household_id))
    for i in range(0, len(rows), CHUNK):
        await session.exec(insert(SurveyAnswer), params=rows[i:i + CHUNK])


async def bulk_insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await session.exec(insert(model), params=rows[i:i + CHUNK])


async def current_responses(session: AsyncSession, questionnaire_id: str,
                            household_ids: Sequence[str]) -> dict[str, SurveyResponse]:
    if not household_ids:
        return {}
    q = (select(SurveyResponse)
         .where(SurveyResponse.questionnaire_id == questionnaire_id,
                col(SurveyResponse.household_id).in_(list(household_ids)))
         .execution_options(populate_existing=True))
    return {r.household_id: r for r in (await session.exec(q)).all()}


async def history(session: AsyncSession, questionnaire_id: str,
                  household_id: str) -> list[tuple[SurveyResponseVersion, str | None]]:
    q = (select(SurveyResponseVersion, User.name)
         .outerjoin(User, col(User.id) == SurveyResponseVersion.actor_id)
         .where(SurveyResponseVersion.questionnaire_id == questionnaire_id,
                SurveyResponseVersion.household_id == household_id)
         .order_by(col(SurveyResponseVersion.version)))
    return [(v, name) for v, name in (await session.exec(q)).all()]


# ---- results (aggregates) ------------------------------------------------------------------------

async def participation(session: AsyncSession, questionnaire_id: str,
                        population: Population) -> dict[str, tuple[int, int]]:
    """channel -> (households of the population with a current response, their area)."""
    t, hid, area, _, conds = population.source()
    q = (select(SurveyResponse.channel, func.count(), func.coalesce(func.sum(area), 0))
         .join(t, hid == SurveyResponse.household_id)
         .where(SurveyResponse.questionnaire_id == questionnaire_id, *conds)
         .group_by(SurveyResponse.channel))
    return {ch: (_int(n), _int(a)) for ch, n, a in (await session.exec(q)).all()}


@dataclass(frozen=True)
class AnswerAggregate:
    question_id: str
    item_key: str
    choice: str
    households: int
    value_sum: int
    value_min: int | None
    value_max: int | None


async def answer_aggregates(session: AsyncSession, questionnaire_id: str, question_ids: Sequence[str], *,
                            on_roll: bool = False) -> list[AnswerAggregate]:
    """Per (question, item, choice) of the given questions: households, and sum/min/max of the integer values.

    Answers exist only for households in scope (checked when answering), so no join is needed; the
    ``ix_survey_answer_tally`` index covers the query. ``on_roll``: only the households on the questionnaire's
    frozen roll (one removed from it by an amendment keeps its answers, which no longer count).
    """
    if not question_ids:
        return []
    a = SurveyAnswer
    q: WideSelect = (
         Select(col(a.question_id), col(a.item_key), col(a.choice), func.count(),
                func.coalesce(func.sum(a.value_int), 0), func.min(a.value_int), func.max(a.value_int))
         .where(a.questionnaire_id == questionnaire_id, col(a.question_id).in_(list(question_ids)),
                *([_on_roll(questionnaire_id, col(a.household_id))] if on_roll else []))
         .group_by(a.question_id, a.item_key, a.choice))
    return [AnswerAggregate(qid, item, choice, _int(n), _int(s), mn, mx)
            for qid, item, choice, n, s, mn, mx in (await session.exec(q)).all()]


async def answered_per_question(session: AsyncSession, questionnaire_id: str, question_ids: Sequence[str], *,
                                on_roll: bool = False) -> dict[str, int]:
    """question id -> households whose current response answered it, for questions with several rows per
    household (multiple choice, catalog items): one primary-key probe per response and question instead of
    reading every row to count distinct households."""
    if not question_ids:
        return {}
    r, a = SurveyResponse, SurveyAnswer
    probes = [func.count(case((select(a.question_id).where(a.questionnaire_id == r.questionnaire_id,
                                                             a.household_id == r.household_id,
                                                             a.question_id == qid).exists(), 1)))
              for qid in question_ids]
    # the count of responses first keeps the result a row even for a single question
    where = [r.questionnaire_id == questionnaire_id, *([_on_roll(questionnaire_id, col(r.household_id))] if on_roll else [])]
    row: Any = (await session.exec(select(func.count(), *probes).where(*where))).one()
    return {qid: _int(n) for qid, n in zip(question_ids, row[1:], strict=True)}


async def texts(session: AsyncSession, questionnaire_id: str, question_id: str, limit: int, *,
                on_roll: bool = False) -> list[str]:
    q = (select(SurveyAnswer.value_text)
         .where(SurveyAnswer.questionnaire_id == questionnaire_id, SurveyAnswer.question_id == question_id,
                col(SurveyAnswer.value_text).is_not(None),
                *([_on_roll(questionnaire_id, col(SurveyAnswer.household_id))] if on_roll else []))
         .order_by(col(SurveyAnswer.household_id)).limit(limit))
    return [t for t in (await session.exec(q)).all() if t]


@dataclass(frozen=True)
class OwnerTally:
    question_id: str
    item_key: str
    choice: str
    answered: int  # households in scope that gave this answer, each on its own (the plain count)
    owners: int  # owners whose representative response gave it ...
    households: int  # ... all their households in scope ...
    area: int  # ... and the area of those


async def owner_tally(session: AsyncSession, *, questionnaire_id: str, question_ids: Sequence[str],
                      population: Population) -> list[OwnerTally]:
    """Counts for the rules engine, one owner one choice (DOMAIN.md "Headcount"), for several questions in one
    query, with each answer's plain household count alongside.

    Every owner (owner_key, or owner group of the roll) of the population who responded through at least one household takes the response of
    their household with the smallest id; its answer to each question (per item; item_key "" for a yes_no
    question) counts ALL the owner's households in scope and their summed area, and the owner once — the
    same as ``app.rules.count_electorate`` with the response as the ballot.

    One pass over the population's households (probing the unique response index) marks, by window functions
    over the owner, the representative household with the owner's households and area; each household's
    answers follow by primary key and are summed per question, item and choice: no correlated subquery.
    LEFT JOIN keeps the households the outer loop on SQLite, which never reorders an outer join (without
    statistics it would scan the answers outside and the households inside for each).
    """
    if not question_ids:
        return []
    r, a = SurveyResponse, SurveyAnswer
    h, hid, area, owner, conds = population.source()
    is_rep = hid == func.min(case((col(r.id).is_not(None), hid))).over(partition_by=owner)
    d = (select(hid.label("id"),
                case((is_rep, func.count().over(partition_by=owner))).label("n"),
                case((is_rep, func.sum(area).over(partition_by=owner))).label("area"))
         .select_from(h)
         .outerjoin(r, and_(col(r.questionnaire_id) == questionnaire_id, col(r.household_id) == hid))
         .where(*conds).subquery("d"))
    q: WideSelect = (
         Select(col(a.question_id), col(a.item_key), col(a.choice), func.count(col(a.question_id)),
                func.count(d.c.n), func.sum(d.c.n), func.sum(d.c.area))
         .select_from(d)
         .outerjoin(a, and_(col(a.questionnaire_id) == questionnaire_id, col(a.household_id) == d.c.id,
                            col(a.question_id).in_(list(question_ids))))
         .group_by(a.item_key, a.choice, a.question_id))  # the most selective key first: SQLite sorts to group
    # the households in scope without such an answer make one group of NULLs: left out
    return [OwnerTally(qid, item, choice, _int(n), _int(o), _int(hh), _int(area))
            for qid, item, choice, n, o, hh, area in (await session.exec(q)).all()
            if qid is not None and item is not None and choice is not None]


# ---- the electoral roll --------------------------------------------------------------------------

async def lock_questionnaire(session: AsyncSession, questionnaire_id: str) -> Questionnaire | None:
    """The row, fresh and locked FOR UPDATE (freezing and amending its roll; SQLite serializes writers)."""
    q = (select(Questionnaire).where(Questionnaire.id == questionnaire_id).with_for_update()
         .execution_options(populate_existing=True))
    return (await session.exec(q)).first()


async def register_population(session: AsyncSession, scope: ScopeSpec) -> list[tuple[str, str, str, str, int, str]]:
    """(household_id, building, unit, room, area, owner_key) of the register's households in scope now, in
    household id order (what a roll is frozen from)."""
    q: WideSelect = (
        Select(col(Household.id), col(Building.name), col(Unit.name), col(Household.room), col(Household.area_centi),
               col(Household.owner_key))
        .join(Building, col(Building.id) == Household.building_id)
        .join(Unit, col(Unit.id) == Household.unit_id)
        .where(*scope.conditions()).order_by(col(Household.id)))
    return [(h, b, u, r, _int(a), o) for h, b, u, r, a, o in (await session.exec(q)).all()]


async def register_household(session: AsyncSession, scope: ScopeSpec,
                             household_id: str) -> tuple[Household, str, str] | None:
    """A household of the register in scope, with its building and unit names."""
    q = (select(Household, col(Building.name), col(Unit.name))
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(Household.id == household_id, *scope.conditions()))
    row = (await session.exec(q)).first()
    return (row[0], row[1], row[2]) if row is not None else None


async def insert_roll_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await session.exec(insert(QuestionnaireRollEntry), params=rows[i:i + CHUNK])


async def get_roll(session: AsyncSession, questionnaire_id: str) -> QuestionnaireRoll | None:
    return await session.get(QuestionnaireRoll, questionnaire_id, populate_existing=True)


async def roll_entries(session: AsyncSession, questionnaire_id: str, *, after: str | None = None,
                       limit: int | None = None) -> list[QuestionnaireRollEntry]:
    e = QuestionnaireRollEntry
    q = select(e).where(e.questionnaire_id == questionnaire_id).order_by(col(e.household_id))
    if after is not None:
        q = q.where(col(e.household_id) > after)
    if limit is not None:
        q = q.limit(limit)
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def roll_entry(session: AsyncSession, questionnaire_id: str, household_id: str) -> QuestionnaireRollEntry | None:
    return await session.get(QuestionnaireRollEntry, (questionnaire_id, household_id), populate_existing=True)


async def roll_entries_of(session: AsyncSession, questionnaire_id: str,
                          household_ids: Sequence[str]) -> list[QuestionnaireRollEntry]:
    if not household_ids:
        return []
    e = QuestionnaireRollEntry
    q = (select(e).where(e.questionnaire_id == questionnaire_id, col(e.household_id).in_(list(household_ids)))
         .order_by(col(e.household_id)))
    return list((await session.exec(q)).all())


async def delete_roll_entry(session: AsyncSession, questionnaire_id: str, household_id: str) -> None:
    e = QuestionnaireRollEntry
    await session.exec(delete(e).where(col(e.questionnaire_id) == questionnaire_id, col(e.household_id) == household_id))


async def roll_amendments(session: AsyncSession, questionnaire_id: str) -> list[QuestionnaireRollAmendment]:
    a = QuestionnaireRollAmendment
    return list((await session.exec(select(a).where(a.questionnaire_id == questionnaire_id).order_by(col(a.seq)))).all())


async def questionnaires_to_freeze(session: AsyncSession, *, community_id: str | None, now: datetime,
                                   opened_only: bool) -> list[Questionnaire]:
    """Questionnaires (of a community, or all) that may still freeze a roll — not frozen, not known to keep none
    — opened (ended ones included: one nobody touched while open), or also drafts and still-scheduled ones
    unless ``opened_only``; locked in id order (a register change holds off their freezing)."""
    qn = Questionnaire
    q = (select(qn).where(col(qn.roll_frozen_at).is_(None), or_(col(qn.counts_households).is_(None),
                                                                 col(qn.counts_households).is_(True)))
         .order_by(col(qn.id)).with_for_update().execution_options(populate_existing=True))
    if community_id is not None:
        q = q.where(qn.community_id == community_id)
    if opened_only:
        q = q.where(qn.status == QuestionnaireStatus.OPEN, col(qn.opens_at) <= now)
    else:
        q = q.where(col(qn.status).in_([QuestionnaireStatus.DRAFT.value, QuestionnaireStatus.OPEN.value]))
    return list((await session.exec(q)).all())


async def open_rolled_questionnaires(session: AsyncSession, community_id: str, now: datetime) -> list[Questionnaire]:
    """The community's questionnaires open at ``now`` whose roll is frozen."""
    qn = Questionnaire
    q = (select(qn).where(qn.community_id == community_id, qn.status == QuestionnaireStatus.OPEN,
                          col(qn.roll_frozen_at).is_not(None), col(qn.opens_at) <= now,
                          or_(col(qn.closes_at).is_(None), col(qn.closes_at) > now))
         .order_by(col(qn.id)))
    return list((await session.exec(q)).all())


async def responses_page(session: AsyncSession, questionnaire_id: str, *, after: str | None,
                         limit: int) -> list[SurveyResponse]:
    """Current responses in household id order (the evidence pack's participation)."""
    r = SurveyResponse
    q = select(r).where(r.questionnaire_id == questionnaire_id).order_by(col(r.household_id)).limit(limit)
    if after is not None:
        q = q.where(col(r.household_id) > after)
    return list((await session.exec(q)).all())


# ---- for funding (app.surveys.facts.amount_answers) ----------------------------------------------

async def amount_answers(session: AsyncSession, questionnaire_id: str,
                         question_ids: list[str]) -> list[tuple[str, str, int]]:
    """(household_id, question_id, amount in fen) of the current answers to the given amount questions."""
    if not question_ids:
        return []
    q = (select(SurveyAnswer.household_id, SurveyAnswer.question_id, SurveyAnswer.value_int)
         .where(SurveyAnswer.questionnaire_id == questionnaire_id, col(SurveyAnswer.question_id).in_(question_ids),
                col(SurveyAnswer.value_int).is_not(None))
         .order_by(col(SurveyAnswer.household_id), col(SurveyAnswer.question_id)))
    return [(h, qid, int(v)) for h, qid, v in (await session.exec(q)).all() if v is not None]
