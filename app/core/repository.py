"""What every domain's repository does the same way: read a row by id, add a row, page by a sort key.

Each domain keeps its own ``repository.py`` with the queries only it knows; these are the three moves they all
make, written once so that they behave the same everywhere:

* :func:`get` — a row by primary key, ``None`` for an id that cannot exist (empty or longer than any id we
  issue, so a hostile path parameter never reaches the database as a long string). ``lock`` reads it ``FOR
  UPDATE`` (a no-op on SQLite, where the one writer connection serialises writes anyway); ``lock`` and
  ``fresh`` both overwrite what the session already holds of the row, so the caller sees the committed state
  and not a stale copy from earlier in the request.
* :func:`add` — add and flush, so database constraints (unique keys that settle races) fire here, inside the
  request's transaction, and the caller can map them to a 409.
* :func:`keyset` — one page of a query ordered by a unique key: ``limit + 1`` rows after ``after``; the caller
  hands the rows to :func:`app.core.pagination.make_page`, which cuts the extra row into ``next_cursor``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select as SASelect
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

M = TypeVar("M", bound=SQLModel)
Q = TypeVar("Q", bound=SASelect)  # type: ignore[type-arg]  # any select: of one model, or of several columns
ID_MAX = 32
"""Ids are 32 hex digits (app.core.db.new_id); anything longer is not one of ours."""


async def get(session: AsyncSession, model: type[M], row_id: str | None, *, lock: bool = False,
              fresh: bool = False) -> M | None:
    if not row_id or len(row_id) > ID_MAX:
        return None
    if not lock and not fresh:
        return await session.get(model, row_id)
    q = select(model).where(col(model.id) == row_id)  # type: ignore[attr-defined]
    if lock:
        q = q.with_for_update()
    return (await session.exec(q.execution_options(populate_existing=True))).first()


async def add(session: AsyncSession, row: M) -> M:
    session.add(row)
    await session.flush()
    return row


def keyset(q: Q, key: InstrumentedAttribute[Any] | Any, *, after: Any | None, limit: int) -> Q:
    """``q`` ordered by ``key`` (unique), the rows after ``after``, at most ``limit + 1``."""
    if after is not None:
        q = q.where(col(key) > after)
    return q.order_by(col(key)).limit(limit + 1)
