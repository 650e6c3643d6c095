"""Request and response shapes of supervision: roster, reports and their transitions, acceptance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.media.schemas import PhotoPublic, PhotoStaff
from app.supervision.models import Severity, Source, Status

DECIMAL_DEGREES = r"^-?\d{1,3}(\.\d{1,8})?$"
PHONE = r"^\+?[0-9][0-9 -]{3,18}[0-9]$"
MAX_PHOTOS = 9
MAX_DESCRIPTION = 2000


# ---- roster ----------------------------------------------------------------------------------------

class _PersonFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, max_length=32,
                                description="an existing user of the project's community (a household member, "
                                            "its staff, appointed to one of its projects; others: 404); "
                                            "or give name+phone for a new account")
    name: str | None = Field(default=None, min_length=1, max_length=50)
    phone: str | None = Field(default=None, pattern=PHONE, max_length=20)
    username: str | None = Field(default=None, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _who(self):  # type: ignore[no-untyped-def]
        if self.user_id is None:
            if not self.name or not self.phone:
                raise ValueError("give user_id, or name and phone for a new account")
            if (self.username is None) != (self.password is None):
                raise ValueError("username and password go together")
        elif self.username is not None or self.password is not None:
            raise ValueError("username/password only when creating a new account (no user_id)")
        return self


class SupervisorAppoint(_PersonFields):
    source: Source


class ContractorAppoint(_PersonFields):
    organization: str | None = Field(default=None, max_length=100, description="the construction company")


class AppointmentPublic(BaseModel):
    id: str
    project_id: str
    user_id: str
    role: str
    name: str
    phone: str | None = Field(description="masked, except for staff a phone given with the appointment")
    source: str | None
    organization: str | None
    can_sign_in: bool | None = Field(default=None, description="staff view: whether the account has a login")
    appointed_at: datetime


# ---- reports ---------------------------------------------------------------------------------------

class ReportFields(BaseModel):
    """The non-file fields of the multipart report form, validated."""

    model_config = ConfigDict(extra="forbid")
    building_id: str | None = Field(default=None, max_length=32)
    unit_id: str | None = Field(default=None, max_length=32)
    building: str | None = Field(default=None, max_length=50, description="building name, instead of building_id")
    unit: str | None = Field(default=None, max_length=50, description="unit name (with building), instead of unit_id")
    gps_lat: str | None = Field(default=None, pattern=DECIMAL_DEGREES)
    gps_lon: str | None = Field(default=None, pattern=DECIMAL_DEGREES)
    catalog_item: str = Field(min_length=1, max_length=200,
                              description="the catalog item's seq (e.g. \"12\") or a free title")
    severity: Severity
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)

    @field_validator("catalog_item", "description")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @model_validator(mode="after")
    def _pairs(self):  # type: ignore[no-untyped-def]
        if (self.gps_lat is None) != (self.gps_lon is None):
            raise ValueError("gps_lat and gps_lon go together")
        if self.gps_lat is not None:
            from decimal import Decimal

            if abs(Decimal(self.gps_lat)) > 90 or abs(Decimal(self.gps_lon or "0")) > 180:
                raise ValueError("GPS out of range")
        if self.unit is not None and self.building is None and self.building_id is None:
            raise ValueError("unit needs its building")
        return self


class TransitionRequest(BaseModel):
    """One lifecycle action. Fields by action: ``assign`` → assignee_id, due_date; ``rectify`` → photo_ids
    (uploaded first with POST /reports/{id}/photos); ``dismiss`` → reason; ``reopen`` → to (optional)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["acknowledge", "assign", "rectify", "verify", "close", "dismiss", "reopen"]
    note: str | None = Field(default=None, max_length=1000)
    assignee_id: str | None = Field(default=None, max_length=32)
    due_date: date | None = Field(default=None, description="Shanghai business date")
    photo_ids: list[str] | None = Field(default=None, max_length=MAX_PHOTOS)
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    to: Literal["rectifying", "acknowledged"] | None = None

    @field_validator("photo_ids")
    @classmethod
    def _ids(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(len(i) > 32 for i in v):
            raise ValueError("invalid photo id")
        return v


class ReportEventPublic(BaseModel):
    id: str
    action: str
    from_status: str | None
    to_status: str
    actor_id: str | None
    actor_name: str | None
    at: datetime
    note: str | None
    data: dict


class ReportSummary(BaseModel):
    id: str
    project_id: str
    status: Status
    severity: Severity
    title: str
    catalog_seq: int | None
    building_id: str | None
    building: str | None
    unit_id: str | None
    unit: str | None
    assignee_id: str | None
    due_date: date | None
    overdue: bool
    photo_count: int
    thumbnail_url: str | None
    created_at: datetime
    updated_at: datetime


class ReportPublic(ReportSummary):
    description: str
    gps_lat: str | None
    gps_lon: str | None
    filed_by: str
    filed_as: str
    assignee_name: str | None
    dismiss_reason: str | None
    photos: list[PhotoStaff | PhotoPublic] = Field(description="taken_at/gps_* only in staff views")
    after_photos: list[PhotoStaff | PhotoPublic] = Field(description="the contractor's rectification photos")
    events: list[ReportEventPublic]
    actions: list[str] = Field(description="the actions the caller may take now")


# ---- acceptance ------------------------------------------------------------------------------------

class Representative(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    household_id: str | None = Field(default=None, max_length=32)
    signed_at: datetime | None = Field(default=None, description="default: now")

    @field_validator("signed_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("signed_at needs a timezone offset")
        return v


class AcceptanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted_at: datetime | None = Field(default=None, description="default: now; not in the future")
    remarks: str | None = Field(default=None, max_length=5000)
    representatives: list[Representative] = Field(default_factory=list, max_length=200)
    satisfaction_survey: bool = Field(default=True, description="create the satisfaction questionnaire (draft)")

    @field_validator("accepted_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("accepted_at needs a timezone offset")
        return v


class SignaturesAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    representatives: list[Representative] = Field(min_length=1, max_length=200)


class SignaturePublic(BaseModel):
    id: str
    name: str
    household_id: str | None
    signed_at: datetime


class AcceptancePublic(BaseModel):
    id: str
    project_id: str
    accepted_at: datetime
    remarks: str | None
    representatives: list[SignaturePublic]
    signed: int
    required: int
    complete: bool
    warranty_months: int
    warranty_until: date | None = Field(description="last Shanghai date of the warranty period (null: none)")
    questionnaire_id: str | None
    photos: list[PhotoStaff | PhotoPublic]
    created_at: datetime
