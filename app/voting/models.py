"""Tables of the voting domain: renovation plans (versioned) with items and funding, motions, ballots.

* ``plan`` / ``plan_item`` / ``plan_funding``: a plan version of a project; a revision is a new row with
  version n+1 and the old one keeps ``superseded_by``. Money is integer fen.
* ``motion``: what is voted on, with its scope and window; the rules profile version in force when it opens
  and the rule it decides by are frozen into it (``profile_version``, ``rule_frozen``).
* ``ballot``: EVERY ballot version (online or paper), never updated; ``current_ballot``: the one current
  ballot per (motion, household), upserted, so the database itself keeps it unique.
* ``motion_roll`` / ``motion_roll_entry`` / ``motion_roll_amendment``: the electoral roll frozen when the motion
  opens (see :mod:`app.voting.roll`): one entry per household in scope with its place, area and owner group;
  the header keeps the totals and ``roll_hash``; every staff amendment while open is kept.
* ``motion_tally``: the running tally of a motion, kept by every ballot in the same transaction (rows
  ``total``, ``agree``, ``disagree``, ``abstain``: owners, households, area), built from the roll when it is
  frozen and moved by each ballot and amendment.
* ``motion_result``: the motion's current final result (unique per motion): stored at close as revision 1,
  replaced by revision n+1 when staff correct the count after an accepted objection to the result notice
  (see :mod:`app.voting.corrections`); ``motion_result_revision`` keeps every replaced revision and
  ``motion_correction`` what each correction changed, with its objection and reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DDL, JSON, BigInteger, CheckConstraint, Column, Index, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class FundingSource(StrEnum):
    CENTRAL_SUBSIDY = "central_subsidy"
    PROVINCIAL_SUBSIDY = "provincial_subsidy"
    CITY_SUBSIDY = "city_subsidy"
    DISTRICT_SUBSIDY = "district_subsidy"
    UTILITY = "utility"
    RESIDENTS = "residents"
    ORIGINAL_OWNER_UNIT = "original_owner_unit"
    SOCIAL_CAPITAL = "social_capital"


class ScopeKind(StrEnum):
    COMMUNITY = "community"
    BUILDING = "building"
    UNIT = "unit"


class Matter(StrEnum):
    RENOVATION_PLAN = "renovation_plan"
    ELEVATOR = "elevator"
    MAINTENANCE_FUND_RAISE = "maintenance_fund_raise"
    MAINTENANCE_FUND_USE = "maintenance_fund_use"
    ORDINARY = "ordinary"
    PLAN_ITEM = "plan_item"


class CorrectionAction(StrEnum):
    MOVE = "move"  # a paper ballot entered for the wrong household counts for the right one
    VOID = "void"  # a ballot that should not count stops counting (its household's earlier ballot counts again)
    ADD = "add"  # a signed paper slip that was never entered is entered, with its photo
    # nothing to correct after all: the count stands and is republished (the failed notice gets a successor)
    REAFFIRM = "reaffirm"


class MotionStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class Channel(StrEnum):
    ONLINE = "online"
    PAPER = "paper"


class SlipStatus(StrEnum):
    """A paper slip entered under double entry (``paper_slip``)."""

    PENDING = "pending"  # one clerk entered it: not counted
    CONFLICT = "conflict"  # a second clerk entered another choice (or another proxy): not counted until resolved
    COUNTED = "counted"  # a second clerk entered the same, or staff resolved the conflict: its ballot counts
    SUPERSEDED = "superseded"  # the household voted online while the slip was unsettled: never counted
    UNCOUNTED = "uncounted"  # the motion closed (forced, or by its deadline), or a roll amendment removed the
    # household, while the slip was unsettled


OPEN_SLIP_STATUSES = (SlipStatus.PENDING.value, SlipStatus.CONFLICT.value)


class Plan(SQLModel, table=True):
    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32, index=True)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    version: int
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    supersedes: str | None = Field(default=None, max_length=32)
    superseded_by: str | None = Field(default=None, max_length=32)
    superseded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    total_budget_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    residents_share_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class PlanItem(SQLModel, table=True):
    __tablename__ = "plan_item"
    __table_args__ = (
        UniqueConstraint("plan_id", "position"),
        CheckConstraint("budget_fen >= 0", name="budget_non_negative"),
        CheckConstraint("residents_share_fen >= 0", name="residents_share_non_negative"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(foreign_key="plan.id", max_length=32, index=True)
    position: int
    catalog: str | None = Field(default=None, max_length=20)
    catalog_seq: int | None = None
    title: str = Field(max_length=200)
    scope: str = Field(default=ScopeKind.COMMUNITY, max_length=10)
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    budget_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    residents_share_fen: int = Field(sa_column=Column(BigInteger, nullable=False))


class PlanFunding(SQLModel, table=True):
    """One funding source of a plan: of one item (``item_id``) or of the plan as a whole (``item_id`` null)."""

    __tablename__ = "plan_funding"
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount_non_negative"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(foreign_key="plan.id", max_length=32, index=True)
    item_id: str | None = Field(default=None, max_length=32)
    position: int = 0
    source: str = Field(max_length=30)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))


class Motion(SQLModel, table=True):
    __tablename__ = "motion"
    __table_args__ = (
        Index("ix_motion_project_created", "project_id", "id"),
        Index("ix_motion_closes_at", "closes_at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    plan_id: str = Field(foreign_key="plan.id", max_length=32, index=True)
    plan_item_id: str | None = Field(default=None, max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    matter: str = Field(max_length=30)
    scope: str = Field(max_length=10)
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    required: bool = True
    # the rule given explicitly at creation (null: the profile's rule for the matter, taken at open)
    rule_spec: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # frozen when the motion opens: the profile version in force then and the rule it decides by
    profile_version: int | None = None
    rule_frozen: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    staff_see_choices: bool | None = None
    opens_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closes_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    closed_by: str | None = Field(default=None, max_length=32)
    # a per-motion counter: every ballot version takes the next number (latest = highest)
    ballot_seq: int = 0
    # when the electoral roll was frozen (null: not yet; see app.voting.roll)
    roll_frozen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class Ballot(SQLModel, table=True):
    """Every ballot version ever cast (append-only)."""

    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("motion_id", "seq"),
        Index("ix_ballot_motion_household", "motion_id", "household_id", "seq"),
        Index("ix_ballot_motion_proxy", "motion_id", "proxy_key"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32)
    seq: int
    choice: str = Field(max_length=10)
    channel: str = Field(max_length=10)
    actor_id: str = Field(max_length=32)
    cast_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    receipt_hash: str = Field(max_length=64, unique=True)
    photo_sha256: str | None = Field(default=None, max_length=64)
    photo_media_id: str | None = Field(default=None, max_length=32)
    # double entry: the second clerk who entered the same choice, or the staff member who resolved a conflict
    checked_by: str | None = Field(default=None, max_length=32)
    # a proxy (委托代理人) who voted for the household, with the photo of the signed authorisation; ``proxy_key``
    # is the normalised name the cap per proxy counts by (app.rules.proxy.proxy_key)
    proxy_name: str | None = Field(default=None, max_length=50)
    proxy_relation: str | None = Field(default=None, max_length=30)
    proxy_key: str | None = Field(default=None, max_length=50)
    proxy_photo_sha256: str | None = Field(default=None, max_length=64)
    proxy_media_id: str | None = Field(default=None, max_length=32)


class PaperSlip(SQLModel, table=True):
    """A paper slip of one household entered under double entry: pending after one clerk's entry, counted when
    a second, different clerk entered the same (its ballot: ``ballot_id``), in conflict otherwise until staff
    resolve it. ``open_household`` is the household while the slip is pending or in conflict and null once it
    is settled, so the database keeps at most one unsettled slip per household and motion."""

    __tablename__ = "paper_slip"
    __table_args__ = (
        UniqueConstraint("motion_id", "open_household"),
        Index("ix_paper_slip_motion_status", "motion_id", "status", "id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32)
    open_household: str | None = Field(default=None, max_length=32)
    status: str = Field(max_length=12)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    settled_by: str | None = Field(default=None, max_length=32)
    ballot_id: str | None = Field(default=None, max_length=32)  # counted: its ballot; superseded: the online one
    resolved_choice: str | None = Field(default=None, max_length=10)
    reason: str | None = Field(default=None, max_length=500)


class PaperEntry(SQLModel, table=True):
    """One clerk's entry of a paper slip (position 1 or 2); one clerk enters a slip once."""

    __tablename__ = "paper_entry"
    __table_args__ = (UniqueConstraint("slip_id", "position"), UniqueConstraint("slip_id", "actor_id"),
                      Index("ix_paper_entry_motion_proxy", "motion_id", "proxy_key"))
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slip_id: str = Field(foreign_key="paper_slip.id", max_length=32, index=True)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    household_id: str = Field(max_length=32)
    position: int
    actor_id: str = Field(max_length=32)
    choice: str = Field(max_length=10)
    entered_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    photo_sha256: str = Field(max_length=64)
    photo_media_id: str = Field(max_length=32)
    proxy_name: str | None = Field(default=None, max_length=50)
    proxy_relation: str | None = Field(default=None, max_length=30)
    proxy_key: str | None = Field(default=None, max_length=50)
    proxy_photo_sha256: str | None = Field(default=None, max_length=64)
    proxy_media_id: str | None = Field(default=None, max_length=32)


