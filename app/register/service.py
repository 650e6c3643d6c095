"""The register: jurisdictions and their rules profiles, communities, households, activation codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.contracts import ActivationTarget, HouseholdCard, NamedPlace
from app.auth.models import ACTING_RELATIONS, Role, User
from app.auth.policy import (
    HouseholdAccess,
    HouseholdRef,
    MemberTarget,
    Principal,
    Scope,
    authorize,
    authorize_household,
    visible,
)
from app.core import audit
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, make_page
from app.core.privacy import mask_name, mask_phone
from app.core.security import keyed_hash
from app.core.units import format_area
from app.register import importer
from app.register import repository as repo
from app.register.contracts import OpenRoll, before_register_change
from app.register.models import Building, Community, Household, Jurisdiction, RulesProfileVersion, Unit
from app.register.profiles import RulesProfile, preset_profile
from app.register.schemas import (
    AdminGrantRequest,
    BuildingPublic,
    CommunityCreate,
    CommunityPublic,
    DeactivationResult,
    Eligibility,
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
    InviteShare,
    IssuedCode,
    IssuedCodes,
    JurisdictionCreate,
    JurisdictionPublic,
    MemberPublic,
    OpenRollPublic,
    OwnershipTransfer,
    ProfileVersionPublic,
    StaffGrantRequest,
    TransferResult,
    UnitPublic,
)

# ---- scopes and lookups other domains use -------------------------------------------------------

async def community_or_404(session: AsyncSession, *, community_id: str) -> Community:
    c = await repo.get_community(session, community_id)
    if c is None:
        raise NotFound()
    return c


async def community_scope(session: AsyncSession, *, community_id: str) -> Scope:
    """The community's scope to authorize against (404 when there is none): one indexed hot read, no ORM
    object (issue 17)."""
    keys = await repo.community_keys(session, community_id)
    if keys is None:
        raise NotFound()
    return Scope(jurisdiction_id=keys[1], community_id=keys[0])


async def household_or_404(session: AsyncSession, *, household_id: str) -> Household:
    h = await repo.get_household(session, household_id)
    if h is None:
        raise NotFound()
    return h


# A profile version, once written, never changes (a change writes the next one): each is read and checked once
# per process and kept here by (jurisdiction id, version); ids are never reused. Bounded: emptied when full.
_PROFILES: dict[tuple[str, int], RulesProfile] = {}
_PROFILES_MAX = 512


async def profile_of(session: AsyncSession, *, jurisdiction_id: str, version: int | None = None) -> tuple[int, RulesProfile]:
    """The rules profile in force (or a given version) with its version number, as the caller's own copy. A
    given version that was read before costs no statement (a paper ballot's frozen profile, issue 17)."""
    if version:
        v = version
    else:
        j = await repo.get_jurisdiction(session, jurisdiction_id)
        if j is None:
            raise NotFound()
        v = j.profile_version
    profile = _PROFILES.get((jurisdiction_id, v))
    if profile is None:
        row = await repo.profile_version(session, jurisdiction_id, v)
        if row is None:  # no such version, or no such jurisdiction
            raise NotFound()
        profile = RulesProfile.model_validate(row.data)
        if len(_PROFILES) >= _PROFILES_MAX:
            _PROFILES.clear()
        _PROFILES[(jurisdiction_id, v)] = profile
    return v, profile.model_copy(deep=True)


async def profile_for_community(session: AsyncSession, *, community_id: str) -> RulesProfile:
    c = await community_or_404(session, community_id=community_id)
    return (await profile_of(session, jurisdiction_id=c.jurisdiction_id))[1]


async def community_ids_of(session: AsyncSession, *, jurisdiction_id: str) -> list[str]:
    """The ids of the jurisdiction's communities."""
    return [c.id for c in await repo.communities_of(session, jurisdiction_id)]


def eligibility_of(*, community: Community, profile: RulesProfile) -> Eligibility:
    from app.rules import check_eligibility

    r = check_eligibility(community.built_date, profile.eligibility_cutoff)
    return Eligibility(eligible=r.eligible, cutoff=profile.eligibility_cutoff, reason=r.reason_zh)


@dataclass(frozen=True)
class PlacedHousehold:
    """A household with where it is (ids and names) and its exclusive area in 0.01 m²; ``active`` is false once
    it has been deactivated (it is then in no scope)."""

    id: str
    community_id: str
    building_id: str
    unit_id: str
    building: str
    unit: str
    room: str
    area_centi: int
    active: bool


def _placed(row: tuple[Household, str, str]) -> PlacedHousehold:
    h, b, u = row
    return PlacedHousehold(id=h.id, community_id=h.community_id, building_id=h.building_id, unit_id=h.unit_id,
                           building=b, unit=u, room=h.room, area_centi=h.area_centi,
                           active=h.deactivated_at is None)


async def households_in_scope(session: AsyncSession, *, community_id: str, building_id: str | None = None,
                              unit_id: str | None = None) -> list[PlacedHousehold]:
    """The households of a scope (the community, one building or one unit of it, as in
    :mod:`app.register.scope`), by id."""
    return [_placed(r) for r in await repo.placed_households(session, community_id, building_id=building_id,
                                                             unit_id=unit_id)]


async def households_by_id(session: AsyncSession, *, community_id: str,
                           household_ids: list[str]) -> list[PlacedHousehold]:
    """The given households of the community, active or not (ids of other communities are left out), by id."""
    if not household_ids:
        return []
    return [_placed(r) for r in await repo.placed_households(session, community_id,
                                                             household_ids=sorted(set(household_ids)))]


# ---- jurisdictions -------------------------------------------------------------------------------

def _require_global_admin(principal: Principal) -> None:
    if not principal.is_global_admin:
        raise Forbidden()


async def _jurisdiction_public(session: AsyncSession, j: Jurisdiction) -> JurisdictionPublic:
    _, profile = await profile_of(session, jurisdiction_id=j.id)
    return JurisdictionPublic(id=j.id, name=j.name, code=j.code, profile_version=j.profile_version,
                              profile=profile, created_at=j.created_at)


async def create_jurisdiction(
    session: AsyncSession, *, principal: Principal, body: JurisdictionCreate, now: datetime
) -> JurisdictionPublic:
    _require_global_admin(principal)
    if body.profile is not None:
        profile = body.profile
    elif body.preset:
        try:
            profile = preset_profile(name=body.preset)
        except KeyError as exc:
            raise Invalid("jurisdiction.unknown_preset", "未知的预设规则", "Unknown preset",
                          errors=[{"loc": ["body", "preset"], "msg": "unknown preset"}]) from exc
    else:
        profile = RulesProfile()
    if body.code and await repo.jurisdiction_by_code(session, body.code):
        raise Conflict("jurisdiction.code_taken", "辖区编码已存在", "Jurisdiction code already exists")
    j = Jurisdiction(name=body.name, code=body.code, profile_version=1, created_at=now)
    session.add(j)
    await session.flush()
    session.add(RulesProfileVersion(jurisdiction_id=j.id, version=1, data=profile.model_dump(mode="json"),
                                    created_at=now, created_by=principal.user_id))
    await audit.append(session, chain="system", action="jurisdiction.created", entity_type="jurisdiction",
                       entity_id=j.id, actor_id=principal.user_id, at=now, data={"name": j.name, "profile_version": 1})
    await session.flush()
    return await _jurisdiction_public(session, j)


async def get_jurisdiction(session: AsyncSession, *, principal: Principal, jurisdiction_id: str) -> JurisdictionPublic:
    j = await repo.get_jurisdiction(session, jurisdiction_id)
    if j is None:
        raise NotFound()
    authorize(principal, "jurisdiction.view", Scope(jurisdiction_id=j.id))
    return await _jurisdiction_public(session, j)


async def list_jurisdictions(session: AsyncSession, *, principal: Principal, page: PageParams) -> Page[JurisdictionPublic]:
    """The jurisdictions the caller may view (``jurisdiction.view``, as ``GET /jurisdictions/{id}``): all for
    a global admin, their own for a jurisdiction's admin, none for anyone else."""
    vis = visible(principal, "jurisdiction.view")
    rows = await repo.jurisdictions_page(session, ids=None if vis.everything else vis.jurisdiction_ids,
                                         after=page.after, limit=page.limit)
    items = [JurisdictionPublic(id=j.id, name=j.name, code=j.code, profile_version=j.profile_version,
                                profile=RulesProfile.model_validate(v.data), created_at=j.created_at)
             for j, v in rows]
    return make_page(items, page.limit, items[min(len(items), page.limit) - 1].id if items else None)


async def update_profile(
    session: AsyncSession, *, principal: Principal, jurisdiction_id: str, profile: RulesProfile, now: datetime
) -> JurisdictionPublic:
    j = await repo.get_jurisdiction(session, jurisdiction_id)
    if j is None:
        raise NotFound()
    authorize(principal, "jurisdiction.manage", Scope(jurisdiction_id=j.id))
    j.profile_version += 1
    session.add(j)
    session.add(RulesProfileVersion(jurisdiction_id=j.id, version=j.profile_version,
                                    data=profile.model_dump(mode="json"), created_at=now, created_by=principal.user_id))
    await audit.append(session, chain="system", action="jurisdiction.profile_changed", entity_type="jurisdiction",
                       entity_id=j.id, actor_id=principal.user_id, at=now,
                       data={"profile_version": j.profile_version})
    await session.flush()
    return await _jurisdiction_public(session, j)


async def profile_history(session: AsyncSession, *, principal: Principal, jurisdiction_id: str) -> list[ProfileVersionPublic]:
    j = await repo.get_jurisdiction(session, jurisdiction_id)
    if j is None:
        raise NotFound()
    authorize(principal, "jurisdiction.view", Scope(jurisdiction_id=j.id))
    return [ProfileVersionPublic(version=r.version, profile=RulesProfile.model_validate(r.data), created_at=r.created_at)
            for r in await repo.profile_versions(session, j.id)]


# ---- communities ---------------------------------------------------------------------------------

def _community_item(c: Community, profile: RulesProfile, households: int, buildings: int) -> CommunityPublic:
    return CommunityPublic(id=c.id, jurisdiction_id=c.jurisdiction_id, name=c.name, address=c.address,
                           built_date=c.built_date, eligibility=eligibility_of(community=c, profile=profile), households=households,
                           buildings=buildings, created_at=c.created_at)


async def _community_public(session: AsyncSession, c: Community) -> CommunityPublic:
    profile = (await profile_of(session, jurisdiction_id=c.jurisdiction_id))[1]
    return _community_item(c, profile, *await repo.community_counts(session, c.id))


async def list_communities(session: AsyncSession, *, principal: Principal, page: PageParams) -> Page[CommunityPublic]:
    """The communities the caller may view (``community.view``, as ``GET /communities/{id}``): all for a
    global admin, those of their jurisdictions for a jurisdiction's admin, their own for staff and residents,
    none for project-only roles (supervisors, contractors)."""
    vis = visible(principal, "community.view")
    rows = await repo.communities_page(session, jurisdiction_ids=None if vis.everything else vis.jurisdiction_ids,
                                       community_ids=vis.community_ids, after=page.after, limit=page.limit)
    profiles = await repo.profiles_in_force(session, {c.jurisdiction_id for c in rows})
    counts = await repo.community_counts_many(session, [c.id for c in rows])
    items = [_community_item(c, RulesProfile.model_validate(profiles[c.jurisdiction_id].data), *counts[c.id])
             for c in rows]
    return make_page(items, page.limit, items[min(len(items), page.limit) - 1].id if items else None)


async def create_community(
    session: AsyncSession, *, principal: Principal, body: CommunityCreate, now: datetime
) -> CommunityPublic:
    j = await repo.get_jurisdiction(session, body.jurisdiction_id)
    if j is None:
        raise NotFound()
    authorize(principal, "community.create", Scope(jurisdiction_id=j.id))
    c = Community(jurisdiction_id=j.id, name=body.name, address=body.address, built_date=body.built_date,
                  created_at=now)
    session.add(c)
    await session.flush()
    await audit.append(session, chain=c.id, action="community.created", entity_type="community", entity_id=c.id,
                       actor_id=principal.user_id, at=now, data={"name": c.name})
    return await _community_public(session, c)


async def get_community(session: AsyncSession, *, principal: Principal, community_id: str) -> CommunityPublic:
    c = await community_or_404(session, community_id=community_id)
    authorize(principal, "community.view", Scope(jurisdiction_id=c.jurisdiction_id, community_id=c.id))
    return await _community_public(session, c)


async def _grantee(session: AsyncSession, body: StaffGrantRequest | AdminGrantRequest, now: datetime) -> User:
    """The account a grant is for: an existing one by ``user_id`` (404), or a new one."""
    if body.user_id:
        return await auth_service.user_or_404(session, user_id=body.user_id)
    if body.username and body.password and body.name:
        return await auth_service.create_user(session, username=body.username, password=body.password,
                                              name=body.name, now=now)
    raise Invalid(errors=[{"loc": ["body"], "msg": "give user_id, or username + password + name"}])


async def grant_jurisdiction_admin(
    session: AsyncSession, *, principal: Principal, jurisdiction_id: str, body: AdminGrantRequest, now: datetime
) -> GrantPublic:
    """A global admin makes a user an admin of one jurisdiction (its street office: the jurisdiction's views,
    escalations and flags of supervision). Others related to the jurisdiction (its admins): 403; anyone else 404."""
    j = await repo.get_jurisdiction(session, jurisdiction_id)
    if j is None:
        raise NotFound()
    authorize(principal, "jurisdiction.manage", Scope(jurisdiction_id=j.id))
    _require_global_admin(principal)
    user = await _grantee(session, body, now)
    await auth_service.grant(session, user_id=user.id, role=Role.ADMIN, scope_id=j.id, now=now, by=principal.user_id)
    await audit.append(session, chain="system", action="jurisdiction.admin_granted", entity_type="user",
                       entity_id=user.id, actor_id=principal.user_id, at=now, data={"jurisdiction_id": j.id})
    return GrantPublic(user_id=user.id, username=user.username, role=Role.ADMIN, scope_id=j.id)


async def grant_staff(
    session: AsyncSession, *, principal: Principal, community_id: str, body: StaffGrantRequest, now: datetime
) -> GrantPublic:
    scope = await community_scope(session, community_id=community_id)
    authorize(principal, "community.grant_staff", scope)
    user = await _grantee(session, body, now)
    await auth_service.grant(session, user_id=user.id, role=Role.STAFF, scope_id=community_id, now=now,
                             by=principal.user_id)
    await audit.append(session, chain=community_id, action="community.staff_granted", entity_type="user",
                       entity_id=user.id, actor_id=principal.user_id, at=now)
    return GrantPublic(user_id=user.id, username=user.username, role=Role.STAFF, scope_id=community_id)


# ---- households ----------------------------------------------------------------------------------

IMPORT_STATUS = {"import.unreadable": 422, "import.too_many_rows": 413}


def owner_key_hash(*, settings: Settings, community_id: str, raw: str) -> str:
    """Owner identities are never stored: only a keyed hash, scoped to the community."""
    return keyed_hash(settings.secret_key, f"{community_id}|{raw.strip()}", purpose="owner")


async def import_households(
    session: AsyncSession, *, settings: Settings, principal: Principal, community_id: str,
    parsed: importer.ParseResult, now: datetime,
) -> ImportResult:
    """Store a file the route has already parsed (in a thread, before this transaction's first statement)."""
    scope = await community_scope(session, community_id=community_id)
    authorize(principal, "register.manage", scope)
    if parsed.fatal:
        code, zh, en = parsed.fatal
        raise AppError(code, zh, en, status=IMPORT_STATUS.get(code, 400))
    buildings = {b.name: b for b in await repo.buildings_of(session, community_id)}
    units = {(u.building_id, u.name): u for u in await repo.units_of(session, community_id)}
    existing = await repo.existing_rooms(session, community_id)
    new_buildings: list[dict] = []
    new_units: list[dict] = []
    placed: list[tuple[importer.ImportRow, str, str]] = []
    for row in parsed.rows:
        b = buildings.get(row.building)
        if b is None:
            b = Building(id=new_id(), community_id=community_id, name=row.building)
            buildings[row.building] = b
            new_buildings.append({"id": b.id, "community_id": community_id, "name": b.name})
        u = units.get((b.id, row.unit))
        if u is None:
            u = Unit(id=new_id(), community_id=community_id, building_id=b.id, name=row.unit)
            units[(b.id, row.unit)] = u
            new_units.append({"id": u.id, "community_id": community_id, "building_id": b.id, "name": u.name})
        if (u.id, row.room) in existing:
            if (gone := existing[(u.id, row.room)]) is not None:  # never resurrected by an import
                parsed.error(row.line, "room", f"room of deactivated household {gone}: reactivate it instead",
                             f"该房号属于已停用的房屋 {gone}，如需恢复请重新启用该户")
            else:
                parsed.error(row.line, "room", "room already registered", "该房号已登记")
            continue
        placed.append((row, b.id, u.id))
    if parsed.errors:
        parsed.errors.sort(key=lambda e: e["line"])
        raise Invalid("import.invalid_rows", f"导入失败：{len(parsed.errors)} 处错误，未导入任何数据",
                      f"Import refused: {len(parsed.errors)} errors, nothing imported", errors=parsed.errors)

    def household_rows() -> list[dict]:
        out: list[dict] = []
        for row, building_id, unit_id in placed:
            hid = new_id()
            out.append({
                "id": hid, "community_id": community_id, "building_id": building_id, "unit_id": unit_id,
                "room": row.room, "area_centi": row.area_centi, "created_at": now,
                "owner_key": owner_key_hash(settings=settings, community_id=community_id, raw=row.owner_key or f"household:{hid}"),
            })
        return out

    households = await anyio.to_thread.run_sync(household_rows)  # 20,000 HMACs stay off the event loop
    # before anything is written: open motions freeze their rolls from the register as it was (contracts)
    unchanged = await before_register_change(session, community_id=community_id, now=now)
    await repo.bulk_insert(session, Building, new_buildings)
    await repo.bulk_insert(session, Unit, new_units)
    for i in range(0, len(households), 1000):
        await repo.bulk_insert(session, Household, households[i:i + 1000])
    if households:
        await repo.bump_register_version(session, community_id)
    await audit.append(session, chain=community_id, action="households.imported", entity_type="community",
                       entity_id=community_id, actor_id=principal.user_id, at=now,
                       data={"households": len(households), "buildings": len(new_buildings), "units": len(new_units)})
    return ImportResult(imported=len(households), buildings_created=len(new_buildings), units_created=len(new_units),
                        open_rolls_unchanged=_open_rolls(unchanged))


async def list_households(
    session: AsyncSession, *, principal: Principal, community_id: str, page: PageParams,
    include_inactive: bool = False,
) -> Page[HouseholdPublic]:
    """The community's active households by id (staff); deactivated ones too with ``include_inactive``."""
    scope = await community_scope(session, community_id=community_id)
    authorize(principal, "register.view", scope)
    rows = await repo.households_page(session, community_id, after=page.after, limit=page.limit,
                                      include_inactive=include_inactive)
    items = [_household_public(row) for row in rows]
    return make_page(items, page.limit, items[min(len(items), page.limit) - 1].id if items else None)


async def issue_activation_codes(
    session: AsyncSession, *, settings: Settings, principal: Principal, community_id: str,
    household_ids: list[str] | None, all_not_activated: bool, relation: str, now: datetime, printed: bool = False,
) -> IssuedCodes:
    """One new code per household (staff); ``printed``: they are handed out as activation letters (PDF), which
    the audit entry records."""
    scope = await community_scope(session, community_id=community_id)
    authorize(principal, "register.manage", scope)
    if household_ids is None and not all_not_activated:
        raise Invalid(errors=[{"loc": ["body", "household_ids"], "msg": "give household_ids or all_not_activated"}])
    # the households' rows stay locked until the codes are stored: two staff issuing codes for the same household
    # and relation at once would otherwise each replace the code open before them and leave two open codes
    rows = await repo.households_with_location(session, community_id, household_ids, all_not_activated, lock=True)
    if household_ids is not None and len(rows) != len(set(household_ids)):
        raise NotFound("household.not_found", "部分房屋不属于该小区", "Some households are not in this community")
    if inactive := [h.id for h, _, _ in rows if h.deactivated_at is not None]:
        raise _inactive(errors=[{"loc": ["body", "household_ids"], "msg": f"deactivated: {hid}"} for hid in inactive])
    codes = await auth_service.issue_activation_codes(session, settings=settings, household_ids=[h.id for h, _, _ in rows],
                                                      relation=relation, now=now, by=principal.user_id)
    items = [IssuedCode(household_id=h.id, building=b, unit=u, room=h.room, code=c.code, relation=relation,
                        expires_at=c.expires_at, replaced=c.replaced) for (h, b, u), c in zip(rows, codes, strict=True)]
    await audit.append(session, chain=community_id, action="activation_codes.issued", entity_type="community",
                       entity_id=community_id, actor_id=principal.user_id, at=now,
                       data={"count": len(items), "relation": relation, "replaced": sum(c.replaced for c in codes)}
                       | ({"format": "pdf"} if printed else {}))
    return IssuedCodes(items=items)


# ---- register upkeep: one household at a time (staff; audited; a new register version) ------------------

def _household_public(row: tuple[Household, str, str, int, int]) -> HouseholdPublic:
    h, b, u, m, p = row
    return HouseholdPublic(id=h.id, building=b, unit=u, room=h.room, area_m2=format_area(h.area_centi), members=m,
                           activated=m > 0, pending_codes=p, active=h.deactivated_at is None,
                           deactivated_at=h.deactivated_at, deactivation_reason=h.deactivation_reason,
                           merged_into_household_id=h.merged_into_id)


def _inactive(errors: list[dict[str, Any]] | None = None) -> Conflict:
    return Conflict("household.inactive", "该房屋已停用", "The household is deactivated", errors=errors)


async def _managed_household(session: AsyncSession, principal: Principal,
                             household_id: str) -> tuple[Household, str, str]:
    """The household with its building and unit names, once the caller may manage its community's register."""
    found = await repo.household_row(session, household_id)
    if found is None:
        raise NotFound("household.not_found", "房屋不存在", "Household not found")
    h, b, u, _, _ = found
    authorize(principal, "register.manage", await community_scope(session, community_id=h.community_id))
    # the household row first, before the rolls and the audit chain: joins lock it too, in that order
    locked = await repo.get_household(session, h.id, lock=True)
    assert locked is not None
    return locked, b, u


def _open_rolls(unchanged: list[OpenRoll]) -> list[OpenRollPublic]:
    return [OpenRollPublic(kind=r.kind, id=r.id, title=r.title) for r in unchanged]


def _row_errors(parsed: importer.ParseResult) -> Invalid:
    return Invalid("household.invalid", "房屋信息有误：" + "；".join(e["msg"] for e in parsed.errors),
                   "Invalid household: " + ", ".join(f"{e['column']}: {e['reason']}" for e in parsed.errors),
                   errors=[{"loc": ["body", e["column"] or "body"], "msg": e["reason"]} for e in parsed.errors])


async def list_buildings(session: AsyncSession, *, principal: Principal, community_id: str) -> list[BuildingPublic]:
    """Buildings with their units and household counts, by name (staff)."""
    authorize(principal, "register.view", await community_scope(session, community_id=community_id))
    out: dict[str, BuildingPublic] = {}
    for b, u, n in await repo.buildings_with_units(session, community_id):
        item = out.setdefault(b.id, BuildingPublic(id=b.id, name=b.name, units=[]))
        if u is not None:
            item.units.append(UnitPublic(id=u.id, name=u.name, households=n))
    return list(out.values())


async def add_household(session: AsyncSession, *, settings: Settings, principal: Principal, community_id: str,
                        body: HouseholdAdd, now: datetime) -> HouseholdChanged:
    """One household, checked and stored exactly as an imported row (the same path), with the reason audited."""
    parsed = importer.single_row(building=body.building, unit=body.unit, room=body.room, area_m2=body.area_m2,
                                 owner_key=body.owner_key)
    if parsed.errors:
        raise _row_errors(parsed)
    result = await import_households(session, settings=settings, principal=principal, community_id=community_id, parsed=parsed, now=now)
    row = parsed.rows[0]
    hid = await repo.household_id_at(session, community_id, building=row.building, unit=row.unit, room=row.room)
    found = await repo.household_row(session, hid) if hid else None
    assert found is not None
    await audit.append(session, chain=community_id, action="household.added", entity_type="household",
                       entity_id=found[0].id, actor_id=principal.user_id, at=now, data={"reason": body.reason})
    return HouseholdChanged(household=_household_public(found), open_rolls_unchanged=result.open_rolls_unchanged)


async def correct_household(session: AsyncSession, *, settings: Settings, principal: Principal, household_id: str,
                            body: HouseholdCorrection, now: datetime) -> HouseholdChanged:
    """Correct a household's room, area or owner key, with a reason. Open motions keep their frozen rolls
    (listed in ``open_rolls_unchanged``); staff amend a roll if the correction should count there. A
    deactivated household is not corrected (409 ``household.inactive``): reactivate it first."""
    h, b, u = await _managed_household(session, principal, household_id)
    if h.deactivated_at is not None:
        raise _inactive()
    if body.room is None and body.area_m2 is None and body.owner_key is None:
        raise Invalid(errors=[{"loc": ["body"], "msg": "give room, area_m2 or owner_key"}])
    parsed = importer.single_row(building=b, unit=u, room=body.room or h.room,
                                 area_m2=body.area_m2 or format_area(h.area_centi), owner_key=body.owner_key)
    if parsed.errors:
        raise _row_errors(parsed)
    row = parsed.rows[0]
    if row.room != h.room and await repo.room_taken(session, h.unit_id, row.room, other_than=h.id):
        raise Conflict("household.room_taken", "该单元已有此房号", "The unit already has this room")
    values: dict[str, object] = {}
    if row.room != h.room:
        values["room"] = row.room
    if row.area_centi != h.area_centi:
        values["area_centi"] = row.area_centi
    if row.owner_key is not None:
        key = owner_key_hash(settings=settings, community_id=h.community_id, raw=row.owner_key)
        if key != h.owner_key:
            values["owner_key"] = key
    unchanged = await before_register_change(session, community_id=h.community_id, now=now)
    if values:
        await repo.update_household(session, h.id, values)
        await repo.bump_register_version(session, h.community_id)
    await audit.append(session, chain=h.community_id, action="household.corrected", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now, data={
                           "reason": body.reason,
                           "room": [h.room, values.get("room", h.room)],
                           "area_centi": [h.area_centi, values.get("area_centi", h.area_centi)],
                           "owner_key_changed": "owner_key" in values})  # never the key itself
    fresh = await repo.household_row(session, h.id)
    assert fresh is not None
    return HouseholdChanged(household=_household_public(fresh), open_rolls_unchanged=_open_rolls(unchanged))


async def transfer_ownership(session: AsyncSession, *, settings: Settings, principal: Principal, household_id: str,
                             body: OwnershipTransfer, now: datetime) -> TransferResult:
    """过户: a new owner key; the current members are unbound and the household's unused codes revoked (the
    new owner activates with a new code). Ballots and responses already cast stay as they were; open motions
    keep their frozen rolls (``open_rolls_unchanged``). Audited, never with the key itself. Not for a
    deactivated household (409 ``household.inactive``)."""
    h, b, u = await _managed_household(session, principal, household_id)
    if h.deactivated_at is not None:
        raise _inactive()
    parsed = importer.single_row(building=b, unit=u, room=h.room, area_m2=format_area(h.area_centi),
                                 owner_key=body.owner_key)
    if parsed.errors or parsed.rows[0].owner_key is None:
        raise _row_errors(parsed)
    key = owner_key_hash(settings=settings, community_id=h.community_id, raw=parsed.rows[0].owner_key)
    if key == h.owner_key:
        raise Conflict("household.same_owner", "新业主与现业主相同", "The new owner is the current owner")
    unchanged = await before_register_change(session, community_id=h.community_id, now=now)
    await repo.update_household(session, h.id, {"owner_key": key})
    await repo.bump_register_version(session, h.community_id)
    unbound = await auth_service.unbind_household(session, household_id=h.id, now=now)
    await audit.append(session, chain=h.community_id, action="household.ownership_transferred",
                       entity_type="household", entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"reason": body.reason, "members_unbound": unbound})
    fresh = await repo.household_row(session, h.id)
    assert fresh is not None
    return TransferResult(household=_household_public(fresh), members_unbound=len(unbound),
                          open_rolls_unchanged=_open_rolls(unchanged))


