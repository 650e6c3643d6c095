"""Every query of the turnout domain.

The households of an item (a motion or a questionnaire) are described by a :class:`Population`: the
households counted (the electoral roll of a motion or of a questionnaire as app.voting / app.surveys define
it once frozen; before that, or for a questionnaire that keeps no roll, the register's households in scope),
and a select of the households that answered (given by app.voting / app.surveys, see ``items.py``).
Counts are GROUP BY aggregates; only the list of non-responders is read row by row (it is a list to print).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Exists, and_, case, cast, exists, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from app.auth.models import ACTING_RELATIONS, HouseholdMember, User
from app.core.db import new_id, upsert_insert, wide
from app.register.models import Building, Household, Unit
from app.register.scope import households_in
from app.turnout.models import (
    AutoReminder,
    NoticeRead,
    OutboxMessage,
    OutboxStatus,
    ReminderDay,
    ReminderOptOut,
    SubscriptionGrant,
)

ACTING = sorted(r.value for r in ACTING_RELATIONS)
CHUNK = 500


def _int(v: Any) -> int:
    return int(v or 0)


def _opted_out() -> Exists:
    """EXISTS an opt-out of the member (HouseholdMember of the enclosing query) for their household."""
    return exists().where(col(ReminderOptOut.household_id) == HouseholdMember.household_id,
                          col(ReminderOptOut.user_id) == HouseholdMember.user_id,
                          col(ReminderOptOut.opt_out).is_(True))


# ---- populations ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Population:
    """The households an item concerns and those that have answered it.

    ``electorate``: a subquery with (at least) the columns ``household_id``, ``area`` and ``owner`` of the
    households counted — for a motion or a questionnaire its frozen electoral roll as app.voting / app.surveys
    count it (area and owner group from the roll); None: the register's households in scope (``community_id``, ``building_id``, ``unit_id``).
    ``answered_ids`` selects household ids holding a current answer (ballot or response).
    ``owner_grouping``: an owner (same ``owner``) who answered through one household of the population has
    answered for all their households in it (motions: one owner, one choice).
    """

    community_id: str
    building_id: str | None
    unit_id: str | None
    answered_ids: Any
    owner_grouping: bool
    electorate: Any = None

    def in_scope(self, h: type[Household] = Household) -> list[ColumnElement[bool]]:
        """The register's households in the scope (app.register.scope: active ones only)."""
        return households_in(self.community_id, building_id=self.building_id, unit_id=self.unit_id, h=h)

    def households(self) -> Any:
        """A subquery (household_id, area, owner, …) of the households counted; build it once per statement."""
        if self.electorate is not None:
            return self.electorate
        return (select(col(Household.id).label("household_id"), col(Household.area_centi).label("area"),
                       col(Household.owner_key).label("owner"))
                .where(*self.in_scope()).subquery("in_scope"))

    def answered(self, e: Any) -> ColumnElement[bool]:
        """Whether the row of ``e`` (from :meth:`households`) has answered (owner grouping applied)."""
        if self.owner_grouping:
            e2 = aliased(e)
            owners = sa_select(e2.c.owner).where(e2.c.household_id.in_(self.answered_ids))
            return e.c.owner.in_(owners)
        return e.c.household_id.in_(self.answered_ids)


def _reachable(household_id: Any) -> ColumnElement[bool]:
    """EXISTS an owner/co-owner of the household who can receive a WeChat reminder: active, bound to WeChat,
    not opted out."""
    return exists(_bound_members(household_id).where(~_opted_out()))


def _bound_members(household_id: Any) -> SelectOfScalar[str]:
    """Owners/co-owners of the household who are active and bound to WeChat."""
    return (select(HouseholdMember.user_id)
            .join(User, col(User.id) == HouseholdMember.user_id)
            .where(col(HouseholdMember.household_id) == household_id, col(HouseholdMember.relation).in_(ACTING),
                   col(User.wechat_openid).is_not(None), col(User.is_active).is_(True)))


@dataclass(frozen=True)
class AreaCount:
    building_id: str
    building: str
    unit_id: str
    unit: str
    households: int
    area: int
    answered_households: int
    answered_area: int


async def counts_by_unit(session: AsyncSession, pop: Population) -> list[AreaCount]:
    """Households and area of the population and answered, per unit (GROUP BY building, unit)."""
    e = pop.households()
    answered = pop.answered(e)
    area = cast(e.c.area, BigInteger)
    q = (sa_select(col(Household.building_id), col(Building.name), col(Household.unit_id), col(Unit.name),
                   func.count(), func.sum(area), func.sum(case((answered, 1), else_=0)),
                   func.sum(case((answered, area), else_=0)))
         .select_from(e)
         .join(Household, col(Household.id) == e.c.household_id)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .group_by(Household.building_id, Building.name, Household.unit_id, Unit.name))
    return [AreaCount(b, bn, u, un, _int(n), _int(a), _int(an), _int(aa))
            for b, bn, u, un, n, a, an, aa in (await session.exec(wide(q))).all()]


