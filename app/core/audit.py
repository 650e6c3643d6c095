"""Append-only, hash-chained audit log.

Each entry carries the hash of the previous entry of its chain (one chain per community, plus "system").
Appending locks the chain's head row, so concurrent writers never fork a chain; a transaction that holds it
locked already appends without reading it again. ``verify`` recomputes every
hash and names the first entry that does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, insert, literal_column, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import dialect_name, new_id, upsert_insert
from app.core.hotread import HotWrite, transaction_state
from app.core.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(
    *, chain: str, seq: int, at: datetime, actor_id: str | None, action: str, entity_type: str,
    entity_id: str, data: dict[str, Any], prev_hash: str,
) -> str:
    payload = {
        "chain": chain, "seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor_id,
        "action": action, "entity_type": entity_type, "entity_id": entity_id, "data": data, "prev": prev_hash,
    }
    return hashlib.sha256(_canonical(payload)).hexdigest()


# Every ballot appends an entry: Core statements built once, sent by the driver (app.core.hotread, issue 17).
_head, _entry = AuditHead.__table__, AuditEntry.__table__  # type: ignore[attr-defined]
_LOCK_HEAD = HotWrite(select(_head.c.last_seq, _head.c.last_hash).where(_head.c.chain == bindparam("head_chain"))
                      .with_for_update())
_INSERT_ENTRY = HotWrite(insert(_entry))  # every column: each call gives them all
_MOVE_HEAD_STMT = (update(_head).where(_head.c.chain == bindparam("head_chain"))
                   .values(last_seq=bindparam("head_seq"), last_hash=bindparam("head_hash")))
# PostgreSQL: the entry and the head's move in one statement, one round trip less on every audited write. The
# head's UPDATE is a data-modifying WITH, which PostgreSQL runs exactly once, whether or not the INSERT reads it;
# both see the transaction's own locked head row. (SQLite has no data-modifying WITH: the entry's trigger moves
# the head there, app.core.models.AUDIT_HEAD_TRIGGER.)
_INSERT_ENTRY_MOVE_HEAD = HotWrite(insert(_entry).add_cte(_MOVE_HEAD_STMT.cte("moved_head")))


# The heads a transaction holds locked, with their values ({chain: (seq, hash)}, in the transaction's
# app.core.hotread.transaction_state). Once the head row is locked nobody else moves it, and this transaction
# moves it only through append, so a second entry in the same transaction needs no locking read. After a commit,
# a rollback or a savepoint's end the state is a new one, and the head is read again.
_HEADS = "app.audit.heads"


def _keep_head(session: AsyncSession, chain: str, seq: int, last_hash: str) -> None:
    transaction_state(session, _HEADS)[chain] = (seq, last_hash)


def locked_head(chain: ColumnElement[Any]) -> ColumnElement[Any]:
    """The head of ``chain`` as one value (``"<last seq> <last hash>"``, NULL for a chain not started yet) that
    locks its row (FOR UPDATE), for the RETURNING clause of a statement that locks its own row first: a ballot's
    take of the motion's next number (issue 17). PostgreSQL evaluates such a subquery when the first row is
    returned, after that row's lock, and a locking read returns the newest committed head even when the
    statement's snapshot is older. Give the value to :func:`head_locked`."""
    return (select(cast(_head.c.last_seq, String) + literal_column("' '") + _head.c.last_hash)
            .where(_head.c.chain == chain).with_for_update().scalar_subquery())


def head_locked(session: AsyncSession, chain: str, value: str | None) -> None:
    """Note the head that :func:`locked_head` read and locked in this transaction: the next :func:`append` to
    ``chain`` skips its locking read. None (the chain has no head yet) notes nothing."""
    if value is not None:
        seq, last_hash = value.split(" ", 1)
        _keep_head(session, chain, int(seq), last_hash)


