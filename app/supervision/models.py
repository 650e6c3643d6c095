"""Quality supervision (质量监督): appointed supervisors and contractors, photo reports with their
lifecycle events and deadline alerts, and the completion acceptance record with the residents'
representatives who signed."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class Source(StrEnum):
    DEPUTY = "deputy"  # 人大代表/政协委员
    COMMITTEE_MEMBER = "committee_member"  # 居委会/业委会成员
    PARTY_MEMBER = "party_member"  # 党员
    RESIDENT = "resident"  # 居民


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class Status(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    RECTIFYING = "rectifying"
    RECTIFIED = "rectified"
    VERIFIED = "verified"
    CLOSED = "closed"
    DISMISSED = "dismissed"


# a critical report in any other state keeps the project out of acceptance
SETTLED = (Status.VERIFIED, Status.CLOSED, Status.DISMISSED)
# states in which the report's latest rectification stands (it has a rectified_at)
RECTIFIED_STATES = (Status.RECTIFIED, Status.VERIFIED, Status.CLOSED)


class LocationCheck(StrEnum):
    """The same-spot check of a rectification's after-photos against the report's location."""

    SAME_SPOT = "same_spot"  # every after-photo with GPS is within the profile's distance of the report
    UNVERIFIED = "location_unverified"  # one is farther: the verifier should look (not refused)
    NO_GPS = "no_gps"  # the report or the after-photos carry no GPS: nothing to compare


class AlertKind(StrEnum):
    WARNING = "warning"  # to the assignee, before the due date
    ESCALATION = "escalation"  # to the street office, once the due date has passed
    FLAG = "flag"  # to the street office, when a report has been reopened too often


class AlertAudience(StrEnum):
    """Whose office an alert went to."""

    ASSIGNEE = "assignee"  # a warning: the assignee only
    STREET_OFFICE = "street_office"  # the admins of the project's jurisdiction (and the assignee of an escalation)
    GLOBAL_ADMINS = "global_admins"  # the jurisdiction has no admin: the global admins instead
    NOBODY = "nobody"  # no admin at all (an escalation still tells the assignee)


class Appointment(SQLModel, table=True):
    """A person appointed to a project: a volunteer supervisor (义务监督员) or a contractor's account."""

    __tablename__ = "supervision_appointment"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "role"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32, index=True)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    role: str = Field(max_length=20)  # supervisor | contractor
    name: str = Field(max_length=50)
    phone: str | None = Field(default=None, max_length=20)
    source: str | None = Field(default=None, max_length=20)  # supervisors: Source
    organization: str | None = Field(default=None, max_length=100)  # contractors: the company
    appointed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    appointed_by: str | None = Field(default=None, max_length=32)


class Report(SQLModel, table=True):
    """A quality report (质量问题报告) with 1–9 photos, followed until fixed and checked."""

    __tablename__ = "quality_report"
    __table_args__ = (Index("ix_quality_report_project_status", "project_id", "status"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    building_id: str | None = Field(default=None, foreign_key="building.id", max_length=32, index=True)
    unit_id: str | None = Field(default=None, foreign_key="unit.id", max_length=32)
    gps_lat: str | None = Field(default=None, max_length=16)
    gps_lon: str | None = Field(default=None, max_length=16)
    catalog_seq: int | None = None
    title: str = Field(max_length=200)  # the catalog item's title or a free title
    severity: str = Field(max_length=10)
    description: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=Status.SUBMITTED, max_length=20)
    filed_by: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    filed_as: str = Field(max_length=20)  # supervisor | resident
    assignee_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=32, index=True)
    due_date: date | None = None
    dismiss_reason: str | None = Field(default=None, max_length=500)
    # the deadline: the profile's working days for the severity when it was set, and a counter that moves each
    # time a deadline is set (assign, reject, reopen) — one warning and one escalation per deadline
    deadline_working_days: int | None = None
    deadline_seq: int = 0
    assigned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))  # the first
    rectified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))  # the latest
    reopen_count: int = 0  # failed verifications and reopenings
    flagged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    location_check: str | None = Field(default=None, max_length=24)  # LocationCheck, of the latest rectification
    location_distance_m: int | None = None
    version: int = 1  # optimistic lock for transitions
    # WeChat's content check of the title and description (app.core.content.TextCheck): supervisors and
    # others who are not staff see the report only when skipped, pass or approved
    content_check: str = Field(default="skipped", max_length=10, sa_column_kwargs={"server_default": "skipped"})
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ReportEvent(SQLModel, table=True):
    """Every transition of a report: who, when, what, with a note."""

    __tablename__ = "quality_report_event"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    report_id: str = Field(foreign_key="quality_report.id", max_length=32, index=True)
    action: str = Field(max_length=20)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor_id: str | None = Field(default=None, max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Alert(SQLModel, table=True):
    """A deadline warning, an escalation or a flag, recorded once: the unique (report, kind, period) is what
    makes the worker's tick idempotent. ``period`` is the report's ``deadline_seq`` for warnings and
    escalations (one of each per deadline), its ``reopen_count`` for a flag."""

    __tablename__ = "supervision_alert"
    __table_args__ = (UniqueConstraint("report_id", "kind", "period"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    report_id: str = Field(foreign_key="quality_report.id", max_length=32)
    kind: str = Field(max_length=20)  # AlertKind
    period: int
    due_date: date | None = None
    recipients: int = 0  # users told
    messages: int = 0  # of them, reachable through the outbox (WeChat bound)
    # who was told, by id (the street office's admins, or the global admins when the jurisdiction has none, and
    # the assignee), and whose office it was: AlertAudience (None: recorded before revision 0011)
    notified: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    audience: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Acceptance(SQLModel, table=True):
    """The completion acceptance record (竣工验收) of a project; one per project."""

    __tablename__ = "acceptance_record"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32, unique=True)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    accepted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    remarks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    questionnaire_id: str | None = Field(default=None, max_length=32)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AcceptanceSignature(SQLModel, table=True):
    """A resident representative who signed the acceptance record (居民代表签字)."""

    __tablename__ = "acceptance_signature"
    # one signature per household per record (several without a household are allowed: NULLs are distinct)
    __table_args__ = (UniqueConstraint("acceptance_id", "household_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    acceptance_id: str = Field(foreign_key="acceptance_record.id", max_length=32, index=True)
    name: str = Field(max_length=50)
    household_id: str | None = Field(default=None, foreign_key="household.id", max_length=32)
    signed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