async def owner_totals(session: AsyncSession, pop: Population) -> tuple[int, int]:
    """(owners of the population, owners who answered): headcount by distinct owner."""
    e = pop.households()
    answered = pop.answered(e)
    q = sa_select(func.count(func.distinct(e.c.owner)),
                  func.count(func.distinct(case((answered, e.c.owner), else_=None)))).select_from(e)
    total, done = (await session.exec(wide(q))).one()
    return _int(total), _int(done)


def _owner_groups(pop: Population) -> Any:
    e = pop.households()
    return (sa_select(e.c.owner.label("owner_key"), func.count().label("n"),
                      func.sum(cast(e.c.area, BigInteger)).label("area"),
                      func.max(case((pop.answered(e), 1), else_=0)).label("answered"))
            .select_from(e).group_by(e.c.owner).subquery())


async def owner_choice_counts(session: AsyncSession, pop: Population, choices: Any) -> dict[str | None, tuple[int, int, int]]:
    """choice -> (owners, households, area) with one choice per owner (None: has not answered).

    ``choices`` is a selectable with columns (household_id, choice). An owner's one choice is the answer of
    their answering household of the population with the smallest id (app.rules.count_electorate, and the
    surveys results); it counts all their households of the population and their area, and the owner once.
    """
    ch = choices.subquery()
    e = pop.households()
    groups = (sa_select(e.c.owner.label("owner_key"), func.count().label("n"),
                        func.sum(cast(e.c.area, BigInteger)).label("area"))
              .select_from(e).group_by(e.c.owner).subquery())
    e2 = aliased(e)
    first = (sa_select(e2.c.owner.label("owner_key"), func.min(e2.c.household_id).label("hid"))
             .select_from(e2).join(ch, ch.c.household_id == e2.c.household_id)
             .group_by(e2.c.owner).subquery())
    chosen = (sa_select(first.c.owner_key, ch.c.choice)
              .join(ch, ch.c.household_id == first.c.hid).subquery())
    q = (sa_select(chosen.c.choice, func.count(), func.sum(groups.c.n), func.sum(groups.c.area))
         .select_from(groups).outerjoin(chosen, chosen.c.owner_key == groups.c.owner_key)
         .group_by(chosen.c.choice))
    return {c: (_int(o), _int(n), _int(a)) for c, o, n, a in (await session.exec(wide(q))).all()}


async def fewest_to_cover(session: AsyncSession, pop: Population, amount: int, *, by_owner: bool) -> int | None:
    """The fewest not-yet-answered owners (or households) whose area together reaches ``amount``
    (largest first, a window-function running sum); None if all of them together fall short."""
    if amount <= 0:
        return 0
    if by_owner:
        g = _owner_groups(pop)
        base = sa_select(g.c.owner_key.label("k"), g.c.area.label("area")).where(g.c.answered == 0).subquery()
    else:
        e = pop.households()
        base = (sa_select(e.c.household_id.label("k"), cast(e.c.area, BigInteger).label("area"))
                .select_from(e).where(~pop.answered(e)).subquery())
    running = sa_select(base.c.area, func.sum(base.c.area).over(
        order_by=(base.c.area.desc(), base.c.k), rows=(None, 0)).label("cum")).subquery()
    q = sa_select(func.count(), func.max(running.c.cum)).where(running.c.cum - running.c.area < amount)
    n, reached = (await session.exec(wide(q))).one()
    if not n or _int(reached) < amount:
        return None
    return _int(n)


@dataclass(frozen=True)
class PendingHousehold:
    household_id: str
    building_id: str
    building: str
    unit_id: str
    unit: str
    room: str
    area: int
    bound: bool  # some owner/co-owner is bound to WeChat
    reachable: bool  # … and has not opted out


