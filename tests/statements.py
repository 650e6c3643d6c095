"""Every SQL statement the app sends while a block runs, counted the same way wherever a test pins a cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import event

from app.core import hotread


@contextmanager
def app_statements(app) -> Iterator[list[str]]:
    """Every statement the app's engines send while the block runs (the app's own ``BEGIN`` left out), the hot
    reads that their drivers send directly (:mod:`app.core.hotread`) included."""
    db = app.state.db
    engines = [db.writer] if db.reader is db.writer else [db.writer, db.reader]
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(" ".join(statement.split()))

    driver_rows = hotread._driver_call

    async def hot(conn: Any, dialect: str, sql: str, args: Any, **kw: Any) -> Any:
        done = await driver_rows(conn, dialect, sql, args, **kw)
        if done is not None:  # None: a write before the transaction opened, sent through SQLAlchemy instead
            seen.append(" ".join(sql.split()))
        return done

    with ExitStack() as stack:
        for e in engines:
            event.listen(e.sync_engine, "before_cursor_execute", before)
            stack.callback(event.remove, e.sync_engine, "before_cursor_execute", before)
        hotread._driver_call = hot  # type: ignore[assignment]
        stack.callback(setattr, hotread, "_driver_call", driver_rows)
        yield seen
