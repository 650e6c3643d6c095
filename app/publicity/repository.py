"""Queries of notices and objections. Status filters are SQL over the clock, mirroring service.status_of."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import User
from app.core import repository as base
from app.core.content import VISIBLE_TEXT_VALUES
from app.core.db import upsert_insert
from app.core.hotread import HotRead
from app.media.models import MediaObject
from app.publicity.models import Notice, NoticeKind, NoticeStatus, Objection, ObjectionStatus
from app.register.models import Household


async def get_notice(session: AsyncSession, notice_id: str) -> Notice | None:
    return await base.get(session, Notice, notice_id)


async def add_notice(session: AsyncSession, notice: Notice) -> None:
    session.add(notice)
    await session.flush()


async def insert_notice_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (unique motion_id, kind): False when the row already existed."""
    ins = upsert_insert(session, Notice)
    res = await session.exec(ins.values(**values).on_conflict_do_nothing())
    return res.rowcount == 1


async def notice_for_motion(session: AsyncSession, motion_id: str,
                            kind: NoticeKind = NoticeKind.VOTE_RESULT, *, revision: int = 1) -> Notice | None:
    """The motion's notice of a generated kind (its vote-result notice of a result revision, or its vote
    notice)."""
    q = (select(Notice).where(Notice.motion_id == motion_id, Notice.kind == kind.value, Notice.revision == revision)
         .execution_options(populate_existing=True))
    return (await session.exec(q)).first()


async def result_notices(session: AsyncSession, motion_ids: list[str]) -> list[Notice]:
    """Every vote-result notice of the motions (each revision's), by motion then revision."""
    if not motion_ids:
        return []
    q = (select(Notice).where(col(Notice.motion_id).in_(motion_ids), Notice.kind == NoticeKind.VOTE_RESULT.value)
         .order_by(col(Notice.motion_id), col(Notice.revision)))
    return list((await session.exec(q)).all())


_NOTICE_KEYS = tuple(c.key for c in Notice.__table__.columns)  # type: ignore[attr-defined]
# a notice of the community listing: the notice's columns by name, read like a Notice (a named tuple)
ListedNotice: Any = namedtuple("ListedNotice", _NOTICE_KEYS)  # type: ignore[misc]  # fields: the table's columns
NoticeRow = Any  # a ListedNotice

_COUNTED = (ObjectionStatus.PENDING, ObjectionStatus.ACCEPTED, ObjectionStatus.REJECTED)


async def objection_counts(session: AsyncSession, notice_ids: list[str]) -> dict[str, dict[str, int]]:
    """notice id -> {pending, accepted, rejected} in one GROUP BY."""
    out: dict[str, dict[str, int]] = {nid: {s.value: 0 for s in ObjectionStatus} for nid in notice_ids}
    if not notice_ids:
        return out
    q = (select(Objection.notice_id, Objection.status, func.count())
         .where(col(Objection.notice_id).in_(notice_ids))
         .group_by(Objection.notice_id, Objection.status))
    for nid, status, n in (await session.exec(q)).all():
        out[nid][status] = int(n)
    return out


def _has(status: ObjectionStatus) -> Any:
    return (select(Objection.id)
            .where(Objection.notice_id == Notice.id, Objection.status == status.value)
            .exists())


def status_clause(status: NoticeStatus, now: datetime) -> Any:
    accepted, pending = _has(ObjectionStatus.ACCEPTED), _has(ObjectionStatus.PENDING)
    if status == NoticeStatus.FAILED:
        return accepted
    if status == NoticeStatus.SCHEDULED:
        return and_(~accepted, col(Notice.opens_at) > now)
    if status == NoticeStatus.OPEN:
        return and_(~accepted, col(Notice.opens_at) <= now, or_(col(Notice.closes_at) > now, pending))
    return and_(~accepted, col(Notice.closes_at) <= now, ~pending)


def _objections(status: ObjectionStatus) -> Any:
    return (select(func.count()).select_from(Objection)
            .where(Objection.notice_id == Notice.id, Objection.status == status.value).scalar_subquery())


# residents open this list after every push: the statement is built once, with bound parameters (building it
# took longer than running it), and its rows are read as they come, the notice's columns by name (no ORM object:
# loading ten of them cost more than the statement, issue 17)
_LISTING = (
    sa_select(*Notice.__table__.columns,  # type: ignore[attr-defined]
              *(_objections(s).label(f"objections_{s.value}") for s in _COUNTED),
              select(MediaObject.id).where(MediaObject.owner_type == bindparam("media_owner_type"),
                                           MediaObject.owner_id == Notice.id).exists().label("has_media"))
    .where(col(Notice.community_id) == bindparam("community_id"))
    .order_by(col(Notice.created_at).desc(), col(Notice.id).desc())
    .limit(bindparam("limit"))
)
_LISTED = len(_NOTICE_KEYS)
# the first page, the read after every push (issue 17): sent by the driver (app.core.hotread), up to
# HOT_PAGE_LIMIT notices — on SQLite it runs on the event loop's thread, so longer pages, later pages and status
# filters go through SQLAlchemy
_FIRST_PAGE = HotRead(_LISTING)
HOT_PAGE_LIMIT = 50


