"""Register endpoints: jurisdictions, profiles, communities, households, members and invitations, activation
codes, staff."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, Query, Request, Response

from app.auth.deps import PrincipalDep
from app.core import printing
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import TooLarge
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.register import importer, letters, service
from app.register.profiles import RulesProfile
from app.register.schemas import (
    ActivationCodeRequest,
    AdminGrantRequest,
    BuildingPublic,
    CommunityCreate,
    CommunityPublic,
    DeactivationResult,
    GrantPublic,
    HouseholdAdd,
    HouseholdChanged,
    HouseholdCorrection,
    HouseholdDeactivation,
    HouseholdPublic,
    HouseholdReactivation,
    ImportResult,
    InviteIssued,
    InvitePublic,
    InviteRequest,
    IssuedCodes,
    JurisdictionCreate,
    JurisdictionPublic,
    MemberPublic,
    OwnershipTransfer,
    ProfileVersionPublic,
    StaffGrantRequest,
    TransferResult,
)

router = api_router("register")


@router.post("/jurisdictions", response_model=JurisdictionPublic, status_code=201, operation_id="jurisdiction_create")
async def create_jurisdiction(body: JurisdictionCreate, session: SessionDep, principal: PrincipalDep,
                              clock: ClockDep) -> JurisdictionPublic:
    return await service.create_jurisdiction(session, principal=principal, body=body, now=clock.now())


@router.get("/jurisdictions", response_model=Page[JurisdictionPublic], operation_id="jurisdiction_list")
async def list_jurisdictions(session: SessionDep, principal: PrincipalDep,
                             page: Annotated[PageParams, Depends(page_params)]) -> Page[JurisdictionPublic]:
    """The jurisdictions the caller may view, by id: all for a global admin, their own for a jurisdiction's
    admin; an empty list for anyone else (community staff read their community's ``jurisdiction_id``)."""
    return await service.list_jurisdictions(session, principal=principal, page=page)


@router.get("/jurisdictions/{jurisdiction_id}", response_model=JurisdictionPublic, operation_id="jurisdiction_get")
async def get_jurisdiction(jurisdiction_id: str, session: SessionDep, principal: PrincipalDep) -> JurisdictionPublic:
    return await service.get_jurisdiction(session, principal=principal, jurisdiction_id=jurisdiction_id)


@router.put("/jurisdictions/{jurisdiction_id}/profile", response_model=JurisdictionPublic,
            operation_id="jurisdiction_profile_put")
async def put_profile(jurisdiction_id: str, body: RulesProfile, session: SessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> JurisdictionPublic:
    """A new profile version; motions already open keep the version they opened with."""
    return await service.update_profile(session, principal=principal, jurisdiction_id=jurisdiction_id, profile=body,
                                        now=clock.now())


@router.get("/jurisdictions/{jurisdiction_id}/profile/versions", response_model=list[ProfileVersionPublic],
            operation_id="jurisdiction_profile_versions")
async def profile_versions(jurisdiction_id: str, session: SessionDep,
                           principal: PrincipalDep) -> list[ProfileVersionPublic]:
    return await service.profile_history(session, principal=principal, jurisdiction_id=jurisdiction_id)


@router.post("/jurisdictions/{jurisdiction_id}/admins", response_model=GrantPublic, status_code=201,
             operation_id="jurisdiction_admin_grant")
async def grant_jurisdiction_admin(jurisdiction_id: str, body: AdminGrantRequest, session: SessionDep,
                                   principal: PrincipalDep, clock: ClockDep) -> GrantPublic:
    """Global admins: make a user an admin of this jurisdiction only (the street office: its communities,
    ranking and profile, supervision's overdue reports, figures, escalations and flags). `user_id` of an
    existing account (404 if unknown), or `username`+`password`+`name` for a new one (409
    `user.username_taken`, 422 `auth.weak_password`). A jurisdiction's own admins: 403; others: 404. Audited
    (`jurisdiction.admin_granted`)."""
    return await service.grant_jurisdiction_admin(session, principal=principal, jurisdiction_id=jurisdiction_id,
                                                  body=body, now=clock.now())


@router.post("/communities", response_model=CommunityPublic, status_code=201, operation_id="community_create")
async def create_community(body: CommunityCreate, session: SessionDep, principal: PrincipalDep,
                           clock: ClockDep) -> CommunityPublic:
    return await service.create_community(session, principal=principal, body=body, now=clock.now())


@router.get("/communities", response_model=Page[CommunityPublic], operation_id="community_list")
async def list_communities(session: SessionDep, principal: PrincipalDep,
                           page: Annotated[PageParams, Depends(page_params)]) -> Page[CommunityPublic]:
    """The communities the caller may view (the ones ``GET /communities/{id}`` serves them), by id: all for a
    global admin, those of their jurisdictions for a jurisdiction's admin, their own for staff and residents."""
    return await service.list_communities(session, principal=principal, page=page)


@router.get("/communities/{community_id}", response_model=CommunityPublic, operation_id="community_get")
async def get_community(community_id: str, session: SessionDep, principal: PrincipalDep) -> CommunityPublic:
    return await service.get_community(session, principal=principal, community_id=community_id)


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("import.too_large", "导入文件过大", "Import file too large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/communities/{community_id}/households:import", response_model=ImportResult, operation_id="households_import",
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
    }}},
)
async def import_households(community_id: str, request: Request, session: SessionDep, principal: PrincipalDep,
                            settings: SettingsDep, clock: ClockDep) -> ImportResult:
    """CSV (UTF-8 with or without BOM, or GB18030) or XLSX with columns building, unit, room, area_m2,
    owner_key. The file may be the raw body or a multipart field named ``file``. All-or-nothing."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5, max_part_size=settings.import_max_bytes)
        upload = form.get("file")
        data = await upload.read(settings.import_max_bytes + 1) if upload is not None and hasattr(upload, "read") else b""
        if len(data) > settings.import_max_bytes:
            raise TooLarge("import.too_large", "导入文件过大", "Import file too large")
    else:
        data = await _read_limited(request, settings.import_max_bytes)
    # Parsed in a worker thread before the write session issues its first statement (on SQLite that takes
    # the one writer), so a slow or hostile file neither blocks the event loop nor holds the writer.
    parsed = await anyio.to_thread.run_sync(partial(
        importer.parse, data, max_rows=settings.import_max_rows, time_budget=settings.import_parse_seconds))
    return await service.import_households(session, settings=settings, principal=principal, community_id=community_id, parsed=parsed, now=clock.now())


@router.get("/communities/{community_id}/households", response_model=Page[HouseholdPublic],
            operation_id="households_list")
async def list_households(community_id: str, session: SessionDep, principal: PrincipalDep,
                          page: Annotated[PageParams, Depends(page_params)],
                          include_inactive: Annotated[bool, Query(
                              description="also the deactivated households (merged or gone)")] = False,
                          ) -> Page[HouseholdPublic]:
    """The community's active households by id (staff); ``include_inactive=true`` adds the deactivated ones."""
    return await service.list_households(session, principal=principal, community_id=community_id, page=page,
                                         include_inactive=include_inactive)


