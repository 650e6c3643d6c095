"""Responses: a resident (owner or co-owner) answers online for the household, staff enter a door-to-door
paper form (入户问卷); either replaces the household's one current response while the questionnaire is open.
Every version is kept with who, when and the channel; the answers are stored one row per part
(``survey_answer``) so that results are GROUP BY aggregates.

Answers are checked against the questions one by one; every problem is listed with its ``loc`` in one 422
``survey.invalid_answers``. A response is a write that freezes the questionnaire's electoral roll when it is
due (:mod:`app.surveys.roll`); once frozen, only a household on the roll may answer (404 otherwise, as out of
scope).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, authorize
from app.core import audit
from app.core.errors import Invalid, NotFound
from app.surveys import repository as repo
from app.surveys import roll
from app.surveys.common import (
    auth_scope,
    effective_status,
    invalid_answers,
    not_acting,
    out_of_scope,
    profile_of,
    questionnaire_or_404,
    questions_of,
    ref_in_scope,
    response_public,
    scope_of,
    viewable,
    window_closed,
)
from app.surveys.models import (
    Channel,
    ItemChoice,
    Questionnaire,
    QuestionnaireStatus,
    QuestionType,
    SurveyResponseVersion,
)
from app.surveys.schemas import (
    DEFAULT_MAX_FEN,
    DEFAULT_TEXT_LENGTH,
    RATING_MAX,
    RATING_MIN,
    Answer,
    AnswerIn,
    PaperResponseIn,
    Question,
    ResponseHistory,
    ResponseIn,
    ResponsePublic,
    ResponseVersionPublic,
)

# ---- checking answers ----------------------------------------------------------------------------

@dataclass
class _Checked:
    value: Any  # normalized JSON value
    rows: list[dict[str, Any]]  # survey_answer rows without questionnaire/household ids


Checked = _Checked | str | None  # the normalized answer, an error message, or None: the value counts as no answer


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_yes_no(q: Question, value: Any) -> Checked:
    if value in ("yes", "no"):
        value = value == "yes"
    if not isinstance(value, bool):
        return "expected true or false"
    return _Checked(value, [{"choice": "yes" if value else "no", "value_int": int(value)}])


def _check_single_choice(q: Question, value: Any) -> Checked:
    ids = [o.id for o in q.options or []]
    if not isinstance(value, str):
        return "expected an option id"
    if value not in ids:
        return f"option {value[:40]!r} is not offered"
    return _Checked(value, [{"choice": value}])


def _check_multiple_choice(q: Question, value: Any) -> Checked:
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


def _check_catalog_items(q: Question, value: Any) -> Checked:
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


def _check_rating(q: Question, value: Any) -> Checked:
    if not _is_int(value) or not RATING_MIN <= value <= RATING_MAX:
        return f"expected an integer from {RATING_MIN} to {RATING_MAX}"
    return _Checked(value, [{"choice": str(value), "value_int": value}])


def _check_amount_fen(q: Question, value: Any) -> Checked:
    cap = q.max_fen if q.max_fen is not None else DEFAULT_MAX_FEN
    if not _is_int(value) or value < 0:
        return "expected an integer amount in fen (≥ 0)"
    if value > cap:
        return f"at most {cap} fen"
    return _Checked(value, [{"value_int": value}])


def _check_text(q: Question, value: Any) -> Checked:
    if not isinstance(value, str):
        return "expected a string"
    text = value.strip()
    if not text:
        return None
    limit = q.max_length or DEFAULT_TEXT_LENGTH
    if len(text) > limit:
        return f"at most {limit} characters"
    return _Checked(text, [{"value_text": text}])


_CHECKS: dict[QuestionType, Callable[[Question, Any], Checked]] = {
    QuestionType.YES_NO: _check_yes_no,
    QuestionType.SINGLE_CHOICE: _check_single_choice,
    QuestionType.MULTIPLE_CHOICE: _check_multiple_choice,
    QuestionType.CATALOG_ITEMS: _check_catalog_items,
    QuestionType.RATING: _check_rating,
    QuestionType.AMOUNT_FEN: _check_amount_fen,
    QuestionType.TEXT: _check_text,
}


def validate_answers(*, questions: list[Question], answers: list[AnswerIn]) -> tuple[list[dict[str, Any]],
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
        result = _CHECKS[q.type](q, a.value)
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
        raise invalid_answers(errors)
    normalized = [{"question_id": q.id, "value": checked[q.id].value} for q in questions if q.id in checked]
    rows = [{"question_id": q.id, "item_key": "", "choice": "", "value_int": None, "value_text": None} | r
            for q in questions if q.id in checked for r in checked[q.id].rows]
    return normalized, rows


# ---- recording responses -------------------------------------------------------------------------

def _answers_digest(answers: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(answers, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def _record(session: AsyncSession, *, q: Questionnaire, household_id: str, channel: Channel,
                  actor_id: str, note: str | None, answers: list[AnswerIn], now: datetime) -> ResponsePublic:
    normalized, rows = validate_answers(questions=questions_of(q), answers=answers)
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
    return response_public(current)


def _acting_household(principal: Principal, q: Questionnaire, household_id: str | None,
                      listed: set[str] | None) -> HouseholdRef:
    """The household the caller answers for; ``listed``: the caller's households on the frozen roll (None: no
    roll frozen, the register's scope decides)."""
    mine = principal.households_in(q.community_id)

    def in_scope(h: HouseholdRef) -> bool:
        return ref_in_scope(h, q) and (listed is None or h.household_id in listed)

    if household_id is not None:
        ref = next((h for h in mine if h.household_id == household_id), None)
        if ref is None:
            raise NotFound("survey.household_not_found", "您不是该户的成员", "You are not a member of that household")
        if not in_scope(ref):
            raise out_of_scope()
        if not ref.may_act:
            raise not_acting()
        return ref
    scoped = [h for h in mine if in_scope(h)]
    if not scoped:
        raise out_of_scope()
    acting = [h for h in scoped if h.may_act]
    if not acting:
        raise not_acting()
    if len(acting) > 1:
        raise Invalid("survey.household_required", "您可代表本问卷范围内的多户填写，请指定 household_id",
                      "You act for several households in scope: give household_id",
                      errors=[{"loc": ["body", "household_id"], "msg": "required: you act for several households"}],
                      household_ids=[h.household_id for h in acting])
    return acting[0]


