"""Hot statements: a SQLAlchemy statement rendered once per dialect and sent by the driver on the session's own
connection.

Every authenticated request reads its token's user and the user's households, ``GET /me`` is little more than
that, and every ballot sends a handful of one-row statements (issue 17). Through SQLAlchemy's execution path
each costs far more than the database does: the execution context, the result object, and on PostgreSQL a
``BEGIN`` round trip before a read-only request and a ``COMMIT`` after it; on SQLite a hand-off to aiosqlite's
worker thread and back (each a wake-up of the event loop). A :class:`HotRead` (or :class:`HotWrite`) keeps the
statement written in SQLAlchemy — the repository still owns its query — but renders it once per dialect and
then sends the rendered SQL straight to the driver connection that the session already holds:

* **PostgreSQL (asyncpg)**: ``fetch`` (rows) or ``execute`` (a row count) with asyncpg's own prepared-statement
  cache, one round trip. If SQLAlchemy has not yet opened its transaction on that connection (asyncpg's adapter
  opens it lazily, at the first statement it sends), a read runs on its own: under READ COMMITTED, which every
  session here uses, a statement sees the same in a transaction as on its own (each statement takes its own
  snapshot), and a request that only reads then needs no ``BEGIN`` and no ``COMMIT``. A write is never sent
  outside the transaction: the first one opens it as the adapter would (``BEGIN``, tracked by the adapter, which
  SQLAlchemy's commit or rollback ends).
* **SQLite**: the sqlite3 call runs on the event loop's thread instead of aiosqlite's worker — an indexed
  statement takes microseconds, less than the hand-off would. The session's transaction (``BEGIN`` or the
  writer's ``BEGIN IMMEDIATE``, :mod:`app.core.db`) is already open on that connection, so the statement is
  inside it, and the writer already holds the lock. The connection is checked out by this request alone and its
  worker thread is idle while the request awaits nothing else on it, so the two threads never use it at once
  (connections are opened with ``check_same_thread=False``).

Only indexed statements on a handful of rows belong here: a long one on SQLite would hold up the event loop.
Values go through the same type processing as SQLAlchemy's (the bind and result processors of the columns'
types: aware UTC datetimes, dates and booleans on SQLite, JSON). Errors: a write the database refuses raises
SQLAlchemy's own exception class (``IntegrityError``, …), translated as SQLAlchemy translates it; a lost
connection, and any error of a read, sends the statement again through SQLAlchemy, which raises the mapped error
(and replaces the pool) or succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger("app.db")

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Rendered:
    sql: str
    names: tuple[str, ...]  # bind names in the order of the positional parameters
    binds: tuple[Processor, ...]
    fixed: dict[str, Any]  # values of the statement's own literal parameters (``ballot_seq + 1``)
    results: tuple[Processor, ...]  # one per column returned (none: the statement returns no rows)


class HotRead:
    """One SELECT for the hot path; ``await HOT.all(session, name=value, ...)`` gives its rows as tuples.

    ``statement`` is one statement, or one per dialect name (``{"sqlite": …, "postgresql": …}``) where they
    differ (an upsert)."""

    __slots__ = ("statements", "_rendered")
    in_transaction_only = False

    def __init__(self, statement: Executable | Mapping[str, Executable]) -> None:
        self.statements = statement
        self._rendered: dict[str, _Rendered] = {}

    def statement(self, dialect: str) -> Executable:
        """What SQLAlchemy runs for this dialect (also when the driver cannot)."""
        if isinstance(self.statements, Mapping):
            return self.statements[dialect]
        return self.statements

    def _render(self, dialect: Dialect) -> _Rendered:
        rendered = self._rendered.get(dialect.name)
        if rendered is not None:
            return rendered
        statement: Any = self.statement(dialect.name)
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        if not compiled.positional or any(compiled.binds[n].expanding for n in names):
            raise TypeError("a hot statement needs a positional driver and plain (not expanding) parameters")
        binds = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        fixed = {n: compiled.binds[n].value for n in names if not compiled.binds[n].required}
        columns = statement.selected_columns if hasattr(statement, "selected_columns") else statement.exported_columns
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        rendered = _Rendered(compiled.string, names, binds, fixed, results)
        self._rendered[dialect.name] = rendered
        return rendered

    async def _run(self, session: AsyncSession, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        conn = await _connection(session)
        dialect = conn.dialect
        rendered = self._render(dialect)
        given = rendered.fixed | params if rendered.fixed else params
        args = [given[n] if p is None else p(given[n]) for n, p in zip(rendered.names, rendered.binds, strict=True)]
        try:
            done = await _driver_call(conn, dialect.name, rendered.sql, args, in_transaction_only=self.in_transaction_only,
                                      returns_rows=bool(rendered.results))
        except Exception as exc:  # noqa: BLE001 - mapped below, as SQLAlchemy maps it
            _raise_unless_disconnect(conn, self, rendered.sql, args, exc)
            log.warning("hot statement failed in the driver (%s: %s); sent again through SQLAlchemy",
                        type(exc).__name__, exc)
            done = None
        if done is None:  # no transaction open yet (SQLAlchemy opens it), or the connection was lost
            result = await conn.execute(self.statement(dialect.name), params)
            return ([tuple(r) for r in result] if result.returns_rows else []), result.rowcount
        raw, rowcount = done
        procs = rendered.results
        if not any(procs):
            return [tuple(r) for r in raw], rowcount
        return [tuple(v if p is None else p(v) for v, p in zip(r, procs, strict=True)) for r in raw], rowcount

    async def all(self, session: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        return (await self._run(session, params))[0]

    async def first(self, session: AsyncSession, **params: Any) -> tuple[Any, ...] | None:
        rows = await self.all(session, **params)
        return rows[0] if rows else None


class HotWrite(HotRead):
    """An INSERT, UPDATE (with or without RETURNING) or a locking SELECT, sent by the driver only inside the
    session's transaction: on PostgreSQL the first one opens it (:func:`_begin_asyncpg`); where none can be
    opened so, it goes through SQLAlchemy. ``execute`` gives the row count."""

    __slots__ = ()
    in_transaction_only = True

    async def execute(self, session: AsyncSession, **params: Any) -> int:
        return (await self._run(session, params))[1]


def transaction_state(session: AsyncSession, key: str) -> dict[str, Any]:
    """A dict in ``session.info[key]`` that belongs to the session's innermost transaction (the root one, or a
    savepoint's) while that transaction is active: after a commit, a rollback, or when a savepoint begins or
    ends, the session has another transaction (or none) and the dict is a new, empty one. For what is true only
    inside one transaction: the connection it runs on (below), the audit heads it holds locked
    (:mod:`app.core.audit`)."""
    sync = session.sync_session
    tx = sync.get_nested_transaction() or sync.get_transaction()
    held = session.info.get(key)
    if held is not None and held[0] is tx and tx is not None and tx.is_active:
        state: dict[str, Any] = held[1]
        return state
    state = {}
    session.info[key] = (tx, state)
    return state


_HELD = "app.hotread.connection"  # transaction_state key: {"conn": the transaction's AsyncConnection}


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, as ``await session.connection()`` gives it, without its hand-off through a
    greenlet (15 µs) for each of a request's hot statements: kept in the :func:`transaction_state` of the
    transaction it came with. After a commit, a rollback, or when a savepoint begins or ends, the session is
    asked again: asking is also what makes it emit a new savepoint's SAVEPOINT, which a statement sent past it
    would escape."""
    conn: AsyncConnection | None = transaction_state(session, _HELD).get("conn")
    if conn is None:
        conn = await session.connection()  # also where the session emits a savepoint's SAVEPOINT
        # asked again: the session may have begun its transaction just now
        transaction_state(session, _HELD)["conn"] = conn
    return conn


