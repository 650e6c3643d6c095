"""Acceptance on completion: the record with residents' representatives' signatures, its photos, the
satisfaction questionnaire it may start, and the acceptance gate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import Role
from app.auth.policy import Principal, authorize, is_manager
from app.core import audit
from app.core.errors import Conflict, Invalid, NotFound
from app.core.privacy import mask_name
from app.media import service as media_service
from app.media.images import StoredImage
from app.media.models import MediaObject
from app.projects.gates import GateState
from app.projects.models import Project
from app.register import service as register_service
from app.supervision import repository as repo
from app.supervision.common import MAX_AFTER_PHOTOS, project_of, scope_of, too_many_photos, warranty_until
from app.supervision.models import Acceptance, AcceptanceSignature
from app.supervision.schemas import (
    AcceptanceCreate,
    AcceptancePublic,
    Representative,
    SignaturePublic,
    SignaturesAdd,
)
from app.surveys import service as surveys_service


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
                h = await register_service.household_or_404(session, household_id=rep.household_id)
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
    profile = await register_service.profile_for_community(session, community_id=project.community_id)
    sigs = await repo.signatures(session, acceptance.id)
    photos = []
    if roles & {Role.ADMIN, Role.STAFF, Role.SUPERVISOR, Role.CONTRACTOR}:
        photos = [media_service.photo_view(m=m, staff=staff)
                  for m in await media_service.media_for(session, owner_type="acceptance", owner_id=acceptance.id)]
    return AcceptancePublic(
        id=acceptance.id, project_id=project.id, accepted_at=acceptance.accepted_at, remarks=acceptance.remarks,
        representatives=[SignaturePublic(id=s.id, name=s.name if staff else (mask_name(s.name) or ""),
                                         household_id=s.household_id if staff else None, signed_at=s.signed_at)
                         for s in sigs],
        signed=len(sigs), required=profile.acceptance_representatives_min,
        complete=len(sigs) >= profile.acceptance_representatives_min, warranty_months=profile.warranty_months,
        warranty_until=warranty_until(accepted_at=acceptance.accepted_at, months=profile.warranty_months),
        questionnaire_id=acceptance.questionnaire_id, photos=photos, created_at=acceptance.created_at)


async def record_acceptance(session: AsyncSession, *, principal: Principal, project_id: str, body: AcceptanceCreate,
                            now: datetime) -> AcceptancePublic:
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "acceptance.manage", scope_of(p))
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


async def _acceptance_or_404(session: AsyncSession, *, project: Project) -> Acceptance:
    a = await repo.acceptance_of(session, project.id)
    if a is None:
        raise NotFound("acceptance.not_found", "该项目尚无竣工验收记录", "No acceptance record yet")
    return a


async def add_signatures(session: AsyncSession, *, principal: Principal, project_id: str, body: SignaturesAdd,
                         now: datetime) -> AcceptancePublic:
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "acceptance.manage", scope_of(p))
    a = await _acceptance_or_404(session, project=p)
    await _check_representatives(session, project=p, reps=body.representatives,
                                 already=await repo.signed_households(session, a.id), now=now)
    _add_signatures(session, acceptance_id=a.id, reps=body.representatives, by=principal.user_id, now=now)
    await session.flush()
    await audit.append(session, chain=p.community_id, action="acceptance.signed", entity_type="project",
                       entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"acceptance_id": a.id, "added": len(body.representatives)})
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


async def check_acceptance_upload(session: AsyncSession, *, principal: Principal, project_id: str) -> Acceptance:
    p = await project_of(session, project_id=project_id)
    authorize(principal, "acceptance.manage", scope_of(p))
    return await _acceptance_or_404(session, project=p)


async def add_acceptance_photos(session: AsyncSession, *, principal: Principal, project_id: str,
                                photos: list[StoredImage], now: datetime) -> AcceptancePublic:
    """Record processed acceptance photos; checks again first."""
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "acceptance.manage", scope_of(p))
    a = await _acceptance_or_404(session, project=p)
    existing = await media_service.media_for(session, owner_type="acceptance", owner_id=a.id)
    if len(existing) + len(photos) > MAX_AFTER_PHOTOS:
        raise too_many_photos(limit=MAX_AFTER_PHOTOS)
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
    p = await project_of(session, project_id=project_id)
    roles = authorize(principal, "project.view", scope_of(p))
    a = await _acceptance_or_404(session, project=p)
    return await _acceptance_view(session, acceptance=a, project=p, roles=roles)


# ---- for media and projects --------------------------------------------------------------------------

async def acceptance_photo_visible(session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
    """An acceptance photo (owner type ``acceptance``): for whoever may view the project's reports (registered
    with :data:`app.media.visibility.CHECKS`)."""
    if media.project_id is None:
        raise NotFound()
    authorize(principal, "report.view", scope_of(await project_of(session, project_id=media.project_id)))

async def acceptance_gate(session: AsyncSession, *, project_id: str) -> GateState:
    """Met when the acceptance record exists with at least the profile's number of representatives' signatures."""
    p = await project_of(session, project_id=project_id)
    profile = await register_service.profile_for_community(session, community_id=p.community_id)
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