async def deactivate_household(session: AsyncSession, *, principal: Principal, household_id: str,
                               body: HouseholdDeactivation, now: datetime) -> DeactivationResult:
    """A household merged into another (``merged_into_household_id``: an active household of the same
    community) or gone. It is never deleted: it leaves every scope (:mod:`app.register.scope`) — no new roll,
    no denominator, no new code —, its members are unbound and its unused codes revoked (as on a transfer;
    the audit entry names the members). Open motions keep it on their frozen rolls (``open_rolls_unchanged``;
    staff amend a roll to take it off); ballots and responses already cast stay. 409 ``household.inactive``
    if it is deactivated already."""
    h, _, _ = await _managed_household(session, principal, household_id)
    if h.deactivated_at is not None:
        raise _inactive()
    target = body.merged_into_household_id
    if target is not None:
        into = await repo.get_household(session, target) if target != h.id else None
        if into is None or into.community_id != h.community_id or into.deactivated_at is not None:
            raise Invalid("household.merge_target", "合并后的房屋须为本小区另一处在用的房屋",
                          "The household merged into must be another active household of this community",
                          errors=[{"loc": ["body", "merged_into_household_id"],
                                   "msg": "not another active household of this community"}])
    unchanged = await before_register_change(session, community_id=h.community_id, now=now)
    await repo.update_household(session, h.id, {"deactivated_at": now, "deactivation_reason": body.reason,
                                                "merged_into_id": target})
    await repo.bump_register_version(session, h.community_id)
    unbound = await auth_service.unbind_household(session, household_id=h.id, now=now)
    await audit.append(session, chain=h.community_id, action="household.deactivated", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"reason": body.reason, "merged_into": target, "members_unbound": unbound})
    fresh = await repo.household_row(session, h.id)
    assert fresh is not None
    return DeactivationResult(household=_household_public(fresh), members_unbound=len(unbound),
                              open_rolls_unchanged=_open_rolls(unchanged))


