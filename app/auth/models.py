"""Who is who: users, role grants, household members, activation codes, invitations, refresh-token families."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class Role(StrEnum):
    ADMIN = "admin"  # a jurisdiction (jurisdiction_id None: every jurisdiction)
    STAFF = "staff"  # a community
    SUPERVISOR = "supervisor"  # a project
    CONTRACTOR = "contractor"  # a project
    RESIDENT = "resident"  # derived from household membership, never granted


class Relation(StrEnum):
    OWNER = "owner"
    CO_OWNER = "co_owner"
    FAMILY = "family"
    TENANT = "tenant"


ACTING_RELATIONS = frozenset({Relation.OWNER, Relation.CO_OWNER})


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str | None = Field(default=None, max_length=64, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    name: str = Field(max_length=50)
    phone: str | None = Field(default=None, max_length=20, index=True)
    wechat_openid: str | None = Field(default=None, max_length=128, unique=True)
    # the same person across the mini-program and other apps of the open-platform account, when WeChat sends it
    wechat_unionid: str | None = Field(default=None, max_length=128, index=True)
    # when ``phone`` was last verified by WeChat (the phone-number button); None: typed by the user or staff
    phone_verified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    is_active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "scope_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    role: str = Field(max_length=20)
    # the jurisdiction (admin), community (staff) or project (supervisor, contractor); "*" = all
    scope_id: str = Field(max_length=32, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class HouseholdMember(SQLModel, table=True):
    __tablename__ = "household_member"
    __table_args__ = (UniqueConstraint("household_id", "user_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    relation: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ActivationCode(SQLModel, table=True):
    __tablename__ = "activation_code"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    code_hash: str = Field(max_length=64, unique=True)
    relation: str = Field(max_length=20)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    used_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # the code issued for the same household and relation that revoked this one (None: revoked otherwise, e.g.
    # by an ownership transfer)
    replaced_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_token"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    family_id: str = Field(max_length=32, index=True)
    user_id: str = Field(foreign_key="app_user.id", max_length=32, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class HouseholdInvite(SQLModel, table=True):
    """An owner's (or co-owner's, or staff's) invitation for one family member or tenant to join a household:
    a short one-time code, stored only as a keyed hash."""

    __tablename__ = "household_invite"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    household_id: str = Field(foreign_key="household.id", max_length=32, index=True)
    code_hash: str = Field(max_length=64, unique=True)
    relation: str = Field(max_length=20)  # family | tenant
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    used_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_by: str | None = Field(default=None, max_length=32)  # None: revoked with its inviter or the household
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(max_length=32, index=True)
