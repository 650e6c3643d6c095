"""Photo reports: who sees them, their views, filing, rectification photos and the lifecycle's entry point
(the table itself is :mod:`app.supervision.lifecycle`), the photo check and the critical-reports gate.

Who sees a report: staff/admins and supervisors of the project, the contractor it is assigned to, and the
resident who filed it. Everyone else gets 404 for its photos. Photos' taken-at and GPS (from the EXIF,
which is never served) appear only in staff views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.models import Role
from app.auth.policy import Principal, authorize, is_manager, roles_in
from app.core import audit
from app.core.content import (
    SKIPPED,
    VISIBLE_TEXT,
    AlreadyDecided,
    ContentScreen,
    Scene,
    content_notice,
    moderation_move,
)
from app.core.errors import Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, encode_cursor
from app.media import service as media_service
from app.media.images import StoredImage
from app.media.models import MediaObject
from app.media.schemas import ModerationResult, PhotoPublic
from app.projects.gates import GateState
from app.projects.models import Project
from app.register import service as register_service
from app.supervision import lifecycle
from app.supervision import repository as repo
from app.supervision.common import (
    MAX_AFTER_PHOTOS,
    in_warranty,
    is_overdue,
    project_of,
    scope_of,
    shanghai_date,
    too_many_photos,
)
from app.supervision.models import LocationCheck, Report, ReportEvent, Severity, Status
from app.supervision.schemas import (
    ReportEventPublic,
    ReportFields,
    ReportPublic,
    ReportSummary,
    TransitionRequest,
)
from app.surveys import service as surveys_service

_SEE_ALL = frozenset({Role.ADMIN, Role.STAFF, Role.SUPERVISOR})


def report_roles(principal: Principal, project: Project, report: Report, *, hide: bool = False) -> frozenset[Role]:
    """The caller's roles if they may see ``report``; else 404 (``hide``) or authorize's 404/403."""
    scope = scope_of(project)
    try:
        roles = authorize(principal, "report.view", scope)
    except Forbidden:
        if report.filed_by == principal.user_id:  # a resident sees the report they filed
            return roles_in(principal, scope)
        if hide:
            raise NotFound() from None
        raise
    if report.assignee_id == principal.user_id or report.filed_by == principal.user_id or is_manager(roles):
        return roles
    if roles & _SEE_ALL:
        if report.content_check not in VISIBLE_TEXT:  # held by WeChat's content check: staff decide first
            raise NotFound("report.not_found", "报告不存在", "Report not found")
        return roles
    raise NotFound()  # a contractor sees only what is assigned to them


async def report_and_project(session: AsyncSession, *, report_id: str) -> tuple[Report, Project]:
    r = await repo.get_report(session, report_id) if report_id and len(report_id) <= 32 else None
    if r is None:
        raise NotFound("report.not_found", "报告不存在", "Report not found")
    return r, await project_of(session, project_id=r.project_id)


# ---- views ----------------------------------------------------------------------------------------

def _follow_up(r: Report) -> dict[str, Any]:
    """The deadline, reopening and same-spot fields of a report's views."""
    return {"deadline_working_days": r.deadline_working_days, "reopen_count": r.reopen_count,
            "flagged": r.flagged_at is not None,
            "location_check": LocationCheck(r.location_check) if r.location_check else None}


