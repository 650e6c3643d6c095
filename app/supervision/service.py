"""Quality supervision: the roster, photo reports and their lifecycle, acceptance, and the two gates.

Who sees a report: staff/admins and supervisors of the project, the contractor it is assigned to, and the
resident who filed it. Everyone else gets 404 for its photos. Photos' taken-at and GPS (from the EXIF,
which is never served) appear only in staff views.
"""

from __future__ import annotations

import calendar
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import UploadFile
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.models import Role
from app.auth.policy import Principal, Scope, authorize, is_manager, roles_in
from app.core import audit
from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, encode_cursor
from app.core.privacy import mask_name, mask_phone
from app.media import service as media_service
from app.media.images import StoredImage
from app.media.models import MediaObject
from app.media.storage import Storage
from app.projects import service as project_service
from app.projects.gates import GateState
from app.projects.models import Project
from app.register import service as register_service
from app.rules import business_date
from app.supervision import repository as repo
from app.supervision.models import (
    Acceptance,
    AcceptanceSignature,
    Appointment,
    Report,
    ReportEvent,
    Severity,
    Status,
)
from app.supervision.schemas import (
    MAX_PHOTOS,
    AcceptanceCreate,
    AcceptancePublic,
    AppointmentPublic,
    ContractorAppoint,
    ReportEventPublic,
    ReportFields,
    ReportPublic,
    ReportSummary,
    Representative,
    SignaturePublic,
    SignaturesAdd,
    SupervisorAppoint,
    TransitionRequest,
)
from app.surveys import service as surveys_service

MAX_AFTER_PHOTOS = 45
SOURCE_ZH = {"deputy": "人大代表/政协委员", "committee_member": "居委会/业委会成员", "party_member": "党员",
             "resident": "居民"}
STATUS_ZH = {"submitted": "已提交", "acknowledged": "已受理", "rectifying": "整改中", "rectified": "已整改",
             "verified": "已复核", "closed": "已关闭", "dismissed": "已驳回"}

# action -> (states it may start from, state it leads to; None = chosen by the request)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "acknowledge": (frozenset({Status.SUBMITTED}), Status.ACKNOWLEDGED),
    "assign": (frozenset({Status.ACKNOWLEDGED, Status.RECTIFYING}), Status.RECTIFYING),
    "rectify": (frozenset({Status.RECTIFYING}), Status.RECTIFIED),
    "verify": (frozenset({Status.RECTIFIED}), Status.VERIFIED),
    "close": (frozenset({Status.VERIFIED}), Status.CLOSED),
    "dismiss": (frozenset({Status.SUBMITTED, Status.ACKNOWLEDGED}), Status.DISMISSED),
    "reopen": (frozenset({Status.VERIFIED, Status.CLOSED}), None),
}
ACTION_ZH = {"acknowledge": "受理", "assign": "派单整改", "rectify": "提交整改", "verify": "复核",
             "close": "关闭", "dismiss": "驳回", "reopen": "重新打开"}


def shanghai_date(at: datetime) -> date:
    return business_date(at)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def warranty_until(accepted_at: datetime | None, months: int) -> date | None:
    """The last Shanghai date of the warranty: acceptance date + months, minus one day (None: no warranty)."""
    if accepted_at is None or months <= 0:
        return None
    return add_months(shanghai_date(accepted_at), months) - timedelta(days=1)


def in_warranty(accepted_at: datetime | None, months: int, now: datetime) -> bool:
    until = warranty_until(accepted_at, months)
    return until is not None and shanghai_date(accepted_at) <= shanghai_date(now) <= until  # type: ignore[arg-type]


def is_overdue(report: Report, today: date) -> bool:
    return report.status == Status.RECTIFYING and report.due_date is not None and report.due_date < today


async def _project(session: AsyncSession, project_id: str) -> Project:
    return await project_service.project_or_404(session, project_id)


def _scope(p: Project) -> Scope:
    return project_service.project_scope(p)


# ---- roster ----------------------------------------------------------------------------------------

def _appointment_view(a: Appointment, *, staff: bool, account_phone: str | None,
                      can_sign_in: bool | None = None) -> AppointmentPublic:
    """Staff see in full the phone given with the appointment; without one, the account's own phone is
    shown masked, to staff too (it was not theirs to learn)."""
    phone = a.phone if staff and a.phone is not None else mask_phone(a.phone or account_phone)
    return AppointmentPublic(
        id=a.id, project_id=a.project_id, user_id=a.user_id, role=a.role, name=a.name,
        phone=phone, source=a.source, organization=a.organization,
        can_sign_in=can_sign_in if staff else None, appointed_at=a.appointed_at)


