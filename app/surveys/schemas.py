"""Request and response shapes of catalogs, questionnaires, responses, results and electoral rolls."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.rules import percent_text
from app.surveys.models import (
    Channel,
    QuestionnaireKind,
    QuestionnaireStatus,
    QuestionType,
    ScopeKind,
)

KEY_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
MAX_QUESTIONS = 50
MAX_OPTIONS = 30
MAX_ANSWERS = 200
MAX_TEXT_LENGTH = 2000
DEFAULT_TEXT_LENGTH = 500
MAX_FEN_CAP = 10**12  # 100 亿元: no single contribution answer is larger
DEFAULT_MAX_FEN = 100_000_000  # 100 万元
RATING_MIN, RATING_MAX = 1, 5


# ---- catalogs ------------------------------------------------------------------------------------

class CatalogItemPublic(BaseModel):
    key: str = Field(description="the item's key in questions and answers: its seq as a string")
    seq: int
    category: str = Field(description="basic | complete | upgrade")
    category_zh: str
    title: str
    standard: str
    selection: str | None = Field(description="qingdao: mandatory | recommended | optional; linyi: null")
    selection_zh: str | None
    mandatory: bool = Field(description="必选: done wherever needed, no vote")


class CatalogPublic(BaseModel):
    name: str
    items: list[CatalogItemPublic]
    counts: dict[str, int] = Field(description="items per category")


# ---- questions -----------------------------------------------------------------------------------

class OptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=KEY_PATTERN, description="default o1, o2, …")
    text: str = Field(min_length=1, max_length=200)


class QuestionIn(BaseModel):
    """A question. ``options`` for single/multiple choice; ``items`` (catalog seqs, default: every item of
    the profile's catalog) for catalog_items; ``max_fen`` for amount_fen; ``max_length`` for text;
    ``willingness`` marks the yes_no question that decides a willingness questionnaire."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=KEY_PATTERN, description="default q1, q2, …")
    type: QuestionType
    text: str = Field(min_length=1, max_length=500)
    required: bool = True
    options: list[OptionIn] | None = Field(default=None, max_length=MAX_OPTIONS)
    min_choices: int | None = Field(default=None, ge=0, le=MAX_OPTIONS)
    max_choices: int | None = Field(default=None, ge=1, le=MAX_OPTIONS)
    items: list[int] | None = Field(default=None, max_length=100)
    max_fen: int | None = Field(default=None, ge=0, le=MAX_FEN_CAP)
    max_length: int | None = Field(default=None, ge=1, le=MAX_TEXT_LENGTH)
    willingness: bool = False


class Option(BaseModel):
    id: str
    text: str


class QuestionItem(BaseModel):
    key: str
    seq: int
    category: str
    title: str
    standard: str
    selection: str | None
    mandatory: bool = Field(description="no vote needed; answers for it are refused")


class Question(BaseModel):
    id: str
    type: QuestionType
    text: str
    required: bool
    options: list[Option] | None = None
    min_choices: int | None = None
    max_choices: int | None = None
    items: list[QuestionItem] | None = None
    max_fen: int | None = None
    max_length: int | None = None
    min_rating: int | None = None
    max_rating: int | None = None
    willingness: bool = False


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ScopeKind = ScopeKind.COMMUNITY
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)


class ScopePublic(BaseModel):
    kind: ScopeKind
    building_id: str | None = None
    unit_id: str | None = None
    building: str | None = None
    unit: str | None = None


class QuestionnaireCreate(BaseModel):
    """Custom ``questions``, or ``from_catalog: true`` to build the catalog_items question from the profile's
    catalog (both may be combined). A willingness questionnaire without questions gets the yes_no question
    "是否同意实施改造"."""

    model_config = ConfigDict(extra="forbid")
    kind: QuestionnaireKind
    title: str | None = Field(default=None, min_length=1, max_length=200, description="default by kind")
    description: str | None = Field(default=None, max_length=2000)
    questions: list[QuestionIn] | None = Field(default=None, max_length=MAX_QUESTIONS)
    from_catalog: bool = False
    scope: ScopeIn | None = None
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None


