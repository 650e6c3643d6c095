"""Request and response shapes of the register."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
    kind: str = Field(description="`motion` or `questionnaire` (one whose rule counts households keeps a roll)")
    id: str
    title: str


class ImportResult(BaseModel):
    imported: int
    buildings_created: int
    units_created: int
    open_rolls_unchanged: list[OpenRollPublic] = Field(
        default_factory=list,
        description="open motions and questionnaires whose electoral rolls (frozen at opening) this import did not change")


class HouseholdPublic(BaseModel):
    id: str
    building: str
    unit: str
    room: str
    area_m2: str
    members: int
    activated: bool
    pending_codes: int
    active: bool = Field(description="false: deactivated (merged or gone): in no scope, register count or roll "
                                     "frozen from now on; a roll of a motion or questionnaire frozen before keeps "
                                     "it until staff amend it off (remove)")
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = None
    merged_into_household_id: str | None = None


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
    replaced: int = Field(default=0, description="unused codes of this household and relation that this one "
                          "replaced (they answer activation.code_replaced); other relations' codes stay valid")


class IssuedCodes(BaseModel):
    items: list[IssuedCode]


class StaffGrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, max_length=32)
    username: str | None = Field(default=None, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=50)
    role: str = Field(default="staff", pattern="^(staff)$")


class AdminGrantRequest(BaseModel):
    """An existing account (``user_id``) or a new one (``username`` + ``password`` + ``name``)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, max_length=32)
    username: str | None = Field(default=None, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=50)


class GrantPublic(BaseModel):
    user_id: str
    username: str | None
    role: str
    scope_id: str


class UnitPublic(BaseModel):
    id: str
    name: str
    households: int


class BuildingPublic(BaseModel):
    id: str
    name: str
    units: list[UnitPublic]


class HouseholdAdd(BaseModel):
    """One household entered by hand (checked as an imported row is)."""

    model_config = ConfigDict(extra="forbid")
    building: str = Field(min_length=1, max_length=50)
    unit: str = Field(min_length=1, max_length=50)
    room: str = Field(min_length=1, max_length=30)
    area_m2: str = Field(min_length=1, max_length=20, description='exclusive area, a plain decimal ("86.35")')
    owner_key: str | None = Field(default=None, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


class HouseholdCorrection(BaseModel):
    """A correction of one household's room, area or owner key; at least one of them, and why."""

    model_config = ConfigDict(extra="forbid")
    room: str | None = Field(default=None, min_length=1, max_length=30)
    area_m2: str | None = Field(default=None, min_length=1, max_length=20)
    owner_key: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


class HouseholdChanged(BaseModel):
    household: HouseholdPublic
    open_rolls_unchanged: list[OpenRollPublic] = Field(
        default_factory=list,
        description="open motions and questionnaires whose electoral rolls (frozen at opening) this change did not change")


class MemberPublic(BaseModel):
    user_id: str
    name: str = Field(description="in full to staff and to the member themself, masked to other members")
    phone: str | None = Field(description="a person's own phone in full; every other phone masked, staff included")
    relation: str
    joined_at: AwareDatetime
    is_me: bool


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relation: Literal["owner", "co_owner", "family", "tenant"] = Field(
        description="family or tenant; owner and co_owner are refused (422 invite.relation_not_invitable): they "
                    "activate with a code from community staff")


class InviteShare(BaseModel):
    """What the mini-program shares: ``onShareAppMessage`` returns ``title`` and ``path``; a mini-program code
    (wxacode.getUnlimited) takes ``page`` and ``scene``."""

    title: str
    path: str = Field(description="the join page with the code: <WECHAT_JOIN_PAGE>?invite=XXXXXXXX")
    page: str = Field(description="the join page (WECHAT_JOIN_PAGE)")
    scene: str = Field(description="invite=XXXXXXXX (at most 32 characters, as wxacode.getUnlimited wants)")


class InvitePublic(BaseModel):
    id: str
    household_id: str
    relation: str
    expires_at: AwareDatetime
    created_at: AwareDatetime
    created_by: str = Field(description="the user who issued it (an owner, a co-owner or staff)")


class InviteIssued(InvitePublic):
    code: str = Field(description="XXXX-XXXX, shown only in this answer (only a keyed hash is stored); it works "
                                  "once, until expires_at")
    share: InviteShare


class OwnershipTransfer(BaseModel):
    """过户: the household has a new owner. Its members are unbound and its unused codes revoked; the new owner
    activates with a new code."""

    model_config = ConfigDict(extra="forbid")
    owner_key: str = Field(min_length=1, max_length=200, description="the new owner's identity (stored only keyed)")
    reason: str = Field(min_length=1, max_length=500)


class TransferResult(HouseholdChanged):
    members_unbound: int


class HouseholdDeactivation(BaseModel):
    """A household merged into another or gone: it leaves every scope (never deleted). Its members are unbound
    and its unused codes revoked."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)
    merged_into_household_id: str | None = Field(
        default=None, max_length=32, description="the active household of the same community it was merged into")


class HouseholdReactivation(BaseModel):
    """A deactivation undone (it was a mistake); the household is in scope again. Members activate anew."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class DeactivationResult(HouseholdChanged):
    members_unbound: int