async def _appoint(session: AsyncSession, *, principal: Principal, project_id: str,
                   body: SupervisorAppoint | ContractorAppoint, role: Role, now: datetime) -> AppointmentPublic:
    p = await _project(session, project_id)
    authorize(principal, "supervision.manage", _scope(p))
    if body.user_id is not None:
        # only someone of the project's community (a household member, its staff, appointed to one of its
        # projects); anyone else is "not found", exactly like an unknown id: nothing about them is revealed
        user = await repo.get_user(session, body.user_id)
        if (user is None or not user.is_active
                or not await repo.related_to_community(session, user_id=user.id, community_id=p.community_id)):
            raise NotFound("user.not_found", "用户不存在", "User not found")
        if await repo.get_appointment(session, project_id=p.id, user_id=user.id, role=role.value) is not None:
            raise Conflict(f"{role.value}.already_appointed", "该用户已被任命", "This user is already appointed")
        name, phone = body.name or user.name, body.phone  # the account's own phone is not copied
    elif body.username is not None:
        assert body.password is not None and body.name is not None
        user = await auth_service.create_user(session, username=body.username, password=body.password,
                                              name=body.name, now=now)
        user.phone = body.phone
        session.add(user)
        name, phone = body.name, body.phone
    else:
        assert body.name is not None
        user = await repo.add_user(session, name=body.name, phone=body.phone, now=now)
        name, phone = body.name, body.phone
    a = Appointment(project_id=p.id, user_id=user.id, role=role.value, name=name, phone=phone,
                    source=getattr(body, "source", None), organization=getattr(body, "organization", None),
                    appointed_at=now, appointed_by=principal.user_id)
    session.add(a)
    await session.flush()
    await auth_service.grant(session, user_id=user.id, role=role, scope_id=p.id, now=now, by=principal.user_id)
    await audit.append(session, chain=p.community_id, action=f"supervision.{role.value}_appointed",
                       entity_type="project", entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"user_id": user.id, "appointment_id": a.id, "source": a.source,
                             "organization": a.organization})
    return _appointment_view(a, staff=True, account_phone=user.phone,
                             can_sign_in=bool(user.password_hash or user.wechat_openid))


async def appoint_supervisor(session: AsyncSession, *, principal: Principal, project_id: str,
                             body: SupervisorAppoint, now: datetime) -> AppointmentPublic:
    return await _appoint(session, principal=principal, project_id=project_id, body=body, role=Role.SUPERVISOR,
                          now=now)


async def appoint_contractor(session: AsyncSession, *, principal: Principal, project_id: str,
                             body: ContractorAppoint, now: datetime) -> AppointmentPublic:
    return await _appoint(session, principal=principal, project_id=project_id, body=body, role=Role.CONTRACTOR,
                          now=now)


async def roster(session: AsyncSession, *, principal: Principal, project_id: str,
                 role: Role = Role.SUPERVISOR) -> list[AppointmentPublic]:
    """Anyone related to the project; phones masked except, for staff, those given with the appointment."""
    p = await _project(session, project_id)
    roles = authorize(principal, "project.view", _scope(p))
    staff = is_manager(roles)
    return [_appointment_view(a, staff=staff, account_phone=own, can_sign_in=c)
            for a, c, own in await repo.appointments(session, project_id=p.id, role=role.value)]


async def roster_text(session: AsyncSession, *, project_id: str) -> str:
    """The supervisor roster as notice text (phones masked), for the publicity domain."""
    p = await _project(session, project_id)
    rows = await repo.appointments(session, project_id=p.id, role=Role.SUPERVISOR.value)
    lines = [f"“{p.title}”义务质量监督员名单（共 {len(rows)} 人）："]
    for i, (a, _, own) in enumerate(rows, start=1):
        phone = mask_phone(a.phone or own)
        lines.append(f"{i}. {a.name}（{SOURCE_ZH.get(a.source or '', a.source or '')}）"
                     + (f"，联系电话 {phone}" if phone else ""))
    if not rows:
        lines.append("（暂无）")
    lines.append("居民发现施工质量问题，可向监督员反映。")
    return "\n".join(lines)


# ---- report visibility -----------------------------------------------------------------------------

_SEE_ALL = frozenset({Role.ADMIN, Role.STAFF, Role.SUPERVISOR})


def _report_roles(principal: Principal, project: Project, report: Report, *, hide: bool = False) -> frozenset[Role]:
    """The caller's roles if they may see ``report``; else 404 (``hide``) or authorize's 404/403."""
    scope = _scope(project)
    try:
        roles = authorize(principal, "report.view", scope)
    except Forbidden:
        if report.filed_by == principal.user_id:  # a resident sees the report they filed
            return roles_in(principal, scope)
        if hide:
            raise NotFound() from None
        raise
    if roles & _SEE_ALL or report.assignee_id == principal.user_id or report.filed_by == principal.user_id:
        return roles
    raise NotFound()  # a contractor sees only what is assigned to them


