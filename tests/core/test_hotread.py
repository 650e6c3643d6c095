"""Hot reads (:mod:`app.core.hotread`, issue 17): the driver sends a SELECT that SQLAlchemy rendered once.

What they must keep: the same rows and Python values as SQLAlchemy's own execution, the request's own
transaction (a write not yet committed is seen; hot writes commit and roll back with it, and one sent before
PostgreSQL's transaction is open goes through SQLAlchemy, which opens it), row counts and RETURNING rows,
SQLAlchemy's exception classes when the database refuses, and on SQLite the read pool's transactions (their
``BEGIN`` and ``COMMIT`` run on the event loop's thread) still hold one snapshot from the first read to the
commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, insert, text, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.auth import repository as auth_repo
from app.auth.models import User
from app.core.hotread import HotRead, HotWrite
from app.core.models import AuditHead


async def test_rows_and_values_are_sqlalchemys(app, world) -> None:
    db = app.state.db
    users = [world.staff_user_id, world.residents[0].user_id, "no-such-user"]
    async with db.read_session() as session:
        for user_id in users:
            for family in (None, "no-such-family"):
                params = {"user_id": user_id, "family_id": family}
                hot = await auth_repo._TOKEN_HOLDER.all(session, **params)
                conn = await session.connection()
                plain = [tuple(r) for r in await conn.execute(auth_repo._TOKEN_HOLDER.statement(conn.dialect.name), params)]
                assert hot == plain
        staff = await auth_repo._TOKEN_HOLDER.all(session, user_id=world.staff_user_id, family_id=None)
    assert staff and {r[8] for r in staff} >= {"staff"}  # one row per grant
    created = staff[0][6]
    assert isinstance(created, datetime) and created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert staff[0][2] is True  # a boolean on SQLite too (stored there as 1)

    holder = await _holder(app, world.residents[0].user_id)
    assert holder is not None and holder.is_active and not holder.revoked and holder.grants == ()


async def _holder(app, user_id: str):
    async with app.state.db.read_session() as session:
        return await auth_repo.token_holder(session, user_id, None)


async def test_a_hot_read_is_inside_the_requests_transaction(app, world) -> None:
    db = app.state.db
    now = datetime(2026, 12, 3, 8, tzinfo=UTC)
    async with db.write_session() as session:
        await session.connection()  # the transaction is open (SQLite: BEGIN IMMEDIATE on the writer)
        session.add(User(id="hot-read-user", username="hot-read", name="未提交", created_at=now))
        await session.flush()
        row = await auth_repo._TOKEN_HOLDER.first(session, user_id="hot-read-user", family_id=None)
        assert row is not None and row[1] == "未提交" and row[6] == now
        await session.rollback()
    assert await _holder(app, "hot-read-user") is None  # rolled back with the transaction it was read in


async def test_a_refused_read_raises_sqlalchemys_error(app, world) -> None:
    missing = Table("no_such_table", MetaData(), Column("id", String, primary_key=True))
    bad = HotRead(core_select(missing.c.id).where(missing.c.id == bindparam("id")))
    async with app.state.db.read_session() as session:
        with pytest.raises(DBAPIError):
            await bad.all(session, id="x")


async def test_only_plain_positional_parameters(app, world) -> None:
    users = User.__table__  # type: ignore[attr-defined]
    expanding = HotRead(core_select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True))))
    async with app.state.db.read_session() as session:
        with pytest.raises(TypeError):
            await expanding.all(session, ids=["a", "b"])


async def test_sqlite_read_transaction_keeps_its_snapshot(app, world) -> None:
    """The read pool's BEGIN runs on the event loop's thread: it must still open a transaction, so a read
    that follows a commit by the writer sees what the first read saw until the read transaction ends."""
    db = app.state.db
    if not db.is_sqlite:
        pytest.skip("SQLite's read pool")
    user_id = world.residents[0].user_id
    async with db.read_session() as reader:
        before = await auth_repo._TOKEN_HOLDER.first(reader, user_id=user_id, family_id=None)
        assert before is not None
        async with db.write_session() as writer:
            conn = await writer.connection()
            await conn.execute(text("UPDATE app_user SET name = '改名' WHERE id = :id"), {"id": user_id})
            await writer.commit()
        during = await auth_repo._TOKEN_HOLDER.first(reader, user_id=user_id, family_id=None)
        assert during is not None and during[1] == before[1] != "改名"
        await reader.commit()
        after = await auth_repo._TOKEN_HOLDER.first(reader, user_id=user_id, family_id=None)
        assert after is not None and after[1] == "改名"


_head = AuditHead.__table__  # type: ignore[attr-defined]
_NEW_HEAD = HotWrite(insert(_head))
_BUMP = HotWrite(update(_head).where(_head.c.chain == bindparam("c")).values(last_seq=_head.c.last_seq + 1)
                 .returning(_head.c.last_seq))
_SET = HotWrite(update(_head).where(_head.c.chain == bindparam("c")).values(last_hash=bindparam("h")))
_HEAD = HotRead(core_select(_head.c.last_seq, _head.c.last_hash).where(_head.c.chain == bindparam("c")))


async def test_writes_count_return_and_roll_back_with_the_session(app) -> None:
    db = app.state.db
    async with db.write_session() as session:
        # the first statement of the session: on PostgreSQL no transaction is open yet, so it goes through
        # SQLAlchemy, which opens one; on SQLite the writer's BEGIN IMMEDIATE is already sent
        assert await _NEW_HEAD.execute(session, chain="hot-a", last_seq=0, last_hash="g") == 1
        assert await _NEW_HEAD.execute(session, chain="hot-b", last_seq=5, last_hash="g") == 1
        assert await _BUMP.all(session, c="hot-b") == [(6,)]
        assert await _BUMP.all(session, c="nobody") == []
        assert await _SET.execute(session, c="hot-a", h="x") == 1
        assert await _SET.execute(session, c="nobody", h="x") == 0
        assert await _HEAD.first(session, c="hot-a") == (0, "x")
        await session.rollback()
    async with db.read_session() as session:
        assert await _HEAD.first(session, c="hot-a") is None and await _HEAD.first(session, c="hot-b") is None
    async with db.write_session() as session:
        await _NEW_HEAD.execute(session, chain="hot-c", last_seq=1, last_hash="g")
        await session.commit()
    async with db.read_session() as session:
        assert await _HEAD.first(session, c="hot-c") == (1, "g")
    async with db.write_session() as session:  # a statement with its own literal (+ 1) as the first one
        assert await _BUMP.all(session, c="hot-c") == [(2,)]
        await session.rollback()


async def test_a_refused_write_raises_sqlalchemys_integrity_error(app) -> None:
    db = app.state.db
    async with db.write_session() as session:
        await _NEW_HEAD.execute(session, chain="hot-dup", last_seq=0, last_hash="g")
        await session.commit()
    async with db.write_session() as session:
        conn = await session.connection()
        await conn.execute(text("SELECT 1"))  # SQLAlchemy opened the transaction: the insert is the driver's
        with pytest.raises(IntegrityError):
            await _NEW_HEAD.execute(session, chain="hot-dup", last_seq=9, last_hash="other")
        await session.rollback()
    async with db.read_session() as session:
        assert await _HEAD.first(session, c="hot-dup") == (0, "g")


async def test_a_session_keeps_its_connection_per_transaction(app) -> None:
    """The connection a hot statement runs on is the session's own for its transaction; after a commit or a
    rollback the session's next transaction is asked for its connection again, and what it did is what the
    database holds."""
    db = app.state.db
    async with db.write_session() as session:
        await _NEW_HEAD.execute(session, chain="keep-a", last_seq=0, last_hash="g")
        first = await session.connection()
        assert await _BUMP.all(session, c="keep-a") == [(1,)]
        assert session.info["app.hotread.connection"][1]["conn"] is first  # kept while the transaction lasts
        tx = session.sync_session.get_transaction()
        assert session.info["app.hotread.connection"][0] is tx
        await session.commit()
        assert await _BUMP.all(session, c="keep-a") == [(2,)]  # a new transaction, its connection asked for again
        kept = session.info["app.hotread.connection"]
        assert kept[0] is session.sync_session.get_transaction() and kept[0] is not tx
        assert kept[1]["conn"] is await session.connection()
        await session.rollback()
        assert await _HEAD.first(session, c="keep-a") == (1, "g")  # the rolled-back bump is gone
        assert session.info["app.hotread.connection"][0] is session.sync_session.get_transaction()
    async with db.read_session() as session:
        assert await _HEAD.first(session, c="keep-a") == (1, "g")


async def test_a_savepoint_holds_the_hot_writes_made_in_it(app) -> None:
    """A hot write after ``begin_nested`` is inside the savepoint: rolled back with it, kept when it is released,
    and the statements after it are the outer transaction's again."""
    db = app.state.db
    async with db.write_session() as session:
        await _NEW_HEAD.execute(session, chain="save-a", last_seq=0, last_hash="g")
        assert await _BUMP.all(session, c="save-a") == [(1,)]
        nested = await session.begin_nested()
        assert await _BUMP.all(session, c="save-a") == [(2,)]
        await nested.rollback()
        assert await _HEAD.first(session, c="save-a") == (1, "g")
        async with session.begin_nested():
            assert await _BUMP.all(session, c="save-a") == [(2,)]
        assert await _BUMP.all(session, c="save-a") == [(3,)]
        await session.commit()
    async with db.read_session() as session:
        assert await _HEAD.first(session, c="save-a") == (3, "g")
