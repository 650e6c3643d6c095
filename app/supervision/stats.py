"""The street office's views of supervision: the reports that need it in a jurisdiction, and the figures of
a project or a jurisdiction that contractors are judged by.

Counted on the Shanghai date of ``now`` (``as_of``):

* by status, by severity (every value, zeros included) and by catalog item (most reported first);
* **rectification**: ``with_deadline`` (rectifying, rectified, verified or closed, with a due date);
  ``overdue_now`` (rectifying past the due date); ``late`` (the latest rectification's Shanghai date after the
  due date); ``overdue_share`` = (overdue_now + late) / with_deadline as an exact fraction with a display
  percent; the **median working days** from the first assignment (counted from the next day, as deadlines
  are) to the latest rectification of the reports whose rectification stands (rectified, verified, closed) —
  exact: twice the median is an integer, served as "3" or "3.5" (:mod:`app.rules.deadlines`); reports
  reopened at least once, flagged, and whose latest rectification is ``location_unverified``;
* the same per **contractor** (the account reports are assigned to now, with the name and company of their
  appointment), and for a jurisdiction per project.

Staff, admins and the project's supervisors see a project's figures; the jurisdiction's admins (the street
office) and global admins see the jurisdiction's, and its reports that are overdue now or flagged and not yet
settled; staff of communities of the jurisdiction see the same views restricted to their communities
(``supervision.overview`` with :func:`app.auth.policy.jurisdiction_reach`); anyone else: 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import Role
from app.auth.policy import Principal, authorize, jurisdiction_reach
from app.core.errors import Forbidden
from app.core.pagination import Page, PageParams, encode_cursor
from app.projects import service as project_service
from app.projects.gates import Ratio
from app.register import service as register_service
from app.rules import business_date
from app.rules.deadlines import halves_text, median_x2, working_days_overdue, working_days_taken
from app.supervision import repository as repo
from app.supervision.common import is_overdue, project_of, scope_of
from app.supervision.models import (
    RECTIFIED_STATES,
    SETTLED,
    AlertKind,
    Appointment,
    LocationCheck,
    Report,
    Severity,
    Status,
)
from app.supervision.schemas import (
    CatalogCount,
    ContractorFigures,
    JurisdictionSupervisionStats,
    ProjectFigures,
    ProjectSupervisionStats,
    RectificationFigures,
    StreetOfficeReport,
    SupervisionStats,
)

_WITH_DEADLINE = frozenset({Status.RECTIFYING, *RECTIFIED_STATES})
_STATS_ROLES = frozenset({Role.ADMIN, Role.STAFF, Role.SUPERVISOR})


def is_late(r: Report) -> bool:
    """Rectified (and still standing) after the due date."""
    return (r.status in RECTIFIED_STATES and r.rectified_at is not None and r.due_date is not None
            and business_date(r.rectified_at) > r.due_date)


def days_taken(r: Report) -> int | None:
    if r.status not in RECTIFIED_STATES or r.assigned_at is None or r.rectified_at is None:
        return None
    return working_days_taken(r.assigned_at, r.rectified_at)


def rectification_figures(reports: Iterable[Report], today: date) -> RectificationFigures:
    rs = list(reports)
    with_deadline = [r for r in rs if r.status in _WITH_DEADLINE and r.due_date is not None]
    overdue_now = sum(1 for r in with_deadline if is_overdue(report=r, today=today))
    late = sum(1 for r in with_deadline if is_late(r))
    taken = [d for d in (days_taken(r) for r in rs) if d is not None]
    x2 = median_x2(taken)
    share = project_service.figure(ratio=Ratio(overdue_now + late, len(with_deadline)))
    assert share is not None
    return RectificationFigures(
        with_deadline=len(with_deadline), rectified=sum(1 for r in rs if r.status in RECTIFIED_STATES),
        overdue_now=overdue_now, late=late, overdue_share=share,
        median_working_days=halves_text(x2) if x2 is not None else None,
        reopened=sum(1 for r in rs if r.reopen_count > 0), flagged=sum(1 for r in rs if r.flagged_at is not None),
        location_unverified=sum(1 for r in rs if r.location_check == LocationCheck.UNVERIFIED))


def _by_catalog(reports: list[Report]) -> list[CatalogCount]:
    counts = Counter((r.catalog_seq, r.title if r.catalog_seq is None else None) for r in reports)
    titles: dict[tuple[int | None, str | None], str] = {}
    for r in reports:  # a catalog item's title as first reported
        titles.setdefault((r.catalog_seq, r.title if r.catalog_seq is None else None), r.title)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0] is None, kv[0][0] or 0, titles[kv[0]]))
    return [CatalogCount(catalog_seq=seq, title=titles[(seq, free)], reports=n) for (seq, free), n in rows]


def _contractors(reports: list[Report], appointments: list[Appointment], today: date) -> list[ContractorFigures]:
    who: dict[str, Appointment] = {}
    for a in appointments:
        who.setdefault(a.user_id, a)
    mine: dict[str, list[Report]] = {}
    for r in reports:
        if r.assignee_id is not None:
            mine.setdefault(r.assignee_id, []).append(r)
    out = []
    for uid, rs in mine.items():
        appointed = who.get(uid)
        out.append(ContractorFigures(user_id=uid, name=appointed.name if appointed else "",
                                     organization=appointed.organization if appointed else None,
                                     assigned=len(rs), **rectification_figures(rs, today).model_dump()))
    return sorted(out, key=lambda c: (c.organization or "", c.name, c.user_id))


def _common(reports: list[Report], appointments: list[Appointment], today: date) -> dict[str, Any]:
    status = Counter(r.status for r in reports)
    severity = Counter(r.severity for r in reports)
    return SupervisionStats(
        as_of=today, reports=len(reports), by_status={s.value: status.get(s.value, 0) for s in Status},
        by_severity={s.value: severity.get(s.value, 0) for s in Severity}, by_catalog_item=_by_catalog(reports),
        rectification=rectification_figures(reports, today),
        contractors=_contractors(reports, appointments, today)).model_dump()


async def project_stats(session: AsyncSession, *, principal: Principal, project_id: str,
                        now: datetime) -> ProjectSupervisionStats:
    """Staff, admins and the project's supervisors (contractors and residents: 403)."""
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "report.view", scope_of(p))
    if not roles & _STATS_ROLES:
        raise Forbidden()
    reports = await repo.reports_of_projects(session, [p.id])
    appointments = await repo.contractor_appointments(session, [p.id])
    return ProjectSupervisionStats(project_id=p.id, **_common(reports, appointments, business_date(now)))


