"""SQLite for the async engine with one thread hand-off per statement (issue 17).

SQLAlchemy's ``sqlite+aiosqlite`` adapter sends every statement through aiosqlite's worker thread four times —
open a cursor, execute, fetch the rows, close the cursor — and each hand-off costs a queue put, a thread
wake-up and a wake-up of the event loop: about 110 µs of CPU for a ``SELECT 1`` that the sqlite3 module runs
in 14 µs. A ballot sends a dozen statements, so that was most of its CPU.

This dialect (``sqlite+aiosqlite_onehop``, what :class:`app.core.db.Database` uses for ``sqlite+aiosqlite``
URLs) keeps aiosqlite's connection and its worker thread — a long query still runs off the event loop, and
other requests go on meanwhile — but its cursor does the four steps in ONE call on that thread and keeps the
rows, the description, the row count and the last row id for SQLAlchemy to read. Everything else (connect,
commit, rollback, close, isolation level, errors, server-side cursors) is the stock adapter's.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_onehop"


class OneHopCursor(AsyncAdapt_dbapi_cursor):
    """A cursor whose ``execute`` / ``executemany`` is one call on the connection's worker thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")
    _awaitable_cursor_close = False  # the driver cursor is closed on the worker thread, in the same call

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no driver cursor is held between calls
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    def _run(self, work: Any) -> Any:
        try:
            description, rows, rowcount, lastrowid = await_(self._connection._execute(work))
        except Exception as error:  # noqa: BLE001 - mapped to the DBAPI's errors like the stock adapter does
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows) if rows else collections.deque()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        aio = self._connection
        if operation == "BEGIN" and getattr(self._adapt_connection, "_inline_transactions", False):
            aio._conn.execute("BEGIN")  # a deferred BEGIN takes no lock: no hand-off for it (see OneHopConnection)
            self._description, self._rowcount, self._lastrowid, self._rows = None, -1, None, collections.deque()
            return

        def work() -> tuple[Any, list[Any] | None, int, int | None]:  # on the worker thread
            cursor = aio._conn.cursor()
            try:
                cursor.execute(operation, () if parameters is None else parameters)
                description = cursor.description
                return description, cursor.fetchall() if description else None, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self._run(work)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        aio = self._connection

        def work() -> tuple[Any, list[Any] | None, int, int | None]:
            cursor = aio._conn.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.description, None, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self._run(work)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """With ``inline_transactions`` (the read pool), ``BEGIN``, ``COMMIT`` and ``ROLLBACK`` of a read
    transaction run on the event loop's thread: none of them waits for a lock or writes, so each costs
    microseconds, less than the hand-off to the worker thread and back. The writer's ``BEGIN IMMEDIATE`` (which
    may wait for the lock) and its ``COMMIT`` (which writes the WAL) stay on the worker thread."""

    __slots__ = ("_inline_transactions",)
    _cursor_cls = OneHopCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any, *, inline_transactions: bool = False) -> None:
        super().__init__(dbapi, connection)
        self._inline_transactions = inline_transactions

    def _end_inline(self, end: str) -> bool:
        """Run ``commit`` or ``rollback`` on this thread when the connection's transactions are inline."""
        if not (self._inline_transactions and self._connection._connection):
            return False
        try:
            getattr(self._connection._conn, end)()
        except Exception as error:  # noqa: BLE001 - mapped like the stock adapter maps it
            self._handle_exception(error)
        return True

    def commit(self) -> None:
        if not self._end_inline("commit"):
            super().commit()

    def rollback(self) -> None:
        if not self._end_inline("rollback"):
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        inline = bool(kw.pop("inline_transactions", False))
        # used from the event loop's thread too (inline transactions, app.core.hotread), never at the same time
        # as from the worker thread: the connection is checked out by one request, which awaits each hand-off
        kw["check_same_thread"] = False
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection, inline_transactions=inline)


class OneHopDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneHopDialect")


def onehop_url(url: str) -> str:
    """``sqlite+aiosqlite://…`` → the same database through this dialect (other URLs unchanged)."""
    prefix = "sqlite+aiosqlite:"
    return f"sqlite+{DRIVER}:" + url[len(prefix):] if url.startswith(prefix) else url
