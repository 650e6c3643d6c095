"""The board token of a community: one per community, stored only as a keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime


class BoardToken(SQLModel, table=True):
    """The live board URL of a community. ``token_hash`` is HMAC-SHA256 of the token under the server secret
    (:func:`app.core.security.keyed_hash`, purpose ``board``): a copy of the database does not reveal a live
    URL, and a lookup stays one indexed equality. Rotating replaces the hash (the old URL stops at once);
    disabling deletes the row."""

    __tablename__ = "board_token"
    __table_args__ = (UniqueConstraint("token_hash"),)
    community_id: str = Field(foreign_key="community.id", primary_key=True, max_length=32)
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str | None = Field(default=None, max_length=32)