async def respond(session: AsyncSession, *, principal: Principal, questionnaire_id: str, body: ResponseIn,
                  now: datetime) -> ResponsePublic:
    """A resident (owner / co-owner) answers for the household; replaces the current response until close."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.respond", auth_scope(q=q))
    await roll.ensure_frozen(session, q, now)  # before the share lock: freezing takes the row FOR UPDATE
    q = await questionnaire_or_404(session, questionnaire_id, lock=True)
    listed = None
    if q.roll_frozen_at is not None:
        ids = [h.household_id for h in principal.households_in(q.community_id)]
        listed = {e.household_id for e in await repo.roll_entries_of(session, q.id, ids)}
    ref = _acting_household(principal, q, body.household_id, listed)
    if effective_status(q=q, now=now) is not QuestionnaireStatus.OPEN:
        raise window_closed()
    return await _record(session, q=q, household_id=ref.household_id, channel=Channel.ONLINE,
                         actor_id=principal.user_id, note=None, answers=body.answers, now=now)


async def record_paper_response(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                                body: PaperResponseIn, now: datetime) -> ResponsePublic:
    """Staff enter a household's door-to-door paper form (入户问卷), channel ``paper``."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    await roll.ensure_frozen(session, q, now)  # before the share lock: freezing takes the row FOR UPDATE
    q = await questionnaire_or_404(session, questionnaire_id, lock=True)
    if q.roll_frozen_at is not None:
        if not await roll.on_roll(session, q, body.household_id):
            raise out_of_scope()
    elif await repo.household_in_scope(session, scope_of(q=q), body.household_id) is None:
        raise out_of_scope()
    if effective_status(q=q, now=now) is not QuestionnaireStatus.OPEN:
        raise window_closed()
    return await _record(session, q=q, household_id=body.household_id, channel=Channel.PAPER,
                         actor_id=principal.user_id, note=body.note, answers=body.answers, now=now)


# ---- history -------------------------------------------------------------------------------------

async def response_history(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                           household_id: str | None) -> ResponseHistory:
    """Every version of a household's response. Owners/co-owners of the household see the answers; staff see
    who and when, and the answers only where the profile lets staff see choices."""
    q, staff, mine = await viewable(session, principal, questionnaire_id)
    ref = next((h for h in mine if h.household_id == household_id), None) if household_id else (
        mine[0] if len(mine) == 1 else None)
    if ref is not None and not ref.may_act and not staff:
        raise not_acting()
    if ref is None:
        if not staff:
            if household_id is None and len(mine) > 1:
                raise Invalid("survey.household_required", "请指定 household_id", "Give household_id",
                              errors=[{"loc": ["query", "household_id"], "msg": "required"}])
            raise out_of_scope()
        if household_id is None:
            raise Invalid("survey.household_required", "请指定 household_id", "Give household_id",
                          errors=[{"loc": ["query", "household_id"], "msg": "required"}])
        if await repo.household_in_scope(session, scope_of(q=q), household_id) is None:
            raise out_of_scope()
    hid = ref.household_id if ref is not None else household_id
    assert hid is not None
    show = (ref is not None and ref.may_act) or (await profile_of(session, q))[1].staff_see_choices
    versions = [ResponseVersionPublic(version=v.version, channel=Channel(v.channel), actor_id=v.actor_id,
                                      actor_name=name, note=v.note, at=v.at,
                                      answers=[Answer(**a) for a in v.answers] if show else None)
                for v, name in await repo.history(session, q.id, hid)]
    return ResponseHistory(questionnaire_id=q.id, household_id=hid, versions=versions)
