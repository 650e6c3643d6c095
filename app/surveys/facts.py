"""What other domains read of surveys: the project gate ``survey_passed`` and the ranking's willingness
figures (registered by the composition root, ``app/wiring.py``), and the facts turnout needs of a
questionnaire. The rules are the profile's, as frozen when the questionnaire opened; the households counted
are its electoral roll's once frozen (these reads never freeze one: before that, the register's in scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.projects.gates import GateState, Ratio, WillingnessFigures
from app.rules import TallyResult
from app.surveys import repository as repo
from app.surveys.common import effective_status, population_of, profile_of, willingness_question
from app.surveys.models import Questionnaire, QuestionnaireStatus, SurveyAnswer, SurveyResponse
from app.surveys.results import willingness_tally

GATE_NAME = "survey_passed"


def _closed_first(qs: list[Questionnaire], now: datetime | None) -> list[Questionnaire]:
    """Closed ones (most recently closed first)."""
    closed = [q for q in qs if effective_status(q=q, now=now) is QuestionnaireStatus.CLOSED]

    def closed_time(q: Questionnaire) -> datetime:
        if q.status == QuestionnaireStatus.CLOSED and q.closed_at is not None:
            return q.closed_at
        return q.closes_at or q.created_at

    return sorted(closed, key=lambda q: (closed_time(q), q.id), reverse=True)


# ---- the project gate and the ranking ------------------------------------------------------------

async def willingness_gate(session: AsyncSession, *, project_id: str, now: datetime | None = None) -> GateState:
    """Gate ``survey_passed`` (survey → planning): the project's latest closed willingness questionnaire
    passes the profile's willingness rule (the profile version frozen when it opened).

    ``now`` (the server clock) lets a questionnaire whose closes_at has passed count as closed; without it
    only questionnaires closed by /close count.
    """
    qs = await repo.willingness_questionnaires(session, project_id)
    if not qs:
        return GateState(name=GATE_NAME, met=False, detail="尚未开展改造意愿征询",
                         figures={"questionnaire_id": None})
    closed = _closed_first(qs, now)
    if not closed:
        latest = qs[0]
        return GateState(name=GATE_NAME, met=False, detail=f"改造意愿征询“{latest.title}”尚未结束",
                         figures={"questionnaire_id": latest.id, "status": effective_status(q=latest, now=now).value,
                                  "closes_at": latest.closes_at.isoformat() if latest.closes_at else None})
    q = closed[0]
    _, profile = await profile_of(session, q)
    totals = await repo.scope_totals(session, population_of(q))
    tallied = await willingness_tally(session, q=q, rule_spec=profile.willingness_rule, totals=totals,
                                      window_open=False)
    if tallied is None:
        return GateState(name=GATE_NAME, met=False, detail=f"问卷“{q.title}”没有意愿题，无法判定",
                         figures={"questionnaire_id": q.id})
    _, res = tallied
    return GateState(name=GATE_NAME, met=res.passed, detail=_gate_detail(res), figures=_gate_figures(q, res))


def _gate_figures(q: Questionnaire, res: TallyResult) -> dict[str, Any]:
    c = res.counts
    return {"questionnaire_id": q.id, "outcome": res.outcome.value, "rule": res.to_dict()["rule"],
            "willingness": {"numerator": c.agree_households, "denominator": c.total_households},
            "agree_households": c.agree_households, "disagree_households": c.disagree_households,
            "participating_households": c.participating_households, "total_households": c.total_households,
            "agree_area_centi": c.agree_area, "total_area_centi": c.total_area,
            "agree_owners": c.agree_owners, "total_owners": c.total_owners,
            "conditions": [cond.to_dict() for cond in res.conditions]}


def _gate_detail(res: TallyResult) -> str:
    c = res.counts
    rule_zh = res.rule.describe_zh()
    if res.passed:
        return f"改造意愿征询已通过（{rule_zh}）：同意 {c.agree_households} 户，总户数 {c.total_households} 户"
    shortfall = next((cond.shortfall for cond in res.conditions if not cond.met), None)
    return (f"改造意愿征询未通过（{rule_zh}）：同意 {c.agree_households} 户，总户数 {c.total_households} 户，"
            f"参与 {c.participating_households} 户" + (f"，尚差 {shortfall} 户" if shortfall else ""))


async def ranking_figures(session: AsyncSession, *, project_id: str, now: datetime | None = None) -> WillingnessFigures:
    """Willingness (agree households / households in scope, one owner one choice as in the rule) and
    participation (households that responded / households in scope) of the project's willingness
    questionnaire: the latest closed one, else the latest opened one; empty figures when there is none."""
    qs = await repo.willingness_questionnaires(session, project_id)
    closed = _closed_first(qs, now)
    q = closed[0] if closed else (qs[0] if qs else None)
    if q is None:
        return WillingnessFigures()
    _, profile = await profile_of(session, q)
    population = population_of(q)
    totals = await repo.scope_totals(session, population)
    total_hh = totals[0]
    tallied = await willingness_tally(session, q=q, rule_spec=profile.willingness_rule, totals=totals,
                                      window_open=effective_status(q=q, now=now) is not QuestionnaireStatus.CLOSED)
    part = await repo.participation(session, q.id, population)
    responded = sum(n for n, _ in part.values())
    willingness = None if tallied is None else Ratio(tallied[1].counts.agree_households, total_hh)
    return WillingnessFigures(willingness=willingness, participation=Ratio(responded, total_hh))


# ---- turnout -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TurnoutFacts:
    """What turnout needs of a questionnaire (its ``Item``): status by the clock, scope, the rule, its
    population as the results count it, and selects of the households that answered and of their willingness
    choice (agree / disagree).

    ``electorate``: the subquery (household_id, area, owner) of the frozen electoral roll — area and owner
    group from the roll, so an import after opening or a roll removal moves nothing of turnout either — or
    None when the questionnaire keeps no roll or has not frozen it yet (a read never freezes one): then the
    register's households in scope, as the results count them (:func:`app.surveys.common.population_of`).
    """

    id: str
    title: str
    jurisdiction_id: str
    community_id: str
    project_id: str
    scope_kind: str
    building_id: str | None
    unit_id: str | None
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    kind: str
    rule_spec: dict[str, Any] | None
    answered_ids: Any  # select(household_id) of current responses
    choices: Any  # select(household_id, choice) of willingness answers, or None
    electorate: Any = None  # subquery (household_id, area, owner) of the frozen roll, or None (see above)


async def _facts(session: AsyncSession, q: Questionnaire, now: datetime) -> TurnoutFacts:
    wq = willingness_question(q)
    rule_spec = choices = None
    if wq is not None:
        rule_spec = (await profile_of(session, q))[1].willingness_rule
        choices = (select(SurveyAnswer.household_id,
                          case((col(SurveyAnswer.choice) == "yes", "agree"), else_="disagree").label("choice"))
                   .where(SurveyAnswer.questionnaire_id == q.id, SurveyAnswer.question_id == wq.id))
    return TurnoutFacts(
        id=q.id, title=q.title, jurisdiction_id=q.jurisdiction_id, community_id=q.community_id,
        project_id=q.project_id, scope_kind=q.scope_kind, building_id=q.building_id, unit_id=q.unit_id,
        status=effective_status(q=q, now=now).value, opens_at=q.opens_at, closes_at=q.closes_at, kind=q.kind,
        rule_spec=rule_spec,
        answered_ids=select(SurveyResponse.household_id).where(SurveyResponse.questionnaire_id == q.id),
        choices=choices, electorate=repo.roll_electorate(q.id) if q.roll_frozen_at is not None else None)


async def turnout_facts(session: AsyncSession, *, questionnaire_id: str, now: datetime) -> TurnoutFacts | None:
    q = await repo.get_questionnaire(session, questionnaire_id)
    return None if q is None else await _facts(session, q, now)


async def open_turnout_facts(session: AsyncSession, *, now: datetime,
                             community_id: str | None = None) -> list[TurnoutFacts]:
    """Every questionnaire open at ``now`` (of one community, when given), as turnout sees it."""
    return [await _facts(session, q, now) for q in await repo.open_questionnaires(session, now, community_id=community_id)]


# ---- funding -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AmountAnswer:
    household_id: str
    question_id: str
    amount_fen: int


@dataclass(frozen=True)
class AmountAnswers:
    """A questionnaire's current answers to its amount questions (fen), for funding to turn into pledges:
    its kind, project and status by the clock, the amount questions (id, text) and one answer per household and
    question."""

    questionnaire_id: str
    project_id: str
    kind: str
    title: str
    status: str
    questions: tuple[tuple[str, str], ...]
    answers: tuple[AmountAnswer, ...]


async def amount_answers(session: AsyncSession, *, questionnaire_id: str, now: datetime) -> AmountAnswers | None:
    """The questionnaire's amount answers, or None for an unknown id. No authorization: the caller authorizes on
    the questionnaire's project."""
    q = await repo.get_questionnaire(session, questionnaire_id) if 0 < len(questionnaire_id) <= 32 else None
    if q is None:
        return None
    from app.surveys.common import questions_of
    from app.surveys.models import QuestionType

    questions = tuple((x.id, x.text) for x in questions_of(q) if x.type is QuestionType.AMOUNT_FEN)
    rows = await repo.amount_answers(session, q.id, [qid for qid, _ in questions])
    return AmountAnswers(questionnaire_id=q.id, project_id=q.project_id, kind=q.kind, title=q.title,
                         status=effective_status(q=q, now=now).value, questions=questions,
                         answers=tuple(AmountAnswer(h, qid, v) for h, qid, v in rows))
