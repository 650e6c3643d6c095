"""Queries of the register."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import ActivationCode, HouseholdMember
from app.core import repository as base
from app.core.hotread import HotRead
from app.register.models import Building, Community, Household, Jurisdiction, RulesProfileVersion, Unit
from app.register.scope import active, households_in


async def get_jurisdiction(session: AsyncSession, jurisdiction_id: str) -> Jurisdiction | None:
    return await session.get(Jurisdiction, jurisdiction_id)


async def jurisdiction_by_code(session: AsyncSession, code: str) -> Jurisdiction | None:
    return (await session.exec(select(Jurisdiction).where(col(Jurisdiction.code) == code))).first()


async def profile_version(session: AsyncSession, jurisdiction_id: str, version: int) -> RulesProfileVersion | None:
    q = select(RulesProfileVersion).where(
        col(RulesProfileVersion.jurisdiction_id) == jurisdiction_id, col(RulesProfileVersion.version) == version
    )
    return (await session.exec(q)).first()


async def profile_versions(session: AsyncSession, jurisdiction_id: str) -> list[RulesProfileVersion]:
    q = (select(RulesProfileVersion).where(col(RulesProfileVersion.jurisdiction_id) == jurisdiction_id)
         .order_by(col(RulesProfileVersion.version)))
    return list((await session.exec(q)).all())


async def jurisdictions_page(
    session: AsyncSession, *, ids: frozenset[str] | None, after: str | None, limit: int
) -> list[tuple[Jurisdiction, RulesProfileVersion]]:
    """Jurisdictions (all when ``ids`` is None) by id after the cursor, each with its profile in force."""
    if ids is not None and not ids:
        return []
    q = (select(Jurisdiction, RulesProfileVersion)
         .join(RulesProfileVersion, and_(col(RulesProfileVersion.jurisdiction_id) == Jurisdiction.id,
                                         col(RulesProfileVersion.version) == Jurisdiction.profile_version))
         .order_by(col(Jurisdiction.id)).limit(limit + 1))
    if ids is not None:
        q = q.where(col(Jurisdiction.id).in_(ids))
    if after:
        q = q.where(col(Jurisdiction.id) > after)
    return [tuple(r) for r in (await session.exec(q)).all()]  # type: ignore[misc]


async def communities_page(
    session: AsyncSession, *, jurisdiction_ids: frozenset[str] | None, community_ids: frozenset[str],
    after: str | None, limit: int,
) -> list[Community]:
    """Communities by id after the cursor: all when ``jurisdiction_ids`` is None, else those in the given
    jurisdictions or among the given communities."""
    q = select(Community).order_by(col(Community.id)).limit(limit + 1)
    if jurisdiction_ids is not None:
        if not jurisdiction_ids and not community_ids:
            return []
        q = q.where(or_(col(Community.jurisdiction_id).in_(jurisdiction_ids),
                        col(Community.id).in_(community_ids)))
    if after:
        q = q.where(col(Community.id) > after)
    return list((await session.exec(q)).all())


async def profiles_in_force(session: AsyncSession, jurisdiction_ids: set[str]) -> dict[str, RulesProfileVersion]:
    """The profile version in force of each jurisdiction, by jurisdiction id."""
    if not jurisdiction_ids:
        return {}
    q = (select(RulesProfileVersion)
         .join(Jurisdiction, and_(col(RulesProfileVersion.jurisdiction_id) == Jurisdiction.id,
                                  col(RulesProfileVersion.version) == Jurisdiction.profile_version))
         .where(col(Jurisdiction.id).in_(jurisdiction_ids)))
    return {v.jurisdiction_id: v for v in (await session.exec(q)).all()}


async def community_counts_many(session: AsyncSession, community_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(active households, buildings) of each community, in two grouped queries."""
    if not community_ids:
        return {}
    hh = dict((await session.exec(
        select(Household.community_id, func.count()).where(col(Household.community_id).in_(community_ids), active())
        .group_by(Household.community_id))).all())
    bl = dict((await session.exec(
        select(Building.community_id, func.count()).where(col(Building.community_id).in_(community_ids))
        .group_by(Building.community_id))).all())
    return {c: (int(hh.get(c, 0)), int(bl.get(c, 0))) for c in community_ids}


async def get_community(session: AsyncSession, community_id: str) -> Community | None:
    return await session.get(Community, community_id)


_c_t = Community.__table__  # type: ignore[attr-defined]
_COMMUNITY_KEYS = HotRead(core_select(_c_t.c.id, _c_t.c.jurisdiction_id).where(_c_t.c.id == bindparam("community_id")))


async def community_keys(session: AsyncSession, community_id: str) -> tuple[str, str] | None:
    """(id, jurisdiction id) of a community: what authorizing a request against it needs (a hot read)."""
    if not community_id or len(community_id) > base.ID_MAX:
        return None
    row = await _COMMUNITY_KEYS.first(session, community_id=community_id)
    return None if row is None else (row[0], row[1])


