"""Messages to one user about something of a domain below turnout, through the same outbox as reminders.

Supervision declares what it wants delivered as :class:`app.supervision.contracts.ReportMessage` values and
the composition root registers :func:`queue_report_messages` as its queue (:mod:`app.wiring`). Each message
becomes one outbox row (item type ``report``) when its user is active and bound to WeChat, written in the
caller's transaction and delivered by the worker like a reminder (template data thing1 / time2 / thing3, the
mini-program page of the report); a user who cannot be reached — or has no unused one-time subscription for
the template (:mod:`app.turnout.grants`: one grant, one message, used here in the caller's transaction) — is
skipped: they see the report in the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.core.db import new_id
from app.core.errors import NotFound
from app.rules import SHANGHAI
from app.supervision.contracts import ReportMessage
from app.turnout import grants
from app.turnout import repository as repo
from app.turnout.models import OutboxStatus

THING_MAX = 20  # WeChat "thing" template values: at most 20 characters


def _thing(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= THING_MAX else text[:THING_MAX - 1] + "…"


def _moment_zh(at: datetime) -> str:
    local = at.astimezone(SHANGHAI)
    if local.time() == time(0):
        local -= timedelta(minutes=1)  # 24:00 of a due date reads as 23:59 of that day
    return f"{local:%Y年%m月%d日 %H:%M}"


def report_payload(m: ReportMessage) -> dict[str, Any]:
    return {
        "page": f"pages/report/detail?id={m.report_id}",
        "data": {"thing1": {"value": _thing(m.title)}, "time2": {"value": _moment_zh(m.at)},
                 "thing3": {"value": _thing(m.text)}},
        "kind": m.kind.value,
        "template_id": grants.subscribe_templates()[0],
    }


async def _openids(session: AsyncSession, user_ids: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for uid in sorted(user_ids):
        try:
            user = await auth_service.user_or_404(session, user_id=uid)
        except NotFound:
            continue
        if user.is_active and user.wechat_openid:
            out[uid] = user.wechat_openid
    return out


async def queue_report_messages(session: AsyncSession, *, messages: Sequence[ReportMessage], now: datetime) -> int:
    """Write an outbox row for each message whose user can be reached; the number written."""
    if not messages:
        return 0
    openids = await _openids(session, {m.user_id for m in messages})
    payloads = [(m, report_payload(m)) for m in messages if m.user_id in openids]
    rows = []
    for template_id in sorted({grants.template_of(p) for _, p in payloads}):
        pending = [(m, p) for m, p in payloads if grants.template_of(p) == template_id]
        while pending:  # one grant per message: a user told twice in one call uses two
            first: dict[str, tuple[ReportMessage, dict[str, Any]]] = {}
            later = []
            for m, p in pending:
                if m.user_id in first:
                    later.append((m, p))
                else:
                    first[m.user_id] = (m, p)
            used = await grants.use_grants(session, template_id=template_id, user_ids=list(first), now=now)
            rows += [_row(m, p, openids[m.user_id], now) for uid, (m, p) in first.items() if uid in used]
            pending = [(m, p) for m, p in later if m.user_id in used]
    await repo.add_outbox(session, rows)
    return len(rows)


def _row(m: ReportMessage, payload: dict[str, Any], openid: str, now: datetime) -> dict[str, Any]:
    return {"id": new_id(), "channel": "wechat_subscribe", "community_id": m.community_id, "item_type": "report",
            "item_id": m.report_id, "household_id": None, "user_id": m.user_id, "recipient": openid,
            "payload": payload, "status": OutboxStatus.PENDING.value, "attempts": 0, "next_attempt_at": now,
            "created_at": now}