async def reactivate_household(session: AsyncSession, *, principal: Principal, household_id: str,
                               body: HouseholdReactivation, now: datetime) -> HouseholdChanged:
    """Undo a deactivation made by mistake: the household is in scope again (rolls frozen from now on include
    it; open ones are left as they are). Its former members are not rebound: staff issue new codes. 409
    ``household.active`` if it is not deactivated."""
    h, _, _ = await _managed_household(session, principal, household_id)
    if h.deactivated_at is None:
        raise Conflict("household.active", "该房屋未停用", "The household is not deactivated")
    was = {"deactivated_at": h.deactivated_at.isoformat(), "deactivation_reason": h.deactivation_reason,
           "merged_into": h.merged_into_id}
    unchanged = await before_register_change(session, community_id=h.community_id, now=now)
    await repo.update_household(session, h.id, {"deactivated_at": None, "deactivation_reason": None,
                                                "merged_into_id": None})
    await repo.bump_register_version(session, h.community_id)
    await audit.append(session, chain=h.community_id, action="household.reactivated", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"reason": body.reason} | was)
    fresh = await repo.household_row(session, h.id)
    assert fresh is not None
    return HouseholdChanged(household=_household_public(fresh), open_rolls_unchanged=_open_rolls(unchanged))


# ---- members of a household and its invitations (app.auth.policy.authorize_household decides who) ----------

