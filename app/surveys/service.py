"""Renovation willingness and needs questionnaires (意愿与需求征询): building them (custom or from the
profile's catalog), their window, one current response per household, and results.

* Status by the server clock: stored ``draft`` / ``open`` / ``closed``; an open questionnaire whose
  ``opens_at`` is ahead is ``scheduled``, one whose ``closes_at`` has passed is ``closed`` although nobody
  called /close.
* Responses: one current row per (questionnaire, household), upserted; every version kept with who, when and
  the channel (online / paper); the answers are stored one row per part for GROUP BY results.
* Results: per question counts and exact shares; per catalog item the want-count against ALL households in
  scope; the profile's willingness rule (and content rule for catalog items) through ``app.rules.evaluate``
  with counts built in SQL, one owner one choice (``app.rules.count_electorate`` semantics).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from pydantic import ValidationError
from sqlalchemy import case
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, Scope, authorize, is_manager
from app.core import audit
from app.core.db import new_id
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, make_page
from app.core.units import format_area
from app.projects.gates import GateState, Ratio, WillingnessFigures
from app.projects.models import Stage
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.surveys import catalog as packaged_catalog
from app.surveys import repository as repo
from app.surveys.catalog import CATEGORY_ZH, SELECTION_ZH, CatalogEntry
from app.surveys.models import (
    Channel,
    ItemChoice,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
    ScopeKind,
    SurveyAnswer,
    SurveyResponse,
    SurveyResponseVersion,
)
from app.surveys.repository import OwnerTally, ScopeSpec
from app.surveys.schemas import (
    DEFAULT_MAX_FEN,
    DEFAULT_TEXT_LENGTH,
    RATING_MAX,
    RATING_MIN,
    Answer,
    AnswerIn,
    AreaShare,
    CatalogItemPublic,
    CatalogPublic,
    ItemResult,
    MyHousehold,
    OpenRequest,
    OptionResult,
    PaperResponseIn,
    Participation,
    Question,
    QuestionIn,
    QuestionnaireCreate,
    QuestionnairePublic,
    QuestionnaireSummary,
    QuestionnaireUpdate,
    QuestionResult,
    ResponseHistory,
    ResponseIn,
    ResponsePublic,
    ResponseVersionPublic,
    Results,
    RuleOutcome,
    ScopeIn,
    ScopePublic,
    Share,
    fraction_of,
    percent_str,
)

GATE_NAME = "survey_passed"
MAX_TEXTS = 200
MAX_ERRORS = 100

DEFAULT_TITLES = {
    QuestionnaireKind.WILLINGNESS: "改造意愿征询",
    QuestionnaireKind.NEEDS: "改造需求征询",
    QuestionnaireKind.CONTRIBUTION: "改造出资意愿征询",
    QuestionnaireKind.SATISFACTION: "改造满意度评价",
}
WILLINGNESS_TEXT = "是否同意实施改造"
CATALOG_TEXT = "请选择您家需要的改造内容（必选项按规定实施，无需表决）"
KIND_ZH = {QuestionnaireKind.WILLINGNESS: "意愿征询", QuestionnaireKind.NEEDS: "需求征询",
           QuestionnaireKind.CONTRIBUTION: "出资意愿征询", QuestionnaireKind.SATISFACTION: "满意度评价"}
STATUS_ZH = {"no_vote_needed": "必选项，无需表决", "passed": "通过", "failed": "未通过", "pending": "待定",
             "not_evaluated": "未设定需求认可规则"}
YES_NO_OPTIONS = (("yes", "是"), ("no", "否"))


def _default_questions(kind: QuestionnaireKind) -> list[QuestionIn]:
    if kind is QuestionnaireKind.WILLINGNESS:
        return [QuestionIn(type=QuestionType.YES_NO, text=WILLINGNESS_TEXT, willingness=True)]
    if kind is QuestionnaireKind.CONTRIBUTION:
        return [QuestionIn(type=QuestionType.YES_NO, text="是否愿意出资参与改造"),
                QuestionIn(type=QuestionType.AMOUNT_FEN, text="愿意出资金额（单位：分）", required=False)]
    if kind is QuestionnaireKind.SATISFACTION:
        return [QuestionIn(type=QuestionType.RATING, text="您对本次改造的总体满意度（1–5 分）"),
                QuestionIn(type=QuestionType.TEXT, text="其他意见和建议", required=False)]
    return []


# ---- errors --------------------------------------------------------------------------------------

def _not_found() -> NotFound:
    return NotFound("questionnaire.not_found", "问卷不存在", "Questionnaire not found")


def _window_closed() -> Conflict:
    return Conflict("survey.window_closed", "问卷不在填写期内（尚未开始或已截止）",
                    "The questionnaire is not open for answers (not yet open, or closed)")


def _out_of_scope() -> NotFound:
    return NotFound("survey.household_out_of_scope", "该户不在本问卷的征询范围内",
                    "The household is not in the scope of this questionnaire")


def _not_acting() -> Forbidden:
    return Forbidden("survey.not_permitted_relation", "只有业主或共有人可以代表本户填写问卷",
                     "Only an owner or co-owner may answer for the household")


def _invalid_answers(errors: list[dict[str, Any]]) -> Invalid:
    return Invalid("survey.invalid_answers", f"问卷答案未通过校验（{len(errors)} 处）",
                   f"The answers are invalid ({len(errors)} errors)", errors=errors[:MAX_ERRORS])


def _invalid_questions(errors: list[dict[str, Any]]) -> Invalid:
    return Invalid("survey.invalid_questions", "问卷题目设置有误", "The questions are invalid",
                   errors=errors[:MAX_ERRORS])


def _concurrent() -> Conflict:
    return Conflict("survey.concurrent_change", "问卷已被他人同时修改，请刷新后重试",
                    "The questionnaire was changed concurrently; reload and retry")


# ---- state and scope -----------------------------------------------------------------------------

def effective_status(q: Questionnaire, now: datetime | None) -> QuestionnaireStatus:
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


def scope_of(q: Questionnaire) -> ScopeSpec:
    return ScopeSpec(community_id=q.community_id, building_id=q.building_id, unit_id=q.unit_id)


def auth_scope(q: Questionnaire) -> Scope:
    return Scope(jurisdiction_id=q.jurisdiction_id, community_id=q.community_id, project_id=q.project_id)


def _ref_in_scope(ref: HouseholdRef, q: Questionnaire) -> bool:
    if ref.community_id != q.community_id:
        return False
    if q.building_id is not None and ref.building_id != q.building_id:
        return False
    return not (q.unit_id is not None and ref.unit_id != q.unit_id)


def _questions(q: Questionnaire) -> list[Question]:
    return [Question.model_validate(d) for d in q.questions]


def _willingness_question(q: Questionnaire) -> Question | None:
    if q.kind != QuestionnaireKind.WILLINGNESS:
        return None
    return next((x for x in _questions(q) if x.type is QuestionType.YES_NO and x.willingness), None)


async def _questionnaire_or_404(session: AsyncSession, questionnaire_id: str, *, lock: bool = False) -> Questionnaire:
    q = await repo.get_questionnaire(session, questionnaire_id, lock=lock)
    if q is None:
        raise _not_found()
    return q


async def _profile(session: AsyncSession, q: Questionnaire) -> tuple[int, RulesProfile]:
    """The rules profile frozen when the questionnaire opened (the one in force for a draft)."""
    return await register_service.profile_of(session, q.jurisdiction_id, q.profile_version)


# ---- catalogs ------------------------------------------------------------------------------------

async def ensure_catalogs(session: AsyncSession, names: tuple[str, ...] | list[str] | None = None) -> int:
    """Seed the ``catalog_item`` table from the packaged CSV files: upsert by (catalog, seq) whatever differs.
    Idempotent; returns the number of rows written. Needs a writing session."""
    written = 0
    for name in names or packaged_catalog.CATALOG_NAMES:
        existing = {r.seq: r for r in await repo.catalog_rows(session, name)}
        rows = []
        for e in packaged_catalog.packaged(name):
            r = existing.get(e.seq)
            if r is None or (r.category, r.title, r.standard, r.selection) != (e.category, e.title, e.standard,
                                                                                 e.selection):
                rows.append({"id": r.id if r else new_id(), "catalog": name, "seq": e.seq, "category": e.category,
                             "title": e.title, "standard": e.standard, "selection": e.selection})
        await repo.upsert_catalog_items(session, rows)
        written += len(rows)
    return written


async def catalog_entries(session: AsyncSession, name: str) -> tuple[CatalogEntry, ...]:
    """The catalog as stored; the packaged file when the table has not been seeded yet (read sessions never
    write). KeyError for an unknown catalog."""
    packaged = packaged_catalog.packaged(name)
    rows = await repo.catalog_rows(session, name)
    if not rows:
        return packaged
    return tuple(CatalogEntry(catalog=r.catalog, seq=r.seq, category=r.category, title=r.title,
                              standard=r.standard, selection=r.selection) for r in rows)


async def catalog_item_title(session: AsyncSession, *, catalog: str, seq: int) -> str | None:
    """The title of item ``seq`` of ``catalog`` (None if there is no such item)."""
    try:
        entries = await catalog_entries(session, catalog)
    except KeyError:
        return None
    return next((e.title for e in entries if e.seq == seq), None)


def _catalog_item_public(e: CatalogEntry) -> CatalogItemPublic:
    return CatalogItemPublic(key=e.key, seq=e.seq, category=e.category, category_zh=CATEGORY_ZH[e.category],
                             title=e.title, standard=e.standard, selection=e.selection,
                             selection_zh=SELECTION_ZH.get(e.selection or ""), mandatory=e.mandatory)


async def get_catalog(session: AsyncSession, *, principal: Principal, name: str) -> CatalogPublic:
    """Any signed-in user (the principal is resolved by the route's dependency)."""
    try:
        entries = await catalog_entries(session, name)
    except KeyError as exc:
        raise NotFound("catalog.not_found", "改造内容清单不存在", "No such catalog") from exc
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.category] = counts.get(e.category, 0) + 1
    return CatalogPublic(name=name, items=[_catalog_item_public(e) for e in entries], counts=counts)