async def _report_and_project(session: AsyncSession, report_id: str) -> tuple[Report, Project]:
    r = await repo.get_report(session, report_id) if report_id and len(report_id) <= 32 else None
    if r is None:
        raise NotFound("report.not_found", "报告不存在", "Report not found")
    return r, await _project(session, r.project_id)


def _may(action: str, roles: frozenset[Role], principal: Principal, report: Report, rectifier: str | None) -> bool:
    me = principal.user_id
    if action in ("acknowledge", "assign", "close", "dismiss"):
        return is_manager(roles)
    if action == "rectify":
        return Role.CONTRACTOR in roles and report.assignee_id == me
    if action == "verify":
        return Role.SUPERVISOR in roles and me != report.assignee_id and me != rectifier
    if action == "reopen":
        return is_manager(roles) or Role.SUPERVISOR in roles
    return False


def _actions_in(status: str) -> list[str]:
    return [a for a, (frm, _) in TRANSITIONS.items() if status in frm]


# ---- reports: views --------------------------------------------------------------------------------

async def _detail(session: AsyncSession, *, principal: Principal, report: Report, project: Project,
                  roles: frozenset[Role], now: datetime) -> ReportPublic:
    staff = is_manager(roles)
    media = await media_service.media_for(session, owner_type="report", owner_id=report.id)
    after = await media_service.media_for(session, owner_type="report_rectification", owner_id=report.id)
    events = await repo.events_of(session, report.id)
    names = await repo.user_names(session, {e.actor_id for e in events if e.actor_id}
                                  | ({report.assignee_id} if report.assignee_id else set()))
    places = await repo.place_names(session, {report.building_id} if report.building_id else set(),
                                    {report.unit_id} if report.unit_id else set())
    rectify = next((e for e in reversed(events) if e.action == "rectify"), None)
    actions = []
    if roles & {Role.ADMIN, Role.STAFF, Role.SUPERVISOR, Role.CONTRACTOR}:
        actions = [a for a in _actions_in(report.status)
                   if _may(a, roles, principal, report, rectify.actor_id if rectify else None)]
    today = shanghai_date(now)
    return ReportPublic(
        id=report.id, project_id=report.project_id, status=Status(report.status), severity=Severity(report.severity),
        title=report.title, catalog_seq=report.catalog_seq, building_id=report.building_id,
        building=places.get(report.building_id or ""), unit_id=report.unit_id, unit=places.get(report.unit_id or ""),
        assignee_id=report.assignee_id, due_date=report.due_date, overdue=is_overdue(report, today),
        photo_count=len(media), thumbnail_url=media_service.thumbnail_url(media[0].id) if media else None,
        created_at=report.created_at, updated_at=report.updated_at, description=report.description,
        gps_lat=report.gps_lat, gps_lon=report.gps_lon, filed_by=report.filed_by, filed_as=report.filed_as,
        assignee_name=names.get(report.assignee_id or ""), dismiss_reason=report.dismiss_reason,
        photos=[media_service.photo_view(m, staff=staff) for m in media],
        after_photos=[media_service.photo_view(m, staff=staff) for m in after],
        events=[ReportEventPublic(id=e.id, action=e.action, from_status=e.from_status, to_status=e.to_status,
                                  actor_id=e.actor_id, actor_name=names.get(e.actor_id or ""), at=e.at,
                                  note=e.note, data=e.data) for e in events],
        actions=actions,
    )


async def get_report(session: AsyncSession, *, principal: Principal, report_id: str, now: datetime) -> ReportPublic:
    report, project = await _report_and_project(session, report_id)
    roles = _report_roles(principal, project, report)
    return await _detail(session, principal=principal, report=report, project=project, roles=roles, now=now)


