"""Questionnaires: staff create a draft (custom questions, a kind's defaults, or the profile's catalog) for a
whole community, a building or a unit, edit it while it is a draft, open it (which freezes the questions and
the rules profile version) and close it; staff and the residents in scope read them.

Edits are compare-and-set on ``version``: a concurrent change is 409 ``survey.concurrent_change``. Opening
decides whether the questionnaire keeps an electoral roll (:mod:`app.surveys.roll`); opening at once and
closing freeze it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, authorize, is_manager
from app.core import audit
from app.core.errors import Conflict, Invalid
from app.core.pagination import Page, PageParams, make_page
from app.projects import service as projects_service
from app.projects.models import Stage
from app.register import service as register_service
from app.surveys import repository as repo
from app.surveys import roll
from app.surveys.common import (
    auth_scope,
    concurrent,
    counts_households,
    invalid_questions,
    questionnaire_or_404,
    questions_of,
    response_public,
    scope_of,
    scope_public,
    summary,
    viewable,
)
from app.surveys.models import Questionnaire, QuestionnaireKind, QuestionnaireStatus, ScopeKind
from app.surveys.questions import questions_for
from app.surveys.schemas import (
    MyHousehold,
    OpenRequest,
    QuestionnaireCreate,
    QuestionnairePublic,
    QuestionnaireSummary,
    QuestionnaireUpdate,
    ScopeIn,
)

DEFAULT_TITLES = {
    QuestionnaireKind.WILLINGNESS: "改造意愿征询",
    QuestionnaireKind.NEEDS: "改造需求征询",
    QuestionnaireKind.CONTRIBUTION: "改造出资意愿征询",
    QuestionnaireKind.SATISFACTION: "改造满意度评价",
}


async def _public(session: AsyncSession, q: Questionnaire, now: datetime,
                  mine: list[HouseholdRef] | None = None) -> QuestionnairePublic:
    """The questionnaire with, for a resident, each of their households in scope and its current response."""
    scope = await scope_public(session, q)
    my: list[MyHousehold] = []
    if mine:
        ids = [h.household_id for h in mine]
        places = await repo.household_locations(session, ids)
        current = await repo.current_responses(session, q.id, [h.household_id for h in mine if h.may_act])
        for h in mine:
            b, u, room = places.get(h.household_id, ("", "", ""))
            r = current.get(h.household_id)
            my.append(MyHousehold(household_id=h.household_id, building=b, unit=u, room=room, relation=h.relation,
                                  may_act=h.may_act, response=response_public(r) if r else None))
    return QuestionnairePublic(
        **summary(q, scope, now).model_dump(), description=q.description, catalog=q.catalog,
        questions=questions_of(q), opened_at=q.opened_at, closed_at=q.closed_at, profile_version=q.profile_version,
        version=q.version, households_in_scope=await _households_in_scope(session, q),
        my_households=my, response=my[0].response if len(my) == 1 else None)


async def _households_in_scope(session: AsyncSession, q: Questionnaire) -> int:
    """On its roll once frozen, else the register's households in scope."""
    header = await repo.get_roll(session, q.id) if q.roll_frozen_at is not None else None
    return header.households if header is not None else await repo.household_count(session, scope_of(q=q))


async def _resolve_scope(session: AsyncSession, community_id: str, s: ScopeIn | None) -> tuple[str, str | None, str | None]:
    s = s or ScopeIn()

    def bad(field: str, msg: str) -> Invalid:
        return Invalid("survey.invalid_scope", "征询范围无效", "Invalid scope",
                       errors=[{"loc": ["body", "scope", field], "msg": msg}])

    if s.kind is ScopeKind.COMMUNITY:
        if s.building_id or s.unit_id:
            raise bad("kind", "a community scope takes no building_id or unit_id")
        return ScopeKind.COMMUNITY.value, None, None
    if s.kind is ScopeKind.BUILDING:
        if not s.building_id or s.unit_id:
            raise bad("building_id", "a building scope needs building_id (and no unit_id)")
        b = await repo.get_building(session, s.building_id)
        if b is None or b.community_id != community_id:
            raise bad("building_id", "no such building in this community")
        return ScopeKind.BUILDING.value, b.id, None
    if not s.unit_id:
        raise bad("unit_id", "a unit scope needs unit_id")
    u = await repo.get_unit(session, s.unit_id)
    if u is None or u.community_id != community_id:
        raise bad("unit_id", "no such unit in this community")
    if s.building_id and s.building_id != u.building_id:
        raise bad("building_id", "the unit is not in this building")
    return ScopeKind.UNIT.value, u.building_id, u.id