async def _detail(session: AsyncSession, *, principal: Principal, report: Report, project: Project,
                  roles: frozenset[Role], now: datetime, unavailable: bool = False) -> ReportPublic:
    staff = is_manager(roles)
    media = [m for m in await media_service.media_for(session, owner_type="report", owner_id=report.id)
             if media_service.photo_shown(m=m, viewer_id=principal.user_id, staff=staff)]
    mine = report.filed_by == principal.user_id
    after = await media_service.media_for(session, owner_type="report_rectification", owner_id=report.id)
    events = await repo.events_of(session, report.id)
    names = await repo.user_names(session, {e.actor_id for e in events if e.actor_id}
                                  | ({report.assignee_id} if report.assignee_id else set()))
    places = await repo.place_names(session, {report.building_id} if report.building_id else set(),
                                    {report.unit_id} if report.unit_id else set())
    rectify = next((e for e in reversed(events) if e.action == "rectify"), None)
    actions = []
    if roles & {Role.ADMIN, Role.STAFF, Role.SUPERVISOR, Role.CONTRACTOR}:
        actions = lifecycle.permitted_actions(lifecycle.Actor(
            user_id=principal.user_id, roles=roles, report=report, rectifier=rectify.actor_id if rectify else None))
    today = shanghai_date(now)
    return ReportPublic(
        id=report.id, project_id=report.project_id, status=Status(report.status), severity=Severity(report.severity),
        title=report.title, catalog_seq=report.catalog_seq, building_id=report.building_id,
        building=places.get(report.building_id or ""), unit_id=report.unit_id, unit=places.get(report.unit_id or ""),
        assignee_id=report.assignee_id, due_date=report.due_date, overdue=is_overdue(report=report, today=today),
        photo_count=len(media), thumbnail_url=media_service.thumbnail_url(media_id=media[0].id) if media else None,
        created_at=report.created_at, updated_at=report.updated_at, description=report.description,
        gps_lat=report.gps_lat, gps_lon=report.gps_lon, filed_by=report.filed_by, filed_as=report.filed_as,
        assignee_name=names.get(report.assignee_id or ""), dismiss_reason=report.dismiss_reason,
        location_distance_m=report.location_distance_m, assigned_at=report.assigned_at,
        rectified_at=report.rectified_at, flagged_at=report.flagged_at, **_follow_up(report),
        photos=[media_service.photo_view(m=m, staff=staff, viewer_id=principal.user_id) for m in media],
        content_check=report.content_check if staff or mine else None,
        content_notice=content_notice(report.content_check, unavailable=unavailable) if mine else None,
        after_photos=[media_service.photo_view(m=m, staff=staff) for m in after],
        events=[ReportEventPublic(id=e.id, action=e.action, from_status=e.from_status, to_status=e.to_status,
                                  actor_id=e.actor_id, actor_name=names.get(e.actor_id or ""), at=e.at,
                                  note=e.note, data=e.data) for e in events],
        actions=actions,
    )


async def get_report(session: AsyncSession, *, principal: Principal, report_id: str, now: datetime) -> ReportPublic:
    report, project = await report_and_project(session, report_id=report_id)
    roles = report_roles(principal, project, report)
    return await _detail(session, principal=principal, report=report, project=project, roles=roles, now=now)


async def list_reports(
    session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams, now: datetime,
    status: Status | None = None, severity: str | None = None, overdue: bool | None = None,
    building_id: str | None = None,
) -> Page[ReportSummary]:
    """Staff and supervisors see every report of the project; a contractor those assigned to them; a
    resident those they filed."""
    p = await project_of(session, project_id=project_id)
    scope = scope_of(p)
    assignee = filed_by = None
    try:
        roles = authorize(principal, "report.view", scope)
    except Forbidden:
        authorize(principal, "report.file", scope)  # a resident: only their own reports
        filed_by = principal.user_id
    else:
        if not roles & _SEE_ALL:
            assignee = principal.user_id
    staff = filed_by is None and assignee is None and is_manager(roles)
    today = shanghai_date(now)
    rows = await repo.reports_page(session, project_id=p.id, after=page.after, limit=page.limit,
                                   status=status.value if status else None, severity=severity, overdue=overdue,
                                   building_id=building_id, today=today, assignee_id=assignee, filed_by=filed_by,
                                   content_visible_to=None if staff else principal.user_id)
    shown = rows[:page.limit]
    stats = await repo.photo_stats(session, [r.id for r in shown], shown_only=not staff)
    places = await repo.place_names(session, {r.building_id for r in shown if r.building_id},
                                    {r.unit_id for r in shown if r.unit_id})
    items = []
    for r in shown:
        n, first = stats.get(r.id, (0, None))
        items.append(ReportSummary(
            id=r.id, project_id=r.project_id, status=Status(r.status), severity=Severity(r.severity), title=r.title,
            catalog_seq=r.catalog_seq, building_id=r.building_id, building=places.get(r.building_id or ""),
            unit_id=r.unit_id, unit=places.get(r.unit_id or ""), assignee_id=r.assignee_id, due_date=r.due_date,
            overdue=is_overdue(report=r, today=today), photo_count=n,
            thumbnail_url=media_service.thumbnail_url(media_id=first) if first else None,
            created_at=r.created_at, updated_at=r.updated_at, **_follow_up(r)))
    return Page(items=items, next_cursor=encode_cursor(shown[-1].id) if len(rows) > page.limit else None)


# ---- filing ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportDraft:
    """A checked report form: who files it, where, and which catalog item."""

    project: Project
    fields: ReportFields
    filed_as: str
    building_id: str | None
    unit_id: str | None
    catalog_seq: int | None
    title: str


