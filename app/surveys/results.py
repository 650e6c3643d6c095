"""Results of a questionnaire, all from aggregate queries: per question the counts and exact shares, per
catalog item the want-count against ALL households in scope, and the profile's rules through
``app.rules.evaluate`` (the willingness rule on the willingness question, the content rule on each catalog
item that is not mandatory), counted one owner one choice (``app.rules.count_electorate`` semantics).

Staff see results at any time (and the text answers); residents in scope once the questionnaire is closed.
A questionnaire with an electoral roll (:mod:`app.surveys.roll`) counts the households on its roll only:
denominators, owner grouping and every numerator; before the roll is frozen, the register's households in
scope (the first write after opening, a results read included, freezes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core.errors import Forbidden
from app.core.units import format_area
from app.register.profiles import RulesProfile
from app.rules import Counts, Rule, TallyResult, evaluate
from app.surveys import repository as repo
from app.surveys import roll
from app.surveys.common import (
    auth_scope,
    content_rule,
    effective_status,
    population_of,
    profile_of,
    questionnaire_or_404,
    questions_of,
    scope_public,
    viewable,
    willingness_question,
)
from app.surveys.models import (
    Channel,
    ItemChoice,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
)
from app.surveys.repository import AnswerAggregate, OwnerTally
from app.surveys.schemas import (
    RATING_MAX,
    RATING_MIN,
    AreaShare,
    ItemResult,
    OptionResult,
    Participation,
    Question,
    QuestionItem,
    QuestionResult,
    Results,
    RuleOutcome,
    Share,
    fraction_of,
    percent_str,
)

MAX_TEXTS = 200
STATUS_ZH = {"no_vote_needed": "必选项，无需表决", "passed": "通过", "failed": "未通过", "pending": "待定",
             "not_evaluated": "未设定需求认可规则"}
YES_NO_OPTIONS = (("yes", "是"), ("no", "否"))

Totals = tuple[int, int, int]  # households, distinct owners, area in 0.01 m² in scope
AnswerKey = tuple[str, str, str]  # question id, item key ("" but for catalog items), choice


# ---- the rules -----------------------------------------------------------------------------------

def _counts_from(rows: list[OwnerTally], totals: Totals, *, agree: str, disagree: str,
                abstain: str | None = None) -> Counts:
    """The rules engine's counts from the owner tally of one question (and item)."""
    n, owners, area = totals
    values = {"total_households": n, "total_owners": owners, "total_area": area}
    for prefix, choice in (("agree", agree), ("disagree", disagree), ("abstain", abstain)):
        hit = [r for r in rows if choice is not None and r.choice == choice]
        values[f"{prefix}_households"] = sum(r.households for r in hit)
        values[f"{prefix}_owners"] = sum(r.owners for r in hit)
        values[f"{prefix}_area"] = sum(r.area for r in hit)
    return Counts(**values)


async def willingness_tally(session: AsyncSession, *, q: Questionnaire, rule_spec: dict[str, Any],
                            totals: Totals, window_open: bool,
                            tallies: list[OwnerTally] | None = None) -> tuple[Question, TallyResult] | None:
    """The willingness rule on the owner tally of the willingness question; ``tallies``: rows already
    counted for it (with other questions), else they are queried."""
    wq = willingness_question(q)
    if wq is None:
        return None
    if tallies is None:
        tallies = await repo.owner_tally(session, questionnaire_id=q.id, question_ids=[wq.id],
                                       population=population_of(q))
    rows = [t for t in tallies if t.question_id == wq.id]
    counts = _counts_from(rows, totals, agree="yes", disagree="no")
    return wq, evaluate(Rule.from_dict(rule_spec), counts, window_open=window_open)


# ---- counting ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tally:
    """What the per-question figures are made of: the scope's totals, the window, the content rule and
    the answers as counted by the aggregate queries."""

    totals: Totals
    window_open: bool
    content_rule: Rule | None
    plain: dict[AnswerKey, int]  # households that gave each answer, each on its own
    aggregates: dict[AnswerKey, AnswerAggregate]  # the questions no rule decides: sums, minimum, maximum
    owner_rows: list[OwnerTally]  # the questions a rule decides, one owner one choice
    owner_rows_by_item: dict[tuple[str, str], list[OwnerTally]]  # the same by (question id, item key)
    answered: dict[str, int]  # question id -> households that answered it
    texts: dict[str, list[str]]  # text question id -> answers (staff only)

    def count(self, qid: str, choice: str, item: str = "") -> int:
        return self.plain.get((qid, item, choice), 0)

    def owner_rows_of(self, qid: str, item: str) -> list[OwnerTally]:
        return self.owner_rows_by_item.get((qid, item), [])