async def non_responders(session: AsyncSession, pop: Population, *, building_id: str | None = None,
                         unit_id: str | None = None) -> list[PendingHousehold]:
    """The households of the population that have not answered, with their place (from the register) and
    their area as counted (a roll's area once frozen)."""
    e = pop.households()
    bound = exists(_bound_members(e.c.household_id))
    reachable = _reachable(e.c.household_id)
    q = (sa_select(col(Household.id), col(Household.building_id), col(Building.name), col(Household.unit_id),
                   col(Unit.name), col(Household.room), cast(e.c.area, BigInteger), bound, reachable)
         .select_from(e)
         .join(Household, col(Household.id) == e.c.household_id)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(~pop.answered(e)))
    if building_id is not None:
        q = q.where(col(Household.building_id) == building_id)
    if unit_id is not None:
        q = q.where(col(Household.unit_id) == unit_id)
    return [PendingHousehold(hid, b, bn, u, un, room, _int(area), bool(bd), bool(rc))
            for hid, b, bn, u, un, room, area, bd, rc in (await session.exec(wide(q))).all()]


@dataclass(frozen=True)
class MemberRow:
    household_id: str
    user_id: str
    name: str
    phone: str | None
    relation: str
    wechat_bound: bool
    opted_out: bool


async def members_of_non_responders(session: AsyncSession, pop: Population) -> list[MemberRow]:
    e = pop.households()
    q = (sa_select(col(HouseholdMember.household_id), col(User.id), col(User.name), col(User.phone),
                   col(HouseholdMember.relation), col(User.wechat_openid).is_not(None), _opted_out())
         .select_from(e)
         .join(HouseholdMember, col(HouseholdMember.household_id) == e.c.household_id)
         .join(User, col(User.id) == HouseholdMember.user_id)
         .where(~pop.answered(e), col(User.is_active).is_(True))
         .order_by(col(HouseholdMember.household_id), col(HouseholdMember.created_at)))
    return [MemberRow(hid, uid, name, phone, rel, bool(b), bool(o))
            for hid, uid, name, phone, rel, b, o in (await session.exec(wide(q))).all()]


async def reminder_recipients(session: AsyncSession, pop: Population) -> list[tuple[str, str, str]]:
    """(household_id, user_id, openid) of every reachable member (owner/co-owner, active, bound to WeChat, not
    opted out) of every household of the population that has not answered."""
    e = pop.households()
    q = (sa_select(e.c.household_id, col(User.id), col(User.wechat_openid))
         .select_from(e)
         .join(HouseholdMember, col(HouseholdMember.household_id) == e.c.household_id)
         .join(User, col(User.id) == HouseholdMember.user_id)
         .where(~pop.answered(e), col(HouseholdMember.relation).in_(ACTING), col(User.wechat_openid).is_not(None),
                col(User.is_active).is_(True), ~_opted_out())
         .order_by(e.c.household_id, col(User.id)))
    # openid is never None here (reachable members are bound); the test only narrows the type
    return [(str(h), u, o) for h, u, o in (await session.exec(wide(q))).all() if o is not None]


async def non_responder_reach(session: AsyncSession, pop: Population) -> tuple[int, int, int]:
    """(non-responding households, … with a WeChat-bound owner/co-owner, … of which someone is reachable)."""
    e = pop.households()
    q = (sa_select(func.count(), func.sum(case((exists(_bound_members(e.c.household_id)), 1), else_=0)),
                   func.sum(case((_reachable(e.c.household_id), 1), else_=0)))
         .select_from(e).where(~pop.answered(e)))
    n, b, r = (await session.exec(wide(q))).one()
    return _int(n), _int(b), _int(r)


# ---- the one-per-day ledger and automatic-reminder markers --------------------------------------

