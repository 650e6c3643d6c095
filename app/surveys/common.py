"""What every part of the surveys service shares: the errors, a questionnaire's status by the server clock,
its scope (for the queries and for authorization), loading it, and the views built from it.

The parts: :mod:`app.surveys.questions` (catalogs, building questions), :mod:`app.surveys.questionnaires`
(create, edit, open, close, read), :mod:`app.surveys.answers` (responses), :mod:`app.surveys.results`
(results), :mod:`app.surveys.facts` (what other domains read); :mod:`app.surveys.service` is the face the
routes and other domains import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, Scope, authorize, is_manager
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.rules import Rule
from app.surveys import repository as repo
from app.surveys.models import (
    Channel,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
    ScopeKind,
    SurveyResponse,
)
from app.surveys.repository import Population, ScopeSpec
from app.surveys.schemas import (
    Answer,
    Question,
    QuestionnaireSummary,
    ResponsePublic,
    ScopePublic,
)

MAX_ERRORS = 100

# ---- errors --------------------------------------------------------------------------------------

def not_found() -> NotFound:
    return NotFound("questionnaire.not_found", "问卷不存在", "Questionnaire not found")


def window_closed() -> Conflict:
    return Conflict("survey.window_closed", "问卷不在填写期内（尚未开始或已截止）",
                    "The questionnaire is not open for answers (not yet open, or closed)")


def out_of_scope() -> NotFound:
    return NotFound("survey.household_out_of_scope", "该户不在本问卷的征询范围内",
                    "The household is not in the scope of this questionnaire")


def not_acting() -> Forbidden:
    return Forbidden("survey.not_permitted_relation", "只有业主或共有人可以代表本户填写问卷",
                     "Only an owner or co-owner may answer for the household")


def invalid_answers(errors: list[dict[str, Any]]) -> Invalid:
    return Invalid("survey.invalid_answers", f"问卷答案未通过校验（{len(errors)} 处）",
                   f"The answers are invalid ({len(errors)} errors)", errors=errors[:MAX_ERRORS])


def invalid_questions(errors: list[dict[str, Any]]) -> Invalid:
    return Invalid("survey.invalid_questions", "问卷题目设置有误", "The questions are invalid",
                   errors=errors[:MAX_ERRORS])


def concurrent() -> Conflict:
    return Conflict("survey.concurrent_change", "问卷已被他人同时修改，请刷新后重试",
                    "The questionnaire was changed concurrently; reload and retry")


# ---- state and scope -----------------------------------------------------------------------------

def effective_status(*, q: Questionnaire, now: datetime | None) -> QuestionnaireStatus:
    """The status by the server clock (``now`` None: the stored status, open taken as open)."""
    if q.status == QuestionnaireStatus.DRAFT:
        return QuestionnaireStatus.DRAFT
    if q.status == QuestionnaireStatus.CLOSED:
        return QuestionnaireStatus.CLOSED
    if now is not None:
        if q.closes_at is not None and now >= q.closes_at:
            return QuestionnaireStatus.CLOSED
        if q.opens_at is not None and now < q.opens_at:
            return QuestionnaireStatus.SCHEDULED
    return QuestionnaireStatus.OPEN


def scope_of(*, q: Questionnaire) -> ScopeSpec:
    return ScopeSpec(community_id=q.community_id, building_id=q.building_id, unit_id=q.unit_id)


def population_of(q: Questionnaire) -> Population:
    """Whom its figures count: the frozen electoral roll, else (no roll, or not frozen yet: a read never
    freezes) the register's households in scope."""
    return Population(scope_of(q=q), q.id if q.roll_frozen_at is not None else None)


def auth_scope(*, q: Questionnaire) -> Scope:
    return Scope(jurisdiction_id=q.jurisdiction_id, community_id=q.community_id, project_id=q.project_id)