async def prepare_report(session: AsyncSession, *, principal: Principal, project_id: str, fields: ReportFields,
                         now: datetime) -> ReportDraft:
    """Who may file (supervisors; residents only during the warranty after acceptance) and where."""
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "report.file", scope_of(p))
    filed_as = "supervisor"
    if Role.SUPERVISOR not in roles:
        filed_as = "resident"
        profile = await register_service.profile_for_community(session, community_id=p.community_id)
        if not in_warranty(accepted_at=p.accepted_at, months=profile.warranty_months, now=now):
            raise Forbidden("report.not_in_warranty", "居民仅可在竣工验收后的保修期内提交质量投诉",
                            "Residents may file reports only during the warranty period after acceptance",
                            accepted_at=p.accepted_at.isoformat() if p.accepted_at else None,
                            warranty_months=profile.warranty_months)
    building_id = unit_id = None
    if fields.building_id or fields.building:
        b = await repo.building_in(session, community_id=p.community_id, building_id=fields.building_id,
                                   name=fields.building)
        if b is None:
            raise Invalid("report.unknown_building", "楼栋不在本小区", "The building is not in this community",
                          errors=[{"loc": ["body", "building_id"], "msg": "unknown building"}])
        building_id = b.id
    if fields.unit_id or fields.unit:
        u = await repo.unit_in(session, community_id=p.community_id, building_id=building_id,
                               unit_id=fields.unit_id, name=fields.unit)
        if u is None:
            raise Invalid("report.unknown_unit", "单元不在该楼栋/本小区", "The unit is not in this building",
                          errors=[{"loc": ["body", "unit_id"], "msg": "unknown unit"}])
        unit_id, building_id = u.id, u.building_id
    seq: int | None = None
    title = fields.catalog_item
    if title.isascii() and title.isdigit():
        seq = int(title) if len(title) <= 4 else 0
        profile = await register_service.profile_for_community(session, community_id=p.community_id)
        found = await surveys_service.catalog_item_title(session, catalog=profile.catalog, seq=seq) if seq else None
        if found is None:
            raise Invalid("report.unknown_catalog_item", "改造内容清单中没有该项", "No such catalog item",
                          errors=[{"loc": ["body", "catalog_item"], "msg": f"not an item of catalog {profile.catalog}"}])
        title = found or f"改造清单第 {seq} 项"
    return ReportDraft(project=p, fields=fields, filed_as=filed_as, building_id=building_id, unit_id=unit_id,
                       catalog_seq=seq, title=title[:200])


async def file_report(session: AsyncSession, *, principal: Principal, project_id: str, fields: ReportFields,
                      photos: list[StoredImage], now: datetime, screen: ContentScreen | None = None) -> ReportPublic:
    """Record the report once its photos are processed: :func:`prepare_report` again first, as the project,
    the caller's standing or the place may have changed meanwhile. A WeChat user's title (when typed) and
    description are checked by WeChat first (``screen``): 422 ``content.rejected`` when risky, nothing
    stored; held for review (the filer and staff only) when WeChat asks for review or cannot answer; their
    photos are submitted to WeChat's check and stay ``pending_check``."""
    draft = await prepare_report(session, principal=principal, project_id=project_id, fields=fields, now=now)
    p, f = draft.project, draft.fields
    screening, submitted = SKIPPED, []
    if screen is not None:
        openid = await auth_service.wechat_openid(session, user_id=principal.user_id)
        text = f.description if draft.catalog_seq is not None else f"{draft.title}\n{f.description}"
        screening = await screen.text(openid=openid, text=text, scene=Scene.FORUM)
        submitted = await media_service.submit_photos(screen=screen, openid=openid, count=len(photos), now=now)
    r = Report(project_id=p.id, community_id=p.community_id, building_id=draft.building_id, unit_id=draft.unit_id,
               gps_lat=f.gps_lat, gps_lon=f.gps_lon, catalog_seq=draft.catalog_seq, title=draft.title,
               severity=f.severity.value, description=f.description, status=Status.SUBMITTED,
               filed_by=principal.user_id, filed_as=draft.filed_as, created_at=now, updated_at=now,
               content_check=screening.status.value)
    session.add(r)
    await session.flush()
    for i, s in enumerate(photos):
        media_id, checked = submitted[i] if submitted else (None, None)
        await media_service.attach(session, stored=s, owner_type="report", owner_id=r.id, community_id=p.community_id,
                                   project_id=p.id, uploaded_by=principal.user_id, now=now, position=i,
                                   checked=checked, media_id=media_id)
    session.add(ReportEvent(report_id=r.id, action="submit", from_status=None, to_status=Status.SUBMITTED,
                            actor_id=principal.user_id, at=now, data={"photos": len(photos)}))
    photo_checks = media_service.check_audit(submissions=submitted)
    checks = {"checks": photo_checks} if photo_checks else {}
    await audit.append(session, chain=p.community_id, action="report.filed", entity_type="report", entity_id=r.id,
                       actor_id=principal.user_id, at=now,
                       data={"project_id": p.id, "severity": r.severity, "filed_as": r.filed_as,
                             "photos": [s.sha256 for s in photos]} | screening.audit() | checks)
    await session.flush()
    roles = report_roles(principal, p, r)
    return await _detail(session, principal=principal, report=r, project=p, roles=roles, now=now,
                         unavailable=screening.unavailable)