async def list_reports(
    session: AsyncSession, *, principal: Principal, project_id: str, page: PageParams, now: datetime,
    status: Status | None = None, severity: str | None = None, overdue: bool | None = None,
    building_id: str | None = None,
) -> Page[ReportSummary]:
    """Staff and supervisors see every report of the project; a contractor those assigned to them; a
    resident those they filed."""
    p = await _project(session, project_id)
    scope = _scope(p)
    assignee = filed_by = None
    try:
        roles = authorize(principal, "report.view", scope)
    except Forbidden:
        authorize(principal, "report.file", scope)  # a resident: only their own reports
        filed_by = principal.user_id
    else:
        if not roles & _SEE_ALL:
            assignee = principal.user_id
    today = shanghai_date(now)
    rows = await repo.reports_page(session, project_id=p.id, after=page.after, limit=page.limit,
                                   status=status.value if status else None, severity=severity, overdue=overdue,
                                   building_id=building_id, today=today, assignee_id=assignee, filed_by=filed_by)
    shown = rows[:page.limit]
    stats = await repo.photo_stats(session, [r.id for r in shown])
    places = await repo.place_names(session, {r.building_id for r in shown if r.building_id},
                                    {r.unit_id for r in shown if r.unit_id})
    items = []
    for r in shown:
        n, first = stats.get(r.id, (0, None))
        items.append(ReportSummary(
            id=r.id, project_id=r.project_id, status=Status(r.status), severity=Severity(r.severity), title=r.title,
            catalog_seq=r.catalog_seq, building_id=r.building_id, building=places.get(r.building_id or ""),
            unit_id=r.unit_id, unit=places.get(r.unit_id or ""), assignee_id=r.assignee_id, due_date=r.due_date,
            overdue=is_overdue(r, today), photo_count=n,
            thumbnail_url=media_service.thumbnail_url(first) if first else None,
            created_at=r.created_at, updated_at=r.updated_at))
    return Page(items=items, next_cursor=encode_cursor(shown[-1].id) if len(rows) > page.limit else None)


# ---- reports: filing -------------------------------------------------------------------------------

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


def too_many_photos(limit: int = MAX_PHOTOS) -> Invalid:
    return Invalid("report.too_many_photos", f"照片最多 {limit} 张", f"At most {limit} photos",
                   errors=[{"loc": ["body", "photos"], "msg": f"at most {limit} photos"}])


def no_photos() -> Invalid:
    return Invalid("report.photos_required", "至少需要 1 张照片", "At least one photo is required",
                   errors=[{"loc": ["body", "photos"], "msg": "at least one photo"}])


async def prepare_report(session: AsyncSession, *, principal: Principal, project_id: str, fields: ReportFields,
                         now: datetime) -> ReportDraft:
    """Who may file (supervisors; residents only during the warranty after acceptance) and where."""
    p = await _project(session, project_id)
    roles = authorize(principal, "report.file", _scope(p))
    filed_as = "supervisor"
    if Role.SUPERVISOR not in roles:
        filed_as = "resident"
        profile = await register_service.profile_for_community(session, p.community_id)
        if not in_warranty(p.accepted_at, profile.warranty_months, now):
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
        profile = await register_service.profile_for_community(session, p.community_id)
        found = await surveys_service.catalog_item_title(session, catalog=profile.catalog, seq=seq) if seq else None
        if found is None:
            raise Invalid("report.unknown_catalog_item", "改造内容清单中没有该项", "No such catalog item",
                          errors=[{"loc": ["body", "catalog_item"], "msg": f"not an item of catalog {profile.catalog}"}])
        title = found or f"改造清单第 {seq} 项"
    return ReportDraft(project=p, fields=fields, filed_as=filed_as, building_id=building_id, unit_id=unit_id,
                       catalog_seq=seq, title=title[:200])


def staged_photos(session: AsyncSession, photos: list[UploadFile], *, settings: Settings, storage: Storage,
                  limit: int = MAX_PHOTOS) -> AbstractAsyncContextManager[list[StoredImage]]:
    """1–``limit`` photos checked and cleaned with the request's transaction ended (the checks before it only
    read), stored when the block ends without an error: see :func:`app.media.service.staged_images`. One
    refused photo refuses the request."""
    if len(photos) > limit:
        raise too_many_photos(limit)
    if not photos:
        raise no_photos()
    return media_service.staged_images(session, photos, settings=settings, storage=storage)


async def file_report(session: AsyncSession, *, principal: Principal, project_id: str, fields: ReportFields,
                      photos: list[StoredImage], now: datetime) -> ReportPublic:
    """Record the report once its photos are processed: :func:`prepare_report` again first, as the project,
    the caller's standing or the place may have changed meanwhile."""
    draft = await prepare_report(session, principal=principal, project_id=project_id, fields=fields, now=now)
    p, f = draft.project, draft.fields
    r = Report(project_id=p.id, community_id=p.community_id, building_id=draft.building_id, unit_id=draft.unit_id,
               gps_lat=f.gps_lat, gps_lon=f.gps_lon, catalog_seq=draft.catalog_seq, title=draft.title,
               severity=f.severity.value, description=f.description, status=Status.SUBMITTED,
               filed_by=principal.user_id, filed_as=draft.filed_as, created_at=now, updated_at=now)
    session.add(r)
    await session.flush()
    for i, s in enumerate(photos):
        await media_service.attach(session, stored=s, owner_type="report", owner_id=r.id, community_id=p.community_id,
                                   project_id=p.id, uploaded_by=principal.user_id, now=now, position=i)
    session.add(ReportEvent(report_id=r.id, action="submit", from_status=None, to_status=Status.SUBMITTED,
                            actor_id=principal.user_id, at=now, data={"photos": len(photos)}))
    await audit.append(session, chain=p.community_id, action="report.filed", entity_type="report", entity_id=r.id,
                       actor_id=principal.user_id, at=now,
                       data={"project_id": p.id, "severity": r.severity, "filed_as": r.filed_as,
                             "photos": [s.sha256 for s in photos]})
    await session.flush()
    roles = _report_roles(principal, p, r)
    return await _detail(session, principal=principal, report=r, project=p, roles=roles, now=now)