RELATION_LABELS = {"family": "家庭成员", "tenant": "租户"}


async def _household_access(session: AsyncSession, principal: Principal, household_id: str, permission: str, *,
                            target_user_id: str | None = None,
                            lock: bool = False) -> tuple[Household, HouseholdAccess, str | None]:
    """The household once the caller may do ``permission`` to it, how they relate to it, and (for a removal)
    the named user's relation (None: not a member)."""
    h = await repo.get_household(session, household_id, lock=lock)
    if h is None:
        raise NotFound()
    scope = await community_scope(session, community_id=h.community_id)
    relation = None
    target = None
    if target_user_id is not None:
        relation = await auth_service.member_relation(session, household_id=h.id, user_id=target_user_id)
        target = MemberTarget(user_id=target_user_id, relation=relation)
    access = authorize_household(principal, permission, scope, household_id=h.id, target=target)
    return h, access, relation


async def list_members(session: AsyncSession, *, principal: Principal, household_id: str) -> list[MemberPublic]:
    """Who is bound to the household. Staff and every member of the household see the list; a phone is shown in
    full only to its owner, a name in full to staff and to its owner."""
    h, access, _ = await _household_access(session, principal, household_id, "household.members_view")
    out = []
    for m in await auth_service.household_members(session, household_id=h.id):
        me = m.user_id == principal.user_id
        out.append(MemberPublic(user_id=m.user_id,
                                name=m.name if access.manager or me else (mask_name(m.name) or ""),
                                phone=m.phone if me else mask_phone(m.phone), relation=m.relation,
                                joined_at=m.joined_at, is_me=me))
    return out