async def communities_of(session: AsyncSession, jurisdiction_id: str) -> list[Community]:
    q = select(Community).where(col(Community.jurisdiction_id) == jurisdiction_id).order_by(col(Community.id))
    return list((await session.exec(q)).all())


async def community_counts(session: AsyncSession, community_id: str) -> tuple[int, int]:
    """(active households, buildings) of the community."""
    hh = (await session.exec(
        select(func.count()).select_from(Household).where(*households_in(community_id)))).one()
    bl = (await session.exec(
        select(func.count()).select_from(Building).where(col(Building.community_id) == community_id))).one()
    return int(hh), int(bl)


async def buildings_of(session: AsyncSession, community_id: str) -> list[Building]:
    return list((await session.exec(select(Building).where(col(Building.community_id) == community_id))).all())


async def units_of(session: AsyncSession, community_id: str) -> list[Unit]:
    return list((await session.exec(select(Unit).where(col(Unit.community_id) == community_id))).all())


async def existing_rooms(session: AsyncSession, community_id: str) -> dict[tuple[str, str], str | None]:
    """(unit id, room) of every household of the community, active or not -> the household's id when it is
    deactivated, else None."""
    q = (select(Household.unit_id, Household.room, Household.id, Household.deactivated_at)
         .where(col(Household.community_id) == community_id))
    return {(u, r): (hid if off is not None else None) for u, r, hid, off in (await session.exec(q)).all()}


async def bulk_insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.exec(insert(model), params=rows)


async def bump_register_version(session: AsyncSession, community_id: str) -> None:
    """Mark the community's households changed (running motion tallies of it are rebuilt on next use)."""
    stmt = (update(Community).where(col(Community.id) == community_id)
            .values(register_version=Community.register_version + 1))
    await session.exec(stmt)


async def get_household(session: AsyncSession, household_id: str, *, lock: bool = False) -> Household | None:
    """The household; ``lock``: FOR UPDATE (its members change: the member cap and the last owner hold under
    concurrency; and whoever changes the household itself takes this lock before any other)."""
    if lock:
        return await base.get(session, Household, household_id, lock=True)
    return await session.get(Household, household_id)


async def households_page(
    session: AsyncSession, community_id: str, *, after: str | None, limit: int, include_inactive: bool = False
) -> list[tuple[Household, str, str, int, int]]:
    """The community's households by id after the cursor (the active ones unless ``include_inactive``)."""
    members = (select(func.count()).select_from(HouseholdMember)
               .where(col(HouseholdMember.household_id) == Household.id).scalar_subquery())
    pending = (select(func.count()).select_from(ActivationCode)
               .where(col(ActivationCode.household_id) == Household.id, col(ActivationCode.used_at).is_(None),
                      col(ActivationCode.revoked_at).is_(None)).scalar_subquery())
    q = (
        select(Household, Building.name, Unit.name, members, pending)  # type: ignore[call-overload]  # sqlmodel's overloads stop at 4
        .join(Building, col(Building.id) == Household.building_id)
        .join(Unit, col(Unit.id) == Household.unit_id)
        .where(col(Household.community_id) == community_id)
        .order_by(col(Household.id))
        .limit(limit + 1)
    )
    if not include_inactive:
        q = q.where(active())
    if after:
        q = q.where(col(Household.id) > after)
    return [tuple(r) for r in (await session.exec(q)).all()]


async def households_with_location(
    session: AsyncSession, community_id: str, household_ids: list[str] | None, only_not_activated: bool,
    *, lock: bool = False,
) -> list[tuple[Household, str, str]]:
    """The given households of the community (active or not), or all its active ones; with building and unit
    names, in place order. ``lock``: their rows are locked (in that order) until the transaction ends."""
    q = (
        select(Household, Building.name, Unit.name)
        .join(Building, col(Building.id) == Household.building_id)
        .join(Unit, col(Unit.id) == Household.unit_id)
        .where(col(Household.community_id) == community_id)
        .order_by(col(Building.name), col(Unit.name), col(Household.room))
    )
    if household_ids is not None:
        q = q.where(col(Household.id).in_(household_ids))
    else:
        q = q.where(active())
    if only_not_activated:
        has_member = select(HouseholdMember.id).where(col(HouseholdMember.household_id) == Household.id).exists()
        q = q.where(~has_member)
    if lock:
        q = q.with_for_update(of=Household)  # type: ignore[arg-type]
    return [tuple(r) for r in (await session.exec(q)).all()]  # type: ignore[misc]


# ---- for auth (app.auth.contracts.HouseholdDirectory) ----------------------------------------------