# ---- reports: rectification photos -----------------------------------------------------------------

async def check_rectification_upload(session: AsyncSession, *, principal: Principal, report_id: str) -> Report:
    """Only the assigned contractor, while the report is being rectified."""
    report, project = await _report_and_project(session, report_id)
    roles = _report_roles(principal, project, report)
    authorize(principal, "report.act", _scope(project))
    if not (Role.CONTRACTOR in roles and report.assignee_id == principal.user_id):
        raise Forbidden("report.not_assignee", "只有被指派的施工单位可以上传整改照片",
                        "Only the assigned contractor may upload rectification photos")
    if report.status != Status.RECTIFYING:
        raise Conflict("report.invalid_transition", "报告当前不在整改中", "The report is not being rectified",
                       status_now=report.status, allowed_actions=_actions_in(report.status))
    return report


async def add_rectification_photos(session: AsyncSession, *, principal: Principal, report_id: str,
                                   photos: list[StoredImage], now: datetime) -> list[Any]:
    """Record processed after-photos; checks again first (the report may have been reassigned or moved on
    while they were processed)."""
    report = await check_rectification_upload(session, principal=principal, report_id=report_id)
    existing = await media_service.media_for(session, owner_type="report_rectification", owner_id=report.id)
    if len(existing) + len(photos) > MAX_AFTER_PHOTOS:
        raise too_many_photos(MAX_AFTER_PHOTOS)
    out = []
    for i, s in enumerate(photos):
        m = await media_service.attach(session, stored=s, owner_type="report_rectification", owner_id=report.id,
                                       community_id=report.community_id, project_id=report.project_id,
                                       uploaded_by=principal.user_id, now=now, position=len(existing) + i)
        out.append(media_service.photo_view(m, staff=False))
    await audit.append(session, chain=report.community_id, action="report.photos_added", entity_type="report",
                       entity_id=report.id, actor_id=principal.user_id, at=now,
                       data={"media_ids": [o.id for o in out]})
    return out


# ---- reports: transitions --------------------------------------------------------------------------

