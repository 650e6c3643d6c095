"""JSON shapes of stored photos."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PhotoPublic(BaseModel):
    """A photo as anyone allowed to see its owner sees it (no taken-at, no GPS)."""

    id: str
    url: str
    thumbnail_url: str | None
    mime: str
    width: int | None
    height: int | None
    size_bytes: int
    created_at: datetime
    check_status: str | None = Field(default=None, description=(
        "WeChat's content check, shown to the uploader and staff: pending_check (others do not see the photo "
        "yet), pass, risky (hidden from all but staff), released (by staff), rejected (by staff); null: not "
        "checked"))


class PhotoStaff(PhotoPublic):
    """The staff view: also when and where the photo was taken (from its EXIF, which is not served)."""

    taken_at: datetime | None
    gps_lat: str | None = Field(description='decimal degrees, e.g. "36.104167"')
    gps_lon: str | None = Field(description='decimal degrees, e.g. "120.468333"')


class ModerationRequest(BaseModel):
    """Staff's decision on content WeChat's check held back; the reason is audited."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


class ModerationResult(BaseModel):
    kind: str = Field(description="objections | reports | photos")
    id: str
    status: str = Field(description="the content's standing after the decision")
