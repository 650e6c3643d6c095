"""Request and response shapes of the register."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from app.register.profiles import RulesProfile


class JurisdictionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    code: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    preset: str | None = Field(default=None, description="zhoucun | linyi | anqiu | zhanhe | laoshan")
    profile: RulesProfile | None = None


class JurisdictionPublic(BaseModel):
    id: str
    name: str
    code: str | None
    profile_version: int
    profile: RulesProfile
    created_at: datetime


class ProfileVersionPublic(BaseModel):
    version: int
    profile: RulesProfile
    created_at: datetime


class Eligibility(BaseModel):
    eligible: bool
    cutoff: date | None
    reason: str


class CommunityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jurisdiction_id: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    built_date: date | None = None


class CommunityPublic(BaseModel):
    id: str
    jurisdiction_id: str
    name: str
    address: str | None
    built_date: date | None
    eligibility: Eligibility
    households: int
    buildings: int
    created_at: datetime


class OpenRollPublic(BaseModel):
    kind: str = Field(description="motion")
    id: str
    title: str


class ImportResult(BaseModel):
    imported: int
    buildings_created: int
    units_created: int
    open_rolls_unchanged: list[OpenRollPublic] = Field(
        default_factory=list, description="open motions whose electoral rolls (frozen at opening) this import did not change")


class HouseholdPublic(BaseModel):
    id: str
    building: str
    unit: str
    room: str
    area_m2: str
    members: int
    activated: bool
    pending_codes: int


class ActivationCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_ids: list[str] | None = Field(default=None, max_length=5000)
    all_not_activated: bool = False
    relation: str = Field(default="owner", pattern="^(owner|co_owner|family|tenant)$")


class IssuedCode(BaseModel):
    household_id: str
    building: str
    unit: str
    room: str
    code: str
    relation: str
    expires_at: datetime


class IssuedCodes(BaseModel):
    items: list[IssuedCode]


class StaffGrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, max_length=32)
    username: str | None = Field(default=None, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=50)
    role: str = Field(default="staff", pattern="^(staff)$")


class GrantPublic(BaseModel):
    user_id: str
    username: str | None
    role: str
    scope_id: str
