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
* :func:`held` and :func:`attach_loaded` — a row read by a hot statement (:mod:`app.core.hotread`) made the
  session's own object, as if the ORM had loaded it, for a hot path that may go on to change it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select as SASelect
from sqlalchemy import inspect
from sqlalchemy.orm import InstrumentedAttribute, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
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


async def held(session: AsyncSession, model: type[M], row_id: str) -> M | None:
    """The row's object when the session already holds it: as it is (no statement), as the ORM would give it,
    or read again when it was expired (a rollback expires what the session holds)."""
    found = session.identity_map.get(session.identity_key(model, row_id))
    if not isinstance(found, model):
        return None
    if inspect(found).expired_attributes:
        await session.refresh(found)
    return found


def loaded(model: type[M], values: dict[str, Any]) -> M:
    """A row read without the ORM (every column, by attribute name) as an object of no session, for a check that
    only reads it: nothing is added to a session's identity map (what :func:`attach_loaded` costs besides)."""
    row = manager_of_class(model).new_instance()
    inspect(row).dict.update(values)
    return row


def attach_loaded(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M:
    """A row read without the ORM (every column, by attribute name) as the session's persistent object, as if
    the ORM had loaded it: its values are its committed state, a change to it is flushed as an UPDATE, and a
    locking or fresh :func:`get` refreshes it. Only for a row the session does not hold yet (:func:`held`)."""
    # as the ORM's loader makes an object of a row: no __init__ (a table model's costs 0.15 ms), the values put
    # in its dict as they came from the database (loaded), then given the row's identity
    row = loaded(model, values)
    make_transient_to_detached(row)
    session.add(row)
    return row
