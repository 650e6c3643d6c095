"""Queries of supervision: appointments, reports, their events, photos and alerts, the street office's
views and figures, acceptance records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import HouseholdMember, Role, RoleGrant, User
from app.core.content import HIDDEN_PHOTO, VISIBLE_TEXT_VALUES
from app.core.db import new_id, upsert_insert
from app.media.models import MediaObject
from app.projects.models import Project
from app.register.models import Building, Household, Unit
from app.supervision.models import (
    SETTLED,
    Acceptance,
    AcceptanceSignature,
    Alert,
    Appointment,
    Report,
    ReportEvent,
    Severity,
    Status,
)

# ---- people ----------------------------------------------------------------------------------------

async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def user_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    q = select(User.id, User.name).where(col(User.id).in_(ids))
    return {i: n for i, n in (await session.exec(q)).all()}


async def related_to_community(session: AsyncSession, *, user_id: str, community_id: str) -> bool:
    """Whether the user belongs to the community: a member of one of its households, or holding a role
    there (staff of it; supervisor or contractor of one of its projects)."""
    member = (select(HouseholdMember.id).join(Household, col(Household.id) == HouseholdMember.household_id)
              .where(HouseholdMember.user_id == user_id, Household.community_id == community_id).limit(1))
    if (await session.exec(member)).first() is not None:
        return True
    projects = select(Project.id).where(Project.community_id == community_id)
    grant = select(RoleGrant.id).where(RoleGrant.user_id == user_id, or_(
        and_(col(RoleGrant.role) == Role.STAFF.value, col(RoleGrant.scope_id) == community_id),
        and_(col(RoleGrant.role).in_([Role.SUPERVISOR.value, Role.CONTRACTOR.value]),
             col(RoleGrant.scope_id).in_(projects)))).limit(1)
    return (await session.exec(grant)).first() is not None


async def add_user(session: AsyncSession, *, name: str, phone: str | None, now: datetime) -> User:
    """An account without a login (a supervisor known by name and phone); sign-in can be added later."""
    u = User(name=name, phone=phone, created_at=now)
    session.add(u)
    await session.flush()
    return u


async def get_appointment(session: AsyncSession, *, project_id: str, user_id: str, role: str) -> Appointment | None:
    q = select(Appointment).where(Appointment.project_id == project_id, Appointment.user_id == user_id,
                                  Appointment.role == role)
    return (await session.exec(q)).first()


async def appointments(session: AsyncSession, *, project_id: str,
                       role: str) -> list[tuple[Appointment, bool, str | None]]:
    """Appointments of a role with whether the account can sign in (password or WeChat) and the
    account's own phone."""
    can = case((or_(col(User.password_hash).is_not(None), col(User.wechat_openid).is_not(None)), True), else_=False)
    q = (select(Appointment, can, User.phone).join(User, col(User.id) == Appointment.user_id)
         .where(Appointment.project_id == project_id, Appointment.role == role)
         .order_by(col(Appointment.appointed_at), col(Appointment.id)))
    return [(a, bool(c), phone) for a, c, phone in (await session.exec(q)).all()]


# ---- places ----------------------------------------------------------------------------------------

async def building_in(session: AsyncSession, *, community_id: str, building_id: str | None,
                      name: str | None) -> Building | None:
    q = select(Building).where(Building.community_id == community_id)
    q = q.where(Building.id == building_id) if building_id else q.where(Building.name == name)
    return (await session.exec(q)).first()


async def unit_in(session: AsyncSession, *, community_id: str, building_id: str | None, unit_id: str | None,
                  name: str | None) -> Unit | None:
    q = select(Unit).where(Unit.community_id == community_id)
    if building_id:
        q = q.where(Unit.building_id == building_id)
    q = q.where(Unit.id == unit_id) if unit_id else q.where(Unit.name == name)
    return (await session.exec(q)).first()