# ---- rectification photos -------------------------------------------------------------------------

async def check_rectification_upload(session: AsyncSession, *, principal: Principal, report_id: str) -> Report:
    """Only the assigned contractor, while the report is being rectified."""
    report, project = await report_and_project(session, report_id=report_id)
    roles = report_roles(principal, project, report)
    authorize(principal, "report.act", scope_of(project))
    if not (Role.CONTRACTOR in roles and report.assignee_id == principal.user_id):
        raise Forbidden("report.not_assignee", "只有被指派的施工单位可以上传整改照片",
                        "Only the assigned contractor may upload rectification photos")
    if report.status != Status.RECTIFYING:
        raise lifecycle.invalid_transition(report, "报告当前不在整改中", "The report is not being rectified")
    return report


async def add_rectification_photos(session: AsyncSession, *, principal: Principal, report_id: str,
                                   photos: list[StoredImage], now: datetime) -> list[PhotoPublic]:
    """Record processed after-photos; checks again first (the report may have been reassigned or moved on
    while they were processed)."""
    report = await check_rectification_upload(session, principal=principal, report_id=report_id)
    existing = await media_service.media_for(session, owner_type="report_rectification", owner_id=report.id)
    if len(existing) + len(photos) > MAX_AFTER_PHOTOS:
        raise too_many_photos(limit=MAX_AFTER_PHOTOS)
    out = []
    for i, s in enumerate(photos):
        m = await media_service.attach(session, stored=s, owner_type="report_rectification", owner_id=report.id,
                                       community_id=report.community_id, project_id=report.project_id,
                                       uploaded_by=principal.user_id, now=now, position=len(existing) + i)
        out.append(media_service.photo_view(m=m, staff=False))
    await audit.append(session, chain=report.community_id, action="report.photos_added", entity_type="report",
                       entity_id=report.id, actor_id=principal.user_id, at=now,
                       data={"media_ids": [o.id for o in out]})
    return out


# ---- transitions --------------------------------------------------------------------------------

async def transition(session: AsyncSession, *, principal: Principal, report_id: str, body: TransitionRequest,
                     now: datetime) -> ReportPublic:
    report, project = await report_and_project(session, report_id=report_id)
    roles = report_roles(principal, project, report)
    authorize(principal, "report.act", scope_of(project))
    fresh = await lifecycle.apply(session, principal=principal, roles=roles, report=report, project=project,
                                  body=body, now=now)
    return await _detail(session, principal=principal, report=fresh, project=project, roles=roles, now=now)


# ---- WeChat's content check: staff's decision on a report's text --------------------------------------

async def moderate_report(session: AsyncSession, *, principal: Principal, report_id: str, approve: bool,
                          reason: str | None, now: datetime) -> ModerationResult:
    """Staff approve a report's text held by WeChat's check (supervisors then see the report) or reject it
    (only staff, the filer and an assignee see it; the report is still followed up). Audited."""
    report, project = await report_and_project(session, report_id=report_id)
    authorize(principal, "content.moderate", scope_of(project))
    target, sources = moderation_move(approve=approve)
    before = report.content_check
    if not await repo.set_report_content(session, report_id=report.id, status=target.value, only_from=sources):
        raise AlreadyDecided(status_now=before)
    await audit.append(session, chain=report.community_id, action="content.approved" if approve else "content.rejected",
                       entity_type="report", entity_id=report.id, actor_id=principal.user_id, at=now,
                       data={"from": before, "to": target.value, "reason": reason})
    return ModerationResult(kind="reports", id=report.id, status=target.value)


# ---- for media and projects --------------------------------------------------------------------------

async def report_photo_visible(session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
    """A report's photo or after-photo (owner types ``report``, ``report_rectification``): for whoever may see
    the report (registered with :data:`app.media.visibility.CHECKS`)."""
    report, project = await report_and_project(session, report_id=media.owner_id)
    report_roles(principal, project, report, hide=True)


async def critical_reports_gate(session: AsyncSession, *, project_id: str) -> GateState:
    """Met when no critical report is still open (anything but verified, closed or dismissed)."""
    n, ids = await repo.open_critical(session, project_id)
    return GateState(
        name="no_open_critical_reports", met=n == 0,
        detail="没有未整改完成的严重质量问题" if n == 0 else f"尚有 {n} 个严重质量问题未整改复核完毕",
        figures={"open_critical": n, "report_ids": ids},
    )