async def _lock_head(session: AsyncSession, chain: str) -> tuple[int, str]:
    """The chain's head (last seq, last hash), its row locked (created first for a new chain; a concurrent
    creator is harmless), or as this transaction left it when it holds the row locked already."""
    known: tuple[int, str] | None = transaction_state(session, _HEADS).get(chain)
    if known is not None:
        return known
    row = await _LOCK_HEAD.first(session, head_chain=chain)
    if row is None:
        ins = upsert_insert(session, AuditHead)
        conn = await session.connection()
        await conn.execute(ins.values(chain=chain, last_seq=0, last_hash=GENESIS).on_conflict_do_nothing())
        row = await _LOCK_HEAD.first(session, head_chain=chain)
        assert row is not None
    return int(row[0]), str(row[1])


async def append(
    session: AsyncSession, *, chain: str, action: str, entity_type: str, entity_id: str,
    actor_id: str | None, at: datetime, data: dict[str, Any] | None = None,
) -> str:
    """Append an entry to ``chain`` and return its id: the head is locked, the entry inserted and the head
    moved in this transaction. What the session holds unflushed is flushed first (as the ORM flush of the
    entry did)."""
    data = json.loads(_canonical(data or {}))  # only JSON-native values, exactly as they will be read back
    await session.flush()
    last_seq, last_hash = await _lock_head(session, chain)
    seq = last_seq + 1
    h = entry_hash(chain=chain, seq=seq, at=at, actor_id=actor_id, action=action, entity_type=entity_type,
                   entity_id=entity_id, data=data, prev_hash=last_hash)
    entry_id = new_id()
    entry = {"id": entry_id, "chain": chain, "seq": seq, "at": at, "actor_id": actor_id, "action": action,
             "entity_type": entity_type, "entity_id": entity_id, "data": data, "prev_hash": last_hash, "hash": h}
    if dialect_name(session) == "postgresql":
        await _INSERT_ENTRY_MOVE_HEAD.execute(session, **entry, head_chain=chain, head_seq=seq, head_hash=h)
    else:  # the entry's trigger moves the head (app.core.models.AUDIT_HEAD_TRIGGER)
        await _INSERT_ENTRY.execute(session, **entry)
    _keep_head(session, chain, seq, h)
    return entry_id


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    ok: bool
    first_broken_seq: int | None = None
    first_broken_id: str | None = None
    problem: str | None = None


async def verify(session: AsyncSession, chain: str | None = None, batch: int = 5000) -> list[ChainReport]:
    chains_q = select(AuditHead)
    if chain is not None:
        chains_q = chains_q.where(AuditHead.chain == chain)
    heads = list((await session.exec(chains_q.order_by(AuditHead.chain))).all())
    reports: list[ChainReport] = []
    for head in heads:
        prev = GENESIS
        expected_seq = 1
        count = 0
        broken: ChainReport | None = None
        last_seq = 0
        while broken is None:
            q = (select(AuditEntry).where(col(AuditEntry.chain) == head.chain, col(AuditEntry.seq) > last_seq)
                 .order_by(col(AuditEntry.seq)).limit(batch))
            rows = list((await session.exec(q)).all())
            if not rows:
                break
            for e in rows:
                count += 1
                last_seq = e.seq
                problem = None
                if e.seq != expected_seq:
                    problem = f"missing entry before seq {e.seq}"
                elif e.prev_hash != prev:
                    problem = "prev_hash does not match the previous entry"
                else:
                    h = entry_hash(chain=e.chain, seq=e.seq, at=e.at, actor_id=e.actor_id, action=e.action,
                                   entity_type=e.entity_type, entity_id=e.entity_id, data=e.data,
                                   prev_hash=e.prev_hash)
                    if h != e.hash:
                        problem = "content does not match its hash"
                if problem:
                    broken = ChainReport(head.chain, count, False, e.seq, e.id, problem)
                    break
                prev = e.hash
                expected_seq += 1
        if broken is None and (head.last_seq != expected_seq - 1 or head.last_hash != prev):
            broken = ChainReport(head.chain, count, False, expected_seq, None, "entries missing at the end")
        reports.append(broken or ChainReport(head.chain, count, True))
    return reports