def ref_in_scope(ref: HouseholdRef, q: Questionnaire) -> bool:
    if ref.community_id != q.community_id:
        return False
    if q.building_id is not None and ref.building_id != q.building_id:
        return False
    return not (q.unit_id is not None and ref.unit_id != q.unit_id)


def questions_of(q: Questionnaire) -> list[Question]:
    return [Question.model_validate(d) for d in q.questions]


def willingness_question(q: Questionnaire) -> Question | None:
    if q.kind != QuestionnaireKind.WILLINGNESS:
        return None
    return next((x for x in questions_of(q) if x.type is QuestionType.YES_NO and x.willingness), None)


def content_rule(q: Questionnaire, profile: RulesProfile) -> Rule | None:
    """The profile's content rule, which decides the catalog items of a needs or willingness questionnaire."""
    spec = profile.content_rule if q.kind in (QuestionnaireKind.NEEDS, QuestionnaireKind.WILLINGNESS) else None
    return Rule.from_dict(spec) if spec else None


def counts_households(q: Questionnaire, profile: RulesProfile) -> bool:
    """A rule of the questionnaire counts households — the willingness rule on its willingness question, or the
    content rule on a catalog item that is not mandatory — so it keeps an electoral roll (``profile``: the one
    frozen when it opened)."""
    if willingness_question(q) is not None:
        return True
    return content_rule(q, profile) is not None and any(
        x.type is QuestionType.CATALOG_ITEMS and any(not it.mandatory for it in x.items or [])
        for x in questions_of(q))


async def questionnaire_or_404(session: AsyncSession, questionnaire_id: str, *, lock: bool = False) -> Questionnaire:
    q = await repo.get_questionnaire(session, questionnaire_id, lock=lock)
    if q is None:
        raise not_found()
    return q


async def profile_of(session: AsyncSession, q: Questionnaire) -> tuple[int, RulesProfile]:
    """The rules profile frozen when the questionnaire opened (the one in force for a draft)."""
    return await register_service.profile_of(session, jurisdiction_id=q.jurisdiction_id, version=q.profile_version)


async def viewable(session: AsyncSession, principal: Principal, questionnaire_id: str) -> tuple[
        Questionnaire, bool, list[HouseholdRef]]:
    """(questionnaire, viewer is staff, the viewer's households in scope); 404 for residents out of scope
    and for drafts they cannot see."""
    q = await questionnaire_or_404(session, questionnaire_id)
    roles = authorize(principal, "survey.view", auth_scope(q=q))
    mine = [h for h in principal.households_in(q.community_id) if ref_in_scope(h, q)]
    staff = is_manager(roles)
    if not staff and (not mine or q.status == QuestionnaireStatus.DRAFT):
        raise not_found()
    return q, staff, mine


# ---- views ---------------------------------------------------------------------------------------

async def scope_public(session: AsyncSession, q: Questionnaire) -> ScopePublic:
    b = await repo.get_building(session, q.building_id) if q.building_id else None
    u = await repo.get_unit(session, q.unit_id) if q.unit_id else None
    return ScopePublic(kind=ScopeKind(q.scope_kind), building_id=q.building_id, unit_id=q.unit_id,
                       building=b.name if b else None, unit=u.name if u else None)


def summary(q: Questionnaire, scope: ScopePublic, now: datetime) -> QuestionnaireSummary:
    return QuestionnaireSummary(id=q.id, project_id=q.project_id, community_id=q.community_id,
                                kind=QuestionnaireKind(q.kind), title=q.title, scope=scope,
                                status=effective_status(q=q, now=now), opens_at=q.opens_at, closes_at=q.closes_at,
                                created_at=q.created_at)


def response_public(r: SurveyResponse) -> ResponsePublic:
    return ResponsePublic(questionnaire_id=r.questionnaire_id, household_id=r.household_id, version=r.version,
                          channel=Channel(r.channel), actor_id=r.actor_id, note=r.note,
                          answers=[Answer(**a) for a in r.answers], first_at=r.first_at, answered_at=r.updated_at)
