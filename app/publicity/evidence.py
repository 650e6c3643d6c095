"""Publicity's part of a closed motion's evidence pack (:data:`app.voting.contracts.EVIDENCE_SOURCES`,
registered by :mod:`app.wiring`): ``notices.json``, every notice that names the motion with every objection
filed against it and its resolution. Objections carry the household and its room, never the filer's name."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.publicity import repository as repo
from app.publicity.models import Notice, Objection

_PAGE = 500


def _t(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _notice(n: Notice, objections: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "project_id": n.project_id,
            "plan_id": n.plan_id, "motion_id": n.motion_id, "start_date": n.start_date.isoformat(),
            "counting_starts": n.counting_starts.isoformat(), "end_date": n.end_date.isoformat(),
            "working_days": n.working_days, "provisional": n.provisional, "opens_at": _t(n.opens_at),
            "closes_at": _t(n.closes_at), "created_at": _t(n.created_at), "created_by": n.created_by,
            "objections": objections}


def _objection(o: Objection, room: str | None) -> dict[str, Any]:
    return {"id": o.id, "household_id": o.household_id, "room": room, "filed_at": _t(o.filed_at), "text": o.text,
            "status": o.status, "resolution_reason": o.resolution_reason, "resolved_by": o.resolved_by,
            "resolved_at": _t(o.resolved_at)}


async def _objections(session: AsyncSession, notice_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: tuple[datetime, str] | None = None
    while True:
        rows = await repo.objections_page(session, notice_id, after=after, limit=_PAGE, visible_to=None)
        out += [_objection(o, room) for o, _name, room in rows[:_PAGE]]
        if len(rows) <= _PAGE:
            return out
        last = rows[_PAGE - 1][0]
        after = (last.filed_at, last.id)


async def motion_notices(session: AsyncSession, *, motion_id: str) -> list[tuple[str, bytes]]:
    """``notices.json``: the motion's notices (oldest first), each with its objections and resolutions."""
    q = (select(Notice).where(Notice.motion_id == motion_id)
         .order_by(col(Notice.created_at), col(Notice.id)))
    notices = [_notice(n, await _objections(session, n.id)) for n in (await session.exec(q)).all()]
    data = json.dumps({"motion_id": motion_id, "notices": notices}, ensure_ascii=False, indent=2, sort_keys=True)
    return [("notices.json", data.encode("utf-8"))]
