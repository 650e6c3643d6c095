"""The household register: jurisdictions with versioned rules profiles, communities, buildings, units,
households."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class Jurisdiction(SQLModel, table=True):
    __tablename__ = "jurisdiction"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    code: str | None = Field(default=None, max_length=40, unique=True)
    profile_version: int = 1
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class RulesProfileVersion(SQLModel, table=True):
    """Every version of a jurisdiction's rules profile; motions freeze the one in force when they open."""

    __tablename__ = "rules_profile_version"
    __table_args__ = (UniqueConstraint("jurisdiction_id", "version"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32, index=True)
    version: int
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class Community(SQLModel, table=True):
    __tablename__ = "community"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    jurisdiction_id: str = Field(foreign_key="jurisdiction.id", max_length=32, index=True)
    name: str = Field(max_length=100)
    address: str | None = Field(default=None, max_length=300)
    built_date: date | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # bumped by every change to the community's households (running tallies are valid for one version)
    register_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Building(SQLModel, table=True):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    name: str = Field(max_length=50)


class Unit(SQLModel, table=True):
    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("building_id", "name"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    building_id: str = Field(foreign_key="building.id", max_length=32, index=True)
    name: str = Field(max_length=50)


class Household(SQLModel, table=True):
    """户: one exclusive part. ``area_centi`` is the exclusive floor area in hundredths of m²;
    ``owner_key`` is a keyed hash (never a raw identity) shared by households of one owner.

    A household is never deleted. One that is merged into another or gone is deactivated
    (``deactivated_at`` set, with the reason and, for a merge, the household it went into): it is then in no
    scope (:mod:`app.register.scope`); ballots, responses and frozen roll entries still refer to it."""

    __tablename__ = "household"
    __table_args__ = (
        UniqueConstraint("unit_id", "room"),
        CheckConstraint("area_centi > 0", name="area_positive"),
        # one owner's households in a community (a ballot moves its owner in the running tally)
        Index("ix_household_community_owner", "community_id", "owner_key"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    community_id: str = Field(foreign_key="community.id", max_length=32, index=True)
    building_id: str = Field(foreign_key="building.id", max_length=32, index=True)
    unit_id: str = Field(foreign_key="unit.id", max_length=32, index=True)
    room: str = Field(max_length=30)
    area_centi: int = Field(sa_column=Column(BigInteger, nullable=False))
    owner_key: str = Field(max_length=64, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    deactivated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    deactivation_reason: str | None = Field(default=None, max_length=500)
    # the household this one was merged into (same community; no foreign key: households are never deleted)
    merged_into_id: str | None = Field(default=None, max_length=32)
