"""Request and response shapes of the residents' share ledger. Money is integer fen (strict JSON integers: a
fraction of a fen, a decimal string or a negative amount is a 422); areas are decimal strings in m²."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.funding.models import LineStatus, PaymentKind, PaymentMethod, PledgeChannel
from app.rules.shares import SplitRule

MAX_FEN = 10**13  # 1,000 亿元, as for plan amounts: anything larger is a typo
MAX_ITEMS = 200
EARLIEST = date(2000, 1, 1)

Fen = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN)]
PositiveFen = Annotated[int, Field(strict=True, gt=0, le=MAX_FEN)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Receipt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


# ---- requests ------------------------------------------------------------------------------------

class PledgeItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: Id = Field(description="an item of the plan (the current version) with a residents' share")
    amount_fen: Fen | None = Field(
        default=None, description="what the household promises to pay; null (the default): \"my share\", stored "
                                  "without an amount — it counts the household's share as it stands whenever read "
                                  "(for an opted_in item, counting it in); 0 withdraws the pledge (opted_in: opts "
                                  "out)")


class PledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Id | None = Field(
        default=None, description="required for staff (a paper pledge) and for a resident acting for several "
                                  "households")
    items: list[PledgeItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class PledgesFromQuestionnaire(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questionnaire_id: Id = Field(description="a closed contribution questionnaire of the plan's project")
    item_id: Id = Field(description="the item the answered amounts are pledged for")
    question_id: Id | None = Field(default=None, description="its amount question; required when it has several")
    replace: bool = Field(default=False, description="also replace pledges households already made for the item")


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Id
    item_id: Id
    amount_fen: PositiveFen
    received_on: date = Field(ge=EARLIEST, description="business date (Asia/Shanghai) the money was received")
    method: PaymentMethod
    receipt_no: Receipt = Field(description="the receipt (收据) number; unique among the project's collections")
    note: str | None = Field(default=None, max_length=500)
    over_share: bool = Field(
        default=False, description="record it although the household's payments then exceed its share (without "
                                   "it: 422 funding.over_collected); the audit entry says so")


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Id
    item_id: Id = Field(description="an item of the current plan, or a dropped one as GET …/funding lists it")
    amount_fen: PositiveFen = Field(description="at most what the household has paid for the item, net")
    refunded_on: date = Field(ge=EARLIEST, description="business date (Asia/Shanghai) of the refund")
    method: PaymentMethod
    receipt_no: Receipt | None = Field(default=None, description="unique among the project's refunds")
    reason: str = Field(min_length=1, max_length=500)


class SplitItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: Id
    split: SplitRule | None = Field(default=None, description="the new rule; null keeps it")
    recompute_shares: bool = Field(
        default=False, description="take the households the share is split among again from the register now "
                                   "(the item's roll froze at its first collection); needs a reason")


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[SplitItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    reason: str | None = Field(default=None, min_length=1, max_length=500,
                               description="why the shares are recomputed (required with recompute_shares)")


# ---- responses -----------------------------------------------------------------------------------

class SourcePublic(BaseModel):
    source: str
    amount_fen: int


class LinePublic(BaseModel):
    """One item's residents' share and how far it is covered. ``collected_fen`` is net of refunds."""

    line_id: str | None = Field(description="the ledger line, kept across plan versions (null until the first "
                                            "pledge, payment or plan version after this feature stored it)")
    item_id: str = Field(description="the plan item (of the current version; of the last version listing it when "
                                     "dropped)")
    plan_id: str
    position: int
    title: str
    scope: str
    building_id: str | None
    unit_id: str | None
    budget_fen: int | None
    sources: list[SourcePublic]
    residents_share_fen: int
    split: SplitRule
    funded_when: str = Field(description="collected | pledged: what must cover the share")
    status: LineStatus
    status_at: datetime | None
    shares_frozen_at: datetime | None = Field(
        description="when the households its share is split among were frozen (its first collection, or the last "
                    "recompute); null: the shares still follow the register")
    households: int = Field(description="households sharing the item now (in scope; opted_in: those opted in)")
    pledges: int = Field(description="households with a pledge")
    pledged_fen: int
    collected_fen: int
    refunded_fen: int
    gross_collected_fen: int
    counted_fen: int = Field(description="what counts toward the share: collected, or the larger of pledged and "
                                         "collected where pledges count")
    short_fen: int


class FundingTotals(BaseModel):
    residents_share_fen: int = Field(description="the current items' residents' shares")
    pledged_fen: int
    collected_fen: int
    short_fen: int
    unallocated_residents_fen: int = Field(
        description="residents' funding the plan lists for the plan as a whole, on no item: it cannot be split "
                    "or collected, and it keeps the funding gate shut")
    items: int
    funded: int


class PaymentPublic(BaseModel):
    id: str
    kind: PaymentKind
    line_id: str
    item_id: str
    household_id: str
    amount_fen: int
    paid_on: date
    method: PaymentMethod
    receipt_no: str | None
    note: str | None
    actor_id: str
    created_at: datetime


class HouseholdLine(BaseModel):
    """One item as a household sees it: its share, its pledge, what it paid."""

    line_id: str | None
    item_id: str
    title: str
    status: LineStatus
    in_scope: bool
    opted_in: bool
    share_fen: int | None = Field(description="null: nobody to split among yet (opted_in without opt-ins)")
    pledged_fen: int = Field(description="what its pledge counts; for \"my share\" its share now")
    pledge_follows_share: bool = Field(description="the pledge is \"my share\" (no amount of its own)")
    pledge_channel: PledgeChannel | None
    pledged_at: datetime | None
    collected_fen: int
    refunded_fen: int
    paid_fen: int = Field(description="collected minus refunded")
    payments: list[PaymentPublic]


class HouseholdFunding(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    area_m2: str
    active: bool
    items: list[HouseholdLine]


class FundingView(BaseModel):
    plan_id: str = Field(description="the plan asked for")
    current_plan_id: str
    current_plan_version: int
    project_id: str
    items: list[LinePublic] = Field(description="the current plan's items with a residents' share, then dropped ones")
    totals: FundingTotals
    households: list[HouseholdFunding] = Field(
        description="residents: their own households in the community (share, pledge, payments); staff: empty "
                    "(see …/funding/households)")


class LineState(BaseModel):
    line_id: str
    item_id: str
    status: LineStatus
    residents_share_fen: int
    pledged_fen: int
    collected_fen: int
    counted_fen: int
    short_fen: int


class PaymentRecorded(BaseModel):
    payment: PaymentPublic
    item: LineState


class SkippedHousehold(BaseModel):
    household_id: str
    reason: str = Field(description="out_of_scope | already_pledged | zero")


class QuestionnairePledges(BaseModel):
    questionnaire_id: str
    question_id: str
    item: LineState
    created: int
    replaced: int
    skipped: list[SkippedHousehold]