async def transition(session: AsyncSession, *, principal: Principal, report_id: str, body: TransitionRequest,
                     now: datetime) -> ReportPublic:
    report, project = await _report_and_project(session, report_id)
    roles = _report_roles(principal, project, report)
    authorize(principal, "report.act", _scope(project))
    action = body.action
    allowed_from, to_status = TRANSITIONS[action]
    if report.status not in allowed_from:
        raise Conflict("report.invalid_transition",
                       f"报告当前状态为“{STATUS_ZH[report.status]}”，不能执行“{ACTION_ZH[action]}”",
                       f"Action {action} is not allowed while the report is {report.status}",
                       status_now=report.status, allowed_actions=_actions_in(report.status))
    rectify = await repo.last_event(session, report.id, "rectify")
    rectifier = rectify.actor_id if rectify else None
    if not _may(action, roles, principal, report, rectifier):
        if action == "verify" and principal.user_id in (report.assignee_id, rectifier):
            raise Forbidden("report.own_work", "施工单位不能复核自己的整改", "A contractor cannot verify their own work")
        raise Forbidden("report.action_not_permitted", f"您无权执行“{ACTION_ZH[action]}”",
                        f"You may not {action} this report")
    today = shanghai_date(now)
    values: dict[str, Any] = {"updated_at": now}
    data: dict[str, Any] = {}

    def need(field: str, ok: bool, zh: str) -> None:
        if not ok:
            raise Invalid(f"report.{field}_required", zh, f"{field} is required for {action}",
                          errors=[{"loc": ["body", field], "msg": f"required for {action}"}])

    def check_due(d: date) -> None:
        if d < today:
            raise Invalid("report.due_date_past", "整改期限不能早于今天", "The due date is in the past",
                          errors=[{"loc": ["body", "due_date"], "msg": "before today (Asia/Shanghai)"}])

    if action == "assign":
        need("assignee_id", body.assignee_id is not None, "请指定整改的施工单位人员")
        need("due_date", body.due_date is not None, "请指定整改期限")
        assert body.assignee_id is not None and body.due_date is not None
        if await repo.get_appointment(session, project_id=project.id, user_id=body.assignee_id,
                                      role=Role.CONTRACTOR.value) is None:
            raise Invalid("report.assignee_not_contractor", "被指派人不是本项目的施工单位人员",
                          "The assignee is not a contractor of this project",
                          errors=[{"loc": ["body", "assignee_id"], "msg": "not a contractor of the project"}])
        check_due(body.due_date)
        values |= {"assignee_id": body.assignee_id, "due_date": body.due_date}
        data |= {"assignee_id": body.assignee_id, "due_date": body.due_date.isoformat()}
    elif action == "rectify":
        need("photo_ids", bool(body.photo_ids), "请附上整改后的照片")
        ids = list(dict.fromkeys(body.photo_ids or []))
        after = {m.id for m in await media_service.media_for(session, owner_type="report_rectification",
                                                             owner_id=report.id)}
        unknown = [i for i in ids if i not in after]
        if unknown:
            raise Invalid("report.unknown_photo", "照片不属于该报告的整改照片", "Unknown rectification photo",
                          errors=[{"loc": ["body", "photo_ids", i], "msg": "not uploaded for this report"}
                                  for i in unknown[:10]])
        data |= {"photo_ids": ids}
    elif action == "dismiss":
        need("reason", bool(body.reason and body.reason.strip()), "请填写驳回理由")
        values |= {"dismiss_reason": body.reason}
        data |= {"reason": body.reason}
    elif action == "reopen":
        to_status = body.to or (Status.RECTIFYING if report.assignee_id else Status.ACKNOWLEDGED)
        if to_status == Status.RECTIFYING:
            if report.assignee_id is None:
                raise Invalid("report.no_assignee", "该报告尚未指派施工单位，只能重新打开为“已受理”",
                              "No contractor assigned; reopen to acknowledged",
                              errors=[{"loc": ["body", "to"], "msg": "no assignee"}])
            if body.due_date is not None:
                check_due(body.due_date)
                values["due_date"] = body.due_date
        else:
            values["due_date"] = None
        data |= {"to": str(to_status)} | ({"due_date": body.due_date.isoformat()} if body.due_date else {})
    assert to_status is not None
    values["status"] = str(to_status)
    if not await repo.transition(session, report_id=report.id, expected_version=report.version, values=values):
        raise Conflict("report.concurrent_change", "报告已被他人同时处理，请刷新后重试",
                       "The report was changed concurrently; reload and retry")
    session.add(ReportEvent(report_id=report.id, action=action, from_status=report.status, to_status=str(to_status),
                            actor_id=principal.user_id, at=now, note=body.note, data=data))
    await audit.append(session, chain=project.community_id, action=f"report.{action}", entity_type="report",
                       entity_id=report.id, actor_id=principal.user_id, at=now,
                       data={"from": report.status, "to": str(to_status), "note": body.note} | data)
    await session.flush()
    fresh = await repo.get_report(session, report.id, fresh=True)
    assert fresh is not None
    return await _detail(session, principal=principal, report=fresh, project=project, roles=roles, now=now)


# ---- photos ----------------------------------------------------------------------------------------

async def _community_scope(session: AsyncSession, community_id: str) -> Scope:
    return await register_service.community_scope(session, community_id)


async def photo_for_viewer(session: AsyncSession, *, principal: Principal, media_id: str) -> MediaObject:
    """The media row if the caller may see its owner; 404 otherwise (never 403: nothing is revealed)."""
    m = await media_service.media_or_none(session, media_id)
    if m is None:
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    try:
        if m.owner_type in ("report", "report_rectification"):
            report, project = await _report_and_project(session, m.owner_id)
            _report_roles(principal, project, report, hide=True)
        elif m.owner_type == "acceptance":
            if m.project_id is None:
                raise NotFound()
            authorize(principal, "report.view", _scope(await _project(session, m.project_id)))
        elif m.owner_type == "paper_ballot":
            authorize(principal, "motion.paper_ballot", await _community_scope(session, m.community_id))
        elif m.owner_type == "objection":
            # a pending objection's photos: only the filer and staff (the publicity rule)
            from app.publicity import service as publicity_service

            await publicity_service.objection_photo(session, principal=principal, objection_id=m.owner_id,
                                                    media_id=m.id)
        elif m.owner_type == "notice_attachment":
            authorize(principal, "notice.view", await _community_scope(session, m.community_id))
        else:
            raise NotFound()
    except (Forbidden, NotFound):
        raise NotFound("photo.not_found", "照片不存在", "Photo not found") from None
    return m


# ---- acceptance ------------------------------------------------------------------------------------