async def _street_office(session: AsyncSession, *, principal: Principal,
                         jurisdiction_id: str) -> frozenset[str] | None:
    """The jurisdiction exists (404) and how much of it the caller sees: None for all of it (its admins, the
    street office; global admins), else the communities of it the caller is staff of (none: 404)."""
    await register_service.profile_of(session, jurisdiction_id=jurisdiction_id)
    return jurisdiction_reach(principal, "supervision.overview", jurisdiction_id=jurisdiction_id,
                              community_ids=await register_service.community_ids_of(session, jurisdiction_id=jurisdiction_id))


async def jurisdiction_stats(session: AsyncSession, *, principal: Principal, jurisdiction_id: str,
                             now: datetime) -> JurisdictionSupervisionStats:
    reach = await _street_office(session, principal=principal, jurisdiction_id=jurisdiction_id)
    today = business_date(now)
    projects = await repo.projects_of_jurisdiction(session, jurisdiction_id, reach)
    ids = [p.id for p in projects]
    reports = await repo.reports_of_projects(session, ids)
    appointments = await repo.contractor_appointments(session, ids)
    per: dict[str, list[Report]] = {}
    for r in reports:
        per.setdefault(r.project_id, []).append(r)
    rows = [ProjectFigures(project_id=p.id, project_title=p.title, community_id=p.community_id,
                           reports=len(per.get(p.id, [])), rectification=rectification_figures(per.get(p.id, []), today))
            for p in projects if p.id in per]
    return JurisdictionSupervisionStats(jurisdiction_id=jurisdiction_id,
                                        community_ids=sorted(reach) if reach is not None else None, projects=rows,
                                        **_common(reports, appointments, today))


async def overdue_reports(session: AsyncSession, *, principal: Principal, jurisdiction_id: str, page: PageParams,
                          now: datetime) -> Page[StreetOfficeReport]:
    """Newest first: the jurisdiction's reports that are overdue now, or flagged and not yet settled (for
    community staff: those of their communities)."""
    reach = await _street_office(session, principal=principal, jurisdiction_id=jurisdiction_id)
    today = business_date(now)
    rows = await repo.street_office_page(session, jurisdiction_id=jurisdiction_id, today=today, after=page.after,
                                         limit=page.limit, community_ids=reach)
    shown = rows[:page.limit]
    ids = [r.id for r in shown]
    escalated = await repo.alert_times(session, ids, AlertKind.ESCALATION)
    titles = await repo.project_titles(session, {r.project_id for r in shown})
    names = await repo.user_names(session, {r.assignee_id for r in shown if r.assignee_id})
    orgs: dict[tuple[str, str], str | None] = {
        (a.project_id, a.user_id): a.organization
        for a in await repo.contractor_appointments(session, sorted({r.project_id for r in shown}))}
    items = []
    for r in shown:
        overdue = is_overdue(report=r, today=today)
        reasons: list[str] = (["overdue"] if overdue else []) + (
            ["flagged"] if r.flagged_at is not None and r.status not in SETTLED else [])
        items.append(StreetOfficeReport.model_validate(dict(
            id=r.id, project_id=r.project_id, project_title=titles.get(r.project_id, ""), community_id=r.community_id,
            title=r.title, catalog_seq=r.catalog_seq, severity=Severity(r.severity), status=Status(r.status),
            assignee_id=r.assignee_id, assignee_name=names.get(r.assignee_id or ""),
            organization=orgs.get((r.project_id, r.assignee_id or "")), due_date=r.due_date, overdue=overdue,
            working_days_overdue=working_days_overdue(r.due_date, today) if r.due_date and overdue else 0,
            escalated_at=escalated.get((r.id, r.deadline_seq)) if overdue else None, reopen_count=r.reopen_count,
            flagged_at=r.flagged_at, reasons=reasons)))
    return Page(items=items, next_cursor=encode_cursor(shown[-1].id) if len(rows) > page.limit else None)
