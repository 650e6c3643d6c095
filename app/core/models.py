"""Cross-domain tables: the hash-chained audit log, idempotency records, and WeChat's shared access token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, CheckConstraint, Column, Text, UniqueConstraint, event
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


# SQLite: the chain's head follows each entry inserted, in the entry's own statement (issue 17: a ballot's
# statements; PostgreSQL moves the head in the entry's statement too, by a data-modifying WITH). The same text
# is in the migration that adds it (alembic/versions/20261204_0020_sqlite_triggers.py).
AUDIT_HEAD_TRIGGER = (
    "CREATE TRIGGER audit_entry_moves_head AFTER INSERT ON audit_entry BEGIN "
    "UPDATE audit_head SET last_seq = NEW.seq, last_hash = NEW.hash WHERE chain = NEW.chain; "
    "END"
)
event.listen(SQLModel.metadata, "after_create",
             DDL(AUDIT_HEAD_TRIGGER).execute_if(dialect="sqlite"))  # type: ignore[no-untyped-call]


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


class WechatToken(SQLModel, table=True):
    """WeChat's access token of one appid, shared by every instance when there is no Redis
    (:class:`app.core.wechat_tokens.DatabaseTokenStore`), and the lease of the one caller refreshing it.

    The token's columns are written together or not at all (``token_whole``): a row holds a whole token, or
    only a lease taken before the first token was fetched."""

    __tablename__ = "wechat_token"
    __table_args__ = (
        CheckConstraint("(access_token IS NULL AND fetched_at IS NULL AND refresh_at IS NULL AND expires_at IS NULL)"
                        " OR (access_token IS NOT NULL AND fetched_at IS NOT NULL AND refresh_at IS NOT NULL"
                        " AND expires_at IS NOT NULL)", name="token_whole"),
    )
    token_key: str = Field(primary_key=True, max_length=300)  # "<WECHAT_API_BASE>|<WECHAT_APPID>", as in Redis
    access_token: str | None = Field(default=None, max_length=1024)  # WeChat: keep room for at least 512
    fetched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    refresh_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    forced_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lease_holder: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