async def _tally(session: AsyncSession, q: Questionnaire, questions: list[Question], *, totals: Totals,
                 window_open: bool, content_rule: Rule | None, staff: bool) -> _Tally:
    """The questions a rule decides (catalog items under a content rule, the willingness question) are
    counted once, owner-grouped with the plain counts alongside; the others by plain aggregates."""
    wq = willingness_question(q)
    ruled = {x.id for x in questions if content_rule is not None and x.type is QuestionType.CATALOG_ITEMS}
    ruled |= {wq.id} if wq is not None else set()
    owner_rows = await repo.owner_tally(session, questionnaire_id=q.id, question_ids=sorted(ruled),
                                       population=population_of(q))
    on_roll = q.roll_frozen_at is not None
    aggs = {(a.question_id, a.item_key, a.choice): a
            for a in await repo.answer_aggregates(session, q.id, [x.id for x in questions if x.id not in ruled],
                                                      on_roll=on_roll)}
    plain = {k: a.households for k, a in aggs.items()} | {(t.question_id, t.item_key, t.choice): t.answered
                                                          for t in owner_rows}
    by_item: dict[tuple[str, str], list[OwnerTally]] = {}
    for row in owner_rows:
        by_item.setdefault((row.question_id, row.item_key), []).append(row)
    texts = {x.id: await repo.texts(session, q.id, x.id, MAX_TEXTS, on_roll=on_roll)
             for x in questions if staff and x.type is QuestionType.TEXT}
    return _Tally(totals=totals, window_open=window_open, content_rule=content_rule, plain=plain, aggregates=aggs,
                  owner_rows=owner_rows, owner_rows_by_item=by_item,
                  answered=await _answered(session, q.id, questions, plain, on_roll=on_roll), texts=texts)


async def _answered(session: AsyncSession, questionnaire_id: str, questions: list[Question],
                    plain: dict[AnswerKey, int], *, on_roll: bool) -> dict[str, int]:
    """Households that answered each question: probed for the questions with several rows per household;
    every other type has exactly one row per answering household, so its counts sum to it."""
    multi = [x.id for x in questions if x.type in (QuestionType.MULTIPLE_CHOICE, QuestionType.CATALOG_ITEMS)]
    answered = await repo.answered_per_question(session, questionnaire_id, multi, on_roll=on_roll)
    for (qid, _, _), n in plain.items():
        if qid not in multi:
            answered[qid] = answered.get(qid, 0) + n
    return answered


# ---- figures per question ------------------------------------------------------------------------

def _area_share(part: int, total: int) -> AreaShare:
    return AreaShare(area_m2=format_area(part), total_m2=format_area(total), share=fraction_of(part, total),
                     percent=percent_str(part, total))


def _display_2dp(f: Fraction) -> str:
    """A non-negative fraction with two decimals, rounded half up."""
    hundredths = (f.numerator * 100 * 2 + f.denominator) // (2 * f.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _fraction_str(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def _option_results(t: _Tally, qid: str, options: list[tuple[str, str]], n: int) -> list[OptionResult]:
    """Each option (key, text) with its count and exact share of the ``n`` households that answered."""
    return [OptionResult(key=key, text=text, count=t.count(qid, key), share=fraction_of(t.count(qid, key), n),
                         percent=percent_str(t.count(qid, key), n)) for key, text in options]


def _rating_figures(r: QuestionResult, t: _Tally, x: Question, n: int) -> None:
    """Counts from the best rating down, and the exact average."""
    r.options = _option_results(t, x.id, [(str(v), f"{v} 分") for v in range(RATING_MAX, RATING_MIN - 1, -1)], n)
    if n:
        avg = Fraction(sum(v * t.count(x.id, str(v)) for v in range(RATING_MIN, RATING_MAX + 1)), n)
        r.average, r.average_display = _fraction_str(avg), _display_2dp(avg)


def _amount_figures(r: QuestionResult, t: _Tally, x: Question, n: int) -> None:
    """Total, exact average (fen and yuan), least and greatest amount."""
    a = t.aggregates.get((x.id, "", ""))
    r.total_fen = a.value_sum if a else 0
    if a and n:
        avg = Fraction(a.value_sum, n)
        r.average_fen = _fraction_str(avg)
        r.average_yuan = _display_2dp(avg / 100)
        r.min_fen, r.max_fen = a.value_min, a.value_max


def _item_status(t: _Tally, qid: str, it: QuestionItem) -> tuple[str, dict[str, Any] | None]:
    """(status, the content rule's tally without the rule itself): mandatory items need no vote."""
    if it.mandatory:
        return "no_vote_needed", None
    if t.content_rule is None:
        return "not_evaluated", None
    counts = _counts_from(t.owner_rows_of(qid, it.key), t.totals, agree=ItemChoice.WANT.value,
                         disagree=ItemChoice.DONT_NEED.value, abstain=ItemChoice.NO_OPINION.value)
    res = evaluate(t.content_rule, counts, window_open=t.window_open)
    return res.outcome.value, {k: v for k, v in res.to_dict().items() if k != "rule"}  # the rule is content_rule


