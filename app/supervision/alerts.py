"""Who is told what about a report, and the worker's deadline round.

Messages go through the outbox contract (:mod:`app.supervision.contracts`), in the same transaction as the
change that causes them:

* **Every transition**: the reporter, with the new status (not when they took the action themselves); and
  when the report goes to rectifying (``assign``, ``reject``, ``reopen``) the assignee, with the due date.
* **A flag**: when a report's ``reopen_count`` reaches the profile's ``reopen_flag_at``, ``flagged_at`` is
  set and the street office (the admins of the project's jurisdiction) is told — once, recorded as an
  :class:`~app.supervision.models.Alert` of kind ``flag``.
* **The street office** (:func:`street_office`): the active admins of the project's jurisdiction; when the
  jurisdiction has none, the active global admins instead (never nobody while an admin exists). The alert
  row records who was told (``notified``, by id) and whose office it was (``audience``).
* **The deadline round** (:func:`run_deadline_alerts`, from the worker's tick, on Chinese working days only —
  statutory holidays off, adjusted working Saturdays and Sundays on — between 09:00 and 20:00
  Asia/Shanghai; a round on a day off sends nothing, the next working day's round sends what is due then):
  a report still rectifying gets a **warning** to its assignee from the profile's
  ``rectification_warning_working_days`` working days before its due date until the due date itself, and an
  **escalation** to the street office and the assignee once the due date has passed. Each is claimed as an
  ``Alert`` unique on (report, kind, ``deadline_seq``) before anything is queued, so a tick that runs twice,
  or two workers at once, send it once: one warning per deadline, one escalation per overdue period (a new
  deadline — reassignment, failed verification, reopening — starts a new period). A report that is already
  overdue when first seen is escalated, not warned. Every alert is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import ALL
from app.core import audit
from app.projects.models import Project
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.rules import SHANGHAI, business_date, end_of_day, is_working_day
from app.rules.deadlines import warning_day
from app.supervision import repository as repo
from app.supervision.common import project_of
from app.supervision.contracts import OUTBOX, MessageKind, ReportMessage
from app.supervision.models import AlertAudience, AlertKind, Report, Status

# the deadline round runs in the daytime of working days only (Asia/Shanghai)
ROUND_FROM = time(9, 0)
ROUND_UNTIL = time(20, 0)
WARNING_HORIZON = timedelta(days=60)  # a warning day is never further before its due date than this
ROUND_LIMIT = 200

STATUS_TEXT = {"acknowledged": "您反映的问题已受理", "rectifying": "您反映的问题已派单整改",
               "rectified": "您反映的问题已整改，待复核", "verified": "您反映的问题已复核通过",
               "closed": "您反映的问题已办结", "dismissed": "您反映的问题未予受理"}


async def queue(session: AsyncSession, messages: Sequence[ReportMessage], *, now: datetime) -> int:
    return await OUTBOX.get()(session, messages=messages, now=now) if messages else 0


def _message(report: Report, user_id: str, kind: MessageKind, at: datetime, text: str) -> ReportMessage:
    return ReportMessage(user_id=user_id, report_id=report.id, community_id=report.community_id, kind=kind,
                         title=report.title, at=at, text=text)


async def street_office(session: AsyncSession, jurisdiction_id: str) -> tuple[AlertAudience, list[str]]:
    """Who is told of an escalation or a flag in the jurisdiction: its admins (the street office), else the
    global admins, by id."""
    office = await repo.admins_of(session, jurisdiction_id)
    if office:
        return AlertAudience.STREET_OFFICE, office
    fallback = await repo.admins_of(session, ALL)
    return (AlertAudience.GLOBAL_ADMINS, fallback) if fallback else (AlertAudience.NOBODY, [])


# ---- transitions ------------------------------------------------------------------------------------

def transition_messages(report: Report, *, action: str, to_status: str, actor_id: str, now: datetime,
                        ) -> list[ReportMessage]:
    """``report`` as it is after the transition."""
    out = []
    if report.filed_by != actor_id:
        text = STATUS_TEXT.get(to_status, "您反映的问题状态已更新")
        if action in ("reject", "reopen"):
            text = "您反映的问题已重新整改" if to_status == Status.RECTIFYING else "您反映的问题已重新受理"
        out.append(_message(report, report.filed_by, MessageKind.TRANSITION, now, text))
    if (to_status == Status.RECTIFYING and report.assignee_id and report.due_date is not None
            and report.assignee_id not in (actor_id, report.filed_by)):
        text = "复核未通过，请重新整改" if action == "reject" else "请在期限内完成整改"
        out.append(_message(report, report.assignee_id, MessageKind.TRANSITION, end_of_day(report.due_date), text))
    return out


async def flag(session: AsyncSession, *, report: Report, project: Project, now: datetime) -> None:
    """Tell the street office that ``report`` (as it is after the reopening) has been reopened too often."""
    alert_id = await repo.claim_alert(session, report_id=report.id, kind=AlertKind.FLAG, period=report.reopen_count,
                                      due_date=report.due_date, now=now)
    if alert_id is None:
        return
    audience, office = await street_office(session, project.jurisdiction_id)
    text = f"该问题已重新打开{report.reopen_count}次，请督办"
    sent = await queue(session, [_message(report, u, MessageKind.FLAG, now, text) for u in office], now=now)
    await repo.set_alert_outcome(session, alert_id, notified=office, audience=audience, messages=sent)
    await audit.append(session, chain=report.community_id, action="report.flagged", entity_type="report",
                       entity_id=report.id, actor_id=None, at=now,
                       data={"reopen_count": report.reopen_count, "street_office": len(office),
                             "audience": audience.value, "notified": office, "messages": sent})


# ---- the deadline round ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertRun:
    warnings: int
    escalations: int
    messages: int


class _Places:
    """Projects and rules profiles of the reports of one round, each read once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.projects: dict[str, Project] = {}
        self.profiles: dict[str, RulesProfile] = {}

    async def project(self, project_id: str) -> Project:
        if project_id not in self.projects:
            self.projects[project_id] = await project_of(self.session, project_id=project_id)
        return self.projects[project_id]

    async def profile(self, community_id: str) -> RulesProfile:
        if community_id not in self.profiles:
            self.profiles[community_id] = await register_service.profile_for_community(self.session, community_id=community_id)
        return self.profiles[community_id]