@router.get("/communities/{community_id}/buildings", response_model=list[BuildingPublic],
            operation_id="buildings_list")
async def list_buildings(community_id: str, session: SessionDep, principal: PrincipalDep) -> list[BuildingPublic]:
    """Buildings with their units and how many households each unit has (staff)."""
    return await service.list_buildings(session, principal=principal, community_id=community_id)


@router.post("/communities/{community_id}/households", response_model=HouseholdChanged, status_code=201,
             operation_id="household_add")
async def add_household(community_id: str, body: HouseholdAdd, session: SessionDep, principal: PrincipalDep,
                        settings: SettingsDep, clock: ClockDep) -> HouseholdChanged:
    """One household entered by hand, checked as an imported row is; audited with its reason. Open motions keep
    their frozen rolls (``open_rolls_unchanged``)."""
    return await service.add_household(session, settings=settings, principal=principal, community_id=community_id,
                                       body=body, now=clock.now())


@router.patch("/households/{household_id}", response_model=HouseholdChanged, operation_id="household_correct")
async def correct_household(household_id: str, body: HouseholdCorrection, session: SessionDep,
                            principal: PrincipalDep, settings: SettingsDep, clock: ClockDep) -> HouseholdChanged:
    """Correct a household's room, area or owner key, with a reason (audited; the owner key is never stored
    or logged raw)."""
    return await service.correct_household(session, settings=settings, principal=principal,
                                           household_id=household_id, body=body, now=clock.now())


