"""Tables of the surveys domain: the renovation item catalogs, questionnaires, responses and their answers.

A household has at most ONE current response per questionnaire (``survey_response``, unique on
(questionnaire_id, household_id), written by INSERT … ON CONFLICT DO UPDATE); every version ever given is
kept in ``survey_response_version``. The current answers are also stored one row per answer part in
``survey_answer`` so that results are GROUP BY aggregates in the database.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class QuestionnaireKind(StrEnum):
    WILLINGNESS = "willingness"  # 改造意愿
    NEEDS = "needs"  # 改造需求（清单）
    CONTRIBUTION = "contribution"  # 出资意愿
    SATISFACTION = "satisfaction"  # 满意度评价


class QuestionType(StrEnum):
    YES_NO = "yes_no"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    CATALOG_ITEMS = "catalog_items"
    RATING = "rating"
    AMOUNT_FEN = "amount_fen"
    TEXT = "text"


class ItemChoice(StrEnum):
    """A household's answer for one catalog item."""

    WANT = "want"
    DONT_NEED = "dont_need"
    NO_OPINION = "no_opinion"


class ScopeKind(StrEnum):
    COMMUNITY = "community"
    BUILDING = "building"
    UNIT = "unit"


class QuestionnaireStatus(StrEnum):
    """Stored states are draft, open, closed; ``scheduled`` (open, opens_at still ahead) and closing by
    ``closes_at`` are derived from the server clock on every read."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class Channel(StrEnum):
    ONLINE = "online"  # the resident in the mini-program / app
    PAPER = "paper"  # 入户问卷: entered by staff from a paper form


class CatalogItem(SQLModel, table=True):
    """One item of a renovation content catalog (改造内容清单), seeded from app/surveys/catalogs/*.csv."""

    __tablename__ = "catalog_item"
    __table_args__ = (UniqueConstraint("catalog", "seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    catalog: str = Field(max_length=20)
    seq: int
    category: str = Field(max_length=20)  # basic | complete | upgrade
    title: str = Field(max_length=100)
    standard: str = Field(sa_column=Column(Text, nullable=False))
    selection: str | None = Field(default=None, max_length=20)  # mandatory | recommended | optional | None


class Questionnaire(SQLModel, table=True):
    __tablename__ = "questionnaire"
    __table_args__ = (Index("ix_questionnaire_project_kind", "project_id", "kind", "id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scope_kind: str = Field(default=ScopeKind.COMMUNITY, max_length=20)
    building_id: str | None = Field(default=None, foreign_key="building.id", max_length=32)
    unit_id: str | None = Field(default=None, foreign_key="unit.id", max_length=32)
    # the catalog the catalog_items questions were built from (the profile's catalog at creation)
    catalog: str | None = Field(default=None, max_length=20)
    # normalized questions (see schemas.Question); frozen once the questionnaire opens
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=QuestionnaireStatus.DRAFT, max_length=20)
    opens_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    opened_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # the rules profile version in force when it opened (results keep using it)
    profile_version: int | None = None
    # whether a rule of it counts households, so that it keeps an electoral roll: decided when it opens (null:
    # opened before migration 0007, decided at its first touch); see app.surveys.roll
    counts_households: bool | None = None
    # when its electoral roll was frozen (null: not yet, or it keeps none)
    roll_frozen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # optimistic lock for draft edits and state moves
    version: int = 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class SurveyResponse(SQLModel, table=True):
    """The CURRENT response of a household (one row per questionnaire and household, DB-enforced)."""

    __tablename__ = "survey_response"
    __table_args__ = (UniqueConstraint("questionnaire_id", "household_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    questionnaire_id: str = Field(foreign_key="questionnaire.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    version: int = 1
    channel: str = Field(max_length=10)
    actor_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    answers: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    first_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class SurveyResponseVersion(SQLModel, table=True):
    """Every response version ever given: who, when, through which channel."""

    __tablename__ = "survey_response_version"
    __table_args__ = (UniqueConstraint("questionnaire_id", "household_id", "version"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    questionnaire_id: str = Field(foreign_key="questionnaire.id", max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    version: int
    channel: str = Field(max_length=10)
    actor_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=500)
    answers: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class SurveyAnswer(SQLModel, table=True):
    """One part of a current answer, replaced with the response.

    yes_no: choice "yes"/"no"; single/multiple choice: one row per chosen option id; catalog_items: one row
    per item (item_key = catalog seq) with choice want/dont_need/no_opinion; rating: choice "1".."5" and
    value_int; amount_fen: value_int; text: value_text.
    """

    __tablename__ = "survey_answer"
    __table_args__ = (
        Index("ix_survey_answer_tally", "questionnaire_id", "question_id", "item_key", "choice", "value_int"),
        Index("ix_survey_answer_question", "questionnaire_id", "question_id", "household_id"),
    )
    questionnaire_id: str = Field(foreign_key="questionnaire.id", max_length=32, primary_key=True)
    household_id: str = Field(foreign_key="household.id", max_length=32, primary_key=True)
    question_id: str = Field(max_length=40, primary_key=True)
    item_key: str = Field(default="", max_length=20, primary_key=True)
    choice: str = Field(default="", max_length=40, primary_key=True)
    value_int: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    value_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class QuestionnaireRoll(SQLModel, table=True):
    """The header of a questionnaire's electoral roll: totals and hash of the entries as they are now (after any
    amendment), and the hash they had when frozen."""

    __tablename__ = "questionnaire_roll"
    questionnaire_id: str = Field(foreign_key="questionnaire.id", primary_key=True, max_length=32)
    frozen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    frozen_hash: str = Field(max_length=64)
    roll_hash: str = Field(max_length=64)
    households: int = Field(sa_column=Column(BigInteger, nullable=False))
    owners: int = Field(sa_column=Column(BigInteger, nullable=False))
    area: int = Field(sa_column=Column(BigInteger, nullable=False))
    amendments: int = 0


class QuestionnaireRollEntry(SQLModel, table=True):
    """One household on a questionnaire's roll: its place and area as the register had them when the roll was
    frozen (or as an amendment set them) and its owner group (a per-questionnaire digest, never the owner key)."""

    __tablename__ = "questionnaire_roll_entry"
    __table_args__ = (Index("ix_questionnaire_roll_entry_owner", "questionnaire_id", "owner_group"),)
    questionnaire_id: str = Field(foreign_key="questionnaire.id", primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=32)
    building: str = Field(max_length=50)
    unit: str = Field(max_length=50)
    room: str = Field(max_length=30)
    area_centi: int = Field(sa_column=Column(BigInteger, nullable=False))
    owner_group: str = Field(max_length=32)


class QuestionnaireRollAmendment(SQLModel, table=True):
    """A staff correction of an open questionnaire's roll: add, remove or correct (re-read from the register)
    one household."""

    __tablename__ = "questionnaire_roll_amendment"
    __table_args__ = (UniqueConstraint("questionnaire_id", "seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    questionnaire_id: str = Field(foreign_key="questionnaire.id", max_length=32)
    seq: int
    household_id: str = Field(max_length=32)
    action: str = Field(max_length=10)
    reason: str = Field(max_length=500)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    roll_hash: str = Field(max_length=64)
    actor_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