async def _check_representatives(session: AsyncSession, *, project: Project, reps: list[Representative],
                                 already: set[str], now: datetime) -> None:
    errors = []
    seen: set[str] = set(already)
    for i, rep in enumerate(reps):
        if rep.household_id is not None:
            if rep.household_id in seen:
                errors.append({"loc": ["body", "representatives", i, "household_id"],
                               "msg": "this household already signed"})
                continue
            seen.add(rep.household_id)
            try:
                h = await register_service.household_or_404(session, rep.household_id)
            except NotFound:
                h = None
            if h is None or h.community_id != project.community_id:
                errors.append({"loc": ["body", "representatives", i, "household_id"],
                               "msg": "not a household of this community"})
        if rep.signed_at is not None and rep.signed_at > now:
            errors.append({"loc": ["body", "representatives", i, "signed_at"], "msg": "in the future"})
    if errors:
        raise Invalid("acceptance.invalid_representatives", "居民代表信息有误", "Invalid representatives",
                      errors=errors)


def _add_signatures(session: AsyncSession, *, acceptance_id: str, reps: list[Representative], by: str,
                    now: datetime) -> None:
    for rep in reps:
        session.add(AcceptanceSignature(acceptance_id=acceptance_id, name=rep.name.strip(),
                                        household_id=rep.household_id, signed_at=rep.signed_at or now,
                                        recorded_by=by, created_at=now))


SATISFACTION_QUESTIONS: list[dict[str, Any]] = [
    {"id": "quality", "type": "rating", "text": "您对本次改造的工程质量是否满意？", "required": True},
    {"id": "schedule", "type": "rating", "text": "您对施工进度和工期是否满意？", "required": True},
    {"id": "site_conduct", "type": "rating", "text": "您对文明施工（噪音、扬尘、安全、出行）是否满意？",
     "required": True},
    {"id": "overall", "type": "rating", "text": "您对改造后的整体效果是否满意？", "required": True},
    {"id": "comments", "type": "text", "text": "其他意见和建议", "required": False, "max_length": 500},
]


async def _satisfaction_questionnaire(session: AsyncSession, *, principal: Principal, project: Project,
                                      now: datetime) -> str | None:
    """A draft satisfaction questionnaire in the surveys domain (staff open it when residents should answer)."""
    q = await surveys_service.create_questionnaire_for(
        session, principal=principal, project_id=project.id, kind="satisfaction",
        title=f"“{project.title}”改造满意度评价", now=now, questions=SATISFACTION_QUESTIONS)
    return q.id


async def _acceptance_view(session: AsyncSession, *, acceptance: Acceptance, project: Project,
                           roles: frozenset[Role]) -> AcceptancePublic:
    staff = is_manager(roles)
    profile = await register_service.profile_for_community(session, project.community_id)
    sigs = await repo.signatures(session, acceptance.id)
    photos = []
    if roles & {Role.ADMIN, Role.STAFF, Role.SUPERVISOR, Role.CONTRACTOR}:
        photos = [media_service.photo_view(m, staff=staff)
                  for m in await media_service.media_for(session, owner_type="acceptance", owner_id=acceptance.id)]
    return AcceptancePublic(
        id=acceptance.id, project_id=project.id, accepted_at=acceptance.accepted_at, remarks=acceptance.remarks,
        representatives=[SignaturePublic(id=s.id, name=s.name if staff else (mask_name(s.name) or ""),
                                         household_id=s.household_id if staff else None, signed_at=s.signed_at)
                         for s in sigs],
        signed=len(sigs), required=profile.acceptance_representatives_min,
        complete=len(sigs) >= profile.acceptance_representatives_min, warranty_months=profile.warranty_months,
        warranty_until=warranty_until(acceptance.accepted_at, profile.warranty_months),
        questionnaire_id=acceptance.questionnaire_id, photos=photos, created_at=acceptance.created_at)


async def record_acceptance(session: AsyncSession, *, principal: Principal, project_id: str, body: AcceptanceCreate,
                            now: datetime) -> AcceptancePublic:
    p = await _project(session, project_id)
    roles = authorize(principal, "acceptance.manage", _scope(p))
    if await repo.acceptance_of(session, p.id) is not None:
        raise Conflict("acceptance.exists", "该项目已有竣工验收记录", "The project already has an acceptance record")
    accepted_at = body.accepted_at or now
    if accepted_at > now:
        raise Invalid("acceptance.in_future", "验收时间不能晚于当前时间", "accepted_at is in the future",
                      errors=[{"loc": ["body", "accepted_at"], "msg": "in the future"}])
    await _check_representatives(session, project=p, reps=body.representatives, already=set(), now=now)
    a = Acceptance(project_id=p.id, community_id=p.community_id, accepted_at=accepted_at, remarks=body.remarks,
                   created_by=principal.user_id, created_at=now)
    session.add(a)
    await session.flush()
    _add_signatures(session, acceptance_id=a.id, reps=body.representatives, by=principal.user_id, now=now)
    await repo.set_project_accepted(session, project_id=p.id, accepted_at=accepted_at)
    if body.satisfaction_survey:
        a.questionnaire_id = await _satisfaction_questionnaire(session, principal=principal, project=p, now=now)
        session.add(a)
    await session.flush()
    await audit.append(session, chain=p.community_id, action="acceptance.recorded", entity_type="project",
                       entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"acceptance_id": a.id, "accepted_at": accepted_at.isoformat(),
                             "signatures": len(body.representatives), "questionnaire_id": a.questionnaire_id})
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