class CurrentBallot(SQLModel, table=True):
    """The one current ballot of a household on a motion; unique (motion_id, household_id) by its key."""

    __tablename__ = "current_ballot"
    __table_args__ = (Index("ix_current_ballot_motion_seq", "motion_id", "seq"),)
    motion_id: str = Field(foreign_key="motion.id", primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=32)
    ballot_id: str = Field(max_length=32)
    seq: int
    choice: str = Field(max_length=10)
    channel: str = Field(max_length=10)
    cast_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# SQLite: a ballot inserted becomes its household's current one, a higher seq winning (as the repository's
# upsert does on PostgreSQL, in the ballot's own statement), in the INSERT's own statement (issue 17). The same
# text is in the migration that adds it (alembic/versions/20261204_0020_sqlite_triggers.py).
CURRENT_BALLOT_TRIGGER = (
    "CREATE TRIGGER ballot_made_current AFTER INSERT ON ballot BEGIN "
    "INSERT INTO current_ballot (motion_id, household_id, ballot_id, seq, choice, channel, cast_at) "
    "VALUES (NEW.motion_id, NEW.household_id, NEW.id, NEW.seq, NEW.choice, NEW.channel, NEW.cast_at) "
    "ON CONFLICT (motion_id, household_id) DO UPDATE SET ballot_id = excluded.ballot_id, seq = excluded.seq, "
    "choice = excluded.choice, channel = excluded.channel, cast_at = excluded.cast_at "
    "WHERE current_ballot.seq < excluded.seq; "
    "END"
)
event.listen(SQLModel.metadata, "after_create", DDL(CURRENT_BALLOT_TRIGGER).execute_if(dialect="sqlite"))