async def remove_member(session: AsyncSession, *, principal: Principal, household_id: str, user_id: str,
                        now: datetime) -> None:
    """Take a member off a household: staff anyone, an owner or co-owner the family members and tenants, anyone
    themself (leaving). The last owner or co-owner does not leave while others remain (409
    ``member.last_owner``; staff may take them off). Their waiting invitations for the household are revoked;
    their next request no longer holds the household (the principal is read per request). Audited."""
    h, access, relation = await _household_access(session, principal, household_id, "household.member_remove",
                                                  target_user_id=user_id, lock=True)
    leaving = user_id == principal.user_id
    if leaving and not access.manager and relation in ACTING_RELATIONS:
        rest = [m for m in await auth_service.household_members(session, household_id=h.id) if m.user_id != user_id]
        if rest and not any(m.relation in ACTING_RELATIONS for m in rest):
            raise Conflict("member.last_owner", "您是本户最后一位业主或共有人，请先移除其他成员，或请社区工作人员办理",
                           "You are the household's last owner or co-owner: remove the other members first, or ask "
                           "community staff")
    if not await auth_service.unbind_member(session, household_id=h.id, user_id=user_id):
        raise NotFound("member.not_found", "该用户不是本户成员", "Not a member of this household")
    revoked = await auth_service.revoke_invites_of(session, household_id=h.id, user_id=user_id, now=now)
    await audit.append(session, chain=h.community_id, action="household.member_removed", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"user_id": user_id, "left": leaving, "relation": relation, "by_staff": access.manager,
                             "invites_revoked": revoked})


