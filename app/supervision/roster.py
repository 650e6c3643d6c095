"""The roster of a project: volunteer supervisors and contractors appointed by staff, and the roster as
notice text for publicity."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.models import Role
from app.auth.policy import Principal, authorize, is_manager
from app.core import audit
from app.core.errors import Conflict, NotFound
from app.core.privacy import mask_phone
from app.supervision import repository as repo
from app.supervision.common import project_of, scope_of
from app.supervision.models import Appointment
from app.supervision.schemas import AppointmentPublic, ContractorAppoint, SupervisorAppoint

SOURCE_ZH = {"deputy": "人大代表/政协委员", "committee_member": "居委会/业委会成员", "party_member": "党员",
             "resident": "居民"}


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
    p = await project_of(session, project_id=project_id)
    authorize(principal, "supervision.manage", scope_of(p))
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
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "project.view", scope_of(p))
    staff = is_manager(roles)
    return [_appointment_view(a, staff=staff, account_phone=own, can_sign_in=c)
            for a, c, own in await repo.appointments(session, project_id=p.id, role=role.value)]


async def roster_text(session: AsyncSession, *, project_id: str) -> str:
    """The supervisor roster as notice text (phones masked), for the publicity domain."""
    p = await project_of(session, project_id=project_id)
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