# Every authenticated request reads the user's households (and ``GET /me`` their cards): Core statements built
# once with bound parameters, read through the session's connection as plain rows (no ORM objects).
_m, _h = HouseholdMember.__table__, Household.__table__  # type: ignore[attr-defined]
_u, _b, _c = Unit.__table__, Building.__table__, Community.__table__  # type: ignore[attr-defined]
_MEMBERSHIPS = HotRead(
    core_select(_h.c.id, _h.c.community_id, _h.c.building_id, _h.c.unit_id, _m.c.relation)
    .select_from(_m.join(_h, _h.c.id == _m.c.household_id))
    .where(_m.c.user_id == bindparam("user_id"))
    .order_by(_h.c.id)
)
_MEMBERSHIP_CARDS = HotRead(
    core_select(_h.c.id, _h.c.room, _h.c.area_centi, _m.c.relation, _u.c.id, _u.c.name, _b.c.id, _b.c.name,
                _c.c.id, _c.c.name)
    .select_from(_m.join(_h, _h.c.id == _m.c.household_id).join(_u, _u.c.id == _h.c.unit_id)
                 .join(_b, _b.c.id == _h.c.building_id).join(_c, _c.c.id == _h.c.community_id))
    .where(_m.c.user_id == bindparam("user_id"))
    .order_by(_c.c.name, _b.c.name, _u.c.name, _h.c.room)
)


async def memberships(session: AsyncSession, user_id: str) -> list[tuple[str, str, str, str, str]]:
    """(household id, community id, building id, unit id, relation) of each of the user's households."""
    return await _MEMBERSHIPS.all(session, user_id=user_id)  # type: ignore[return-value]


async def membership_cards(session: AsyncSession, user_id: str) -> list[tuple[str, str, int, str, str, str, str, str,
                                                                              str, str]]:
    """(household id, room, area, relation, unit id, unit name, building id, building name, community id,
    community name) of each of the user's households, by community, building, unit and room."""
    return await _MEMBERSHIP_CARDS.all(session, user_id=user_id)  # type: ignore[return-value]


async def buildings_with_units(session: AsyncSession, community_id: str) -> list[tuple[Building, Unit | None, int]]:
    """Every building of the community with each of its units and the unit's count of active households (units
    of a building by name; a building without units once, with None)."""
    count = (select(func.count()).select_from(Household)
             .where(*households_in(col(Unit.community_id), unit_id=col(Unit.id))).scalar_subquery())
    q = (select(Building, Unit, count)
         .join(Unit, col(Unit.building_id) == Building.id, isouter=True)
         .where(col(Building.community_id) == community_id)
         .order_by(col(Building.name), col(Unit.name)))
    return [(b, u, int(n or 0)) for b, u, n in (await session.exec(q)).all()]


async def household_row(session: AsyncSession, household_id: str) -> tuple[Household, str, str, int, int] | None:
    """One household as the register list shows it: (household, building name, unit name, members, pending codes)."""
    members = (select(func.count()).select_from(HouseholdMember)
               .where(col(HouseholdMember.household_id) == Household.id).scalar_subquery())
    pending = (select(func.count()).select_from(ActivationCode)
               .where(col(ActivationCode.household_id) == Household.id, col(ActivationCode.used_at).is_(None),
                      col(ActivationCode.revoked_at).is_(None)).scalar_subquery())
    q = (select(Household, Building.name, Unit.name, members, pending)  # type: ignore[call-overload]  # sqlmodel's overloads stop at 4
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(col(Household.id) == household_id))
    row = (await session.exec(q)).first()
    return None if row is None else (row[0], row[1], row[2], int(row[3]), int(row[4]))


async def room_taken(session: AsyncSession, unit_id: str, room: str, *, other_than: str) -> bool:
    q = select(Household.id).where(col(Household.unit_id) == unit_id, col(Household.room) == room,
                                   col(Household.id) != other_than)
    return (await session.exec(q)).first() is not None


async def update_household(session: AsyncSession, household_id: str, values: dict[str, Any]) -> None:
    await session.exec(update(Household).where(col(Household.id) == household_id).values(**values))


async def household_id_at(session: AsyncSession, community_id: str, *, building: str, unit: str,
                          room: str) -> str | None:
    q = (select(Household.id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .join(Building, col(Building.id) == Household.building_id)
         .where(col(Household.community_id) == community_id, col(Building.name) == building,
                col(Unit.name) == unit, col(Household.room) == room))
    return (await session.exec(q)).first()


# ---- households with their place, for other domains (app.register.service.PlacedHousehold) -----------

async def placed_households(session: AsyncSession, community_id: str, *, building_id: str | None = None,
                            unit_id: str | None = None,
                            household_ids: list[str] | None = None) -> list[tuple[Household, str, str]]:
    """With ``household_ids``: those households of the community, active or not; otherwise the active households
    of the scope (community, building or unit). With building and unit names, by household id."""
    q = (select(Household, Building.name, Unit.name)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .order_by(col(Household.id)))
    if household_ids is not None:
        q = q.where(col(Household.community_id) == community_id, col(Household.id).in_(household_ids))
    else:
        q = q.where(*households_in(community_id, building_id=building_id, unit_id=unit_id))
    return [(h, b, u) for h, b, u in (await session.exec(q)).all()]
