"""Publicity notices (公示) with their windows, and residents' objections (异议) with staff resolutions.

A notice's status is never stored: it is derived from the clock and its objections on every read.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class NoticeKind(StrEnum):
    PLAN = "plan"
    VOTE_RESULT = "vote_result"
    VOTE_NOTICE = "vote_notice"  # 投票公告: published when a motion's roll is frozen
    FUNDING = "funding"
    SUPERVISOR_ROSTER = "supervisor_roster"
    ACCEPTANCE = "acceptance"
    OTHER = "other"


class NoticeStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    PASSED = "passed"
    FAILED = "failed"


class ObjectionStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Notice(SQLModel, table=True):
    __tablename__ = "notice"
    __table_args__ = (
        # one notice of each generated kind and revision per motion: its vote notice, and its vote-result
        # notice — revision 1 at close, n+1 republished after each correction of the count (NULLs do not
        # collide on either backend)
        UniqueConstraint("motion_id", "kind", "revision"),
        Index("ix_notice_community_listing", "community_id", "created_at", "id"),
        Index("ix_notice_project_kind", "project_id", "kind", "created_at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    # the start date asked for, and the first date that counts (a partial day never counts)
    start_date: date
    counting_starts: date
    end_date: date
    working_days: int
    provisional: bool = False
    partial_day_excluded: bool = False
    # objections are taken from opens_at (start 00:00, or publication if later) until closes_at (24:00 end_date)
    opens_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closes_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    plan_id: str | None = Field(default=None, max_length=32)
    motion_id: str | None = Field(default=None, max_length=32)
    # a vote-result notice: the result revision it publishes (1 for every other notice)
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class Objection(SQLModel, table=True):
    __tablename__ = "objection"
    __table_args__ = (
        Index("ix_objection_notice_status", "notice_id", "status"),
        Index("ix_objection_notice_filed", "notice_id", "filed_at", "id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    notice_id: str = Field(foreign_key="notice.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    household_id: str | None = Field(default=None, foreign_key="household.id", max_length=32)
    filed_by: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    filed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(default=ObjectionStatus.PENDING, max_length=10)
    resolution_reason: str | None = Field(default=None, max_length=1000)
    resolved_by: str | None = Field(default=None, max_length=32)
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # WeChat's content check of the text (app.core.content.TextCheck): others see it only when skipped, pass
    # or approved
    content_check: str = Field(default="skipped", max_length=10, sa_column_kwargs={"server_default": "skipped"})