class MotionTally(SQLModel, table=True):
    """One bucket of a motion's running tally: ``total`` (everyone in scope) or a choice (the owners whose
    latest ballot is that choice, with all their households in scope and their area)."""

    __tablename__ = "motion_tally"
    motion_id: str = Field(foreign_key="motion.id", primary_key=True, max_length=32)
    bucket: str = Field(primary_key=True, max_length=10)
    owners: int = Field(sa_column=Column(BigInteger, nullable=False))
    households: int = Field(sa_column=Column(BigInteger, nullable=False))
    area: int = Field(sa_column=Column(BigInteger, nullable=False))


class MotionRoll(SQLModel, table=True):
    """The header of a motion's electoral roll: totals and hash of the entries as they are now (after any
    amendment), and the hash they had when frozen."""

    __tablename__ = "motion_roll"
    motion_id: str = Field(foreign_key="motion.id", primary_key=True, max_length=32)
    frozen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    frozen_hash: str = Field(max_length=64)
    roll_hash: str = Field(max_length=64)
    households: int = Field(sa_column=Column(BigInteger, nullable=False))
    owners: int = Field(sa_column=Column(BigInteger, nullable=False))
    area: int = Field(sa_column=Column(BigInteger, nullable=False))
    amendments: int = 0


class RollEntry(SQLModel, table=True):
    """One household on a motion's roll: its place and area as the register had them when the roll was frozen
    (or as an amendment set them) and its owner group (a per-motion digest, never the owner key)."""

    __tablename__ = "motion_roll_entry"
    __table_args__ = (Index("ix_motion_roll_entry_owner", "motion_id", "owner_group"),)
    motion_id: str = Field(foreign_key="motion.id", primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=32)
    building: str = Field(max_length=50)
    unit: str = Field(max_length=50)
    room: str = Field(max_length=30)
    area_centi: int = Field(sa_column=Column(BigInteger, nullable=False))
    owner_group: str = Field(max_length=32)


