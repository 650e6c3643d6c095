"""Every query of the voting domain.

Owner grouping (SPC interpretation art. 9; DOMAIN.md): households sharing an ``owner_key`` are one owner with
one choice in scope — per owner the LATEST current ballot among their households in scope (highest per-motion
``seq``) is that owner's choice, and it counts for all of their households in scope (headcount one, area summed).

Tallies: ``full_choice_counts`` computes them in one pass over the households in scope (one GROUP BY owner);
``motion_tally`` keeps them running — every ballot moves its owner between buckets in the ballot's own
transaction (ballots of a motion are serialized on the motion row), so a tally read is four rows. The running
rows carry the community's ``register_version``; when the register changed they are rebuilt from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, case, cast, delete, func, literal, or_, update
from sqlalchemy.orm import aliased, defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import upsert_insert
from app.register.models import Building, Community, Household, RulesProfileVersion, Unit
from app.voting.models import (
    Ballot,
    CurrentBallot,
    Motion,
    MotionResult,
    MotionTally,
    Plan,
    PlanFunding,
    PlanItem,
    ScopeKind,
)


def _int(v: Any) -> int:
    return int(v or 0)


# ---- register lookups ----------------------------------------------------------------------------

async def get_building(session: AsyncSession, building_id: str) -> Building | None:
    return await session.get(Building, building_id)


async def get_unit(session: AsyncSession, unit_id: str) -> Unit | None:
    return await session.get(Unit, unit_id)


async def building_by_name(session: AsyncSession, community_id: str, name: str) -> Building | None:
    q = select(Building).where(Building.community_id == community_id, Building.name == name)
    return (await session.exec(q)).first()


async def unit_by_name(session: AsyncSession, building_id: str, name: str) -> Unit | None:
    q = select(Unit).where(Unit.building_id == building_id, Unit.name == name)
    return (await session.exec(q)).first()


async def get_household(session: AsyncSession, household_id: str) -> Household | None:
    return await session.get(Household, household_id)


async def profile_version_at(session: AsyncSession, jurisdiction_id: str, at: datetime) -> int | None:
    """The rules profile version in force at ``at`` (the latest one created at or before it)."""
    q = (select(func.max(RulesProfileVersion.version))
         .where(RulesProfileVersion.jurisdiction_id == jurisdiction_id, RulesProfileVersion.created_at <= at))
    v = (await session.exec(q)).one()
    return int(v) if v is not None else None


# ---- plans ---------------------------------------------------------------------------------------

async def get_plan(session: AsyncSession, plan_id: str) -> Plan | None:
    return await session.get(Plan, plan_id)


async def plans_by_ids(session: AsyncSession, ids: set[str]) -> dict[str, Plan]:
    if not ids:
        return {}
    return {p.id: p for p in (await session.exec(select(Plan).where(col(Plan.id).in_(ids)))).all()}


async def plan_items(session: AsyncSession, plan_id: str) -> list[PlanItem]:
    q = select(PlanItem).where(PlanItem.plan_id == plan_id).order_by(col(PlanItem.position))
    return list((await session.exec(q)).all())


async def plan_item(session: AsyncSession, plan_id: str, item_id: str) -> PlanItem | None:
    q = select(PlanItem).where(PlanItem.plan_id == plan_id, PlanItem.id == item_id)
    return (await session.exec(q)).first()


async def plan_funding(session: AsyncSession, plan_id: str) -> list[PlanFunding]:
    q = select(PlanFunding).where(PlanFunding.plan_id == plan_id).order_by(col(PlanFunding.position))
    return list((await session.exec(q)).all())


async def max_plan_version(session: AsyncSession, project_id: str) -> int:
    q = select(func.max(Plan.version)).where(Plan.project_id == project_id)
    return _int((await session.exec(q)).one())


async def current_plan(session: AsyncSession, project_id: str) -> Plan | None:
    """The project's current (not superseded) plan version."""
    q = (select(Plan).where(Plan.project_id == project_id, col(Plan.superseded_by).is_(None))
         .order_by(col(Plan.version).desc()).limit(1))
    return (await session.exec(q)).first()


async def plans_page(session: AsyncSession, project_id: str, *, after_version: int | None, limit: int) -> list[Plan]:
    q = select(Plan).where(Plan.project_id == project_id).order_by(col(Plan.version)).limit(limit + 1)
    if after_version is not None:
        q = q.where(col(Plan.version) > after_version)
    return list((await session.exec(q)).all())


