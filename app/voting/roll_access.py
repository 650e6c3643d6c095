"""The electoral roll as staff and residents see it: read, export, amend; freezing before a register
change. (What the roll is and how it is frozen: :mod:`app.voting.roll`.)"""


from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, is_manager
from app.core.errors import Conflict, Forbidden
from app.core.pagination import PageParams, encode_cursor
from app.core.units import format_area
from app.register.contracts import OpenRoll
from app.voting import repository as repo
from app.voting import roll
from app.voting.models import (
    Motion,
    MotionStatus,
)
from app.voting.schemas import (
    RollAmended,
    RollAmendmentIn,
    RollAmendmentPublic,
    RollEntryPublic,
    RollPublic,
    RollTotals,
)
from app.voting.state import freeze, motion_for, scope_refs, status_of

# ---- the electoral roll --------------------------------------------------------------------------

def _roll_not_open() -> Conflict:
    return Conflict("roll.not_open", "表决尚未开始，名册在开始时冻结", "The roll is frozen when the motion opens")


def _entry_public(e: Any) -> RollEntryPublic:
    d = roll.entry_dict(e)
    assert d is not None
    return RollEntryPublic(**d, area_m2=format_area(int(d["area_centi"])))


def _totals_public(header: Any) -> RollTotals:
    return RollTotals(households=header.households, owners=header.owners, area_centi=header.area,
                      area_m2=format_area(header.area))


def _amendment_public(a: Any) -> RollAmendmentPublic:
    return RollAmendmentPublic(seq=a.seq, household_id=a.household_id, action=a.action, reason=a.reason,
                               before=_entry_public(a.before) if a.before else None,
                               after=_entry_public(a.after) if a.after else None, roll_hash=a.roll_hash,
                               actor_id=a.actor_id, at=a.at)


async def _frozen_roll(session: AsyncSession, m: Motion, now: datetime) -> Any:
    """The roll header of an opened motion (frozen now if this is the first touch); 409 before opening."""
    if status_of(m=m, now=now) == MotionStatus.SCHEDULED:
        raise _roll_not_open()
    await freeze(session, m, now)
    header = await repo.get_roll(session, m.id)
    assert header is not None
    return header


async def get_roll(session: AsyncSession, *, principal: Principal, motion_id: str, page: PageParams,
                   now: datetime) -> RollPublic:
    """Staff: totals, hash, a page of the entries and every amendment. Residents with a household in scope:
    totals, hash and their own entries (403 ``roll.not_in_scope`` otherwise)."""
    m, roles = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.view")
    staff = is_manager(roles)
    refs = [] if staff else scope_refs(principal, m)
    if not staff and not refs:
        raise Forbidden("roll.not_in_scope", "您的房屋不在本次表决范围内", "Your household is not in scope")
    header = await _frozen_roll(session, m, now)
    nxt = None
    log_: list[RollAmendmentPublic] | None = None
    if staff:
        rows = await repo.roll_entries(session, m.id, after=page.after, limit=page.limit + 1)
        entries = [_entry_public(e) for e in rows[:page.limit]]
        nxt = encode_cursor(entries[-1].household_id) if len(rows) > page.limit and entries else None
        log_ = [_amendment_public(a) for a in await repo.roll_amendments(session, m.id)]
    else:
        entries = [_entry_public(e) for e in await repo.roll_entries_of(session, m.id, [r.household_id for r in refs])]
    return RollPublic(motion_id=m.id, status=status_of(m=m, now=now), frozen_at=header.frozen_at,
                      frozen_hash=header.frozen_hash, roll_hash=header.roll_hash, totals=_totals_public(header),
                      amendments=header.amendments, entries=entries, next_cursor=nxt, amendment_log=log_)


ROLL_HEADERS = ("房屋ID", "楼栋", "单元", "房号", "专有部分面积（㎡）", "面积（0.01㎡）", "业主组")


async def roll_table(session: AsyncSession, *, principal: Principal, motion_id: str,
                     now: datetime) -> tuple[Motion, Any, list[list[Any]]]:
    """Staff: the whole roll as table rows (header first) for the CSV / XLSX export, with its header."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage")
    header = await _frozen_roll(session, m, now)
    rows: list[list[Any]] = [list(ROLL_HEADERS)]
    rows += [[e.household_id, e.building, e.unit, e.room, format_area(e.area_centi), e.area_centi, e.owner_group]
             for e in await repo.roll_entries(session, m.id)]
    return m, header, rows


async def amend_roll(session: AsyncSession, *, principal: Principal, motion_id: str, body: RollAmendmentIn,
                     now: datetime) -> RollAmended:
    """Staff: add, remove or correct one household on the roll of an open motion (audited; the running tally
    is rebuilt in the same transaction). Scheduled: 409 ``roll.not_open``; closed: 409 ``roll.closed``."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage", lock=True)
    st = status_of(m=m, now=now)
    if st == MotionStatus.CLOSED:
        raise Conflict("roll.closed", "表决已结束，名册不能再更正", "The motion has closed; its roll is final")
    await _frozen_roll(session, m, now)
    a = await roll.amend(session, m, household_id=body.household_id, action=body.action, reason=body.reason,
                         actor_id=principal.user_id, now=now)
    header = await repo.get_roll(session, m.id)
    assert header is not None
    return RollAmended(amendment=_amendment_public(a), roll_hash=header.roll_hash, totals=_totals_public(header))


async def freeze_open_rolls(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]:
    """For the register, BEFORE it changes a community's households: freeze the roll of every opened motion of
    the community not frozen yet, and hold the row lock of every still-scheduled one until the change commits
    (a motion opening meanwhile freezes from the changed register). Returns the open motions, whose rolls the
    change does not touch."""
    for m in await repo.motions_to_freeze(session, community_id=community_id, now=now, opened_only=False):
        if status_of(m=m, now=now) != MotionStatus.SCHEDULED:
            await freeze(session, m, now)
    return [OpenRoll(kind="motion", id=m.id, title=m.title)
            for m in await repo.open_motions_of(session, community_id, now)]


