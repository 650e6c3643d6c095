"""Cross-domain tables: the hash-chained audit log and idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, new_id


class AuditHead(SQLModel, table=True):
    """The latest entry of each chain; locked while appending so a chain never forks."""

    __tablename__ = "audit_head"
    chain: str = Field(primary_key=True, max_length=64)
    last_seq: int = 0
    last_hash: str = Field(default="", max_length=64)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("chain", "seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    chain: str = Field(max_length=64, index=True)
    seq: int
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64)
    entity_type: str = Field(max_length=64)
    entity_id: str = Field(max_length=64, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(max_length=32)
    key: str = Field(max_length=200)
    method: str = Field(max_length=8)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
