"""The renovation item catalogs (seeded from the packaged CSV files into ``catalog_item``) and building a
questionnaire's questions: given ones, a kind's default ones, and the catalog question.

Building normalizes every question (ids ``q1``, ``q2``, … and ``o1``, ``o2``, … where none is given, the
options, the catalog items with their title and standard copied in, the caps) and collects every problem
into one 422 ``survey.invalid_questions``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal
from app.core.db import new_id
from app.core.errors import NotFound
from app.register.profiles import RulesProfile
from app.surveys import catalog as packaged_catalog
from app.surveys import repository as repo
from app.surveys.catalog import CATEGORY_ZH, SELECTION_ZH, CatalogEntry
from app.surveys.common import invalid_questions
from app.surveys.models import QuestionnaireKind, QuestionType
from app.surveys.schemas import (
    DEFAULT_MAX_FEN,
    DEFAULT_TEXT_LENGTH,
    RATING_MAX,
    RATING_MIN,
    CatalogItemPublic,
    CatalogPublic,
    OptionIn,
    Question,
    QuestionIn,
)

WILLINGNESS_TEXT = "是否同意实施改造"
CATALOG_TEXT = "请选择您家需要的改造内容（必选项按规定实施，无需表决）"

Errors = list[dict[str, Any]]
Loc = list[Any]


# ---- catalogs ------------------------------------------------------------------------------------

async def ensure_catalogs(session: AsyncSession, *, names: tuple[str, ...] | list[str] | None = None) -> int:
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


async def catalog_entries(session: AsyncSession, *, name: str) -> tuple[CatalogEntry, ...]:
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
        entries = await catalog_entries(session, name=catalog)
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
        entries = await catalog_entries(session, name=name)
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


def _needs_catalog(questions: list[QuestionIn] | None, from_catalog: bool) -> bool:
    return from_catalog or any(x.type is QuestionType.CATALOG_ITEMS for x in questions or [])


async def questions_for(session: AsyncSession, *, kind: QuestionnaireKind, questions: list[QuestionIn] | None,
                        from_catalog: bool, profile: RulesProfile) -> tuple[list[dict[str, Any]], str | None]:
    """(the built questions, the name of the profile's catalog when they draw on it)."""
    catalog: tuple[CatalogEntry, ...] | None = None
    name: str | None = None
    if _needs_catalog(questions, from_catalog) and kind is not QuestionnaireKind.SATISFACTION:
        name = profile.catalog
        await ensure_catalogs(session, names=[name])
        catalog = await catalog_entries(session, name=name)
    return build_questions(kind=kind, questions=questions, from_catalog=from_catalog, catalog=catalog), name


def build_questions(*, kind: QuestionnaireKind, questions: list[QuestionIn] | None, from_catalog: bool,
                    catalog: tuple[CatalogEntry, ...] | None) -> list[dict[str, Any]]:
    """Normalize the questions (ids, options, catalog items, caps); 422 ``survey.invalid_questions``."""
    errors: Errors = []
    specs = _question_specs(kind, questions, from_catalog, errors)
    entries = {e.seq: e for e in catalog or ()}
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, (s, qid) in enumerate(zip(specs, _fill_ids([s.id for s in specs], "q"), strict=True)):
        loc: Loc = ["body", "questions", i]
        if qid in used:
            errors.append({"loc": [*loc, "id"], "msg": f"question id {qid!r} used twice"})
            continue
        used.add(qid)
        errors += _misplaced_fields(s, loc)
        out.append(_normalized(s, qid, loc, entries, errors))
    _settle_willingness(kind, out, errors)
    if errors:
        raise invalid_questions(errors)
    return out


def _question_specs(kind: QuestionnaireKind, questions: list[QuestionIn] | None, from_catalog: bool,
                    errors: Errors) -> list[QuestionIn]:
    """The given questions, else the kind's defaults; then the catalog question when asked for."""
    specs = list(questions or [])
    if kind is QuestionnaireKind.SATISFACTION and from_catalog:
        errors.append({"loc": ["body", "from_catalog"], "msg": "a satisfaction survey is not built from the catalog"})
    if not specs:
        specs = _default_questions(kind)
    if from_catalog:
        specs.append(QuestionIn(type=QuestionType.CATALOG_ITEMS, text=CATALOG_TEXT, required=True))
    if not specs:
        errors.append({"loc": ["body", "questions"], "msg": "give questions, or from_catalog: true"})
    return specs


def _fill_ids(ids: list[str | None], prefix: str) -> list[str]:
    """The given ids kept; each missing one gets the next ``{prefix}{n}`` that no given id takes."""
    given = {i for i in ids if i}
    out: list[str] = []
    n = 0
    for i in ids:
        if i is None:
            n += 1
            while f"{prefix}{n}" in given:
                n += 1
            i = f"{prefix}{n}"
        out.append(i)
    return out


def _misplaced_fields(s: QuestionIn, loc: Loc) -> Errors:
    """A field set that the question's type does not take."""
    allowed = _TYPE_FIELDS[s.type]
    return [{"loc": [*loc, f], "msg": f"{f} does not apply to a {s.type.value} question"}
            for f in _OPTIONAL_FIELDS if getattr(s, f) not in (None, False) and f not in allowed]


def _normalized(s: QuestionIn, qid: str, loc: Loc, entries: dict[int, CatalogEntry], errors: Errors) -> dict[str, Any]:
    """The question as stored: its common fields and those of its type, with the defaults filled in."""
    d: dict[str, Any] = {"id": qid, "type": s.type.value, "text": s.text, "required": s.required}
    if s.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        d |= _choice_fields(s, loc, errors)
    elif s.type is QuestionType.CATALOG_ITEMS:
        d["items"] = _catalog_items(s.items, loc, entries, errors)
    elif s.type is QuestionType.RATING:
        d["min_rating"], d["max_rating"] = RATING_MIN, RATING_MAX
    elif s.type is QuestionType.AMOUNT_FEN:
        d["max_fen"] = s.max_fen if s.max_fen is not None else DEFAULT_MAX_FEN
    elif s.type is QuestionType.TEXT:
        d["max_length"] = s.max_length or DEFAULT_TEXT_LENGTH
    elif s.type is QuestionType.YES_NO:
        d["willingness"] = bool(s.willingness)
    return Question.model_validate(d).model_dump(mode="json")


def _choice_fields(s: QuestionIn, loc: Loc, errors: Errors) -> dict[str, Any]:
    """Options with ids (at least two, none twice); for multiple choice the bounds on the number chosen."""
    opts: list[OptionIn] = s.options or []
    if len(opts) < 2:
        errors.append({"loc": [*loc, "options"], "msg": "at least 2 options"})
    oids = _fill_ids([o.id for o in opts], "o")
    for j, oid in enumerate(oids):
        if oid in oids[:j]:
            errors.append({"loc": [*loc, "options", j, "id"], "msg": f"option id {oid!r} used twice"})
    fields: dict[str, Any] = {"options": [{"id": oid, "text": o.text} for oid, o in zip(oids, opts, strict=True)]}
    if s.type is QuestionType.MULTIPLE_CHOICE:
        lo = s.min_choices if s.min_choices is not None else 1
        hi = s.max_choices if s.max_choices is not None else max(len(opts), 1)
        if lo > hi or hi > max(len(opts), 1):
            errors.append({"loc": [*loc, "max_choices"], "msg": "need min_choices <= max_choices <= number of options"})
        fields["min_choices"], fields["max_choices"] = lo, hi
    return fields


def _catalog_items(given: list[int] | None, loc: Loc, entries: dict[int, CatalogEntry],
                   errors: Errors) -> list[dict[str, Any]]:
    """The listed catalog items (all of the catalog when none are listed), each as stored in the question."""
    seqs = given if given is not None else sorted(entries)
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
    return items


def _settle_willingness(kind: QuestionnaireKind, out: list[dict[str, Any]], errors: Errors) -> None:
    """A willingness questionnaire has exactly one willingness question, required (the first yes_no one when
    none is flagged); no other kind has one."""
    flagged = [d for d in out if d.get("willingness")]
    if kind is not QuestionnaireKind.WILLINGNESS:
        if flagged:
            errors.append({"loc": ["body", "questions"],
                           "msg": "only a willingness questionnaire has a willingness question"})
        return
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
