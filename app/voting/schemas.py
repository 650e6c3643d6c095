"""Request and response shapes of plans, motions, ballots and tallies. Money is integer fen; areas in
responses are decimal strings in m² (``"86.35"``) next to exact integer hundredths where numbers are counted."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import UploadFile
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.rules import Choice
from app.voting.models import Channel, CorrectionAction, FundingSource, Matter, MotionStatus, ScopeKind

MAX_FEN = 10**13  # 1,000 亿元: any single amount above this is a typo
MAX_ITEMS = 200
MAX_FUNDING = 20
MAX_PLAN_FUNDING = 50

# ---- plans -----------------------------------------------------------------------------------------


class FundingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: FundingSource
    amount_fen: int = Field(ge=0, le=MAX_FEN)


class PlanItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalog: Literal["linyi", "qingdao"] | None = Field(default=None, description="the catalog the item is from")
    catalog_seq: int | None = Field(default=None, ge=1, le=999, description="the item's seq in that catalog")
    title: str | None = Field(default=None, min_length=1, max_length=200,
                              description="default: the catalog item's title; required without a catalog reference")
    scope: ScopeKind = ScopeKind.COMMUNITY
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    building: str | None = Field(default=None, max_length=50, description="building name, instead of building_id")
    unit: str | None = Field(default=None, max_length=50, description="unit name (with building), instead of unit_id")
    budget_fen: int = Field(ge=0, le=MAX_FEN)
    residents_share_fen: int | None = Field(
        default=None, ge=0, le=MAX_FEN,
        description="what residents pay for this item; default: the sum of its `residents` funding sources")
    funding: list[FundingIn] = Field(default_factory=list, max_length=MAX_FUNDING)


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    supersedes: str | None = Field(default=None, max_length=32,
                                   description="id of the current plan version this one revises")
    items: list[PlanItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    funding: list[FundingIn] = Field(default_factory=list, max_length=MAX_PLAN_FUNDING,
                                     description="funding of the plan as a whole (not of one item)")


class PlanRevision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    items: list[PlanItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    funding: list[FundingIn] = Field(default_factory=list, max_length=MAX_PLAN_FUNDING)


class FundingPublic(BaseModel):
    source: str
    amount_fen: int


class PlanItemPublic(BaseModel):
    id: str
    position: int
    catalog: str | None
    catalog_seq: int | None
    title: str
    scope: str
    building_id: str | None
    unit_id: str | None
    budget_fen: int
    residents_share_fen: int
    funding: list[FundingPublic]
    funded_fen: int = Field(description="all sources of the item, the residents' share included")


class PlanTotals(BaseModel):
    budget_fen: int
    residents_share_fen: int
    funded_fen: int
    unfunded_fen: int
    by_source: dict[str, int] = Field(description="fen per funding source, items and plan-level together")


class PlanSummary(BaseModel):
    id: str
    project_id: str
    version: int
    title: str
    status: Literal["current", "superseded"]
    supersedes: str | None
    superseded_by: str | None
    superseded_at: datetime | None
    total_budget_fen: int
    residents_share_fen: int
    created_at: datetime


class PlanPublic(PlanSummary):
    description: str | None
    created_by: str | None
    items: list[PlanItemPublic]
    funding: list[FundingPublic] = Field(description="plan-level funding")
    totals: PlanTotals


# ---- motions ---------------------------------------------------------------------------------------


class MotionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    plan_item_id: str | None = Field(default=None, max_length=32)
    matter: Matter = Matter.RENOVATION_PLAN
    scope: ScopeKind | None = Field(default=None, description="default: the plan item's scope, else community")
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    building: str | None = Field(default=None, max_length=50, description="building name, instead of building_id")
    unit: str | None = Field(default=None, max_length=50, description="unit name (with building), instead of unit_id")
    rule: dict[str, Any] | None = Field(
        default=None, max_length=6,
        description='explicit rule, e.g. {"kind": "civil_code_major"}; default: the profile\'s rule for the matter')
    required: bool = Field(default=True, description="the plan needs this motion passed before approval")
    opens_at: AwareDatetime
    closes_at: AwareDatetime


class ScopePublic(BaseModel):
    kind: str
    building_id: str | None
    unit_id: str | None
    building: str | None
    unit: str | None


class RulePublic(BaseModel):
    kind: str
    threshold: str
    inclusive: bool
    participation: str | None
    description_zh: str
    legal_source: str


class MyHousehold(BaseModel):
    household_id: str
    relation: str
    may_vote: bool
    voted: bool
    choice: str | None
    channel: str | None
    cast_at: datetime | None


ResultStage = Literal["provisional", "final"]


class MotionPublic(BaseModel):
    id: str
    project_id: str
    plan_id: str
    plan_version: int
    plan_superseded: bool
    plan_item_id: str | None
    title: str
    description: str | None
    matter: str
    scope: ScopePublic
    required: bool
    rule: RulePublic
    rule_source: Literal["explicit", "profile"]
    rule_frozen: bool = Field(description="true once the motion has opened: the rule can no longer change")
    profile_version: int = Field(description="the rules profile version the motion decides by")
    options: list[str]
    opens_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    status: MotionStatus
    households_in_scope: int
    created_at: datetime
    my_households: list[MyHousehold] = Field(default_factory=list,
                                             description="the caller's households in scope (residents)")
    result_stage: ResultStage | None = Field(
        default=None, description="null until closed; `provisional` while the vote-result notice's window is open "
                                  "or an objection to it is unanswered or accepted (until a correction — or a "
                                  "`reaffirm` — republishes the result); `final` once it has passed")
    result_revision: int | None = Field(default=None, description="the stored result's revision (1 at close, "
                                                                  "n+1 after each correction); null until stored")


# ---- ballots ---------------------------------------------------------------------------------------


class BallotCast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Choice
    household_id: str | None = Field(default=None, max_length=32,
                                     description="required when you act for several households in scope")


class BallotReceipt(BaseModel):
    receipt: str = Field(description="keep it: it confirms later that the ballot was counted as cast")
    ballot_id: str
    household_id: str
    choice: Choice
    channel: Channel
    cast_at: datetime
    version: int = Field(description="1 for the household's first ballot on this motion, then 2, 3, …")


class ReceiptCheck(BaseModel):
    motion_id: str
    motion_title: str
    motion_status: MotionStatus
    cast_at: datetime
    channel: Channel
    current: bool = Field(description="the household's current ballot (false: replaced by a later one)")
    counted: bool = Field(description="the ballot that decides its owner's one choice in the tally")
    status: Literal["current", "superseded"]
    choice: Choice | None = Field(default=None, description="only for members of the household")


class BallotHistoryEntry(BaseModel):
    ballot_id: str
    household_id: str
    building: str
    unit: str
    room: str
    version: int
    channel: Channel
    cast_at: datetime
    actor_id: str
    current: bool
    has_photo: bool
    photo_url: str | None
    choice: Choice | None = Field(default=None, description="only where the profile lets staff see choices")
    checked_by: str | None = Field(default=None, description="double entry: the second clerk who entered the "
                                   "same choice, or the staff member who resolved the conflict")
    proxy_name: str | None = Field(default=None, description="the proxy (委托代理人) who voted for the household")
    proxy_relation: str | None = None
    authorisation_url: str | None = Field(default=None, description="the photo of the signed authorisation")


class HouseholdChoice(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    area_m2: str
    choice: Choice | None = Field(description="the owner's one choice that counts for this household")
    own_ballot: bool = Field(description="false when the choice came from the owner's ballot for another household")
    proxy_name: str | None = Field(default=None, description="the proxy named on the household's own current ballot")
    proxy_relation: str | None = None


# ---- tallies ---------------------------------------------------------------------------------------


class ConditionPublic(BaseModel):
    name: str
    label_zh: str
    numerator: int
    denominator: int
    required: str
    inclusive: bool
    met: bool
    shortfall: int | None = Field(description="still needed in `unit` (area in 0.01 m²); 0 when met")
    shortfall_reason: str | None = Field(
        default=None, description="why shortfall is null: no_participants (an agree-of-participants condition "
                                  "while nobody has taken part) or out_of_reach (cannot be met any more)")
    unit: str
    numerator_display: str
    denominator_display: str


class CountsPublic(BaseModel):
    total_households: int
    total_owners: int
    total_area: int
    agree_households: int
    agree_owners: int
    agree_area: int
    disagree_households: int
    disagree_owners: int
    disagree_area: int
    abstain_households: int
    abstain_owners: int
    abstain_area: int
    participating_households: int
    participating_owners: int
    participating_area: int
    remaining_households: int
    remaining_owners: int
    remaining_area: int


class TallyPublic(BaseModel):
    motion_id: str
    title: str
    status: MotionStatus
    final: bool = Field(description="true: this is the count stored when the motion closed (or by a correction "
                                    "after an accepted objection), not a live count that ballots still move; "
                                    "false for a live tally. It does NOT say that the result stands: a stored "
                                    "count is `final: true` also while `result_stage` is `provisional`; whether "
                                    "the result is final is `result_stage` == `final`")
    rule: RulePublic
    profile_version: int
    counts: CountsPublic = Field(description="areas in hundredths of m²")
    conditions: list[ConditionPublic]
    outcome: Literal["passed", "failed", "pending"]
    decided_early: bool
    window_open: bool
    closed_at: datetime | None
    computed_at: datetime
    result_stage: ResultStage | None = Field(
        default=None, description="null while not closed; `provisional` while the vote-result notice's window is "
                                  "open or an objection to the count is unanswered or accepted (until a "
                                  "correction — or a `reaffirm` — republishes the result); `final` once the "
                                  "notice has passed with every objection answered: the result stands")
    result_revision: int | None = Field(default=None, description="the revision of the stored result")
    result_notice_id: str | None = Field(default=None, description="the vote-result notice of this revision")
    result_detail: str | None = Field(default=None, description="why the result is provisional or final (Chinese)")


class PaperUnsettled(BaseModel):
    """Paper slips pending or in conflict (double entry) when the motion closed: never counted."""

    pending: int
    conflict: int
    slip_ids: list[str]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = Field(default=False, description="close although paper slips are pending or in conflict "
                        "(they stay uncounted); needs a reason")
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class CloseResult(BaseModel):
    motion: MotionPublic
    tally: TallyPublic
    paper_uncounted: PaperUnsettled | None = Field(
        default=None, description="a forced close: the paper slips left pending or in conflict, never counted")


# ---- paper slips: scanned and double entry, proxies --------------------------------------------------


# one model for the form rather than a parameter per field: FastAPI then reads and validates the form in one step,
# 0.6 M instructions (7 %) less per paper entry (issue 17)
class PaperSlipForm(BaseModel):
    """A signed paper slip as a committee tablet enters it (multipart/form-data)."""

    choice: Choice
    household_id: str | None = Field(default=None, max_length=32)
    slip_code: str | None = Field(default=None, max_length=120, description="the slip's scanned QR code")
    proxy_name: str | None = Field(default=None, max_length=50, description="the proxy (委托代理人) who votes")
    proxy_relation: str | None = Field(default=None, max_length=30, description="the proxy's relation to the owner")
    photo: UploadFile | None = Field(default=None, description="photo of the signed slip (JPEG, PNG, WebP, HEIC)")
    proxy_photo: UploadFile | None = Field(default=None,
                                           description="photo of the signed authorisation (with a proxy)")


class PaperBallotEntered(BaseModel):
    """The answer to a paper entry: ``counted`` (single entry, or the second clerk entered the same) with the
    ballot and its receipt; ``pending`` (first entry under double entry) or ``conflict`` (a second entry that
    differs) with the slip, not counted."""

    status: Literal["counted", "pending", "conflict"]
    slip_id: str | None = Field(description="double entry: the slip (GET …/paper-ballots lists it)")
    entry_id: str | None = Field(description="double entry: this clerk's entry")
    household_id: str
    choice: Choice = Field(description="the choice entered")
    channel: Channel = Channel.PAPER
    entered_at: datetime
    proxy_name: str | None = None
    proxy_relation: str | None = None
    receipt: str | None = Field(default=None, description="counted: the ballot's receipt")
    ballot_id: str | None = None
    cast_at: datetime | None = None
    version: int | None = None


class PaperEntryPublic(BaseModel):
    entry_id: str
    position: int
    actor_id: str
    entered_at: datetime
    choice: Choice | None = Field(description="only where the profile lets staff see choices")
    photo_url: str
    proxy_name: str | None
    proxy_relation: str | None
    authorisation_url: str | None


class PaperSlipPublic(BaseModel):
    slip_id: str
    household_id: str
    building: str
    unit: str
    room: str
    status: Literal["pending", "conflict", "counted", "superseded", "uncounted"]
    created_at: datetime
    settled_at: datetime | None
    settled_by: str | None
    ballot_id: str | None = Field(description="counted: the ballot that counts; superseded: the household's "
                                  "later ballot")
    reason: str | None
    entries: list[PaperEntryPublic]
    receipt: str | None = Field(default=None, description="only in the answer to resolve: the counted ballot's "
                                "receipt")


class PaperResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Choice = Field(description="the choice the slip photo shows: it counts")
    reason: str = Field(min_length=1, max_length=500)
    proxy_from: Literal["first", "second", "none"] | None = Field(
        default=None, description="whose proxy details count (default: the first entry that names a proxy)")


# ---- staged results: corrections of the count, result revisions -----------------------------------


class CorrectionIn(BaseModel):
    """A correction of a closed motion's count (the form fields of ``POST /motions/{id}/corrections``)."""

    model_config = ConfigDict(extra="forbid")
    objection_id: str = Field(min_length=1, max_length=32,
                              description="an ACCEPTED objection to one of the motion's vote-result notices "
                                          "(reaffirm: to the notice of the current revision)")
    action: CorrectionAction = Field(description="move, void or add a ballot; reaffirm: nothing to correct, the "
                                                 "count stands and is republished as the next revision")
    reason: str = Field(min_length=1, max_length=500, description="why (reaffirm: why the count stands)")
    ballot_id: str | None = Field(default=None, max_length=32, description="move, void: the ballot")
    household_id: str | None = Field(default=None, max_length=32,
                                     description="move: the household the ballot belongs to; add: the household")
    choice: Choice | None = Field(default=None, description="add: the choice on the slip")


