"""The ``media_object`` table: one stored photo or document attached to something (a report, a paper
ballot, an objection, a notice, an acceptance record). Bytes live in the content-addressed storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id

OWNER_TYPES = ("report", "report_rectification", "paper_ballot", "paper_entry", "paper_proxy", "objection",
               "notice_attachment", "acceptance")


class MediaObject(SQLModel, table=True):
    __tablename__ = "media_object"
    __table_args__ = (Index("ix_media_object_owner", "owner_type", "owner_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    sha256: str = Field(max_length=64)  # the served (metadata-free) version
    thumb_sha256: str | None = Field(default=None, max_length=64)
    mime: str = Field(max_length=100)
    width: int | None = None
    height: int | None = None
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    # staff-only facts read from the EXIF before it was stripped
    taken_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    gps_lat: str | None = Field(default=None, max_length=16)
    gps_lon: str | None = Field(default=None, max_length=16)
    filename: str | None = Field(default=None, max_length=100)  # sanitized display name (documents)
    owner_type: str = Field(max_length=32)
    owner_id: str = Field(max_length=32)
    position: int = 0
    community_id: str = Field(max_length=32, index=True)
    project_id: str | None = Field(default=None, max_length=32, index=True)
    uploaded_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # WeChat's content check (app.core.content.PhotoCheck): None when the photo is not subject to it; the trace
    # id of the mediaCheckAsync call whose wxa_media_check event brings the verdict
    check_status: str | None = Field(default=None, max_length=16)
    check_trace_id: str | None = Field(default=None, max_length=128, index=True)