# ---- building questions --------------------------------------------------------------------------

_TYPE_FIELDS: dict[QuestionType, frozenset[str]] = {
    QuestionType.YES_NO: frozenset({"willingness"}),
    QuestionType.SINGLE_CHOICE: frozenset({"options"}),
    QuestionType.MULTIPLE_CHOICE: frozenset({"options", "min_choices", "max_choices"}),
    QuestionType.CATALOG_ITEMS: frozenset({"items"}),
    QuestionType.RATING: frozenset(),
    QuestionType.AMOUNT_FEN: frozenset({"max_fen"}),
    QuestionType.TEXT: frozenset({"max_length"}),
}
_OPTIONAL_FIELDS = ("options", "min_choices", "max_choices", "items", "max_fen", "max_length", "willingness")


def _needs_catalog(questions: list[QuestionIn] | None, from_catalog: bool) -> bool:
    return from_catalog or any(x.type is QuestionType.CATALOG_ITEMS for x in questions or [])


def build_questions(*, kind: QuestionnaireKind, questions: list[QuestionIn] | None, from_catalog: bool,
                    catalog: tuple[CatalogEntry, ...] | None) -> list[dict[str, Any]]:
    """Normalize the questions (ids, options, catalog items, caps); 422 ``survey.invalid_questions``."""
    errors: list[dict[str, Any]] = []
    specs = list(questions or [])
    if kind is QuestionnaireKind.SATISFACTION and from_catalog:
        errors.append({"loc": ["body", "from_catalog"], "msg": "a satisfaction survey is not built from the catalog"})
    if not specs:
        specs = _default_questions(kind)
    if from_catalog:
        specs.append(QuestionIn(type=QuestionType.CATALOG_ITEMS, text=CATALOG_TEXT, required=True))
    if not specs:
        errors.append({"loc": ["body", "questions"], "msg": "give questions, or from_catalog: true"})
    given_ids = {s.id for s in specs if s.id}
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    auto = 0
    for i, s in enumerate(specs):
        loc = ["body", "questions", i]
        qid = s.id
        if qid is None:
            auto += 1
            while f"q{auto}" in given_ids or f"q{auto}" in used:
                auto += 1
            qid = f"q{auto}"
        if qid in used:
            errors.append({"loc": [*loc, "id"], "msg": f"question id {qid!r} used twice"})
            continue
        used.add(qid)
        allowed = _TYPE_FIELDS[s.type]
        for f in _OPTIONAL_FIELDS:
            value = getattr(s, f)
            if value not in (None, False) and f not in allowed:
                errors.append({"loc": [*loc, f], "msg": f"{f} does not apply to a {s.type.value} question"})
        d: dict[str, Any] = {"id": qid, "type": s.type.value, "text": s.text, "required": s.required}
        if s.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
            opts = s.options or []
            if len(opts) < 2:
                errors.append({"loc": [*loc, "options"], "msg": "at least 2 options"})
            oids: list[str] = []
            given = {o.id for o in opts if o.id}
            n = 0
            options = []
            for j, o in enumerate(opts):
                oid = o.id
                if oid is None:
                    n += 1
                    while f"o{n}" in given or f"o{n}" in oids:
                        n += 1
                    oid = f"o{n}"
                if oid in oids:
                    errors.append({"loc": [*loc, "options", j, "id"], "msg": f"option id {oid!r} used twice"})
                oids.append(oid)
                options.append({"id": oid, "text": o.text})
            d["options"] = options
            if s.type is QuestionType.MULTIPLE_CHOICE:
                lo = s.min_choices if s.min_choices is not None else 1
                hi = s.max_choices if s.max_choices is not None else max(len(opts), 1)
                if lo > hi or hi > max(len(opts), 1):
                    errors.append({"loc": [*loc, "max_choices"],
                                   "msg": "need min_choices <= max_choices <= number of options"})
                d["min_choices"], d["max_choices"] = lo, hi
        elif s.type is QuestionType.CATALOG_ITEMS:
            entries = {e.seq: e for e in catalog or ()}
            seqs = s.items if s.items is not None else sorted(entries)
            if not seqs:
                errors.append({"loc": [*loc, "items"], "msg": "at least one catalog item"})
            if len(set(seqs)) != len(seqs):
                errors.append({"loc": [*loc, "items"], "msg": "an item is listed twice"})
            items = []
            for j, seq in enumerate(seqs):
                e = entries.get(seq)
                if e is None:
                    errors.append({"loc": [*loc, "items", j], "msg": f"no item {seq} in the catalog"})
                    continue
                items.append({"key": e.key, "seq": e.seq, "category": e.category, "title": e.title,
                              "standard": e.standard, "selection": e.selection, "mandatory": e.mandatory})
            d["items"] = items
        elif s.type is QuestionType.RATING:
            d["min_rating"], d["max_rating"] = RATING_MIN, RATING_MAX
        elif s.type is QuestionType.AMOUNT_FEN:
            d["max_fen"] = s.max_fen if s.max_fen is not None else DEFAULT_MAX_FEN
        elif s.type is QuestionType.TEXT:
            d["max_length"] = s.max_length or DEFAULT_TEXT_LENGTH
        elif s.type is QuestionType.YES_NO:
            d["willingness"] = bool(s.willingness)
        out.append(Question.model_validate(d).model_dump(mode="json"))
    flagged = [i for i, d in enumerate(out) if d.get("willingness")]
    if kind is QuestionnaireKind.WILLINGNESS:
        if len(flagged) > 1:
            errors.append({"loc": ["body", "questions"], "msg": "only one question can be the willingness question"})
        if not flagged:
            first = next((d for d in out if d["type"] == QuestionType.YES_NO.value), None)
            if first is None:
                errors.append({"loc": ["body", "questions"],
                               "msg": "a willingness questionnaire needs a yes_no question (是否同意实施改造)"})
            else:
                first["willingness"] = True
        will = next((d for d in out if d.get("willingness")), None)
        if will is not None and not will["required"]:
            errors.append({"loc": ["body", "questions"], "msg": "the willingness question must be required"})
    elif flagged:
        errors.append({"loc": ["body", "questions"], "msg": "only a willingness questionnaire has a willingness question"})
    if errors:
        raise _invalid_questions(errors)
    return out