class CorrectionPublic(BaseModel):
    id: str
    motion_id: str
    revision: int = Field(description="the result revision this correction produced")
    objection_id: str
    action: CorrectionAction
    ballot_id: str | None = Field(description="the ballot moved or voided: it never counts again")
    from_household_id: str | None = Field(description="the household the ballot had been counted for")
    household_id: str | None = Field(description="the household the moved or added ballot counts for")
    new_ballot_id: str | None = Field(description="the ballot version entered by the correction (move, add)")
    photo_sha256: str | None
    reason: str
    outcome_before: str
    outcome: str
    actor_id: str
    at: datetime


class CorrectionResult(BaseModel):
    correction: CorrectionPublic
    tally: TallyPublic = Field(description="the new revision of the result")
    receipt: str | None = Field(default=None, description="move, add: the new ballot's receipt (shown once)")


class ResultRevisionPublic(BaseModel):
    revision: int
    current: bool = Field(description="the stored result now (the others were replaced by a correction)")
    outcome: str
    recorded_at: datetime
    superseded_at: datetime | None
    tally: TallyPublic = Field(description="the tally of this revision as it was stored")
    correction: CorrectionPublic | None = Field(description="the correction that produced this revision")


# ---- the electoral roll ----------------------------------------------------------------------------

class RollEntryPublic(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    area_centi: int = Field(description="exclusive area in hundredths of m²")
    area_m2: str
    owner_group: str = Field(description="per-motion digest grouping one owner's households (never the owner key)")


class RollAmendmentPublic(BaseModel):
    seq: int
    household_id: str
    action: Literal["add", "remove", "correct"]
    reason: str
    before: RollEntryPublic | None
    after: RollEntryPublic | None
    roll_hash: str = Field(description="the roll hash after this amendment")
    actor_id: str
    at: datetime


class RollTotals(BaseModel):
    households: int
    owners: int
    area_centi: int
    area_m2: str


class RollPublic(BaseModel):
    """A motion's electoral roll: totals and hash for everyone in scope; every entry and amendment for staff
    (entries a cursor page in household id order), the caller's own entries for a resident."""

    motion_id: str
    status: MotionStatus
    frozen_at: datetime
    frozen_hash: str = Field(description="roll_hash when the roll was frozen at opening")
    roll_hash: str = Field(description="sha256 of the canonical serialisation of the entries now (see README)")
    totals: RollTotals
    amendments: int
    entries: list[RollEntryPublic]
    next_cursor: str | None = None
    amendment_log: list[RollAmendmentPublic] | None = Field(default=None, description="staff only")


class RollAmendmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: str = Field(min_length=1, max_length=32)
    action: Literal["add", "remove", "correct"]
    reason: str = Field(min_length=1, max_length=500)


class RollAmended(BaseModel):
    amendment: RollAmendmentPublic
    roll_hash: str
    totals: RollTotals