def _invite_public(i: auth_service.InviteInfo) -> InvitePublic:
    return InvitePublic(id=i.id, household_id=i.household_id, relation=i.relation, expires_at=i.expires_at,
                        created_at=i.created_at, created_by=i.created_by)


async def issue_invite(session: AsyncSession, *, settings: Settings, principal: Principal, household_id: str,
                       body: InviteRequest, now: datetime) -> InviteIssued:
    """An owner, co-owner or staff invites a family member or tenant (auth keeps the code). Not for a
    deactivated household (409 ``household.inactive``). Audited, never with the code."""
    h, access, _ = await _household_access(session, principal, household_id, "household.invite", lock=True)
    if h.deactivated_at is not None:
        raise _inactive()
    community = await community_or_404(session, community_id=h.community_id)
    profile = await profile_for_community(session, community_id=h.community_id)
    issued = await auth_service.issue_invite(session, settings=settings, household_id=h.id, relation=body.relation,
                                             max_members=profile.max_members_per_household, now=now,
                                             by=principal.user_id)
    await audit.append(session, chain=h.community_id, action="household.invite_issued", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"invite_id": issued.id, "relation": issued.relation,
                             "expires_at": issued.expires_at.isoformat(), "by_staff": access.member is None})
    compact = issued.code.replace("-", "")
    page = settings.wechat_join_page.strip("/")
    share = InviteShare(title=f"邀请您作为{RELATION_LABELS[issued.relation]}加入{community.name}",
                        path=f"{page}?invite={compact}", page=page, scene=f"invite={compact}")
    return InviteIssued(**_invite_public(issued).model_dump(), code=issued.code, share=share)