# ---- views ---------------------------------------------------------------------------------------

async def _scope_public(session: AsyncSession, q: Questionnaire) -> ScopePublic:
    b = await repo.get_building(session, q.building_id) if q.building_id else None
    u = await repo.get_unit(session, q.unit_id) if q.unit_id else None
    return ScopePublic(kind=ScopeKind(q.scope_kind), building_id=q.building_id, unit_id=q.unit_id,
                       building=b.name if b else None, unit=u.name if u else None)


def _summary(q: Questionnaire, scope: ScopePublic, now: datetime) -> QuestionnaireSummary:
    return QuestionnaireSummary(id=q.id, project_id=q.project_id, community_id=q.community_id,
                                kind=QuestionnaireKind(q.kind), title=q.title, scope=scope,
                                status=effective_status(q, now), opens_at=q.opens_at, closes_at=q.closes_at,
                                created_at=q.created_at)


def _response_public(r: SurveyResponse) -> ResponsePublic:
    return ResponsePublic(questionnaire_id=r.questionnaire_id, household_id=r.household_id, version=r.version,
                          channel=Channel(r.channel), actor_id=r.actor_id, note=r.note,
                          answers=[Answer(**a) for a in r.answers], first_at=r.first_at, answered_at=r.updated_at)


async def _public(session: AsyncSession, q: Questionnaire, now: datetime,
                  mine: list[HouseholdRef] | None = None) -> QuestionnairePublic:
    scope = await _scope_public(session, q)
    my: list[MyHousehold] = []
    if mine:
        ids = [h.household_id for h in mine]
        places = await repo.household_locations(session, ids)
        current = await repo.current_responses(session, q.id, [h.household_id for h in mine if h.may_act])
        for h in mine:
            b, u, room = places.get(h.household_id, ("", "", ""))
            r = current.get(h.household_id)
            my.append(MyHousehold(household_id=h.household_id, building=b, unit=u, room=room, relation=h.relation,
                                  may_act=h.may_act, response=_response_public(r) if r else None))
    return QuestionnairePublic(
        **_summary(q, scope, now).model_dump(), description=q.description, catalog=q.catalog,
        questions=_questions(q), opened_at=q.opened_at, closed_at=q.closed_at, profile_version=q.profile_version,
        version=q.version, households_in_scope=await repo.household_count(session, scope_of(q)),
        my_households=my, response=my[0].response if len(my) == 1 else None)


# ---- questionnaires ------------------------------------------------------------------------------

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