async def claim_reminder_days(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert (item, household, day) rows, skipping those that exist: the household ids newly claimed."""
    claimed: set[str] = set()
    for i in range(0, len(rows), CHUNK):
        stmt = (upsert_insert(session, ReminderDay).values(list(rows[i:i + CHUNK])).on_conflict_do_nothing()
                .returning(ReminderDay.household_id))
        claimed.update(r[0] for r in (await session.exec(stmt)).all())
    return claimed


async def reminded_on(session: AsyncSession, *, item_type: str, item_id: str, day: date) -> set[str]:
    q = select(ReminderDay.household_id).where(ReminderDay.item_type == item_type, ReminderDay.item_id == item_id,
                                               ReminderDay.day == day)
    return set((await session.exec(q)).all())


async def count_reminded_on(session: AsyncSession, *, item_type: str, item_id: str, day: date) -> int:
    q = select(func.count()).select_from(ReminderDay).where(
        ReminderDay.item_type == item_type, ReminderDay.item_id == item_id, ReminderDay.day == day)
    return _int((await session.exec(q)).one())


async def claim_auto_reminder(session: AsyncSession, *, item_type: str, item_id: str, reason: str,
                              now: datetime) -> str | None:
    """Mark an automatic reminder as queued; None if it was already (unique item, reason)."""
    stmt = (upsert_insert(session, AutoReminder)
            .values(id=new_id(), item_type=item_type, item_id=item_id, reason=reason, households=0, messages=0,
                    created_at=now)
            .on_conflict_do_nothing().returning(AutoReminder.id))
    row = (await session.exec(stmt)).first()
    return None if row is None else str(row[0])


async def set_auto_reminder_counts(session: AsyncSession, marker_id: str, *, households: int, messages: int) -> None:
    await session.exec(update(AutoReminder).where(col(AutoReminder.id) == marker_id)
                       .values(households=households, messages=messages))


async def auto_reminders_done(session: AsyncSession, *, item_type: str, item_ids: Sequence[str]) -> set[tuple[str, str]]:
    if not item_ids:
        return set()
    q = select(AutoReminder.item_id, AutoReminder.reason).where(
        AutoReminder.item_type == item_type, col(AutoReminder.item_id).in_(list(item_ids)))
    return {(i, r) for i, r in (await session.exec(q)).all()}


# ---- opt-outs ------------------------------------------------------------------------------------

async def set_opt_out(session: AsyncSession, *, household_id: str, user_id: str, opt_out: bool, now: datetime) -> None:
    ins = upsert_insert(session, ReminderOptOut)
    stmt = ins.values(id=new_id(), household_id=household_id, user_id=user_id, opt_out=opt_out,
                      updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["household_id", "user_id"],
                                      set_={"opt_out": opt_out, "updated_at": now})
    await session.exec(stmt)


async def household_reminder_members(session: AsyncSession, household_id: str) -> list[tuple[str, str, str, bool, bool]]:
    """(user_id, name, relation, wechat bound, opted out) of the household's members."""
    q = (sa_select(col(User.id), col(User.name), col(HouseholdMember.relation),
                   col(User.wechat_openid).is_not(None), _opted_out())
         .join(User, col(User.id) == HouseholdMember.user_id)
         .where(col(HouseholdMember.household_id) == household_id)
         .order_by(col(HouseholdMember.created_at), col(User.id)))
    return [(u, n, r, bool(b), bool(o)) for u, n, r, b, o in (await session.exec(wide(q))).all()]


# ---- outbox --------------------------------------------------------------------------------------

async def add_outbox(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        await session.exec(insert(OutboxMessage), params=list(rows[i:i + CHUNK]))


def _due(now: datetime) -> Any:
    return or_(and_(col(OutboxMessage.status) == OutboxStatus.PENDING.value, col(OutboxMessage.next_attempt_at) <= now),
               and_(col(OutboxMessage.status) == OutboxStatus.IN_PROGRESS.value,
                    col(OutboxMessage.lease_until) <= now))


async def claim_due(session: AsyncSession, *, now: datetime, lease_until: datetime, token: str,
                    limit: int) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for one worker; each claim counts as an attempt.

    PostgreSQL: the due rows are read ``FOR UPDATE SKIP LOCKED``, so concurrent workers each take rows the
    others are not claiming at that moment instead of queueing behind them (and finding them gone). SQLite
    renders no locking clause: its writer lock already makes claims one at a time. Either way the update is a
    compare-and-set on the due condition, so a message is never claimed twice."""
    ids = list((await session.exec(select(OutboxMessage.id).where(_due(now))
                                   .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                                   .limit(limit).with_for_update(skip_locked=True))).all())
    if not ids:
        return []
    await session.exec(update(OutboxMessage)
                       .where(col(OutboxMessage.id).in_(ids), _due(now))
                       .values(status=OutboxStatus.IN_PROGRESS.value, lease_until=lease_until, claim_token=token,
                               attempts=OutboxMessage.attempts + 1))
    q = (select(OutboxMessage).where(OutboxMessage.claim_token == token,
                                     OutboxMessage.status == OutboxStatus.IN_PROGRESS.value)
         .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
         .execution_options(populate_existing=True))
    return list((await session.exec(q)).all())


async def record_outcome(session: AsyncSession, *, message_id: str, token: str, values: dict[str, Any]) -> bool:
    """Write a delivery outcome, only if this worker still holds the claim."""
    res = await session.exec(update(OutboxMessage)
                             .where(col(OutboxMessage.id) == message_id,
                                    col(OutboxMessage.claim_token) == token,
                                    col(OutboxMessage.status) == OutboxStatus.IN_PROGRESS.value)
                             .values(**values, claim_token=None, lease_until=None))
    return res.rowcount == 1


async def outbox_counts(session: AsyncSession, *, item_type: str, item_id: str) -> dict[str, int]:
    q = (select(OutboxMessage.status, func.count())
         .where(OutboxMessage.item_type == item_type, OutboxMessage.item_id == item_id)
         .group_by(OutboxMessage.status))
    out = {s.value: 0 for s in OutboxStatus}
    for status, n in (await session.exec(q)).all():
        out[status] = _int(n)
    return out


# ---- notice reads --------------------------------------------------------------------------------

async def record_reads(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert reads, keeping the first of each (notice, household): the household ids newly recorded."""
    if not rows:
        return set()
    stmt = (upsert_insert(session, NoticeRead).values(list(rows)).on_conflict_do_nothing()
            .returning(NoticeRead.household_id))
    return {r[0] for r in (await session.exec(stmt)).all()}


async def read_counts_by_unit(session: AsyncSession, *, notice_id: str, community_id: str) -> list[AreaCount]:
    read = exists().where(col(NoticeRead.notice_id) == notice_id,
                          col(NoticeRead.household_id) == Household.id)
    area = cast(Household.area_centi, BigInteger)
    q = (sa_select(col(Household.building_id), col(Building.name), col(Household.unit_id), col(Unit.name),
                   func.count(), func.sum(area), func.sum(case((read, 1), else_=0)),
                   func.sum(case((read, area), else_=0)))
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(*households_in(community_id))
         .group_by(Household.building_id, Building.name, Household.unit_id, Unit.name))
    return [AreaCount(b, bn, u, un, _int(n), _int(a), _int(r), _int(ra))
            for b, bn, u, un, n, a, r, ra in (await session.exec(wide(q))).all()]


# ---- one-time subscription grants ------------------------------------------------------------------

async def add_grants(session: AsyncSession, *, user_id: str, template_ids: Sequence[str], now: datetime,
                     cap: int) -> None:
    """One more unused grant of each template for the user (at most ``cap`` kept)."""
    t = SubscriptionGrant.__table__  # type: ignore[attr-defined]
    for template_id in template_ids:
        stmt = upsert_insert(session, SubscriptionGrant).values(
            id=new_id(), user_id=user_id, template_id=template_id, unused=1, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "template_id"],
            set_={"unused": case((t.c.unused < cap, t.c.unused + 1), else_=cap), "updated_at": now})
        await session.exec(stmt)


async def grants_of(session: AsyncSession, *, user_id: str) -> dict[str, int]:
    q = select(SubscriptionGrant.template_id, SubscriptionGrant.unused).where(SubscriptionGrant.user_id == user_id)
    return {t: u for t, u in (await session.exec(q)).all()}


async def users_with_grant(session: AsyncSession, *, template_id: str, user_ids: Sequence[str]) -> set[str]:
    """The users among ``user_ids`` with an unused grant of the template (a read; nothing is used)."""
    out: set[str] = set()
    ids = sorted(set(user_ids))
    for i in range(0, len(ids), CHUNK):
        q = select(SubscriptionGrant.user_id).where(SubscriptionGrant.template_id == template_id,
                                                    col(SubscriptionGrant.user_id).in_(ids[i:i + CHUNK]),
                                                    col(SubscriptionGrant.unused) > 0)
        out.update((await session.exec(q)).all())
    return out


async def use_grants(session: AsyncSession, *, template_id: str, user_ids: Sequence[str],
                     now: datetime) -> set[str]:
    """Use one grant of each (distinct) user that has one left: ``unused = unused - 1 WHERE unused > 0``, so
    concurrent transactions never use the same grant twice (PostgreSQL re-checks the condition on the row
    version it waited for; SQLite has one writer). The users whose grant was used."""
    used: set[str] = set()
    ids = sorted(set(user_ids))
    for i in range(0, len(ids), CHUNK):
        stmt = (update(SubscriptionGrant)
                .where(col(SubscriptionGrant.template_id) == template_id,
                       col(SubscriptionGrant.user_id).in_(ids[i:i + CHUNK]), col(SubscriptionGrant.unused) > 0)
                .values(unused=SubscriptionGrant.unused - 1, updated_at=now)
                .returning(col(SubscriptionGrant.user_id)))
        used.update(r[0] for r in (await session.exec(stmt)).all())
    return used


async def clear_grant(session: AsyncSession, *, user_id: str, template_id: str, now: datetime) -> None:
    """WeChat says the user has no subscription left (43101): none unused here either."""
    await session.exec(update(SubscriptionGrant)
                       .where(col(SubscriptionGrant.user_id) == user_id,
                              col(SubscriptionGrant.template_id) == template_id)
                       .values(unused=0, updated_at=now))