@router.post("/households/{household_id}/transfer", response_model=TransferResult,
             operation_id="household_transfer")
async def transfer_ownership(household_id: str, body: OwnershipTransfer, session: SessionDep,
                             principal: PrincipalDep, settings: SettingsDep, clock: ClockDep) -> TransferResult:
    """过户: a new owner; the household's members are unbound and its unused codes revoked. Audited."""
    return await service.transfer_ownership(session, settings=settings, principal=principal,
                                            household_id=household_id, body=body, now=clock.now())


@router.post("/households/{household_id}/deactivate", response_model=DeactivationResult,
             operation_id="household_deactivate")
async def deactivate_household(household_id: str, body: HouseholdDeactivation, session: SessionDep,
                               principal: PrincipalDep, clock: ClockDep) -> DeactivationResult:
    """A household merged into another or gone leaves every scope, roll and count from now on (never deleted);
    its members are unbound and its unused codes revoked. Open motions keep their frozen rolls
    (``open_rolls_unchanged``). Audited. 409 ``household.inactive`` if already deactivated."""
    return await service.deactivate_household(session, principal=principal, household_id=household_id, body=body,
                                              now=clock.now())


@router.post("/households/{household_id}/reactivate", response_model=HouseholdChanged,
             operation_id="household_reactivate")
async def reactivate_household(household_id: str, body: HouseholdReactivation, session: SessionDep,
                               principal: PrincipalDep, clock: ClockDep) -> HouseholdChanged:
    """Undo a deactivation made by mistake (audited); members activate again with new codes. 409
    ``household.active`` if it is not deactivated."""
    return await service.reactivate_household(session, principal=principal, household_id=household_id, body=body,
                                              now=clock.now())


@router.get("/households/{household_id}/members", response_model=list[MemberPublic],
            operation_id="household_members_list")
async def list_members(household_id: str, session: SessionDep, principal: PrincipalDep) -> list[MemberPublic]:
    """The household's members with relation, name, phone and when they joined (staff, or any member of the
    household); phones masked except one's own, names masked to other members."""
    return await service.list_members(session, principal=principal, household_id=household_id)


@router.delete("/households/{household_id}/members/{user_id}", status_code=204,
               operation_id="household_member_remove",
               responses={403: {"description": "household.owner_only (a family member or tenant removing someone "
                                                "else), member.owner_protected (an owner or co-owner removing "
                                                "another one: staff only)"},
                          404: {"description": "member.not_found"},
                          409: {"description": "member.last_owner (the last owner or co-owner leaving while others "
                                             "remain)"}})
async def remove_member(household_id: str, user_id: str, session: SessionDep, principal: PrincipalDep,
                        clock: ClockDep) -> Response:
    """Staff take anyone off the household; an owner or co-owner takes off family members and tenants; anyone
    leaves (``user_id`` = themself). The removed user's waiting invitations for the household are revoked and
    their next request no longer acts for it. Audited."""
    await service.remove_member(session, principal=principal, household_id=household_id, user_id=user_id,
                                now=clock.now())
    return Response(status_code=204)


@router.post("/households/{household_id}/invites", response_model=InviteIssued, status_code=201,
             operation_id="household_invite_create",
             responses={403: {"description": "household.owner_only (a family member or tenant)"},
                        409: {"description": "activation.household_full, invite.too_many_open, household.inactive"},
                        422: {"description": "invite.relation_not_invitable (owner, co_owner)"}})