def _item_result(t: _Tally, qid: str, it: QuestionItem) -> ItemResult:
    want, dont, no_op = (t.count(qid, c.value, it.key) for c in ItemChoice)
    status, tally = _item_status(t, qid, it)
    return ItemResult(key=it.key, seq=it.seq, title=it.title, category=it.category, selection=it.selection,
                      mandatory=it.mandatory, want=want, dont_need=dont, no_opinion=no_op,
                      answered=want + dont + no_op, want_of_all=Share.of(want, t.totals[0]), status=status,
                      status_zh=STATUS_ZH[status] + ("（征询进行中）" if tally and t.window_open else ""), tally=tally)


def _question_result(t: _Tally, x: Question) -> QuestionResult:
    n = t.answered.get(x.id, 0)
    r = QuestionResult(question_id=x.id, type=x.type, text=x.text, required=x.required,
                       answered=Share.of(n, t.totals[0]))
    if x.type is QuestionType.YES_NO:
        r.options = _option_results(t, x.id, list(YES_NO_OPTIONS), n)
    elif x.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        r.options = _option_results(t, x.id, [(o.id, o.text) for o in x.options or []], n)
    elif x.type is QuestionType.RATING:
        _rating_figures(r, t, x, n)
    elif x.type is QuestionType.AMOUNT_FEN:
        _amount_figures(r, t, x, n)
    elif x.type is QuestionType.TEXT:
        if x.id in t.texts:
            r.texts = t.texts[x.id]
    elif x.type is QuestionType.CATALOG_ITEMS:
        r.items = [_item_result(t, x.id, it) for it in x.items or []]
    return r


# ---- the whole -----------------------------------------------------------------------------------

async def _willingness_outcome(session: AsyncSession, q: Questionnaire, profile: RulesProfile,
                               t: _Tally) -> RuleOutcome | None:
    tallied = await willingness_tally(session, q=q, rule_spec=profile.willingness_rule, totals=t.totals,
                                      window_open=t.window_open, tallies=t.owner_rows)
    if tallied is None:
        return None
    wq, res = tallied
    d = res.to_dict()
    return RuleOutcome(question_id=wq.id, rule=d["rule"], outcome=res.outcome.value, passed=res.passed, tally=d)


def _described(rule: Rule | None) -> dict[str, Any] | None:
    return None if rule is None else rule.to_dict() | {"description_zh": rule.describe_zh()}


def _participation(part: dict[str, tuple[int, int]], totals: Totals) -> Participation:
    """Households that responded (by channel) and their area, of all in scope."""
    total_hh, _, total_area = totals
    return Participation(households=Share.of(sum(n for n, _ in part.values()), total_hh),
                         area=_area_share(sum(a for _, a in part.values()), total_area),
                         by_channel={c.value: part.get(c.value, (0, 0))[0] for c in Channel})


async def compute_results(session: AsyncSession, *, q: Questionnaire, now: datetime, staff: bool) -> Results:
    """All figures of a questionnaire from aggregate queries."""
    status = effective_status(q=q, now=now)
    version, profile = await profile_of(session, q)
    totals = await repo.scope_totals(session, population_of(q))
    part = await repo.participation(session, q.id, population_of(q))
    questions = questions_of(q)
    rule = content_rule(q, profile)
    t = await _tally(session, q, questions, totals=totals, window_open=status is not QuestionnaireStatus.CLOSED,
                     content_rule=rule, staff=staff)
    out = [_question_result(t, x) for x in questions]
    return Results(
        questionnaire_id=q.id, project_id=q.project_id, title=q.title, kind=QuestionnaireKind(q.kind), status=status,
        final=status is QuestionnaireStatus.CLOSED, computed_at=now, profile_version=version,
        scope=await scope_public(session, q), households_in_scope=totals[0], owners_in_scope=totals[1],
        area_in_scope_m2=format_area(totals[2]), participation=_participation(part, totals), questions=out,
        willingness=await _willingness_outcome(session, q, profile, t), content_rule=_described(rule))


async def results(session: AsyncSession, *, principal: Principal, questionnaire_id: str, now: datetime) -> Results:
    """Staff any time; residents in scope once the questionnaire is closed (403 ``survey.results_not_public``).
    The first read after opening freezes the electoral roll (:mod:`app.surveys.roll`)."""
    q, staff, _ = await viewable(session, principal, questionnaire_id)
    if not staff and effective_status(q=q, now=now) is not QuestionnaireStatus.CLOSED:
        raise Forbidden("survey.results_not_public", "问卷结束后方可查看结果",
                        "Results are published when the questionnaire closes")
    q = await roll.ensure_frozen(session, q, now)
    return await compute_results(session, q=q, now=now, staff=staff)


async def results_for_export(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                             now: datetime) -> Results:
    """Staff only (freezes the electoral roll as a results read does)."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    q = await roll.ensure_frozen(session, q, now)
    return await compute_results(session, q=q, now=now, staff=True)