class QuestionnaireUpdate(BaseModel):
    """Changes to a draft (409 ``survey.frozen`` once opened); fields left out stay as they are. Giving
    ``questions`` and/or ``from_catalog`` rebuilds the whole question list from them."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    questions: list[QuestionIn] | None = Field(default=None, max_length=MAX_QUESTIONS)
    from_catalog: bool | None = None
    scope: ScopeIn | None = None
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opens_at: AwareDatetime | None = Field(default=None, description="default: now (or the draft's opens_at)")
    closes_at: AwareDatetime | None = None


# ---- responses -----------------------------------------------------------------------------------

class AnswerIn(BaseModel):
    """``value`` by question type: yes_no true/false; single_choice an option id; multiple_choice a list of
    option ids; catalog_items an object {item key: want | dont_need | no_opinion}; rating 1–5; amount_fen
    an integer ≥ 0; text a string."""

    model_config = ConfigDict(extra="forbid")
    question_id: str = Field(max_length=40)
    value: Any = None


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: str | None = Field(default=None, max_length=32,
                                     description="required when the user acts for several households in scope")
    answers: list[AnswerIn] = Field(max_length=MAX_ANSWERS)


class PaperResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: str = Field(max_length=32)
    answers: list[AnswerIn] = Field(max_length=MAX_ANSWERS)
    note: str | None = Field(default=None, max_length=500, description="e.g. 入户人员、纸质问卷编号")


class Answer(BaseModel):
    question_id: str
    value: Any


class ResponsePublic(BaseModel):
    questionnaire_id: str
    household_id: str
    version: int = Field(description="1 for the first response, +1 for each replacement")
    channel: Channel
    actor_id: str | None
    note: str | None = None
    answers: list[Answer]
    first_at: datetime
    answered_at: datetime


class ResponseVersionPublic(BaseModel):
    version: int
    channel: Channel
    actor_id: str | None
    actor_name: str | None
    note: str | None
    at: datetime
    answers: list[Answer] | None = Field(description="null when the viewer may not see choices")


class ResponseHistory(BaseModel):
    questionnaire_id: str
    household_id: str
    versions: list[ResponseVersionPublic]


class MyHousehold(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    relation: str
    may_act: bool
    response: ResponsePublic | None


class QuestionnaireSummary(BaseModel):
    id: str
    project_id: str
    community_id: str
    kind: QuestionnaireKind
    title: str
    scope: ScopePublic
    status: QuestionnaireStatus
    opens_at: datetime | None
    closes_at: datetime | None
    created_at: datetime


class QuestionnairePublic(QuestionnaireSummary):
    description: str | None
    catalog: str | None
    questions: list[Question]
    opened_at: datetime | None
    closed_at: datetime | None
    profile_version: int | None
    version: int
    households_in_scope: int
    my_households: list[MyHousehold] = Field(
        default_factory=list, description="the caller's households in scope, each with its current response")
    response: ResponsePublic | None = Field(
        default=None, description="the response of the caller's household when there is exactly one in scope")


# ---- results -------------------------------------------------------------------------------------

def percent_str(numerator: int, denominator: int) -> str | None:
    """Percent with two decimals, rounded half up, from integers only."""
    return percent_text(numerator, denominator) if denominator != 0 else None


def fraction_of(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    f = Fraction(numerator, denominator)
    return f"{f.numerator}/{f.denominator}"


class Share(BaseModel):
    """count of base: exact ``share`` as a reduced fraction string ("2/3"), ``percent`` for display ("66.67");
    both null when the base is 0."""

    count: int
    base: int
    share: str | None
    percent: str | None

    @classmethod
    def of(cls, count: int, base: int) -> Share:
        return cls(count=count, base=base, share=fraction_of(count, base), percent=percent_str(count, base))


class AreaShare(BaseModel):
    area_m2: str
    total_m2: str
    share: str | None
    percent: str | None


class Participation(BaseModel):
    households: Share = Field(description="households with a current response / households in scope")
    area: AreaShare = Field(description="their exclusive area / area in scope")
    by_channel: dict[str, int]


class OptionResult(BaseModel):
    key: str
    text: str
    count: int
    share: str | None = Field(description="of the households that answered the question")
    percent: str | None


class ItemResult(BaseModel):
    key: str
    seq: int
    title: str
    category: str
    selection: str | None
    mandatory: bool
    want: int
    dont_need: int
    no_opinion: int
    answered: int
    want_of_all: Share = Field(description="want-count against ALL households in scope")
    status: str = Field(description="no_vote_needed | passed | failed | pending | not_evaluated")
    status_zh: str
    tally: dict[str, Any] | None = Field(default=None, description="the content rule's tally (rules engine)")


class QuestionResult(BaseModel):
    question_id: str
    type: QuestionType
    text: str
    required: bool
    answered: Share = Field(description="households that answered / households in scope")
    options: list[OptionResult] | None = None
    items: list[ItemResult] | None = None
    average: str | None = Field(default=None, description="rating: exact average as a fraction string")
    average_display: str | None = None
    total_fen: int | None = None
    average_fen: str | None = Field(default=None, description="amount_fen: exact average in fen (fraction)")
    average_yuan: str | None = None
    min_fen: int | None = None
    max_fen: int | None = None
    texts: list[str] | None = Field(default=None, description="text answers (staff only, anonymous, ≤ 200)")


class RuleOutcome(BaseModel):
    question_id: str
    rule: dict[str, Any]
    outcome: str = Field(description="passed | failed | pending")
    passed: bool
    tally: dict[str, Any] = Field(description="every numerator and denominator (areas in 0.01 m²)")


class Results(BaseModel):
    questionnaire_id: str
    project_id: str
    title: str
    kind: QuestionnaireKind
    status: QuestionnaireStatus
    final: bool = Field(description="closed: these numbers no longer change")
    computed_at: datetime
    profile_version: int
    scope: ScopePublic
    households_in_scope: int
    owners_in_scope: int
    area_in_scope_m2: str
    participation: Participation
    questions: list[QuestionResult]
    willingness: RuleOutcome | None = Field(
        default=None, description="the profile's willingness rule on the willingness question")
    content_rule: dict[str, Any] | None = Field(
        default=None, description="the profile's rule each wanted catalog item is evaluated against")



# ---- the electoral roll (the shapes of the motions' rolls) ------------------------------------------

class SurveyRollEntryPublic(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    area_centi: int = Field(description="exclusive area in hundredths of m²")
    area_m2: str
    owner_group: str = Field(
        description="per-questionnaire digest grouping one owner's households (never the owner key)")


class SurveyRollAmendmentPublic(BaseModel):
    seq: int
    household_id: str
    action: Literal["add", "remove", "correct"]
    reason: str
    before: SurveyRollEntryPublic | None
    after: SurveyRollEntryPublic | None
    roll_hash: str = Field(description="the roll hash after this amendment")
    actor_id: str
    at: datetime


class SurveyRollTotals(BaseModel):
    households: int
    owners: int
    area_centi: int
    area_m2: str


class SurveyRollPublic(BaseModel):
    """A questionnaire's electoral roll: totals and hash for everyone in scope; every entry and amendment for
    staff (entries a cursor page in household id order), the caller's own entries for a resident."""

    questionnaire_id: str
    status: QuestionnaireStatus
    frozen_at: datetime
    frozen_hash: str = Field(description="roll_hash when the roll was frozen at opening")
    roll_hash: str = Field(description="sha256 of the canonical serialisation of the entries now (see README)")
    totals: SurveyRollTotals
    amendments: int
    entries: list[SurveyRollEntryPublic]
    next_cursor: str | None = None
    amendment_log: list[SurveyRollAmendmentPublic] | None = Field(default=None, description="staff only")


class SurveyRollAmendmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: str = Field(min_length=1, max_length=32)
    action: Literal["add", "remove", "correct"]
    reason: str = Field(min_length=1, max_length=500)


class SurveyRollAmended(BaseModel):
    amendment: SurveyRollAmendmentPublic
    roll_hash: str
    totals: SurveyRollTotals