async def mark_superseded(session: AsyncSession, *, plan_id: str, by: str, at: datetime) -> bool:
    """Mark the plan superseded unless it already is (a concurrent revision won): True when it was marked."""
    stmt = (update(Plan).where(col(Plan.id) == plan_id, col(Plan.superseded_by).is_(None))
            .values(superseded_by=by, superseded_at=at))
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


# ---- motions -------------------------------------------------------------------------------------

async def get_motion(session: AsyncSession, motion_id: str, *, lock: bool = False) -> Motion | None:
    q = select(Motion).where(Motion.id == motion_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    return (await session.exec(q)).first()


async def motions_page(session: AsyncSession, project_id: str, *, after: str | None, limit: int) -> list[Motion]:
    q = select(Motion).where(Motion.project_id == project_id).order_by(Motion.id).limit(limit + 1)
    if after is not None:
        q = q.where(Motion.id > after)
    return list((await session.exec(q)).all())


async def motions_of_plan(session: AsyncSession, plan_id: str) -> list[Motion]:
    q = select(Motion).where(Motion.plan_id == plan_id).order_by(Motion.id)
    return list((await session.exec(q)).all())


async def due_motions(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[str]:
    """Ids of motions whose window has ended (by time or explicitly) but whose result is not stored yet."""
    has_result = select(MotionResult.motion_id)
    q = (select(Motion.id)
         .where(or_(col(Motion.closes_at) <= now, col(Motion.closed_at).is_not(None)),
                col(Motion.id).not_in(has_result))
         .order_by(col(Motion.closes_at)).limit(limit))
    return list((await session.exec(q)).all())


async def next_ballot_seq(session: AsyncSession, *, motion_id: str, now: datetime) -> int | None:
    """Take the motion's next ballot number, but only while its window is open at ``now``.

    The UPDATE locks the motion row (PostgreSQL re-checks the condition after waiting), so a ballot can never
    slip in after a concurrent close; None when the window is not open.
    """
    stmt = (update(Motion)
            .where(col(Motion.id) == motion_id, col(Motion.closed_at).is_(None), col(Motion.opens_at) <= now,
                   col(Motion.closes_at) > now)
            .values(ballot_seq=col(Motion.ballot_seq) + 1)
            .returning(col(Motion.ballot_seq))
            .execution_options(synchronize_session=False))
    row = (await session.exec(stmt)).first()  # type: ignore[call-overload]
    return int(row[0]) if row is not None else None


def in_scope(motion: Motion, h: Any = Household) -> list[Any]:
    conds = [h.community_id == motion.community_id]
    if motion.scope == ScopeKind.BUILDING:
        conds.append(h.building_id == motion.building_id)
    elif motion.scope == ScopeKind.UNIT:
        conds.append(h.unit_id == motion.unit_id)
    return conds


async def household_in_scope(session: AsyncSession, motion: Motion, household_id: str) -> Household | None:
    q = select(Household).where(Household.id == household_id, *in_scope(motion))
    return (await session.exec(q)).first()


async def scope_household_counts(session: AsyncSession, motions: list[Motion]) -> dict[str, int]:
    """Households in scope of each motion, in one grouped query."""
    if not motions:
        return {}
    on = and_(col(Household.community_id) == col(Motion.community_id),
              or_(col(Motion.scope) == ScopeKind.COMMUNITY.value,
                  and_(col(Motion.scope) == ScopeKind.BUILDING.value,
                       col(Household.building_id) == col(Motion.building_id)),
                  and_(col(Motion.scope) == ScopeKind.UNIT.value, col(Household.unit_id) == col(Motion.unit_id))))
    q = (select(Motion.id, func.count(col(Household.id))).select_from(Motion).outerjoin(Household, on)
         .where(col(Motion.id).in_([m.id for m in motions])).group_by(Motion.id))
    return {mid: _int(n) for mid, n in (await session.exec(q)).all()}


async def scope_totals(session: AsyncSession, motion: Motion) -> tuple[int, int, int]:
    """(households, owners, area) in scope."""
    q = select(func.count(), func.count(func.distinct(Household.owner_key)),
               func.sum(cast(Household.area_centi, BigInteger))).where(*in_scope(motion))
    n, o, a = (await session.exec(q)).one()
    return _int(n), _int(o), _int(a)


# ---- ballots -------------------------------------------------------------------------------------

async def insert_ballot(session: AsyncSession, ballot: Ballot) -> None:
    session.add(ballot)
    await session.flush()


async def upsert_current(session: AsyncSession, ballot: Ballot) -> None:
    """INSERT … ON CONFLICT (motion_id, household_id) DO UPDATE: the database keeps one current ballot per
    household; a higher ``seq`` always wins, whatever order concurrent transactions arrive in."""
    ins = upsert_insert(session, CurrentBallot)
    values = {"motion_id": ballot.motion_id, "household_id": ballot.household_id, "ballot_id": ballot.id,
              "seq": ballot.seq, "choice": ballot.choice, "channel": ballot.channel, "cast_at": ballot.cast_at}
    stmt = ins.values(**values).on_conflict_do_update(
        index_elements=["motion_id", "household_id"],
        set_={k: ins.excluded[k] for k in ("ballot_id", "seq", "choice", "channel", "cast_at")},
        where=col(CurrentBallot.seq) < ins.excluded.seq,
    )
    await session.exec(stmt)


async def ballot_versions(session: AsyncSession, motion_id: str, household_id: str) -> int:
    q = (select(func.count()).select_from(Ballot)
         .where(Ballot.motion_id == motion_id, Ballot.household_id == household_id))
    return _int((await session.exec(q)).one())


async def ballot_version_of(session: AsyncSession, ballot: Ballot) -> int:
    q = (select(func.count()).select_from(Ballot)
         .where(Ballot.motion_id == ballot.motion_id, Ballot.household_id == ballot.household_id,
                Ballot.seq <= ballot.seq))
    return _int((await session.exec(q)).one())


async def get_ballot(session: AsyncSession, motion_id: str, ballot_id: str) -> Ballot | None:
    q = select(Ballot).where(Ballot.id == ballot_id, Ballot.motion_id == motion_id)
    return (await session.exec(q)).first()


async def ballot_by_receipt(session: AsyncSession, receipt_hash: str) -> Ballot | None:
    return (await session.exec(select(Ballot).where(Ballot.receipt_hash == receipt_hash))).first()


async def current_ballot(session: AsyncSession, motion_id: str, household_id: str) -> CurrentBallot | None:
    q = select(CurrentBallot).where(CurrentBallot.motion_id == motion_id, CurrentBallot.household_id == household_id)
    return (await session.exec(q.execution_options(populate_existing=True))).first()


async def current_ballots_for(session: AsyncSession, motion_ids: list[str],
                              household_ids: list[str]) -> list[CurrentBallot]:
    if not motion_ids or not household_ids:
        return []
    q = select(CurrentBallot).where(col(CurrentBallot.motion_id).in_(motion_ids),
                                    col(CurrentBallot.household_id).in_(household_ids))
    return list((await session.exec(q)).all())


async def owner_latest_seq(session: AsyncSession, motion: Motion, owner_key: str) -> int | None:
    """The highest current-ballot seq among the owner's households in scope."""
    q = (select(func.max(CurrentBallot.seq)).join(Household, col(Household.id) == CurrentBallot.household_id)
         .where(CurrentBallot.motion_id == motion.id, Household.owner_key == owner_key, *in_scope(motion)))
    v = (await session.exec(q)).one()
    return int(v) if v is not None else None


async def ballots_page(session: AsyncSession, motion: Motion, *, channel: str | None, after_seq: int | None,
                       limit: int) -> list[tuple[Ballot, str, str, str, bool]]:
    """Ballot versions in order of casting, with building, unit and room and whether each is current."""
    is_current = col(CurrentBallot.ballot_id).is_not(None)
    q = (select(Ballot, col(Building.name), col(Unit.name), col(Household.room), is_current)  # type: ignore[call-overload]
         .join(Household, col(Household.id) == Ballot.household_id)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .outerjoin(CurrentBallot, col(CurrentBallot.ballot_id) == Ballot.id)
         .where(Ballot.motion_id == motion.id).order_by(col(Ballot.seq)).limit(limit + 1))
    if channel is not None:
        q = q.where(Ballot.channel == channel)
    if after_seq is not None:
        q = q.where(col(Ballot.seq) > after_seq)
    return [(b, bn, un, room, bool(cur)) for b, bn, un, room, cur in (await session.exec(q)).all()]


# ---- tallies -------------------------------------------------------------------------------------

def owner_choices(motion: Motion) -> Any:
    """Subquery (owner_key, choice, household_id, seq): each owner's latest current ballot in scope."""
    h = aliased(Household)
    scoped = (select(col(h.owner_key).label("owner_key"), col(CurrentBallot.choice).label("choice"),
                     col(CurrentBallot.household_id).label("household_id"), col(CurrentBallot.seq).label("seq"))
              .join(h, col(h.id) == CurrentBallot.household_id)
              .where(CurrentBallot.motion_id == motion.id, *in_scope(motion, h))).subquery("scoped_ballots")
    latest = (select(scoped.c.owner_key, func.max(scoped.c.seq).label("seq"))
              .group_by(scoped.c.owner_key)).subquery("owner_latest")
    return (select(scoped.c.owner_key, scoped.c.choice, scoped.c.household_id, scoped.c.seq)
            .join(latest, and_(latest.c.owner_key == scoped.c.owner_key, latest.c.seq == scoped.c.seq))
            ).subquery("owner_choice")


@dataclass(frozen=True)
class ChoiceRow:
    owners: int
    households: int
    area: int

    @staticmethod
    def total_of(rows: Any) -> ChoiceRow:
        """The sum of several rows (every bucket of a full count: everyone in scope)."""
        rows = list(rows)
        return ChoiceRow(sum(r.owners for r in rows), sum(r.households for r in rows), sum(r.area for r in rows))


def _owner_group_key(session: AsyncSession) -> Any:
    """owner_key for GROUP BY / PARTITION BY; on PostgreSQL in byte order ("C"): grouping opaque hashes needs no
    locale-aware sort."""
    owner = col(Household.owner_key)
    return owner.collate("C") if session.get_bind().dialect.name == "postgresql" else owner


CHOICE_CODES = {"agree": 1, "disagree": 2, "abstain": 3}
_CHOICE_OF_CODE = {v: k for k, v in CHOICE_CODES.items()}
TOTAL = "total"


async def full_choice_counts(session: AsyncSession, motion: Motion) -> dict[str | None, ChoiceRow]:
    """choice (None: the owner has not voted) → owners, households, area, in ONE pass: the households in scope
    left-joined to their current ballot, grouped by owner; per owner ``max(seq * 4 + choice code)`` is the
    latest ballot (seq is unique per motion) and its code is that value mod 4 (0 never occurs: not voted is
    NULL). No self-join, so nothing depends on the planner's row estimates."""
    code = case(CHOICE_CODES, value=CurrentBallot.choice)
    latest = func.max(cast(CurrentBallot.seq, BigInteger) * 4 + code)
    owner = _owner_group_key(session)
    per_owner = (select(func.count().label("n"), func.sum(cast(Household.area_centi, BigInteger)).label("area"),
                        latest.label("latest"))
                 .select_from(Household)
                 .outerjoin(CurrentBallot, and_(col(CurrentBallot.motion_id) == motion.id,
                                                col(CurrentBallot.household_id) == Household.id))
                 .where(*in_scope(motion)).group_by(owner)).subquery("per_owner")
    bucket = (per_owner.c.latest % 4).label("code")
    q = select(bucket, func.count(), func.sum(per_owner.c.n), func.sum(per_owner.c.area)).group_by(bucket)
    return {(_CHOICE_OF_CODE[int(c)] if c is not None else None): ChoiceRow(_int(o), _int(n), _int(a))
            for c, o, n, a in (await session.exec(q)).all()}


async def running_tally(session: AsyncSession, motion: Motion) -> dict[str, ChoiceRow] | None:
    """The motion's running tally (bucket → row) if it is complete and made for the community's current
    register version; None when it must be rebuilt."""
    q = (select(MotionTally.bucket, MotionTally.owners, MotionTally.households, MotionTally.area)
         .join(Community, col(Community.id) == motion.community_id)
         .where(MotionTally.motion_id == motion.id, col(MotionTally.register_version) == col(Community.register_version)))
    rows = {b: ChoiceRow(_int(o), _int(n), _int(a)) for b, o, n, a in (await session.exec(q)).all()}
    return rows if len(rows) == len(CHOICE_CODES) + 1 else None


async def write_running_tally(session: AsyncSession, motion: Motion, counts: dict[str | None, ChoiceRow]) -> None:
    """Replace the running tally with ``counts`` (from ``full_choice_counts``) for the current register
    version."""
    version = select(Community.register_version).where(Community.id == motion.community_id).scalar_subquery()
    await session.exec(delete(MotionTally).where(col(MotionTally.motion_id) == motion.id))  # type: ignore[call-overload]
    zero = ChoiceRow(0, 0, 0)
    for bucket, r in [(TOTAL, ChoiceRow.total_of(counts.values())), *((c, counts.get(c, zero)) for c in CHOICE_CODES)]:
        stmt = upsert_insert(session, MotionTally).from_select(
            ["motion_id", "bucket", "owners", "households", "area", "register_version"],
            select(literal(motion.id), literal(bucket), literal(r.owners, BigInteger),
                   literal(r.households, BigInteger), literal(r.area, BigInteger), version))
        await session.exec(stmt)  # type: ignore[call-overload]


def _scope_params(motion: Motion) -> dict[str, Any]:
    return {"community_id": motion.community_id, "building_id": motion.building_id, "unit_id": motion.unit_id}


def _in_scope_bound(scope: str, h: Any = Household) -> list[Any]:
    """``in_scope`` with bound parameters instead of values, for statements built once and reused."""
    conds = [h.community_id == bindparam("community_id")]
    if scope == ScopeKind.BUILDING:
        conds.append(h.building_id == bindparam("building_id"))
    elif scope == ScopeKind.UNIT:
        conds.append(h.unit_id == bindparam("unit_id"))
    return conds


def _owner_households_stmt(scope: str) -> Any:
    me = aliased(Household)
    key = select(me.owner_key).where(me.id == bindparam("household_id")).scalar_subquery()
    return (select(col(Household.area_centi), col(CurrentBallot.seq), col(CurrentBallot.choice))
            .select_from(Household)
            .outerjoin(CurrentBallot, and_(col(CurrentBallot.motion_id) == bindparam("motion_id"),
                                           col(CurrentBallot.household_id) == Household.id))
            .where(Household.owner_key == key, *_in_scope_bound(scope)))


# built once per scope kind: this runs with every ballot
_OWNER_HOUSEHOLDS = {k.value: _owner_households_stmt(k.value) for k in ScopeKind}


async def owner_before_ballot(session: AsyncSession, motion: Motion, household_id: str) -> tuple[int, int, str | None]:
    """(households, area) of the household's owner in scope and the owner's current choice — read before the
    household's new ballot is stored. The owner's households drive the query (owner_key index; the LEFT JOIN
    keeps them the outer side) and each looks up its own current ballot, so it costs the same at any size."""
    params = _scope_params(motion) | {"motion_id": motion.id, "household_id": household_id}
    rows = (await session.exec(_OWNER_HOUSEHOLDS[motion.scope], params=params)).all()  # type: ignore[call-overload]
    voted = [(seq, choice) for _, seq, choice in rows if seq is not None]
    return len(rows), sum(_int(area) for area, _, _ in rows), max(voted)[1] if voted else None


def _move_stmt() -> Any:
    sign = case((col(MotionTally.bucket) == bindparam("to_bucket"), 1), else_=-1)
    return (update(MotionTally)
            .where(col(MotionTally.motion_id) == bindparam("m_id"),
                   col(MotionTally.bucket).in_([bindparam("to_bucket"), bindparam("from_bucket")]),
                   col(MotionTally.register_version) == select(Community.register_version)
                   .where(Community.id == bindparam("c_id")).scalar_subquery())
            .values(owners=col(MotionTally.owners) + sign,
                    households=col(MotionTally.households) + sign * bindparam("n", type_=BigInteger),
                    area=col(MotionTally.area) + sign * bindparam("a", type_=BigInteger)))


_MOVE = _move_stmt()


async def move_in_running_tally(session: AsyncSession, motion: Motion, *, to: str, from_: str | None,
                                households: int, area: int) -> bool:
    """Move one owner (their households and area) into bucket ``to``, out of ``from_`` if they were in one.
    False when the running tally is missing or made for an older register version (nothing was changed)."""
    params = {"m_id": motion.id, "c_id": motion.community_id, "to_bucket": to,
              "from_bucket": from_ if from_ is not None else to, "n": households, "a": area}
    res = await session.exec(_MOVE, params=params)  # type: ignore[call-overload]
    return res.rowcount == (1 if from_ is None or from_ == to else 2)


def effective_choices(motion: Motion) -> Any:
    """select(household_id, choice): every household in scope whose owner voted, with the owner's one choice."""
    chosen = owner_choices(motion)
    return (select(col(Household.id).label("household_id"), chosen.c.choice.label("choice"))
            .join(chosen, chosen.c.owner_key == Household.owner_key).where(*in_scope(motion)))


def answered_households(motion: Motion) -> Any:
    """select(household_id) of the households holding a current ballot of their own."""
    return select(CurrentBallot.household_id).where(CurrentBallot.motion_id == motion.id)


async def households_with_choices(session: AsyncSession, motion: Motion, *, limit: int, after: str | None,
                                  ) -> list[tuple[str, str, str, str, int, str | None, bool]]:
    """(household_id, building, unit, room, area, owner's choice, has own ballot) for a page of the households
    in scope, in id order after ``after``."""
    chosen = owner_choices(motion)
    own = col(CurrentBallot.household_id).is_not(None)
    q = (select(col(Household.id), col(Building.name), col(Unit.name), col(Household.room),  # type: ignore[call-overload]
                col(Household.area_centi), chosen.c.choice, own)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .outerjoin(chosen, chosen.c.owner_key == Household.owner_key)
         .outerjoin(CurrentBallot, and_(col(CurrentBallot.motion_id) == motion.id,
                                        col(CurrentBallot.household_id) == Household.id))
         .where(*in_scope(motion)).order_by(col(Household.id)).limit(limit))
    if after is not None:
        q = q.where(Household.id > after)
    return [(hid, b, u, room, _int(area), c, bool(o)) for hid, b, u, room, area, c, o in (await session.exec(q)).all()]


async def participants(session: AsyncSession, motion: Motion) -> list[tuple[str, str, str, int]]:
    """(building, unit, room, area) of every household in scope counted as taking part — its owner has a
    current ballot on one of their households in scope — ordered by building, unit, room. One pass: a window
    over each owner's households, no self-join."""
    owner = _owner_group_key(session)
    voted = func.count(col(CurrentBallot.seq)).over(partition_by=owner)
    per_household = (select(col(Household.id).label("id"), col(Household.building_id).label("building_id"),
                            col(Household.unit_id).label("unit_id"), col(Household.room).label("room"),
                            col(Household.area_centi).label("area"), voted.label("owner_ballots"))
                     .select_from(Household)
                     .outerjoin(CurrentBallot, and_(col(CurrentBallot.motion_id) == motion.id,
                                                    col(CurrentBallot.household_id) == Household.id))
                     .where(*in_scope(motion))).subquery("per_household")
    q = (select(col(Building.name), col(Unit.name), per_household.c.room, per_household.c.area)
         .join(Building, col(Building.id) == per_household.c.building_id)
         .join(Unit, col(Unit.id) == per_household.c.unit_id)
         .where(per_household.c.owner_ballots > 0)
         .order_by(col(Building.name), col(Unit.name), per_household.c.room, per_household.c.id))
    return [(b, u, room, _int(area)) for b, u, room, area in (await session.exec(q)).all()]  # type: ignore[call-overload]


async def choice_breakdown(session: AsyncSession, motion: Motion) -> dict[str, int]:
    """Ballots by channel among current ballots (for the live view: how many came on paper)."""
    q = (select(CurrentBallot.channel, func.count()).where(CurrentBallot.motion_id == motion.id)
         .group_by(CurrentBallot.channel))
    return {ch: _int(n) for ch, n in (await session.exec(q)).all()}


# ---- results -------------------------------------------------------------------------------------

async def get_result(session: AsyncSession, motion_id: str, *, participants: bool = False) -> MotionResult | None:
    """The stored final tally; its participants list (every household that took part: megabytes for a big
    motion) only when asked for — otherwise touching it raises instead of loading."""
    q = select(MotionResult).where(MotionResult.motion_id == motion_id).execution_options(populate_existing=True)
    if not participants:
        q = q.options(defer(MotionResult.participants, raiseload=True))  # type: ignore[arg-type]
    return (await session.exec(q)).first()


async def results_for(session: AsyncSession, motion_ids: list[str]) -> dict[str, MotionResult]:
    if not motion_ids:
        return {}
    q = (select(MotionResult).where(col(MotionResult.motion_id).in_(motion_ids))
         .options(defer(MotionResult.participants, raiseload=True)))  # type: ignore[arg-type]
    return {r.motion_id: r for r in (await session.exec(q)).all()}


async def insert_result_once(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store the final tally unless one is stored already (unique motion_id): True when inserted."""
    stmt = upsert_insert(session, MotionResult).values(**values).on_conflict_do_nothing(index_elements=["motion_id"])
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


def scope_filter_sql(motion: Motion) -> list[Any]:
    """The households-in-scope conditions, for other domains' queries (turnout)."""
    return in_scope(motion)

