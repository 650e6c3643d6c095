"""Request and response shapes of notices, objections and the calendar window."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app.publicity.models import NoticeKind
from app.rules import SHANGHAI

# a window's closing time (24:00 of its end date) is written the same everywhere: Shanghai time, "+08:00"
ClosingTime = Annotated[AwareDatetime, AfterValidator(lambda t: t.astimezone(SHANGHAI))]


class AttachmentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_id: str = Field(min_length=1, max_length=32,
                          description="an attachment of an earlier notice of the same project, to publish again")


class NoticeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: NoticeKind
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=20000,
                             description="required, except for supervisor_roster (filled from the roster) and "
                                         "funding (generated from the current plan's residents' share ledger)")
    start_date: date = Field(description="business date (Asia/Shanghai) the publicity starts")
    working_days: int | None = Field(default=None, ge=1, le=60,
                                     description="defaults to the profile's publicity_working_days; never fewer")
    plan_id: str | None = Field(default=None, max_length=32, description="the plan this notice publishes, if any")
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=20,
        description="attachments of an earlier notice of this project to publish again (e.g. a revised plan's "
                    "unchanged drawings); new files: multipart POST /notices/{id}/attachments")


class ObjectionCounts(BaseModel):
    total: int
    pending: int
    accepted: int
    rejected: int


class Attachment(BaseModel):
    """A notice attachment (PDF or image) or an objection photo; ``url`` serves it to whoever may see it."""

    id: str
    filename: str | None
    mime: str
    size_bytes: int
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
    check_status: str | None = Field(default=None, description=(
        "a photo's WeChat content check, shown to its uploader and staff: pending_check | pass | risky | "
        "released | rejected; null: not checked"))


class NoticePublic(BaseModel):
    id: str
    project_id: str
    community_id: str
    kind: str
    title: str
    body: str
    kind_zh: str
    status: str = Field(description="scheduled | open | passed | failed, derived from the clock on every read")
    status_zh: str = Field(description="未开始 | 公示中 | 已通过 | 未通过")
    window_ended: bool = Field(description="the window is over; status stays open while objections are pending")
    start_date: date
    counting_starts: date
    partial_day_excluded: bool = Field(description="published during the start date: that partial day does not count")
    end_date: date
    opens_at: datetime
    closes_at: ClosingTime = Field(description="24:00 Asia/Shanghai of end_date, written with +08:00")
    working_days: int
    provisional: bool = Field(description="the official calendar does not cover the year: Mon–Fri assumed")
    days_left: int = Field(description="working days left in the window, counting today if it counts")
    objections: ObjectionCounts
    plan_id: str | None
    motion_id: str | None
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: datetime
    created_by: str | None
    revision: int = Field(default=1, description="a vote-result notice: the revision of the result it publishes "
                                                 "(1 at close; n+1 after each correction of the count)")
    superseded_by: str | None = Field(
        default=None, description="a vote-result notice: the notice of the next revision of the result, once a "
                                  "correction has republished it (this one then takes no objection)")


class ObjectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)
    household_id: str | None = Field(default=None, max_length=32)


class ResolutionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(pattern="^(accepted|rejected)$")
    reason: str = Field(min_length=1, max_length=1000)


class ObjectionPublic(BaseModel):
    id: str
    notice_id: str
    text: str
    status: str = Field(description="pending | accepted | rejected")
    filed_at: datetime
    mine: bool
    # who filed it: shown to staff and to the resident who filed it only
    filed_by: str | None = None
    filed_by_name: str | None = None
    household_id: str | None = None
    room: str | None = None
    decision: str | None = None
    reason: str | None = None
    resolved_at: datetime | None = None
    photos: list[Attachment] = Field(default_factory=list)
    # WeChat's content check of the text, shown to staff and the filer: skipped | pass | review (others do not
    # see it until staff approve) | approved | rejected; and, for the filer, what that means in words
    content_check: str | None = None
    content_notice: str | None = None


class CalendarWindow(BaseModel):
    """What a notice published now to start on ``start_date`` would get (the same computation)."""

    start_date: date
    counting_starts: date = Field(description="the first day that counts: the day after start_date when it is "
                                              "today and already begun (a partial day never counts)")
    partial_day_excluded: bool = Field(description="start_date is today and already begun: it does not count")
    end_date: date
    closes_at: ClosingTime = Field(description="24:00 Asia/Shanghai of end_date, written with +08:00")
    working_days: int
    provisional: bool = Field(description="the official calendar does not cover the year: Mon–Fri assumed")