async def _questions_for(session: AsyncSession, *, kind: QuestionnaireKind, questions: list[QuestionIn] | None,
                         from_catalog: bool, profile: RulesProfile) -> tuple[list[dict[str, Any]], str | None]:
    catalog: tuple[CatalogEntry, ...] | None = None
    name: str | None = None
    if _needs_catalog(questions, from_catalog) and kind is not QuestionnaireKind.SATISFACTION:
        name = profile.catalog
        await ensure_catalogs(session, [name])
        catalog = await catalog_entries(session, name)
    return build_questions(kind=kind, questions=questions, from_catalog=from_catalog, catalog=catalog), name


async def create_questionnaire(session: AsyncSession, *, principal: Principal, project_id: str,
                               body: QuestionnaireCreate, now: datetime) -> QuestionnairePublic:
    """Staff create a draft questionnaire for a project."""
    from app.projects import service as projects_service

    p = await projects_service.project_or_404(session, project_id)
    authorize(principal, "survey.manage", projects_service.project_scope(p))
    if p.stage == Stage.CLOSED:
        raise Conflict("survey.project_closed", "项目已结束，不能再发起问卷", "The project is closed")
    _, profile = await register_service.profile_of(session, p.jurisdiction_id)
    scope_kind, building_id, unit_id = await _resolve_scope(session, p.community_id, body.scope)
    _check_window(body.opens_at, body.closes_at, now)
    questions, catalog = await _questions_for(session, kind=body.kind, questions=body.questions,
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
        raise _invalid_questions([{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]) from exc
    return await create_questionnaire(session, principal=principal, project_id=project_id, body=body, now=now)


async def update_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                               body: QuestionnaireUpdate, now: datetime) -> QuestionnairePublic:
    """Edit a draft; 409 ``survey.frozen`` once it has been opened."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q))
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
        _, profile = await register_service.profile_of(session, q.jurisdiction_id)
        values["questions"], values["catalog"] = await _questions_for(
            session, kind=QuestionnaireKind(q.kind), questions=body.questions,
            from_catalog=bool(body.from_catalog), profile=profile)
    if not values:
        return await _public(session, q, now)
    if not await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values=values):
        raise _concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.updated", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now, data={"fields": sorted(values)})
    return await _public(session, await _questionnaire_or_404(session, q.id), now)


async def open_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                             body: OpenRequest | None, now: datetime) -> QuestionnairePublic:
    """draft → open (scheduled until ``opens_at``); freezes the questions and the rules profile version."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q))
    if q.status != QuestionnaireStatus.DRAFT:
        raise Conflict("survey.not_draft", "问卷已发布或已结束", "Only a draft can be opened")
    body = body or OpenRequest()
    opens_at = body.opens_at or q.opens_at
    closes_at = body.closes_at or q.closes_at
    _check_window(opens_at, closes_at, now)
    version, _ = await register_service.profile_of(session, q.jurisdiction_id)
    ok = await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values={
        "status": QuestionnaireStatus.OPEN.value, "opens_at": opens_at or now, "closes_at": closes_at,
        "opened_at": now, "profile_version": version})
    if not ok:
        raise _concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.opened", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now,
                       data={"opens_at": (opens_at or now).isoformat(),
                             "closes_at": closes_at.isoformat() if closes_at else None, "profile_version": version})
    return await _public(session, await _questionnaire_or_404(session, q.id), now)