def _check_window(opens_at: datetime | None, closes_at: datetime | None, now: datetime) -> None:
    if closes_at is None:
        return
    if closes_at <= now:
        raise Invalid("survey.invalid_window", "截止时间必须晚于当前时间", "closes_at must be in the future",
                      errors=[{"loc": ["body", "closes_at"], "msg": "must be in the future"}])
    if opens_at is not None and closes_at <= opens_at:
        raise Invalid("survey.invalid_window", "截止时间必须晚于开始时间", "closes_at must be after opens_at",
                      errors=[{"loc": ["body", "closes_at"], "msg": "must be after opens_at"}])


async def create_questionnaire(session: AsyncSession, *, principal: Principal, project_id: str,
                               body: QuestionnaireCreate, now: datetime) -> QuestionnairePublic:
    """Staff create a draft questionnaire for a project."""
    p = await projects_service.project_or_404(session, project_id=project_id)
    authorize(principal, "survey.manage", projects_service.project_scope(project=p))
    if p.stage == Stage.CLOSED:
        raise Conflict("survey.project_closed", "项目已结束，不能再发起问卷", "The project is closed")
    _, profile = await register_service.profile_of(session, jurisdiction_id=p.jurisdiction_id)
    scope_kind, building_id, unit_id = await _resolve_scope(session, p.community_id, body.scope)
    _check_window(body.opens_at, body.closes_at, now)
    questions, catalog = await questions_for(session, kind=body.kind, questions=body.questions,
                                             from_catalog=body.from_catalog, profile=profile)
    q = Questionnaire(project_id=p.id, community_id=p.community_id, jurisdiction_id=p.jurisdiction_id,
                      kind=body.kind.value, title=body.title or DEFAULT_TITLES[body.kind], description=body.description,
                      scope_kind=scope_kind, building_id=building_id, unit_id=unit_id, catalog=catalog,
                      questions=questions, status=QuestionnaireStatus.DRAFT.value, opens_at=body.opens_at,
                      closes_at=body.closes_at, created_at=now, created_by=principal.user_id)
    await repo.add_questionnaire(session, q)
    await audit.append(session, chain=q.community_id, action="questionnaire.created", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now,
                       data={"project_id": p.id, "kind": q.kind, "title": q.title, "scope": scope_kind,
                             "building_id": building_id, "unit_id": unit_id, "questions": len(questions)})
    return await _public(session, q, now)


