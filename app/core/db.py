"""Engines, sessions and column types.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on. WAL and a busy
timeout alone lose concurrent read-modify-write updates, so every writing request goes through ONE
writer connection that opens its transactions with ``BEGIN IMMEDIATE``; reads use a separate pool. A
``sqlite+aiosqlite`` URL is served by :mod:`app.core.sqlite_async` (aiosqlite with one thread hand-off per
statement instead of four).
PostgreSQL uses one ordinary pool; conflicts there are settled by constraints and row locks.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVarTuple, cast

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy import Select as SASelect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from app.core.config import Settings
from app.core.sqlite_async import onehop_url

_Ts = TypeVarTuple("_Ts")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def new_id() -> str:
    """A 32-char id that sorts by creation time (ms timestamp + randomness); ids are strings in the API."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(engine: AsyncEngine, settings: Settings, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # straight to the driver's cursor (app.core.sqlite_async: the read pool's BEGIN on this thread, the
        # writer's on aiosqlite's): SQLAlchemy's execution path around it, an execution context and a result for
        # a statement that returns nothing, cost more than the BEGIN itself, and every request on SQLite sends
        # one or two (issue 17). A refusal (the write lock still held by another process when the busy timeout
        # ends) is raised as SQLAlchemy raises it: OperationalError, 503.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(begin)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(begin, (), exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
        finally:
            cursor.close()


def _sqlite_reset(engine: AsyncEngine) -> None:
    """A connection back in the pool is rolled back only when its SQLite connection is in a transaction. The pool's
    own reset rolls back every returned connection, after a commit too: on the writer a hand-off to aiosqlite's
    thread and back on every write request (issue 17) to end a transaction that is not there — BEGIN is always
    the app's own (``isolation_level = None``), so after COMMIT or ROLLBACK there is none. A connection returned
    in a transaction (its request failed before SQLAlchemy ended it) is still rolled back; the engines are made
    with ``pool_reset_on_return=None`` so that this is the only reset."""

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        if state.terminate_only or not state.asyncio_safe:
            return  # discarded, or not in an async context: the pool does nothing either
        raw = getattr(getattr(dbapi_connection, "_connection", None), "_conn", None)  # aiosqlite's sqlite3 connection
        if raw is not None and not raw.in_transaction:
            return
        dbapi_connection.rollback()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.database_url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            timeout = settings.sqlite_busy_timeout_ms / 1000
            driver_url = onehop_url(url)
            self.writer = create_async_engine(
                driver_url, pool_size=1, max_overflow=0, pool_timeout=120, connect_args={"timeout": timeout},
                pool_reset_on_return=None,  # _sqlite_reset
            )
            # two readers: each connection is a thread, and under load more threads only contend for the GIL
            # (issue 17: 50 concurrent GET /me cost about 10 % more CPU each with eight); WAL readers never wait
            self.reader = create_async_engine(
                driver_url, pool_size=2, max_overflow=0,
                connect_args={"timeout": timeout, "inline_transactions": True}, pool_reset_on_return=None,
            )
            _sqlite_pragmas(self.writer, settings, immediate=True)
            _sqlite_pragmas(self.reader, settings, immediate=False)
            _sqlite_reset(self.writer)
            _sqlite_reset(self.reader)
        else:
            # no overflow: an overflow connection is closed when it comes back to a pool that has its fill idle, so
            # under load connections were opened and closed all the time (TLS attempt, authentication, type
            # lookups: a third of GET /me's CPU, issue 17); a request beyond the pool waits for a connection
            # (DB_POOL_TIMEOUT_S, then 503 service.unavailable).
            # No ping before each checkout (a round trip on every request, ~0.2 ms of CPU: issue 17): a connection
            # the server dropped (a PostgreSQL restart) fails the one request that finds it (503), and SQLAlchemy
            # then invalidates the pool, so every connection from before is replaced on its next checkout
            self.writer = create_async_engine(
                url, pool_size=settings.db_pool_size, max_overflow=0, pool_timeout=settings.db_pool_timeout_s,
                pool_pre_ping=False,
            )
            self.reader = self.writer
        self.write_session = async_sessionmaker(self.writer, class_=AsyncSession, expire_on_commit=False)
        self.read_session = async_sessionmaker(self.reader, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


@asynccontextmanager
async def _transaction(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    maker = db.write_session if write else db.read_session
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            # An error that must still keep its side effect (revoking a reused token family, counting a
            # failed guess) sets session.info["commit_on_error"]; everything else rolls back whole.
            from app.core.errors import AppError

            if isinstance(exc, AppError) and session.info.get("commit_on_error"):
                await session.commit()
            else:
                await session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (scope='function')."""
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    async with _transaction(request, write=write) as s:
        yield s


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For the rare GET that records something (e.g. a notice read)."""
    async with _transaction(request, write=True) as s:
        yield s


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session, scope="function")]


def dialect_name(session: AsyncSession) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def upsert_insert(session: AsyncSession, model: Any) -> Any:
    """An INSERT of the session's dialect, so ``on_conflict_do_nothing`` / ``on_conflict_do_update`` work on
    PostgreSQL and SQLite alike."""
    return pg_insert(model) if dialect_name(session) == "postgresql" else sqlite_insert(model)


def wide(statement: SASelect[*_Ts]) -> Select[*_Ts]:
    """A select of more than 4 columns, typed for ``session.exec``.

    sqlmodel's ``select()`` is typed for at most 4 columns and its ``exec()`` for its own ``Select`` only, so
    build wider selects with SQLAlchemy's ``select()`` (typed for up to 10) and pass them through this.
    ``exec()`` runs a SQLAlchemy ``Select`` exactly like sqlmodel's (rows, typed per column here); the cast
    only corrects sqlmodel's stubs.
    """
    return cast("Select[*_Ts]", statement)