async def close_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                              now: datetime) -> QuestionnairePublic:
    """open → closed; one whose closes_at has passed is recorded closed as of closes_at."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q))
    if q.status == QuestionnaireStatus.DRAFT:
        raise Conflict("survey.not_open", "问卷尚未发布", "The questionnaire has not been opened")
    if q.status == QuestionnaireStatus.CLOSED:
        raise Conflict("survey.already_closed", "问卷已结束", "The questionnaire is already closed")
    closed_at = q.closes_at if q.closes_at is not None and q.closes_at <= now else now
    ok = await repo.update_questionnaire(session, questionnaire_id=q.id, expected_version=q.version, values={
        "status": QuestionnaireStatus.CLOSED.value, "closed_at": closed_at})
    if not ok:
        raise _concurrent()
    await audit.append(session, chain=q.community_id, action="questionnaire.closed", entity_type="questionnaire",
                       entity_id=q.id, actor_id=principal.user_id, at=now, data={"closed_at": closed_at.isoformat()})
    return await _public(session, await _questionnaire_or_404(session, q.id), now)


async def _viewable(session: AsyncSession, principal: Principal, questionnaire_id: str) -> tuple[
        Questionnaire, bool, list[HouseholdRef]]:
    """(questionnaire, viewer is staff, the viewer's households in scope); 404 for residents out of scope
    and for drafts they cannot see."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    roles = authorize(principal, "survey.view", auth_scope(q))
    mine = [h for h in principal.households_in(q.community_id) if _ref_in_scope(h, q)]
    staff = is_manager(roles)
    if not staff and (not mine or q.status == QuestionnaireStatus.DRAFT):
        raise _not_found()
    return q, staff, mine


async def get_questionnaire(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                            now: datetime) -> QuestionnairePublic:
    q, _, mine = await _viewable(session, principal, questionnaire_id)
    return await _public(session, q, now, mine)


async def list_questionnaires(session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams,
                              now: datetime) -> Page[QuestionnaireSummary]:
    """Staff: every questionnaire of the project; residents: those past draft that take in a household of
    theirs."""
    from app.projects import service as projects_service

    p = await projects_service.project_or_404(session, project_id)
    roles = authorize(principal, "survey.view", projects_service.project_scope(p))
    resident_of = None
    if not is_manager(roles):
        mine = principal.households_in(p.community_id)
        resident_of = ({h.building_id for h in mine}, {h.unit_id for h in mine})
    rows = await repo.questionnaires_page(session, p.id, after=page.after, limit=page.limit, resident_of=resident_of)
    items = [_summary(q, await _scope_public(session, q), now) for q in rows]
    return make_page(items, page.limit, rows[min(len(rows), page.limit) - 1].id if rows else None)


# ---- answers -------------------------------------------------------------------------------------

@dataclass
class _Checked:
    value: Any  # normalized JSON value
    rows: list[dict[str, Any]]  # survey_answer rows without questionnaire/household ids


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_value(q: Question, value: Any) -> _Checked | str | None:
    """The normalized answer, an error message, or None when the value counts as no answer."""
    t = q.type
    if t is QuestionType.YES_NO:
        if value in ("yes", "no"):
            value = value == "yes"
        if not isinstance(value, bool):
            return "expected true or false"
        return _Checked(value, [{"choice": "yes" if value else "no", "value_int": int(value)}])
    if t is QuestionType.SINGLE_CHOICE:
        ids = [o.id for o in q.options or []]
        if not isinstance(value, str):
            return "expected an option id"
        if value not in ids:
            return f"option {value[:40]!r} is not offered"
        return _Checked(value, [{"choice": value}])
    if t is QuestionType.MULTIPLE_CHOICE:
        ids = [o.id for o in q.options or []]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of option ids"
        if not value:
            return None
        if len(value) > len(ids):
            return "more choices than options"
        if len(set(value)) != len(value):
            return "an option is chosen twice"
        bad = [v for v in value if v not in ids]
        if bad:
            return f"option {bad[0][:40]!r} is not offered"
        lo, hi = q.min_choices or 1, q.max_choices or len(ids)
        if not lo <= len(value) <= hi:
            return f"choose between {lo} and {hi} options"
        chosen = [i for i in ids if i in value]  # in the questionnaire's order
        return _Checked(chosen, [{"choice": c} for c in chosen])
    if t is QuestionType.CATALOG_ITEMS:
        if not isinstance(value, dict):
            return "expected an object {item key: want | dont_need | no_opinion}"
        if not value:
            return None
        items = {i.key: i for i in q.items or []}
        if len(value) > len(items):
            return "more answers than items"
        choices = {c.value for c in ItemChoice}
        normalized: dict[str, str] = {}
        for key, choice in value.items():
            item = items.get(key)
            if item is None:
                return f"item {key[:20]!r} is not offered"
            if item.mandatory:
                return f"item {key} is mandatory (必选项): no vote needed"
            if choice not in choices:
                return f"item {key}: expected want, dont_need or no_opinion"
            normalized[key] = choice
        if q.required:
            missing = [k for k, i in items.items() if not i.mandatory and k not in normalized]
            if missing:
                return f"every item needs an answer; missing: {', '.join(missing[:20])}"
        ordered = {k: normalized[k] for k in items if k in normalized}
        return _Checked(ordered, [{"item_key": k, "choice": c} for k, c in ordered.items()])
    if t is QuestionType.RATING:
        if not _is_int(value) or not RATING_MIN <= value <= RATING_MAX:
            return f"expected an integer from {RATING_MIN} to {RATING_MAX}"
        return _Checked(value, [{"choice": str(value), "value_int": value}])
    if t is QuestionType.AMOUNT_FEN:
        cap = q.max_fen if q.max_fen is not None else DEFAULT_MAX_FEN
        if not _is_int(value) or value < 0:
            return "expected an integer amount in fen (≥ 0)"
        if value > cap:
            return f"at most {cap} fen"
        return _Checked(value, [{"value_int": value}])
    # text
    if not isinstance(value, str):
        return "expected a string"
    text = value.strip()
    if not text:
        return None
    limit = q.max_length or DEFAULT_TEXT_LENGTH
    if len(text) > limit:
        return f"at most {limit} characters"
    return _Checked(text, [{"value_text": text}])


def validate_answers(questions: list[Question], answers: list[AnswerIn]) -> tuple[list[dict[str, Any]],
                                                                                   list[dict[str, Any]]]:
    """(normalized answers in question order, survey_answer rows); 422 ``survey.invalid_answers`` listing
    every problem with its ``loc``."""
    by_id = {q.id: q for q in questions}
    errors: list[dict[str, Any]] = []
    checked: dict[str, _Checked] = {}
    seen: set[str] = set()
    for i, a in enumerate(answers):
        loc: list[Any] = ["body", "answers", i]
        q = by_id.get(a.question_id)
        if q is None:
            errors.append({"loc": [*loc, "question_id"], "msg": f"unknown question {a.question_id!r}"})
            continue
        if a.question_id in seen:
            errors.append({"loc": [*loc, "question_id"], "msg": "question answered twice"})
            continue
        seen.add(a.question_id)
        if a.value is None:
            continue
        result = _check_value(q, a.value)
        if isinstance(result, str):
            errors.append({"loc": [*loc, "value"], "msg": result, "question_id": q.id})
        elif result is not None:
            checked[q.id] = result
    for q in questions:
        if not q.required or q.id in checked or any(e.get("question_id") == q.id for e in errors):
            continue
        if q.type is QuestionType.CATALOG_ITEMS and all(i.mandatory for i in q.items or []):
            continue
        errors.append({"loc": ["body", "answers"], "msg": f"question {q.id!r} needs an answer", "question_id": q.id})
    if errors:
        raise _invalid_answers(errors)
    normalized = [{"question_id": q.id, "value": checked[q.id].value} for q in questions if q.id in checked]
    rows = [{"question_id": q.id, "item_key": "", "choice": "", "value_int": None, "value_text": None} | r
            for q in questions if q.id in checked for r in checked[q.id].rows]
    return normalized, rows


def _answers_digest(answers: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(answers, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def _record(session: AsyncSession, *, q: Questionnaire, household_id: str, channel: Channel,
                  actor_id: str, note: str | None, answers: list[AnswerIn], now: datetime) -> ResponsePublic:
    normalized, rows = validate_answers(_questions(q), answers)
    version = await repo.upsert_current(session, questionnaire_id=q.id, household_id=household_id,
                                        channel=channel.value, actor_id=actor_id, note=note, answers=normalized,
                                        now=now)
    await repo.add_version(session, SurveyResponseVersion(
        questionnaire_id=q.id, household_id=household_id, version=version, channel=channel.value,
        actor_id=actor_id, note=note, answers=normalized, at=now))
    await repo.replace_answers(session, questionnaire_id=q.id, household_id=household_id,
                               rows=[r | {"questionnaire_id": q.id, "household_id": household_id} for r in rows])
    await audit.append(session, chain=q.community_id, action="survey.response_recorded", entity_type="questionnaire",
                       entity_id=q.id, actor_id=actor_id, at=now,
                       data={"household_id": household_id, "version": version, "channel": channel.value,
                             "answers_sha256": _answers_digest(normalized)})
    current = (await repo.current_responses(session, q.id, [household_id]))[household_id]
    return _response_public(current)


def _acting_household(principal: Principal, q: Questionnaire, household_id: str | None) -> HouseholdRef:
    mine = principal.households_in(q.community_id)
    if household_id is not None:
        ref = next((h for h in mine if h.household_id == household_id), None)
        if ref is None:
            raise NotFound("survey.household_not_found", "您不是该户的成员", "You are not a member of that household")
        if not _ref_in_scope(ref, q):
            raise _out_of_scope()
        if not ref.may_act:
            raise _not_acting()
        return ref
    in_scope = [h for h in mine if _ref_in_scope(h, q)]
    if not in_scope:
        raise _out_of_scope()
    acting = [h for h in in_scope if h.may_act]
    if not acting:
        raise _not_acting()
    if len(acting) > 1:
        raise Invalid("survey.household_required", "您可代表本问卷范围内的多户填写，请指定 household_id",
                      "You act for several households in scope: give household_id",
                      errors=[{"loc": ["body", "household_id"], "msg": "required: you act for several households"}],
                      household_ids=[h.household_id for h in acting])
    return acting[0]


async def respond(session: AsyncSession, *, principal: Principal, questionnaire_id: str, body: ResponseIn,
                  now: datetime) -> ResponsePublic:
    """A resident (owner / co-owner) answers for the household; replaces the current response until close."""
    q = await _questionnaire_or_404(session, questionnaire_id, lock=True)
    authorize(principal, "survey.respond", auth_scope(q))
    ref = _acting_household(principal, q, body.household_id)
    if effective_status(q, now) is not QuestionnaireStatus.OPEN:
        raise _window_closed()
    return await _record(session, q=q, household_id=ref.household_id, channel=Channel.ONLINE,
                         actor_id=principal.user_id, note=None, answers=body.answers, now=now)


async def record_paper_response(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                                body: PaperResponseIn, now: datetime) -> ResponsePublic:
    """Staff enter a household's door-to-door paper form (入户问卷), channel ``paper``."""
    q = await _questionnaire_or_404(session, questionnaire_id, lock=True)
    authorize(principal, "survey.manage", auth_scope(q))
    if await repo.household_in_scope(session, scope_of(q), body.household_id) is None:
        raise _out_of_scope()
    if effective_status(q, now) is not QuestionnaireStatus.OPEN:
        raise _window_closed()
    return await _record(session, q=q, household_id=body.household_id, channel=Channel.PAPER,
                         actor_id=principal.user_id, note=body.note, answers=body.answers, now=now)


async def response_history(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                           household_id: str | None) -> ResponseHistory:
    """Every version of a household's response. Owners/co-owners of the household see the answers; staff see
    who and when, and the answers only where the profile lets staff see choices."""
    q, staff, mine = await _viewable(session, principal, questionnaire_id)
    ref = next((h for h in mine if h.household_id == household_id), None) if household_id else (
        mine[0] if len(mine) == 1 else None)
    if ref is not None and not ref.may_act and not staff:
        raise _not_acting()
    if ref is None:
        if not staff:
            if household_id is None and len(mine) > 1:
                raise Invalid("survey.household_required", "请指定 household_id", "Give household_id",
                              errors=[{"loc": ["query", "household_id"], "msg": "required"}])
            raise _out_of_scope()
        if household_id is None:
            raise Invalid("survey.household_required", "请指定 household_id", "Give household_id",
                          errors=[{"loc": ["query", "household_id"], "msg": "required"}])
        if await repo.household_in_scope(session, scope_of(q), household_id) is None:
            raise _out_of_scope()
    hid = ref.household_id if ref is not None else household_id
    assert hid is not None
    show = (ref is not None and ref.may_act) or (await _profile(session, q))[1].staff_see_choices
    versions = [ResponseVersionPublic(version=v.version, channel=Channel(v.channel), actor_id=v.actor_id,
                                      actor_name=name, note=v.note, at=v.at,
                                      answers=[Answer(**a) for a in v.answers] if show else None)
                for v, name in await repo.history(session, q.id, hid)]
    return ResponseHistory(questionnaire_id=q.id, household_id=hid, versions=versions)


# ---- results -------------------------------------------------------------------------------------

def _counts_from(rows: list[OwnerTally], totals: tuple[int, int, int], *, agree: str, disagree: str,
                 abstain: str | None = None) -> Any:
    from app.rules import Counts

    n, owners, area = totals
    values = {"total_households": n, "total_owners": owners, "total_area": area}
    for prefix, choice in (("agree", agree), ("disagree", disagree), ("abstain", abstain)):
        hit = [r for r in rows if choice is not None and r.choice == choice]
        values[f"{prefix}_households"] = sum(r.households for r in hit)
        values[f"{prefix}_owners"] = sum(r.owners for r in hit)
        values[f"{prefix}_area"] = sum(r.area for r in hit)
    return Counts(**values)


async def _willingness_tally(session: AsyncSession, q: Questionnaire, *, rule_spec: dict[str, Any],
                             totals: tuple[int, int, int], window_open: bool,
                             tallies: list[OwnerTally] | None = None) -> tuple[Question, Any] | None:
    """The willingness rule on the owner tally of the willingness question; ``tallies``: rows already
    counted for it (with other questions), else they are queried."""
    from app.rules import Rule, evaluate

    wq = _willingness_question(q)
    if wq is None:
        return None
    if tallies is None:
        tallies = await repo.owner_tally(session, questionnaire_id=q.id, question_ids=[wq.id], scope=scope_of(q))
    rows = [t for t in tallies if t.question_id == wq.id]
    counts = _counts_from(rows, totals, agree="yes", disagree="no")
    return wq, evaluate(Rule.from_dict(rule_spec), counts, window_open=window_open)


def _area_share(part: int, total: int) -> AreaShare:
    return AreaShare(area_m2=format_area(part), total_m2=format_area(total), share=fraction_of(part, total),
                     percent=percent_str(part, total))


def _display_2dp(f: Fraction) -> str:
    """A non-negative fraction with two decimals, rounded half up."""
    hundredths = (f.numerator * 100 * 2 + f.denominator) // (2 * f.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


async def compute_results(session: AsyncSession, *, q: Questionnaire, now: datetime, staff: bool) -> Results:
    """All figures of a questionnaire from aggregate queries."""
    from app.rules import Rule, evaluate

    scope = scope_of(q)
    status = effective_status(q, now)
    window_open = status is not QuestionnaireStatus.CLOSED
    version, profile = await _profile(session, q)
    totals = await repo.scope_totals(session, scope)
    total_hh, total_owners, total_area = totals
    part = await repo.participation(session, q.id, scope)
    responded = sum(n for n, _ in part.values())
    responded_area = sum(a for _, a in part.values())
    questions = _questions(q)
    content_spec = profile.content_rule if q.kind in (QuestionnaireKind.NEEDS, QuestionnaireKind.WILLINGNESS) else None
    content_rule = Rule.from_dict(content_spec) if content_spec else None
    # the questions a rule decides (catalog items under a content rule, the willingness question) are counted
    # once, owner-grouped with the plain counts alongside; the others by plain aggregates
    wq = _willingness_question(q)
    ruled = {x.id for x in questions if content_rule is not None and x.type is QuestionType.CATALOG_ITEMS}
    ruled |= {wq.id} if wq is not None else set()
    owner_rows = await repo.owner_tally(session, questionnaire_id=q.id, question_ids=sorted(ruled), scope=scope)
    aggs = {(a.question_id, a.item_key, a.choice): a
            for a in await repo.answer_aggregates(session, q.id, [x.id for x in questions if x.id not in ruled])}
    plain = {k: a.households for k, a in aggs.items()} | {(t.question_id, t.item_key, t.choice): t.answered
                                                          for t in owner_rows}
    tallies: dict[tuple[str, str], list[OwnerTally]] = {}
    for t in owner_rows:
        tallies.setdefault((t.question_id, t.item_key), []).append(t)
    # households that answered: probed for the questions with several rows per household; every other type
    # has exactly one row per answering household, so its counts sum to it
    multi = [x.id for x in questions if x.type in (QuestionType.MULTIPLE_CHOICE, QuestionType.CATALOG_ITEMS)]
    answered = await repo.answered_per_question(session, q.id, multi)
    for (qid, _, _), n in plain.items():
        if qid not in multi:
            answered[qid] = answered.get(qid, 0) + n

    def count(qid: str, choice: str, item: str = "") -> int:
        return plain.get((qid, item, choice), 0)

    out: list[QuestionResult] = []
    for x in questions:
        n = answered.get(x.id, 0)
        r = QuestionResult(question_id=x.id, type=x.type, text=x.text, required=x.required,
                           answered=Share.of(n, total_hh))
        if x.type is QuestionType.YES_NO:
            r.options = [OptionResult(key=k, text=t, count=count(x.id, k), share=fraction_of(count(x.id, k), n),
                                      percent=percent_str(count(x.id, k), n)) for k, t in YES_NO_OPTIONS]
        elif x.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
            r.options = [OptionResult(key=o.id, text=o.text, count=count(x.id, o.id),
                                      share=fraction_of(count(x.id, o.id), n),
                                      percent=percent_str(count(x.id, o.id), n)) for o in x.options or []]
        elif x.type is QuestionType.RATING:
            r.options = [OptionResult(key=str(v), text=f"{v} 分", count=count(x.id, str(v)),
                                      share=fraction_of(count(x.id, str(v)), n),
                                      percent=percent_str(count(x.id, str(v)), n))
                         for v in range(RATING_MAX, RATING_MIN - 1, -1)]
            if n:
                avg = Fraction(sum(v * count(x.id, str(v)) for v in range(RATING_MIN, RATING_MAX + 1)), n)
                r.average, r.average_display = f"{avg.numerator}/{avg.denominator}", _display_2dp(avg)
        elif x.type is QuestionType.AMOUNT_FEN:
            a = aggs.get((x.id, "", ""))
            r.total_fen = a.value_sum if a else 0
            if a and n:
                avg = Fraction(a.value_sum, n)
                r.average_fen = f"{avg.numerator}/{avg.denominator}"
                r.average_yuan = _display_2dp(avg / 100)
                r.min_fen, r.max_fen = a.value_min, a.value_max
        elif x.type is QuestionType.TEXT:
            if staff:
                r.texts = await repo.texts(session, q.id, x.id, MAX_TEXTS)
        elif x.type is QuestionType.CATALOG_ITEMS:
            items = []
            for it in x.items or []:
                want, dont, no_op = (count(x.id, c.value, it.key) for c in ItemChoice)
                tally = None
                if it.mandatory:
                    st = "no_vote_needed"
                elif content_rule is None:
                    st = "not_evaluated"
                else:
                    counts = _counts_from(tallies.get((x.id, it.key), []), totals, agree=ItemChoice.WANT.value,
                                          disagree=ItemChoice.DONT_NEED.value, abstain=ItemChoice.NO_OPINION.value)
                    res = evaluate(content_rule, counts, window_open=window_open)
                    st = res.outcome.value
                    tally = {k: v for k, v in res.to_dict().items() if k != "rule"}  # the rule is content_rule
                items.append(ItemResult(key=it.key, seq=it.seq, title=it.title, category=it.category,
                                        selection=it.selection, mandatory=it.mandatory, want=want, dont_need=dont,
                                        no_opinion=no_op, answered=want + dont + no_op,
                                        want_of_all=Share.of(want, total_hh), status=st,
                                        status_zh=STATUS_ZH[st] + ("（征询进行中）" if tally and window_open else ""),
                                        tally=tally))
            r.items = items
        out.append(r)

    willingness = None
    tallied = await _willingness_tally(session, q, rule_spec=profile.willingness_rule, totals=totals,
                                       window_open=window_open, tallies=owner_rows)
    if tallied is not None:
        wq, res = tallied
        d = res.to_dict()
        willingness = RuleOutcome(question_id=wq.id, rule=d["rule"], outcome=res.outcome.value, passed=res.passed,
                                  tally=d)
    content_desc = None
    if content_rule is not None:
        content_desc = content_rule.to_dict() | {"description_zh": content_rule.describe_zh()}
    return Results(
        questionnaire_id=q.id, project_id=q.project_id, title=q.title, kind=QuestionnaireKind(q.kind), status=status,
        final=status is QuestionnaireStatus.CLOSED, computed_at=now, profile_version=version,
        scope=await _scope_public(session, q), households_in_scope=total_hh, owners_in_scope=total_owners,
        area_in_scope_m2=format_area(total_area),
        participation=Participation(households=Share.of(responded, total_hh),
                                    area=_area_share(responded_area, total_area),
                                    by_channel={c.value: part.get(c.value, (0, 0))[0] for c in Channel}),
        questions=out, willingness=willingness, content_rule=content_desc)


async def results(session: AsyncSession, *, principal: Principal, questionnaire_id: str, now: datetime) -> Results:
    """Staff any time; residents in scope once the questionnaire is closed (403 ``survey.results_not_public``)."""
    q, staff, _ = await _viewable(session, principal, questionnaire_id)
    if not staff and effective_status(q, now) is not QuestionnaireStatus.CLOSED:
        raise Forbidden("survey.results_not_public", "问卷结束后方可查看结果",
                        "Results are published when the questionnaire closes")
    return await compute_results(session, q=q, now=now, staff=staff)


async def results_for_export(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                             now: datetime) -> Results:
    """Staff only."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q))
    return await compute_results(session, q=q, now=now, staff=True)


# ---- for other domains ---------------------------------------------------------------------------

def _closed_first(qs: list[Questionnaire], now: datetime | None) -> list[Questionnaire]:
    """Closed ones (most recently closed first)."""
    closed = [q for q in qs if effective_status(q, now) is QuestionnaireStatus.CLOSED]

    def closed_time(q: Questionnaire) -> datetime:
        if q.status == QuestionnaireStatus.CLOSED and q.closed_at is not None:
            return q.closed_at
        return q.closes_at or q.created_at

    return sorted(closed, key=lambda q: (closed_time(q), q.id), reverse=True)


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
                         figures={"questionnaire_id": latest.id, "status": effective_status(latest, now).value,
                                  "closes_at": latest.closes_at.isoformat() if latest.closes_at else None})
    q = closed[0]
    _, profile = await _profile(session, q)
    totals = await repo.scope_totals(session, scope_of(q))
    tallied = await _willingness_tally(session, q, rule_spec=profile.willingness_rule, totals=totals,
                                       window_open=False)
    if tallied is None:
        return GateState(name=GATE_NAME, met=False, detail=f"问卷“{q.title}”没有意愿题，无法判定",
                         figures={"questionnaire_id": q.id})
    _, res = tallied
    c = res.counts
    rule_zh = res.rule.describe_zh()
    figures = {"questionnaire_id": q.id, "outcome": res.outcome.value, "rule": res.to_dict()["rule"],
               "willingness": {"numerator": c.agree_households, "denominator": c.total_households},
               "agree_households": c.agree_households, "disagree_households": c.disagree_households,
               "participating_households": c.participating_households, "total_households": c.total_households,
               "agree_area_centi": c.agree_area, "total_area_centi": c.total_area,
               "agree_owners": c.agree_owners, "total_owners": c.total_owners,
               "conditions": [cond.to_dict() for cond in res.conditions]}
    if res.passed:
        detail = f"改造意愿征询已通过（{rule_zh}）：同意 {c.agree_households} 户，总户数 {c.total_households} 户"
    else:
        shortfall = next((cond.shortfall for cond in res.conditions if not cond.met), None)
        detail = (f"改造意愿征询未通过（{rule_zh}）：同意 {c.agree_households} 户，总户数 {c.total_households} 户，"
                  f"参与 {c.participating_households} 户" + (f"，尚差 {shortfall} 户" if shortfall else ""))
    return GateState(name=GATE_NAME, met=res.passed, detail=detail, figures=figures)


async def ranking_figures(session: AsyncSession, *, project_id: str, now: datetime | None = None) -> WillingnessFigures:
    """Willingness (agree households / households in scope, one owner one choice as in the rule) and
    participation (households that responded / households in scope) of the project's willingness
    questionnaire: the latest closed one, else the latest opened one; empty figures when there is none."""
    qs = await repo.willingness_questionnaires(session, project_id)
    closed = _closed_first(qs, now)
    q = closed[0] if closed else (qs[0] if qs else None)
    if q is None:
        return WillingnessFigures()
    _, profile = await _profile(session, q)
    scope = scope_of(q)
    totals = await repo.scope_totals(session, scope)
    total_hh = totals[0]
    tallied = await _willingness_tally(session, q, rule_spec=profile.willingness_rule, totals=totals,
                                       window_open=effective_status(q, now) is not QuestionnaireStatus.CLOSED)
    part = await repo.participation(session, q.id, scope)
    responded = sum(n for n, _ in part.values())
    willingness = None if tallied is None else Ratio(tallied[1].counts.agree_households, total_hh)
    return WillingnessFigures(willingness=willingness, participation=Ratio(responded, total_hh))


async def questionnaire_scope_households(session: AsyncSession, *, questionnaire_id: str) -> list[str]:
    """Ids of the households in the questionnaire's scope, by building, unit, room (404 if no such)."""
    q = await _questionnaire_or_404(session, questionnaire_id)
    return await repo.scope_household_ids(session, scope_of(q))


@dataclass(frozen=True)
class TurnoutFacts:
    """What turnout needs of a questionnaire (its ``Item``): status by the clock, scope, the rule, and
    selects of the households that answered and of their willingness choice (agree / disagree)."""

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


async def _facts(session: AsyncSession, q: Questionnaire, now: datetime) -> TurnoutFacts:
    wq = _willingness_question(q)
    rule_spec = choices = None
    if wq is not None:
        rule_spec = (await _profile(session, q))[1].willingness_rule
        choices = (select(SurveyAnswer.household_id,
                          case((col(SurveyAnswer.choice) == "yes", "agree"), else_="disagree").label("choice"))
                   .where(SurveyAnswer.questionnaire_id == q.id, SurveyAnswer.question_id == wq.id))
    return TurnoutFacts(
        id=q.id, title=q.title, jurisdiction_id=q.jurisdiction_id, community_id=q.community_id,
        project_id=q.project_id, scope_kind=q.scope_kind, building_id=q.building_id, unit_id=q.unit_id,
        status=effective_status(q, now).value, opens_at=q.opens_at, closes_at=q.closes_at, kind=q.kind,
        rule_spec=rule_spec,
        answered_ids=select(SurveyResponse.household_id).where(SurveyResponse.questionnaire_id == q.id),
        choices=choices)


async def turnout_facts(session: AsyncSession, *, questionnaire_id: str, now: datetime) -> TurnoutFacts | None:
    q = await repo.get_questionnaire(session, questionnaire_id)
    return None if q is None else await _facts(session, q, now)


async def open_turnout_facts(session: AsyncSession, *, now: datetime) -> list[TurnoutFacts]:
    return [await _facts(session, q, now) for q in await repo.open_questionnaires(session, now)]
