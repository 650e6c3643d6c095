"""Turnout: reminder opt-outs, the one-reminder-per-day ledger, automatic-reminder markers, the outbox of
outgoing messages, and notice reads.

Item types are ``"motion"`` (app.voting) and ``"questionnaire"`` (app.surveys); item ids are theirs.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class ItemType(StrEnum):
    MOTION = "motion"
    QUESTIONNAIRE = "questionnaire"


class ReminderReason(StrEnum):
    MANUAL = "manual"  # staff pressed "remind"
    OPENED = "opened"  # automatic, when the item opens
    CLOSING = "closing"  # automatic, N working days before it closes


class OutboxStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"  # claimed by a worker (lease_until)
    SENT = "sent"
    FAILED = "failed"


class ReminderOptOut(SQLModel, table=True):
    """A member's choice about reminders for one household (no row: reminders wanted)."""

    __tablename__ = "reminder_opt_out"
    __table_args__ = (UniqueConstraint("household_id", "user_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    opt_out: bool = True
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ReminderDay(SQLModel, table=True):
    """The ledger of the rule "at most one reminder per household per item per Shanghai day"."""

    __tablename__ = "reminder_day"
    __table_args__ = (UniqueConstraint("item_type", "item_id", "household_id", "day"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32)
    day: date
    reason: str = Field(max_length=20)
    messages: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class AutoReminder(SQLModel, table=True):
    """An automatic reminder ("opened", "closing") that has been queued for an item: at most once each."""

    __tablename__ = "auto_reminder"
    __table_args__ = (UniqueConstraint("item_type", "item_id", "reason"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    item_type: str = Field(max_length=20)
    item_id: str = Field(max_length=32)
    reason: str = Field(max_length=20)
    households: int = 0
    messages: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """A message to deliver, written in the same transaction as the change that causes it.

    A worker claims due rows (status pending and next_attempt_at ≤ now, or in_progress with an expired lease),
    sends them outside any transaction, and records the result: sent, or another attempt after an
    exponential backoff, or failed after the last attempt (with WeChat's errcode).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_item", "item_type", "item_id", "status"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    channel: str = Field(default="wechat_subscribe", max_length=30)
    community_id: str | None = Field(default=None, max_length=32, index=True)
    item_type: str | None = Field(default=None, max_length=20)
    item_id: str | None = Field(default=None, max_length=32)
    household_id: str | None = Field(default=None, max_length=32)
    user_id: str | None = Field(default=None, max_length=32)
    recipient: str = Field(max_length=128)  # the WeChat openid
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    claim_token: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    last_errcode: int | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class NoticeRead(SQLModel, table=True):
    """A household has seen a notice (first read kept; later reads change nothing)."""

    __tablename__ = "notice_read"
    __table_args__ = (UniqueConstraint("notice_id", "household_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    notice_id: str = Field(foreign_key="notice.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    user_id: str = Field(foreign_key="app_user.id", max_length=32)
    read_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class SubscriptionGrant(SQLModel, table=True):
    """A user's unused one-time subscriptions to a WeChat template: each acceptance of
    ``wx.requestSubscribeMessage`` adds one, each message queued to the user uses one, WeChat's 43101 (the user
    has none left) sets it to zero."""

    __tablename__ = "subscription_grant"
    __table_args__ = (UniqueConstraint("user_id", "template_id"),
                      CheckConstraint("unused >= 0", name="ck_subscription_grant_unused"))
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    template_id: str = Field(max_length=128)
    unused: int = 0
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