async def community_notices_page(
    session: AsyncSession, community_id: str, *, after: tuple[datetime, str] | None, limit: int,
    status: NoticeStatus | None, now: datetime, media_owner_type: str,
) -> list[tuple[NoticeRow, dict[str, int], bool]]:
    """Up to ``limit + 1`` notices, newest first, each with its objections by status and whether it has media of
    ``media_owner_type`` (its attachments) — one statement. The notices are named tuples of their columns
    (:data:`ListedNotice`). Read on the session's connection without an autoflush (the first page by the driver,
    :data:`_FIRST_PAGE`): for requests that only read."""
    params = {"community_id": community_id, "limit": limit + 1, "media_owner_type": media_owner_type}
    rows: Sequence[Sequence[Any]]
    if after is None and status is None and limit <= HOT_PAGE_LIMIT:
        rows = await _FIRST_PAGE.all(session, **params)
    else:
        q = _LISTING
        if after is not None:
            at, nid = after
            q = q.where(or_(col(Notice.created_at) < at, and_(col(Notice.created_at) == at, col(Notice.id) < nid)))
        if status is not None:
            q = q.where(status_clause(status, now))
        rows = (await (await session.connection()).execute(q, params)).all()
    return [(ListedNotice._make(row[:_LISTED]),
             {s.value: int(n) for s, n in zip(_COUNTED, row[_LISTED:_LISTED + 3], strict=True)},
             bool(row[_LISTED + 3])) for row in rows]


async def latest_plan_notice(session: AsyncSession, project_id: str) -> Notice | None:
    q = (select(Notice).where(Notice.project_id == project_id, Notice.kind == NoticeKind.PLAN.value)
         .order_by(col(Notice.created_at).desc(), col(Notice.id).desc()).limit(1))
    return (await session.exec(q)).first()


async def add_objection(session: AsyncSession, objection: Objection) -> None:
    session.add(objection)
    await session.flush()


async def get_objection(session: AsyncSession, objection_id: str, *, fresh: bool = False) -> Objection | None:
    return await base.get(session, Objection, objection_id, fresh=fresh)


async def resolve_objection(session: AsyncSession, *, objection_id: str, status: str, reason: str, by: str,
                            at: datetime) -> bool:
    """Compare-and-set pending → accepted/rejected: False when it was already resolved."""
    stmt = (update(Objection)
            .where(col(Objection.id) == objection_id, col(Objection.status) == ObjectionStatus.PENDING.value)
            .values(status=status, resolution_reason=reason, resolved_by=by, resolved_at=at))
    res = await session.exec(stmt)
    return res.rowcount == 1


async def set_objection_content(session: AsyncSession, *, objection_id: str, status: str,
                                only_from: tuple[str, ...]) -> bool:
    """Move an objection's content check (only from one of ``only_from``): False when it did not move."""
    stmt = (update(Objection).where(col(Objection.id) == objection_id, col(Objection.content_check).in_(only_from))
            .values(content_check=status))
    res = await session.exec(stmt)
    return res.rowcount == 1


async def objections_page(
    session: AsyncSession, notice_id: str, *, after: tuple[datetime, str] | None, limit: int,
    visible_to: str | None,
) -> list[tuple[Objection, str | None, str | None]]:
    """Objections of a notice (oldest first) with the filer's name and the household's room.

    ``visible_to``: None = everything (staff); a user id = resolved ones whose text others may see (WeChat's
    content check) plus that user's own.
    """
    q = (select(Objection, User.name, Household.room)
         .join(User, col(User.id) == Objection.filed_by)
         .outerjoin(Household, col(Household.id) == Objection.household_id)
         .where(Objection.notice_id == notice_id)
         .order_by(col(Objection.filed_at), col(Objection.id)).limit(limit + 1))
    if visible_to is not None:
        q = q.where(or_(and_(col(Objection.status) != ObjectionStatus.PENDING.value,
                             col(Objection.content_check).in_(VISIBLE_TEXT_VALUES)),
                        col(Objection.filed_by) == visible_to))
    if after is not None:
        at, oid = after
        q = q.where(or_(col(Objection.filed_at) > at, and_(col(Objection.filed_at) == at, col(Objection.id) > oid)))
    return [(o, name, room) for o, name, room in (await session.exec(q)).all()]


async def households_rooms(session: AsyncSession, household_ids: list[str]) -> dict[str, str]:
    if not household_ids:
        return {}
    q = select(Household.id, Household.room).where(col(Household.id).in_(household_ids))
    return {hid: room for hid, room in (await session.exec(q)).all()}




async def media_of(session: AsyncSession, *, owner_type: str, owner_ids: list[str]) -> dict[str, list[MediaObject]]:
    """owner id -> its media (in upload order), for a page of owners in one query."""
    out: dict[str, list[MediaObject]] = {oid: [] for oid in owner_ids}
    if not owner_ids:
        return out
    q = (select(MediaObject).where(MediaObject.owner_type == owner_type, col(MediaObject.owner_id).in_(owner_ids))
         .order_by(col(MediaObject.position), col(MediaObject.id)))
    for m in (await session.exec(q)).all():
        out[m.owner_id].append(m)
    return out


async def user_name(session: AsyncSession, user_id: str) -> str | None:
    return (await session.exec(select(User.name).where(User.id == user_id))).first()