async def place_names(session: AsyncSession, building_ids: set[str], unit_ids: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if building_ids:
        out |= {i: n for i, n in (await session.exec(
            select(Building.id, Building.name).where(col(Building.id).in_(building_ids)))).all()}
    if unit_ids:
        out |= {i: n for i, n in (await session.exec(
            select(Unit.id, Unit.name).where(col(Unit.id).in_(unit_ids)))).all()}
    return out


# ---- reports ---------------------------------------------------------------------------------------

async def get_report(session: AsyncSession, report_id: str, *, fresh: bool = False) -> Report | None:
    if fresh:
        q = select(Report).where(Report.id == report_id).execution_options(populate_existing=True)
        return (await session.exec(q)).first()
    return await session.get(Report, report_id)


def _overdue_clause(today: date) -> Any:
    return (col(Report.status) == Status.RECTIFYING) & col(Report.due_date).is_not(None) & (col(Report.due_date) < today)


async def reports_page(
    session: AsyncSession, *, project_id: str, after: str | None, limit: int, status: str | None,
    severity: str | None, overdue: bool | None, building_id: str | None, today: date,
    assignee_id: str | None = None, filed_by: str | None = None, content_visible_to: str | None = None,
) -> list[Report]:
    """``content_visible_to``: a user who is not staff: only reports whose text others may see (WeChat's
    content check), their own and those assigned to them."""
    q = select(Report).where(Report.project_id == project_id)
    if content_visible_to is not None:
        q = q.where(or_(col(Report.content_check).in_(VISIBLE_TEXT_VALUES), col(Report.filed_by) == content_visible_to,
                        col(Report.assignee_id) == content_visible_to))
    if status:
        q = q.where(Report.status == status)
    if severity:
        q = q.where(Report.severity == severity)
    if building_id:
        q = q.where(Report.building_id == building_id)
    if overdue is True:
        q = q.where(_overdue_clause(today))
    elif overdue is False:
        q = q.where(~_overdue_clause(today))
    if assignee_id is not None:
        q = q.where(Report.assignee_id == assignee_id)
    if filed_by is not None:
        q = q.where(Report.filed_by == filed_by)
    if after:
        q = q.where(Report.id < after)
    q = q.order_by(col(Report.id).desc()).limit(limit + 1)
    return list((await session.exec(q)).all())


async def set_report_content(session: AsyncSession, *, report_id: str, status: str, only_from: tuple[str, ...]) -> bool:
    """Move a report's content check (only from one of ``only_from``): False when it did not move."""
    stmt = (update(Report).where(col(Report.id) == report_id, col(Report.content_check).in_(only_from))
            .values(content_check=status))
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


async def transition(session: AsyncSession, *, report_id: str, expected_version: int, values: dict[str, Any]) -> bool:
    """Compare-and-set on ``version``: False when another transition won the race."""
    stmt = (update(Report).where(col(Report.id) == report_id, col(Report.version) == expected_version)
            .values(version=expected_version + 1, **values))
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


async def events_of(session: AsyncSession, report_id: str) -> list[ReportEvent]:
    q = select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(col(ReportEvent.at), col(ReportEvent.id))
    return list((await session.exec(q)).all())


async def last_event(session: AsyncSession, report_id: str, action: str) -> ReportEvent | None:
    q = (select(ReportEvent).where(ReportEvent.report_id == report_id, ReportEvent.action == action)
         .order_by(col(ReportEvent.at).desc(), col(ReportEvent.id).desc()).limit(1))
    return (await session.exec(q)).first()


async def photo_stats(session: AsyncSession, report_ids: list[str], *,
                      shown_only: bool = False) -> dict[str, tuple[int, str | None]]:
    """Per report: number of (before) photos and the first photo's id, in one grouped query; ``shown_only``:
    only photos WeChat's content check does not hide (for those who are not staff)."""
    if not report_ids:
        return {}
    q = (select(MediaObject.owner_id, func.count(), func.min(MediaObject.id))
         .where(MediaObject.owner_type == "report", col(MediaObject.owner_id).in_(report_ids))
         .group_by(MediaObject.owner_id))
    if shown_only:
        q = q.where(or_(col(MediaObject.check_status).is_(None),
                        col(MediaObject.check_status).not_in([c.value for c in HIDDEN_PHOTO])))
    return {o: (int(n), first) for o, n, first in (await session.exec(q)).all()}


async def open_critical(session: AsyncSession, project_id: str, cap: int = 50) -> tuple[int, list[str]]:
    base = and_(col(Report.project_id) == project_id, col(Report.severity) == Severity.CRITICAL.value,
                col(Report.status).not_in([s.value for s in SETTLED]))
    n = (await session.exec(select(func.count()).select_from(Report).where(base))).one()
    ids = list((await session.exec(select(Report.id).where(base).order_by(col(Report.id)).limit(cap))).all())
    return int(n), ids


# ---- alerts and the street office ------------------------------------------------------------------

async def admins_of(session: AsyncSession, scope_id: str) -> list[str]:
    """Active users holding the admin role over ``scope_id`` (a jurisdiction: its street office; ``"*"``: the
    global admins), by id."""
    q = (select(RoleGrant.user_id).join(User, col(User.id) == RoleGrant.user_id)
         .where(RoleGrant.role == Role.ADMIN.value, RoleGrant.scope_id == scope_id,
                col(User.is_active).is_(True))
         .order_by(col(RoleGrant.user_id)))
    return list(dict.fromkeys((await session.exec(q)).all()))


async def claim_alert(session: AsyncSession, *, report_id: str, kind: str, period: int, due_date: date | None,
                      now: datetime) -> str | None:
    """Record an alert; None when it was already (unique report, kind, period)."""
    stmt = (upsert_insert(session, Alert)
            .values(id=new_id(), report_id=report_id, kind=kind, period=period, due_date=due_date, recipients=0,
                    messages=0, created_at=now)
            .on_conflict_do_nothing().returning(Alert.id))
    row = (await session.exec(stmt)).first()
    return None if row is None else str(row[0])


async def set_alert_outcome(session: AsyncSession, alert_id: str, *, notified: list[str], audience: str,
                            messages: int) -> None:
    await session.exec(update(Alert).where(col(Alert.id) == alert_id)  # type: ignore[call-overload]
                       .values(recipients=len(notified), notified=notified, audience=audience, messages=messages))


def _no_alert(kind: str) -> Any:
    a = select(Alert.id).where(col(Alert.report_id) == Report.id, col(Alert.kind) == kind,
                               col(Alert.period) == Report.deadline_seq)
    return ~a.exists()


async def escalation_candidates(session: AsyncSession, *, today: date, limit: int) -> list[Report]:
    """Rectifying reports past their due date not yet escalated for their current deadline."""
    q = (select(Report).where(_overdue_clause(today), _no_alert("escalation"))
         .order_by(col(Report.due_date), col(Report.id)).limit(limit))
    return list((await session.exec(q)).all())


async def warning_candidates(session: AsyncSession, *, today: date, until: date, limit: int) -> list[Report]:
    """Rectifying reports due from ``today`` to ``until`` not yet warned of their current deadline."""
    q = (select(Report).where(col(Report.status) == Status.RECTIFYING, col(Report.assignee_id).is_not(None),
                              col(Report.due_date) >= today, col(Report.due_date) <= until, _no_alert("warning"))
         .order_by(col(Report.due_date), col(Report.id)).limit(limit))
    return list((await session.exec(q)).all())


def _in_jurisdiction(jurisdiction_id: str) -> Any:
    return col(Report.project_id).in_(select(Project.id).where(Project.jurisdiction_id == jurisdiction_id))


async def street_office_page(session: AsyncSession, *, jurisdiction_id: str, today: date, after: str | None,
                             limit: int, community_ids: frozenset[str] | None = None) -> list[Report]:
    """Reports of the jurisdiction that need the street office: overdue now, or flagged and not settled (only
    those of ``community_ids`` when given)."""
    flagged_open = col(Report.flagged_at).is_not(None) & col(Report.status).not_in([s.value for s in SETTLED])
    q = select(Report).where(_in_jurisdiction(jurisdiction_id), or_(_overdue_clause(today), flagged_open))
    if community_ids is not None:
        q = q.where(col(Report.community_id).in_(sorted(community_ids)))
    if after:
        q = q.where(Report.id < after)
    q = q.order_by(col(Report.id).desc()).limit(limit + 1)
    return list((await session.exec(q)).all())


async def alert_times(session: AsyncSession, report_ids: list[str], kind: str) -> dict[tuple[str, int], datetime]:
    """(report id, period) → when that alert was recorded."""
    if not report_ids:
        return {}
    q = select(Alert.report_id, Alert.period, Alert.created_at).where(col(Alert.report_id).in_(report_ids),
                                                                        Alert.kind == kind)
    return {(r, p): at for r, p, at in (await session.exec(q)).all()}


async def reports_of_projects(session: AsyncSession, project_ids: list[str]) -> list[Report]:
    if not project_ids:
        return []
    q = select(Report).where(col(Report.project_id).in_(project_ids)).order_by(col(Report.created_at), col(Report.id))
    return list((await session.exec(q)).all())


async def projects_of_jurisdiction(session: AsyncSession, jurisdiction_id: str,
                                   community_ids: frozenset[str] | None = None) -> list[Project]:
    """The jurisdiction's projects (only those of ``community_ids`` when given), oldest first."""
    q = select(Project).where(Project.jurisdiction_id == jurisdiction_id).order_by(col(Project.created_at),
                                                                                   col(Project.id))
    if community_ids is not None:
        q = q.where(col(Project.community_id).in_(sorted(community_ids)))
    return list((await session.exec(q)).all())


async def project_titles(session: AsyncSession, project_ids: set[str]) -> dict[str, str]:
    if not project_ids:
        return {}
    q = select(Project.id, Project.title).where(col(Project.id).in_(project_ids))
    return {i: t for i, t in (await session.exec(q)).all()}


async def contractor_appointments(session: AsyncSession, project_ids: list[str]) -> list[Appointment]:
    if not project_ids:
        return []
    q = (select(Appointment).where(col(Appointment.project_id).in_(project_ids),
                                   Appointment.role == Role.CONTRACTOR.value)
         .order_by(col(Appointment.appointed_at), col(Appointment.id)))
    return list((await session.exec(q)).all())


async def latest_events(session: AsyncSession, report_ids: list[str], action: str) -> dict[str, ReportEvent]:
    """Per report, its latest event of ``action``."""
    if not report_ids:
        return {}
    q = (select(ReportEvent).where(col(ReportEvent.report_id).in_(report_ids), ReportEvent.action == action)
         .order_by(col(ReportEvent.at), col(ReportEvent.id)))
    return {e.report_id: e for e in (await session.exec(q)).all()}


# ---- acceptance ------------------------------------------------------------------------------------

async def acceptance_of(session: AsyncSession, project_id: str) -> Acceptance | None:
    q = select(Acceptance).where(Acceptance.project_id == project_id)
    return (await session.exec(q)).first()


async def signatures(session: AsyncSession, acceptance_id: str) -> list[AcceptanceSignature]:
    q = (select(AcceptanceSignature).where(AcceptanceSignature.acceptance_id == acceptance_id)
         .order_by(col(AcceptanceSignature.signed_at), col(AcceptanceSignature.id)))
    return list((await session.exec(q)).all())


async def signature_count(session: AsyncSession, acceptance_id: str) -> int:
    q = select(func.count()).select_from(AcceptanceSignature).where(AcceptanceSignature.acceptance_id == acceptance_id)
    return int((await session.exec(q)).one())


async def signed_households(session: AsyncSession, acceptance_id: str) -> set[str]:
    q = select(AcceptanceSignature.household_id).where(AcceptanceSignature.acceptance_id == acceptance_id,
                                                       col(AcceptanceSignature.household_id).is_not(None))
    return {h for h in (await session.exec(q)).all() if h}


async def set_project_accepted(session: AsyncSession, *, project_id: str, accepted_at: datetime) -> None:
    await session.exec(update(Project).where(col(Project.id) == project_id)  # type: ignore[call-overload]
                       .values(accepted_at=accepted_at))