class RollAmendment(SQLModel, table=True):
    """A staff correction of an open roll: add, remove or correct (re-read from the register) one household."""

    __tablename__ = "motion_roll_amendment"
    __table_args__ = (UniqueConstraint("motion_id", "seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    seq: int
    household_id: str = Field(max_length=32)
    action: str = Field(max_length=10)
    reason: str = Field(max_length=500)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    roll_hash: str = Field(max_length=64)
    actor_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class MotionResult(SQLModel, table=True):
    """The current final result: stored when the motion closes (revision 1) and served from here; a correction
    after an accepted objection replaces it with the next revision (the replaced one goes to
    ``motion_result_revision``)."""

    __tablename__ = "motion_result"
    __table_args__ = (UniqueConstraint("motion_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    revision: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    outcome: str = Field(max_length=10)
    tally: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    participants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ResultRevision(SQLModel, table=True):
    """A result that a correction replaced, kept as it was stored (readable ever after)."""

    __tablename__ = "motion_result_revision"
    __table_args__ = (UniqueConstraint("motion_id", "revision"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    revision: int
    outcome: str = Field(max_length=10)
    tally: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    participants: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    superseded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ResultCorrection(SQLModel, table=True):
    """One audited correction of a closed motion's count, made on an accepted objection to its result notice:
    ``revision`` is the result revision it produced. ``ballot_id``: the ballot moved or voided (it never counts
    again); ``new_ballot_id``: the ballot version it entered (move, add); a ``reaffirm`` changes no ballot
    (the count stands, republished as the next revision). ``objection_id`` names publicity's
    objection (no foreign key: voting sits below publicity)."""

    __tablename__ = "motion_correction"
    __table_args__ = (
        UniqueConstraint("motion_id", "revision"),
        Index("ix_motion_correction_ballot", "motion_id", "ballot_id"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    motion_id: str = Field(foreign_key="motion.id", max_length=32)
    revision: int
    objection_id: str = Field(max_length=32)
    action: str = Field(max_length=10)
    ballot_id: str | None = Field(default=None, max_length=32)
    from_household_id: str | None = Field(default=None, max_length=32)
    household_id: str | None = Field(default=None, max_length=32)
    new_ballot_id: str | None = Field(default=None, max_length=32)
    photo_sha256: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)
    outcome_before: str = Field(max_length=10)
    outcome: str = Field(max_length=10)
    actor_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
