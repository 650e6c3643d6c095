"""Request and response shapes of turnout: progress, non-responders, reminders, opt-outs, notice reads.

Areas are decimal strings with two places (``"86.35"``); shares are exact fractions ``"7/12"`` with a
display percentage ``"58.3%"``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Share(BaseModel):
    answered: int
    total: int
    share: str = Field(description='exact fraction "answered/total"')
    percent: str = Field(description='display only, one decimal, e.g. "58.3%"')


class AreaShare(BaseModel):
    answered_m2: str
    total_m2: str
    share: str
    percent: str


class UnitProgress(BaseModel):
    unit_id: str
    unit: str
    households: Share
    area: AreaShare


class BuildingProgress(BaseModel):
    building_id: str
    building: str
    households: Share
    area: AreaShare
    units: list[UnitProgress]


class ConditionProgress(BaseModel):
    """One threshold condition now, and how far it is from being met (if everyone still to answer were to
    agree, for the agree conditions)."""

    name: str
    label_zh: str
    unit: str = Field(description="households, owners or area")
    numerator: int
    denominator: int
    numerator_display: str = Field(description="area conditions in m² (\"123.45\"), else the number")
    denominator_display: str
    required: str
    inclusive: bool
    met: bool
    shortfall: int | None = Field(description="in `unit` (area in 0.01 m²); null: see shortfall_reason")
    shortfall_reason: str | None = Field(
        default=None, description="why shortfall is null: no_participants (an agree-of-participants condition "
                                  "while nobody has taken part) or out_of_reach (cannot be met any more)")
    reachable: bool = Field(description="the condition can still be met (false only when out_of_reach)")
    shortfall_households: int | None = Field(
        default=None, description="households still needed (household conditions)")
    shortfall_owners: int | None = Field(
        default=None, description="owners still needed (headcount conditions); for area conditions the fewest "
                                  "owners/households still to answer whose area would cover the shortfall")
    shortfall_area_m2: str | None = Field(default=None, description="area still needed (area conditions)")
    hint_zh: str


class RuleProgress(BaseModel):
    rule: dict[str, Any]
    description_zh: str
    outcome: str = Field(description="passed / failed / pending (pending: open and could still go either way); "
                                     "final once closed")
    decided_early: bool
    conditions: list[ConditionProgress]


class OutboxCounts(BaseModel):
    pending: int
    in_progress: int
    sent: int
    failed: int


class ReminderState(BaseModel):
    reminded_today: int = Field(description="households reminded today (Asia/Shanghai)")
    messages: OutboxCounts


class ItemScope(BaseModel):
    kind: str = Field(description="community, building or unit")
    building_id: str | None = None
    unit_id: str | None = None


class Progress(BaseModel):
    item_type: str
    item_id: str
    title: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    scope: ItemScope
    households: Share
    owners: Share
    area: AreaShare
    buildings: list[BuildingProgress]
    rule: RuleProgress | None = Field(description="the motion's rule, or the willingness rule of a "
                                                  "willingness questionnaire; null otherwise")
    reminders: ReminderState
    as_of: datetime


class MemberContact(BaseModel):
    name: str | None = Field(description="masked")
    relation: str
    phone: str | None = Field(description="masked")
    wechat_bound: bool
    opted_out: bool


class NonResponder(BaseModel):
    household_id: str
    room: str
    area_m2: str
    needs_visit: bool = Field(description="no owner/co-owner bound to WeChat, or all of them opted out")
    visit_reason: str | None = Field(description="no_wechat / opted_out; null when a reminder can reach it")
    reminded_today: bool
    members: list[MemberContact]


class UnitGroup(BaseModel):
    unit_id: str
    unit: str
    households: list[NonResponder]


class BuildingGroup(BaseModel):
    building_id: str
    building: str
    units: list[UnitGroup]


class NonResponders(BaseModel):
    item_type: str
    item_id: str
    title: str
    status: str
    households_in_scope: int
    answered: int
    non_responders: int
    needs_visit: int
    buildings: list[BuildingGroup]
    as_of: datetime


class ReminderSkipped(BaseModel):
    already_reminded_today: int
    opted_out: int
    no_wechat: int
    no_grant: int = Field(0, description="reachable households none of whose members has an unused one-time "
                                         "subscription (grant) for the reminder's template: not messaged")


class ReminderResult(BaseModel):
    item_type: str
    item_id: str
    reason: str
    day: date = Field(description="the Asia/Shanghai day the one-reminder-per-day rule counts")
    non_responders: int
    queued_households: int
    queued_messages: int
    skipped: ReminderSkipped
    needs_visit: int = Field(description="non-responders no reminder can reach (no WeChat, or opted out)")


class OptOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opt_out: bool


class OptOutMember(BaseModel):
    name: str | None
    relation: str
    wechat_bound: bool
    opt_out: bool
    is_me: bool


class OptOutState(BaseModel):
    household_id: str
    opt_out: bool = Field(description="the caller's own choice for this household")
    receives_reminders: bool = Field(description="some owner/co-owner bound to WeChat has not opted out")
    members: list[OptOutMember]


class NoticeReadRecorded(BaseModel):
    notice_id: str
    households: list[str] = Field(description="the caller's households in the notice's community")
    newly_recorded: int


class ReadUnit(BaseModel):
    unit_id: str
    unit: str
    households: Share


class ReadBuilding(BaseModel):
    building_id: str
    building: str
    households: Share
    units: list[ReadUnit]


class NoticeReads(BaseModel):
    notice_id: str
    households: Share
    buildings: list[ReadBuilding]


class ReminderRunResult(BaseModel):
    queued_messages: int


class SubscriptionsRequest(BaseModel):
    """The templates the user accepted in ``wx.requestSubscribeMessage`` (its ``accept`` answers)."""

    model_config = ConfigDict(extra="forbid")
    template_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=3)


class TemplateGrant(BaseModel):
    template_id: str
    unused: int = Field(description="one-time subscriptions not used yet: each lets one message through")


class SubscriptionGrants(BaseModel):
    grants: list[TemplateGrant] = Field(description="every template the service sends, with the user's unused "
                                                    "grants")