async def _warn(session: AsyncSession, report: Report, *, now: datetime) -> int | None:
    assert report.due_date is not None and report.assignee_id is not None
    alert_id = await repo.claim_alert(session, report_id=report.id, kind=AlertKind.WARNING,
                                      period=report.deadline_seq, due_date=report.due_date, now=now)
    if alert_id is None:
        return None
    msg = _message(report, report.assignee_id, MessageKind.WARNING, end_of_day(report.due_date),
                   "整改期限将至，请尽快完成整改")
    sent = await queue(session, [msg], now=now)
    await repo.set_alert_outcome(session, alert_id, notified=[report.assignee_id], audience=AlertAudience.ASSIGNEE,
                                 messages=sent)
    await audit.append(session, chain=report.community_id, action="report.deadline_warning", entity_type="report",
                       entity_id=report.id, actor_id=None, at=now,
                       data={"due_date": report.due_date.isoformat(), "assignee_id": report.assignee_id,
                             "messages": sent})
    return sent


async def _escalate(session: AsyncSession, report: Report, project: Project, *, now: datetime) -> int | None:
    assert report.due_date is not None
    alert_id = await repo.claim_alert(session, report_id=report.id, kind=AlertKind.ESCALATION,
                                      period=report.deadline_seq, due_date=report.due_date, now=now)
    if alert_id is None:
        return None
    audience, office = await street_office(session, project.jurisdiction_id)
    due = end_of_day(report.due_date)
    msgs = [_message(report, u, MessageKind.ESCALATION, due, "整改已超期，请督办") for u in office]
    if report.assignee_id is not None and report.assignee_id not in office:
        msgs.append(_message(report, report.assignee_id, MessageKind.ESCALATION, due, "整改已超期，请立即整改"))
    sent = await queue(session, msgs, now=now)
    notified = [m.user_id for m in msgs]
    await repo.set_alert_outcome(session, alert_id, notified=notified, audience=audience, messages=sent)
    await audit.append(session, chain=report.community_id, action="report.escalated", entity_type="report",
                       entity_id=report.id, actor_id=None, at=now,
                       data={"due_date": report.due_date.isoformat(), "assignee_id": report.assignee_id,
                             "street_office": len(office), "audience": audience.value, "notified": notified,
                             "messages": sent})
    return sent


def in_round_hours(now: datetime) -> bool:
    """Whether ``now`` is in the round's hours: 09:00–20:00 Asia/Shanghai of a working day (official calendar;
    years it does not cover: Monday–Friday)."""
    local = now.astimezone(SHANGHAI)
    return ROUND_FROM <= local.time() < ROUND_UNTIL and is_working_day(local.date()).working


async def run_deadline_alerts(session: AsyncSession, *, now: datetime, limit: int = ROUND_LIMIT) -> AlertRun:
    """Queue the warnings and escalations that are due (see the module doc). Never commits (the caller
    does); on a day off (official calendar) or outside 09:00–20:00 Shanghai it does nothing."""
    if not in_round_hours(now):
        return AlertRun(0, 0, 0)
    today = business_date(now)
    places = _Places(session)
    warnings = escalations = messages = 0
    for report in await repo.escalation_candidates(session, today=today, limit=limit):
        sent = await _escalate(session, report, await places.project(report.project_id), now=now)
        if sent is not None:
            escalations += 1
            messages += sent
    for report in await repo.warning_candidates(session, today=today, until=today + WARNING_HORIZON, limit=limit):
        assert report.due_date is not None
        lead = (await places.profile(report.community_id)).rectification_warning_working_days
        if today < warning_day(report.due_date, lead):
            continue
        sent = await _warn(session, report, now=now)
        if sent is not None:
            warnings += 1
            messages += sent
    return AlertRun(warnings, escalations, messages)
