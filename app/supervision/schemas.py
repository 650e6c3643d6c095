"""Request and response shapes of supervision: roster, reports and their transitions, the street office's
views and figures, acceptance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.media.schemas import PhotoPublic, PhotoStaff
from app.projects.schemas import Figure
from app.supervision.models import LocationCheck, Severity, Source, Status

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
    """One lifecycle action. Fields by action: ``assign`` → assignee_id, due_date (optional); ``rectify`` →
    photo_ids (uploaded first with POST /reports/{id}/photos); ``reject`` → note (why the verification
    failed), due_date (optional); ``dismiss`` → reason; ``reopen`` → to, due_date (both optional)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["acknowledge", "assign", "rectify", "verify", "reject", "close", "dismiss", "reopen"]
    note: str | None = Field(default=None, max_length=1000)
    assignee_id: str | None = Field(default=None, max_length=32)
    due_date: date | None = Field(default=None, description="Shanghai business date; default: the rules profile's "
                                                            "working days for the severity, from the next day")
    photo_ids: list[str] | None = Field(default=None, max_length=MAX_PHOTOS)
    reason: str | None = Field(default=None, min_length=1, max_length=500,
                               description="dismiss: why; assign/reject/reopen: why the due date is later than "
                                           "the profile's")
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
    deadline_working_days: int | None = Field(description="the profile's working days for the severity when the "
                                                          "deadline was set")
    overdue: bool
    reopen_count: int = Field(description="failed verifications and reopenings")
    flagged: bool = Field(description="reopened the profile's reopen_flag_at times: flagged for the street office")
    location_check: LocationCheck | None = Field(
        description="the latest rectification's after-photos against the report's GPS (null: not rectified yet)")
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
    location_distance_m: int | None = Field(description="whole metres from the report's spot to the farthest "
                                                        "after-photo with GPS")
    assigned_at: datetime | None = Field(description="the first assignment")
    rectified_at: datetime | None = Field(description="the latest rectification")
    flagged_at: datetime | None
    photos: list[PhotoStaff | PhotoPublic] = Field(description="taken_at/gps_* only in staff views")
    after_photos: list[PhotoStaff | PhotoPublic] = Field(description="the contractor's rectification photos")
    events: list[ReportEventPublic]
    actions: list[str] = Field(description="the actions the caller may take now")
    content_check: str | None = Field(default=None, description=(
        "WeChat's content check of the title and description, shown to staff and the filer: skipped | pass | "
        "review (supervisors do not see the report until staff approve) | approved | rejected"))
    content_notice: str | None = Field(default=None, description="for the filer: what content_check means")


# ---- the street office's views and figures --------------------------------------------------------

class StreetOfficeReport(BaseModel):
    """A report that needs the street office: overdue now, or flagged (reopened too often) and not settled."""

    id: str
    project_id: str
    project_title: str
    community_id: str
    title: str
    catalog_seq: int | None
    severity: Severity
    status: Status
    assignee_id: str | None
    assignee_name: str | None
    organization: str | None = Field(description="the assignee's company, from their appointment")
    due_date: date | None
    overdue: bool
    working_days_overdue: int = Field(description="working days after the due date, today included")
    escalated_at: datetime | None = Field(description="when the street office was told (the worker's round)")
    reopen_count: int
    flagged_at: datetime | None
    reasons: list[Literal["overdue", "flagged"]]


class CatalogCount(BaseModel):
    catalog_seq: int | None = Field(description="the catalog item's number; null for a free title")
    title: str
    reports: int


class RectificationFigures(BaseModel):
    """How rectification goes. ``overdue_share`` = (overdue_now + late) / with_deadline, exact."""

    with_deadline: int = Field(description="reports with a deadline now: rectifying, rectified, verified, closed")
    rectified: int = Field(description="reports whose latest rectification stands: rectified, verified, closed")
    overdue_now: int = Field(description="rectifying and past the due date (Shanghai)")
    late: int = Field(description="rectified after the due date")
    overdue_share: Figure
    median_working_days: str | None = Field(
        description='median working days from the first assignment (counted from the next day) to the latest '
                    'rectification, exact: "3" or "3.5"; null when nothing is rectified')
    reopened: int = Field(description="reports reopened at least once (failed verification or reopening)")
    flagged: int
    location_unverified: int


class ContractorFigures(RectificationFigures):
    user_id: str
    name: str
    organization: str | None
    assigned: int = Field(description="reports assigned to this contractor now")


class ProjectFigures(BaseModel):
    project_id: str
    project_title: str
    community_id: str
    reports: int
    rectification: RectificationFigures


class SupervisionStats(BaseModel):
    as_of: date = Field(description="the Shanghai date the figures are counted on")
    reports: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_catalog_item: list[CatalogCount] = Field(description="most reported first")
    rectification: RectificationFigures
    contractors: list[ContractorFigures]


class ProjectSupervisionStats(SupervisionStats):
    project_id: str


class JurisdictionSupervisionStats(SupervisionStats):
    jurisdiction_id: str
    community_ids: list[str] | None = Field(
        default=None, description="the communities counted when the caller sees part of the jurisdiction (staff "
                                  "of its communities); null: the whole jurisdiction (its admins)")
    projects: list[ProjectFigures]


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