async def create_invite(household_id: str, body: InviteRequest, session: SessionDep, principal: PrincipalDep,
                        settings: SettingsDep, clock: ClockDep) -> InviteIssued:
    """An owner or co-owner of the household, or staff, invites a family member or tenant: a one-time code
    (XXXX-XXXX, shown only here) valid for ``INVITE_HOURS`` (72 h), and what the mini-program shares (share
    card, mini-program code). Audited, never with the code."""
    return await service.issue_invite(session, settings=settings, principal=principal, household_id=household_id,
                                      body=body, now=clock.now())


@router.get("/households/{household_id}/invites", response_model=list[InvitePublic],
            operation_id="household_invites_list")
async def list_invites(household_id: str, session: SessionDep, principal: PrincipalDep,
                       clock: ClockDep) -> list[InvitePublic]:
    """The household's invitations still waiting (not used, revoked or expired), oldest first; owners,
    co-owners, staff. The codes are not shown again."""
    return await service.list_invites(session, principal=principal, household_id=household_id, now=clock.now())


@router.delete("/households/{household_id}/invites/{invite_id}", status_code=204,
               operation_id="household_invite_revoke",
               responses={404: {"description": "invite.not_found"}, 409: {"description": "invite.used"},
                          410: {"description": "invite.revoked, invite.expired"}})
async def revoke_invite(household_id: str, invite_id: str, session: SessionDep, principal: PrincipalDep,
                        clock: ClockDep) -> Response:
    """Revoke a waiting invitation (owners, co-owners, staff); it then answers 410 ``invite.revoked``. Audited."""
    await service.revoke_invite(session, principal=principal, household_id=household_id, invite_id=invite_id,
                                now=clock.now())
    return Response(status_code=204)


_LETTER_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "The issued codes: JSON by default; with `Accept: application/pdf` or `?format=pdf` the "
                         "printable activation letters, one A4 page per code",
          "content": {printing.PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    503: printing.FONT_MISSING_RESPONSE,
}


@router.post("/communities/{community_id}/activation-codes", response_model=IssuedCodes, status_code=201,
             responses=_LETTER_RESPONSES, operation_id="activation_codes_issue")
async def issue_codes(community_id: str, body: ActivationCodeRequest, request: Request, session: SessionDep,
                      principal: PrincipalDep, settings: SettingsDep, clock: ClockDep,
                      format: Annotated[Literal["json", "pdf"] | None, Query(  # noqa: A002 - the API's name
                          description="`pdf`: the activation letters instead of JSON (as `Accept: application/pdf`)")]
                      = None) -> Any:
    """One-time codes for printing; each is shown only in this response (stored hashed). Issuing again issues
    new codes (replacing the unused ones of the same relation). JSON by default; `Accept: application/pdf` or
    `?format=pdf` answers the activation letters (激活通知书) instead: per code one A4 page with the community,
    building, unit, room, the code, its expiry (Beijing time), instructions and a QR code carrying
    `<MINIPROGRAM_ACTIVATE_PATH>?code=<code>`. No CJK font on the server: 503 `documents.font_missing`
    before anything is issued."""
    now = clock.now()
    font = printing.font_file(settings) if printing.wants_pdf(request, format) else None
    issued = await service.issue_activation_codes(
        session, settings=settings, principal=principal, community_id=community_id, household_ids=body.household_ids,
        all_not_activated=body.all_not_activated, relation=body.relation, now=now, printed=font is not None)
    if font is None:
        return issued
    community = (await service.community_or_404(session, community_id=community_id)).name
    return printing.PdfResponse(
        partial(letters.build, font, community=community, items=issued.items,
                activate_path=settings.miniprogram_activate_path, issued_at=now),
        status_code=201, ascii_name=f"activation-letters-{community_id}.pdf", utf8_name=f"{community}-激活通知书.pdf")


@router.post("/communities/{community_id}/staff", response_model=GrantPublic, status_code=201,
             operation_id="community_staff_grant")
async def grant_staff(community_id: str, body: StaffGrantRequest, session: SessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> GrantPublic:
    return await service.grant_staff(session, principal=principal, community_id=community_id, body=body, now=clock.now())
