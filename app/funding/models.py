"""Tables of the residents' share ledger. Money is integer fen.

* ``funding_line``: one per project and plan item that has a residents' share, kept ACROSS plan versions. A
  revision creates new plan item rows; the line follows its item by a key — the catalog reference (or, for an
  item without one, its title) and its scope — so that pledges and payments made under version n still count
  under version n+1. ``plan_id``/``item_id``/``share_fen``/``title`` are the latest version's that lists the
  item; a line whose item a revision removed (or whose residents' share it took away) is ``dropped``.
  ``split`` is how its share is divided among households, ``funded_when`` whether collections or pledges
  cover it (taken from the rules profile when the line is created, as a motion freezes its rule), ``status``
  funding → funded (↔ funding again after a refund or a larger share) → dropped, each change audited.
  ``roll_frozen_at``: when the households its share is split among were frozen (its first collection, or a
  staff recompute since); null while the shares still follow the register.
* ``funding_roll``: a frozen line's households and the exclusive area each had when it froze (one row per line
  and household); the line's shares are split over these, whatever the register says later.
* ``funding_pledge``: a household's current pledge for a line (unique per line and household), replaced by a
  new pledge; an amount of null is "my share" (it follows the household's current share: read, never
  stored), 0 a withdrawn pledge (for an ``opted_in`` line: opted out; null or above 0: opted in). Every version
  is in the community's audit chain.
* ``funding_payment``: money received (``collection``) or paid back (``refund``) for a household and a line,
  never updated or deleted; a receipt number is unique per project and kind.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class LineStatus(StrEnum):
    FUNDING = "funding"
    FUNDED = "funded"
    DROPPED = "dropped"


class PledgeChannel(StrEnum):
    ONLINE = "online"  # the resident, for their household
    PAPER = "paper"  # staff, from a signed paper pledge
    QUESTIONNAIRE = "questionnaire"  # staff, from the answers of a contribution questionnaire


class PaymentKind(StrEnum):
    COLLECTION = "collection"
    REFUND = "refund"


class PaymentMethod(StrEnum):
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    OTHER = "other"


class FundingLine(SQLModel, table=True):
    __tablename__ = "funding_line"
    __table_args__ = (
        UniqueConstraint("project_id", "key"),
        CheckConstraint("share_fen >= 0", name="share_non_negative"),
        Index("ix_funding_line_item", "item_id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32)
    key: str = Field(max_length=400)
    plan_id: str = Field(foreign_key="plan.id", max_length=32)
    item_id: str = Field(max_length=32)
    position: int
    title: str = Field(max_length=200)
    scope: str = Field(max_length=10)
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    share_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    split: str = Field(max_length=10)
    funded_when: str = Field(max_length=10)
    status: str = Field(default=LineStatus.FUNDING, max_length=10)
    status_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    roll_frozen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class FundingRollEntry(SQLModel, table=True):
    __tablename__ = "funding_roll"
    __table_args__ = (CheckConstraint("area_centi > 0", name="area_positive"),)
    line_id: str = Field(foreign_key="funding_line.id", primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=32)
    area_centi: int = Field(sa_column=Column(BigInteger, nullable=False))


class FundingPledge(SQLModel, table=True):
    __tablename__ = "funding_pledge"
    __table_args__ = (
        UniqueConstraint("line_id", "household_id"),
        CheckConstraint("amount_fen >= 0", name="amount_non_negative"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    line_id: str = Field(foreign_key="funding_line.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    amount_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # null: its share
    channel: str = Field(max_length=20)
    questionnaire_id: str | None = Field(default=None, max_length=32)
    version: int = 1
    actor_id: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class FundingPayment(SQLModel, table=True):
    __tablename__ = "funding_payment"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "receipt_no"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_funding_payment_line_household", "line_id", "household_id"),
        Index("ix_funding_payment_household", "household_id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    line_id: str = Field(foreign_key="funding_line.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32)
    kind: str = Field(max_length=10)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    paid_on: date
    method: str = Field(max_length=20)
    receipt_no: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)
    actor_id: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
