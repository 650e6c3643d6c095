"""JSON shapes of stored photos."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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


class PhotoStaff(PhotoPublic):
    """The staff view: also when and where the photo was taken (from its EXIF, which is not served)."""

    taken_at: datetime | None
    gps_lat: str | None = Field(description='decimal degrees, e.g. "36.104167"')
    gps_lon: str | None = Field(description='decimal degrees, e.g. "120.468333"')