async def list_invites(session: AsyncSession, *, principal: Principal, household_id: str,
                       now: datetime) -> list[InvitePublic]:
    """The household's waiting invitations (owners, co-owners, staff); the codes are not shown again."""
    h, _, _ = await _household_access(session, principal, household_id, "household.invite")
    return [_invite_public(i) for i in await auth_service.open_invites(session, household_id=h.id, now=now)]


async def revoke_invite(session: AsyncSession, *, principal: Principal, household_id: str, invite_id: str,
                        now: datetime) -> None:
    """An owner, co-owner or staff revokes a waiting invitation of the household. Audited."""
    h, _, _ = await _household_access(session, principal, household_id, "household.invite")
    invite = await auth_service.revoke_invite(session, household_id=h.id, invite_id=invite_id, now=now,
                                              by=principal.user_id)
    await audit.append(session, chain=h.community_id, action="household.invite_revoked", entity_type="household",
                       entity_id=h.id, actor_id=principal.user_id, at=now,
                       data={"invite_id": invite.id, "relation": invite.relation})


# ---- what auth asks of the register (app.auth.contracts; registered by app.wiring) -------------------

class HouseholdDirectory:
    """The register's answers to auth: a user's households, for the principal and for ``/me``, and the
    household an activation code binds to."""

    async def memberships(self, session: AsyncSession, *, user_id: str) -> list[HouseholdRef]:
        return [HouseholdRef(*row) for row in await repo.memberships(session, user_id)]

    async def cards(self, session: AsyncSession, *, user_id: str) -> list[HouseholdCard]:
        return [HouseholdCard(household_id=hid, community=NamedPlace(cid, cname), building=NamedPlace(bid, bname),
                              unit=NamedPlace(uid, uname), room=room, area_centi=area, relation=relation)
                for hid, room, area, relation, uid, uname, bid, bname, cid, cname
                in await repo.membership_cards(session, user_id)]

    async def activation_target(self, session: AsyncSession, *, household_id: str) -> ActivationTarget:
        household = await repo.get_household(session, household_id, lock=True)  # the cap holds under concurrency
        if household is None:
            raise NotFound()
        if household.deactivated_at is not None:  # its codes were revoked; a code that slipped through binds nobody
            raise _inactive()
        profile = await profile_for_community(session, community_id=household.community_id)
        return ActivationTarget(household_id=household.id, community_id=household.community_id,
                                max_members=profile.max_members_per_household)