async def create_questionnaire_for(session: AsyncSession, *, principal: Principal, project_id: str, kind: str,
                                   title: str, now: datetime, questions: list[dict[str, Any]] | None = None,
                                   from_catalog: bool = False) -> QuestionnairePublic:
    """For other domains (e.g. supervision's satisfaction survey): a draft questionnaire from plain dicts
    (``{"type", "text", "required", ...}`` as :class:`QuestionIn`); 422 if they are invalid."""
    try:
        body = QuestionnaireCreate.model_validate({"kind": kind, "title": title[:200], "questions": questions,
                                                   "from_catalog": from_catalog})
    except ValidationError as exc:
        raise invalid_questions([{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]) from exc
    return await create_questionnaire(session, principal=principal, project_id=project_id, body=body, now=now)


async def update_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                               body: QuestionnaireUpdate, now: datetime) -> QuestionnairePublic:
    """Edit a draft; 409 ``survey.frozen`` once it has been opened."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    if q.status != QuestionnaireStatus.DRAFT:
        raise Conflict("survey.frozen", "问卷已发布，题目和范围不能再修改", "The questionnaire is open: it is frozen")
    fields = body.model_fields_set
    values: dict[str, Any] = {}
    if "title" in fields and body.title is not None:
        values["title"] = body.title
    if "description" in fields:
        values["description"] = body.description
    if "scope" in fields:
        values["scope_kind"], values["building_id"], values["unit_id"] = await _resolve_scope(
            session, q.community_id, body.scope)
    if "opens_at" in fields:
        values["opens_at"] = body.opens_at
    if "closes_at" in fields:
        values["closes_at"] = body.closes_at
    _check_window(values.get("opens_at", q.opens_at), values.get("closes_at", q.closes_at), now)
    if "questions" in fields or "from_catalog" in fields:
        _, profile = await register_service.profile_of(session, jurisdiction_id=q.jurisdiction_id)
        values["questions"], values["catalog"] = await questions_for(
            session, kind=QuestionnaireKind(q.kind), questions=body.questions,
            from_catalog=bool(body.from_catalog), profile=profile)
    if not values:
        return await _public(session, q, now)
    if not await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values=values):
        raise concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.updated", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now, data={"fields": sorted(values)})
    return await _public(session, await questionnaire_or_404(session, q.id), now)


async def open_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                             body: OpenRequest | None, now: datetime) -> QuestionnairePublic:
    """draft → open (scheduled until ``opens_at``); freezes the questions and the rules profile version, decides
    whether it keeps an electoral roll, and freezes that roll when it opens at once."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    if q.status != QuestionnaireStatus.DRAFT:
        raise Conflict("survey.not_draft", "问卷已发布或已结束", "Only a draft can be opened")
    body = body or OpenRequest()
    opens_at = body.opens_at or q.opens_at
    closes_at = body.closes_at or q.closes_at
    _check_window(opens_at, closes_at, now)
    version, profile = await register_service.profile_of(session, jurisdiction_id=q.jurisdiction_id)
    keeps_roll = counts_households(q, profile)
    ok = await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values={
        "status": QuestionnaireStatus.OPEN.value, "opens_at": opens_at or now, "closes_at": closes_at,
        "opened_at": now, "profile_version": version, "counts_households": keeps_roll})
    if not ok:
        raise concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.opened", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now,
                       data={"opens_at": (opens_at or now).isoformat(),
                             "closes_at": closes_at.isoformat() if closes_at else None, "profile_version": version,
                             "roll": keeps_roll})
    opened = await roll.ensure_frozen(session, await questionnaire_or_404(session, q.id), now)
    return await _public(session, opened, now)


async def close_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                              now: datetime) -> QuestionnairePublic:
    """open → closed; one whose closes_at has passed is recorded closed as of closes_at. An electoral roll due
    is frozen first; the close's audit entry records its hash."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    if q.status == QuestionnaireStatus.DRAFT:
        raise Conflict("survey.not_open", "问卷尚未发布", "The questionnaire has not been opened")
    if q.status == QuestionnaireStatus.CLOSED:
        raise Conflict("survey.already_closed", "问卷已结束", "The questionnaire is already closed")
    q = await roll.ensure_frozen(session, q, now)
    header = await repo.get_roll(session, q.id) if q.roll_frozen_at is not None else None
    closed_at = q.closes_at if q.closes_at is not None and q.closes_at <= now else now
    ok = await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values={
        "status": QuestionnaireStatus.CLOSED.value, "closed_at": closed_at})
    if not ok:
        raise concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.closed", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now,
                       data={"closed_at": closed_at.isoformat()} | ({"roll_hash": header.roll_hash} if header else {}))
    return await _public(session, await questionnaire_or_404(session, q.id), now)


async def get_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                            now: datetime) -> QuestionnairePublic:
    q, _, mine = await viewable(session, principal, questionnaire_id)
    return await _public(session, q, now, mine)


async def list_questionnaires(session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams,
                              now: datetime) -> Page[QuestionnaireSummary]:
    """Staff: every questionnaire of the project; residents: those past draft that take in a household of
    theirs."""
    p = await projects_service.project_or_404(session, project_id=project_id)
    roles = authorize(principal, "survey.view", projects_service.project_scope(project=p))
    resident_of = None
    if not is_manager(roles):
        mine = principal.households_in(p.community_id)
        resident_of = ({h.building_id for h in mine}, {h.unit_id for h in mine})
    rows = await repo.questionnaires_page(session, p.id, after=page.after, limit=page.limit, resident_of=resident_of)
    items = [summary(q, await scope_public(session, q), now) for q in rows]
    return make_page(items, page.limit, rows[min(len(rows), page.limit) - 1].id if rows else None)


async def questionnaire_scope_households(session: AsyncSession, *, questionnaire_id: str) -> list[str]:
    """Ids of the households in the questionnaire's scope, by building, unit, room (404 if no such)."""
    q = await questionnaire_or_404(session, questionnaire_id)
    return await repo.scope_household_ids(session, scope_of(q=q))
