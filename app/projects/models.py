"""Renovation projects (改造项目) of a community and the record of every stage move."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class Stage(StrEnum):
    SURVEY = "survey"
    PLANNING = "planning"
    PLAN_PUBLICITY = "plan_publicity"
    APPROVED = "approved"
    CONSTRUCTION = "construction"
    ACCEPTANCE = "acceptance"
    EVALUATION = "evaluation"
    CLOSED = "closed"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class Project(SQLModel, table=True):
    __tablename__ = "project"
    __table_args__ = (Index("ix_project_community_created", "community_id", "created_at", "id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32, index=True)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    stage: str = Field(default=Stage.SURVEY, max_length=20)
    # optimistic lock: two concurrent advances cannot both succeed
    version: int = 1
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class StageMove(SQLModel, table=True):
    __tablename__ = "project_stage_move"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="project.id", max_length=32, index=True)
    from_stage: str = Field(max_length=20)
    to_stage: str = Field(max_length=20)
    reason: str = Field(max_length=500)
    actor_id: str | None = Field(default=None, max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