async def _acceptance_or_404(session: AsyncSession, project: Project) -> Acceptance:
    a = await repo.acceptance_of(session, project.id)
    if a is None:
        raise NotFound("acceptance.not_found", "该项目尚无竣工验收记录", "No acceptance record yet")
    return a


async def add_signatures(session: AsyncSession, *, principal: Principal, project_id: str, body: SignaturesAdd,
                         now: datetime) -> AcceptancePublic:
    p = await _project(session, project_id)
    roles = authorize(principal, "acceptance.manage", _scope(p))
    a = await _acceptance_or_404(session, p)
    await _check_representatives(session, project=p, reps=body.representatives,
                                 already=await repo.signed_households(session, a.id), now=now)
    _add_signatures(session, acceptance_id=a.id, reps=body.representatives, by=principal.user_id, now=now)
    await session.flush()
    await audit.append(session, chain=p.community_id, action="acceptance.signed", entity_type="project",
                       entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"acceptance_id": a.id, "added": len(body.representatives)})
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


async def check_acceptance_upload(session: AsyncSession, *, principal: Principal, project_id: str) -> Acceptance:
    p = await _project(session, project_id)
    authorize(principal, "acceptance.manage", _scope(p))
    return await _acceptance_or_404(session, p)


async def add_acceptance_photos(session: AsyncSession, *, principal: Principal, project_id: str,
                                photos: list[StoredImage], now: datetime) -> AcceptancePublic:
    """Record processed acceptance photos; checks again first."""
    p = await _project(session, project_id)
    roles = authorize(principal, "acceptance.manage", _scope(p))
    a = await _acceptance_or_404(session, p)
    existing = await media_service.media_for(session, owner_type="acceptance", owner_id=a.id)
    if len(existing) + len(photos) > MAX_AFTER_PHOTOS:
        raise too_many_photos(MAX_AFTER_PHOTOS)
    for i, s in enumerate(photos):
        await media_service.attach(session, stored=s, owner_type="acceptance", owner_id=a.id,
                                   community_id=p.community_id, project_id=p.id, uploaded_by=principal.user_id,
                                   now=now, position=len(existing) + i)
    await audit.append(session, chain=p.community_id, action="acceptance.photos_added", entity_type="project",
                       entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"acceptance_id": a.id, "photos": [s.sha256 for s in photos]})
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


async def get_acceptance(session: AsyncSession, *, principal: Principal, project_id: str) -> AcceptancePublic:
    """Anyone related to the project; representatives' names masked and photos hidden for residents."""
    p = await _project(session, project_id)
    roles = authorize(principal, "project.view", _scope(p))
    a = await _acceptance_or_404(session, p)
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


# ---- gates (called by the projects domain) ---------------------------------------------------------

async def critical_reports_gate(session: AsyncSession, *, project_id: str) -> GateState:
    """Met when no critical report is still open (anything but verified, closed or dismissed)."""
    n, ids = await repo.open_critical(session, project_id)
    return GateState(
        name="no_open_critical_reports", met=n == 0,
        detail="没有未整改完成的严重质量问题" if n == 0 else f"尚有 {n} 个严重质量问题未整改复核完毕",
        figures={"open_critical": n, "report_ids": ids},
    )


async def acceptance_gate(session: AsyncSession, *, project_id: str) -> GateState:
    """Met when the acceptance record exists with at least the profile's number of representatives' signatures."""
    p = await _project(session, project_id)
    profile = await register_service.profile_for_community(session, p.community_id)
    required = profile.acceptance_representatives_min
    a = await repo.acceptance_of(session, p.id)
    signed = await repo.signature_count(session, a.id) if a is not None else 0
    if a is None:
        detail = "尚未形成竣工验收记录"
    elif signed < required:
        detail = f"竣工验收居民代表签字 {signed} 人，不足 {required} 人"
    else:
        detail = f"竣工验收已有 {signed} 名居民代表签字（要求至少 {required} 人）"
    return GateState(name="acceptance_signed", met=a is not None and signed >= required, detail=detail,
                     figures={"signed": signed, "required": required, "recorded": a is not None})