def _raise_unless_disconnect(conn: AsyncConnection, hot: HotRead, sql: str, args: Sequence[Any],
                             exc: Exception) -> None:
    """Raise the driver's error as SQLAlchemy would (``IntegrityError``, ``OperationalError``, …), except a lost
    connection: that one the caller sends again through SQLAlchemy, which fails the same way and also invalidates
    the pool, as for any statement (a read is always sent again: nothing of it can have been applied)."""
    dialect = conn.dialect
    sync = conn.sync_connection
    if not hot.in_transaction_only or sync is None or sync.invalidated:
        return
    adapted: Any = sync.connection.dbapi_connection
    dbapi_error: Any = exc
    try:
        adapted._handle_exception(exc)  # the adapter's own translation into its DBAPI's exception classes
    except Exception as translated:  # noqa: BLE001 - inspected and re-raised below
        dbapi_error = translated
    if dialect.is_disconnect(dbapi_error, adapted, None):
        return
    raise DBAPIError.instance(sql, list(args), dbapi_error, dialect.loaded_dbapi.Error, dialect=dialect) from exc


async def _begin_asyncpg(sync: Any, fairy: Any) -> bool:
    """Open the transaction of SQLAlchemy's asyncpg adapter as the adapter itself opens it before the first
    statement SQLAlchemy sends (``BEGIN`` at the session's isolation level, under the adapter's lock, tracked
    by the adapter, so SQLAlchemy's commit or rollback ends it), for a hot write that finds none open: the
    request's first write then goes by the driver too, not through SQLAlchemy's execution path (issue 17). False
    when SQLAlchemy has no transaction of its own on the connection, or the adapter would not open one
    (autocommit): the write goes through SQLAlchemy then."""
    adapted = fairy.dbapi_connection
    if sync is None or not sync.in_transaction() or getattr(adapted, "isolation_level", None) == "autocommit":
        return False
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
    return adapted._transaction is not None


async def _driver_call(conn: AsyncConnection, dialect: str, sql: str, args: Sequence[Any], *,
                       in_transaction_only: bool, returns_rows: bool) -> tuple[Sequence[Any], int] | None:
    """(rows, row count) from the driver, or None when ``in_transaction_only`` and no transaction is open."""
    sync = conn.sync_connection
    fairy = sync.connection if sync is not None and not sync.invalidated else await conn.get_raw_connection()
    driver: Any = fairy.driver_connection
    if dialect == "sqlite":
        raw = driver._conn  # aiosqlite's sqlite3 connection
        if in_transaction_only and not raw.in_transaction:
            return None
        cursor = raw.cursor()
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall() if cursor.description else []
            return rows, cursor.rowcount if cursor.rowcount >= 0 else len(rows)
        finally:
            cursor.close()
    if dialect == "postgresql":  # asyncpg
        if in_transaction_only and not driver.is_in_transaction() and not await _begin_asyncpg(sync, fairy):
            return None
        if returns_rows:
            rows = await driver.fetch(sql, *args)
            return rows, len(rows)
        status = await driver.execute(sql, *args)  # "UPDATE 1", "INSERT 0 1"
        return [], int(status.rsplit(" ", 1)[-1])
    raise TypeError(f"no hot path for {dialect}")
