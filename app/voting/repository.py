"""Every query of the voting domain.

The population of a motion: once its electoral roll is frozen (``motion.roll_frozen_at``), the roll's
entries — household, place, area, owner group; before that (a scheduled motion's preview), the register's
households in scope. ``population`` gives either as one subquery with the same columns, and every count,
participant list and owner grouping reads it, so nothing after opening depends on the register.

Owner grouping (SPC interpretation art. 9; DOMAIN.md): households of one owner (the same ``owner_group`` on
the roll) have one choice — per owner the LATEST current ballot among their households on the roll (highest
per-motion ``seq``) is that owner's choice, and it counts for all of their households (headcount one, area
summed).

Tallies: ``full_choice_counts`` computes them in one pass over the population (one GROUP BY owner);
``motion_tally`` keeps them running — every ballot moves its owner between buckets in the ballot's own
transaction (ballots of a motion are serialized on the motion row), so a tally read is four rows. The roll
does not change under a ballot (amendments take the motion row too), so the rows need no register version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, case, cast, delete, func, insert, or_, union, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased, defer
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import audit
from app.core import repository as base
from app.core.db import dialect_name, upsert_insert
from app.core.hotread import HotRead, HotWrite
from app.register.models import Building, Household, RulesProfileVersion, Unit
from app.register.scope import households_in
from app.voting.models import (
    Ballot,
    CurrentBallot,
    Motion,
    MotionResult,
    MotionRoll,
    MotionTally,
    PaperEntry,
    PaperSlip,
    Plan,
    PlanFunding,
    PlanItem,
    ResultCorrection,
    ResultRevision,
    RollAmendment,
    RollEntry,
    ScopeKind,
    SlipStatus,
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
    return await base.get(session, Plan, plan_id)


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
    return await base.get(session, Motion, motion_id, lock=lock)


async def motions_page(session: AsyncSession, project_id: str, *, after: str | None, limit: int) -> list[Motion]:
    q = base.keyset(select(Motion).where(Motion.project_id == project_id), Motion.id, after=after, limit=limit)
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


_motion_t = Motion.__table__  # type: ignore[attr-defined]


def _take_number(*returning: Any) -> Any:
    """The UPDATE that takes motion ``m_id``'s next ballot number while its window is open at ``now``."""
    return (update(_motion_t)
            .where(_motion_t.c.id == bindparam("m_id"), _motion_t.c.closed_at.is_(None),
                   _motion_t.c.opens_at <= bindparam("now"), _motion_t.c.closes_at > bindparam("now"))
            .values(ballot_seq=_motion_t.c.ballot_seq + 1)
            .returning(*returning))


_NEXT_SEQ = HotWrite(_take_number(_motion_t.c.ballot_seq, audit.locked_head(bindparam("audit_chain"))))


async def next_ballot_seq(session: AsyncSession, *, motion_id: str, now: datetime, audit_chain: str) -> int | None:
    """Take the motion's next ballot number, but only while its window is open at ``now``.

    The UPDATE locks the motion row (PostgreSQL re-checks the condition after waiting), so a ballot can never
    slip in after a concurrent close; None when the window is not open. Once it holds the motion, the same
    statement locks the head of ``audit_chain`` (the community's, which the ballot's audit entry extends): the
    order of the two locks is the one the separate statements took, one round trip less. (A Core statement built
    once: the session's Motion object keeps its old ``ballot_seq``, as it did with
    ``synchronize_session=False``.)
    """
    row = await _NEXT_SEQ.first(session, m_id=motion_id, now=now, audit_chain=audit_chain)
    if row is None:
        return None
    audit.head_locked(session, audit_chain, row[1])
    return int(row[0])


def in_scope(motion: Motion, h: Any = Household) -> list[Any]:
    """The register's households in the motion's scope (app.register.scope: active ones only)."""
    return households_in(motion.community_id,
                         building_id=motion.building_id if motion.scope == ScopeKind.BUILDING else None,
                         unit_id=motion.unit_id if motion.scope == ScopeKind.UNIT else None, h=h)


async def household_in_scope(session: AsyncSession, motion: Motion, household_id: str) -> Household | None:
    q = select(Household).where(Household.id == household_id, *in_scope(motion))
    return (await session.exec(q)).first()


async def scope_household_counts(session: AsyncSession, motions: list[Motion]) -> dict[str, int]:
    """Households in scope of each motion (app.register.scope, the motion's row giving the scope), in one
    grouped query."""
    if not motions:
        return {}
    kind, community = col(Motion.scope), col(Motion.community_id)
    on = or_(and_(kind == ScopeKind.COMMUNITY.value, *households_in(community)),
             and_(kind == ScopeKind.BUILDING.value, *households_in(community, building_id=col(Motion.building_id))),
             and_(kind == ScopeKind.UNIT.value, *households_in(community, unit_id=col(Motion.unit_id))))
    q = (select(Motion.id, func.count(col(Household.id))).select_from(Motion).outerjoin(Household, on)
         .where(col(Motion.id).in_([m.id for m in motions])).group_by(Motion.id))
    return {mid: _int(n) for mid, n in (await session.exec(q)).all()}


# ---- ballots -------------------------------------------------------------------------------------

async def insert_ballot(session: AsyncSession, ballot: Ballot) -> None:
    session.add(ballot)
    await session.flush()


# ---- the ballot path (issue 17): statements built once; Core wherever no ORM object is needed ----------

@dataclass(frozen=True)
class BallotMotion:
    """A motion as a ballot needs it, read in one statement: the motion, whether its plan version is still
    current, and whether the given household is on its frozen roll (False when none was given, or before the
    roll is frozen)."""

    motion: Motion
    plan_current: bool
    on_roll: bool


def _on_roll(motion_id: Any) -> Any:
    return (select(RollEntry.household_id)
            .where(RollEntry.motion_id == motion_id, RollEntry.household_id == bindparam("household_id")).exists())


_MOTION_COLUMNS = tuple(Motion.__table__.columns)  # type: ignore[attr-defined]
_MOTION_FOR_BALLOT = HotRead(
    sa_select(*_MOTION_COLUMNS, col(Plan.id), col(Plan.superseded_by), _on_roll(Motion.id))
    .outerjoin(Plan, col(Plan.id) == Motion.plan_id)
    .where(col(Motion.id) == bindparam("motion_id"))
)
_PLAN_AND_ROLL = HotRead(  # the same, for a motion the session holds already
    sa_select(col(Plan.id), col(Plan.superseded_by), _on_roll(bindparam("motion_id")))
    .where(col(Plan.id) == bindparam("plan_id"))
)


_ON_ROLL = HotRead(sa_select(_on_roll(bindparam("motion_id"))))


async def on_roll(session: AsyncSession, motion_id: str, household_id: str) -> bool:
    """Whether the household is on the motion's frozen roll."""
    row = await _ON_ROLL.first(session, motion_id=motion_id, household_id=household_id)
    return row is not None and bool(row[0])


async def motion_for_ballot(session: AsyncSession, motion_id: str, household_id: str | None, *,
                            attach: bool = True) -> BallotMotion | None:
    """One hot statement; the motion becomes the session's own object (a first ballot freezes it through it), or
    with ``attach=False`` an object of no session (a check before slow work, which reads it only)."""
    if not motion_id or len(motion_id) > base.ID_MAX:
        return None
    m = await base.held(session, Motion, motion_id)
    if m is not None:  # already read in this session
        got = await _PLAN_AND_ROLL.first(session, motion_id=motion_id, household_id=household_id, plan_id=m.plan_id)
        plan = (None, None, False) if got is None else got
        return BallotMotion(motion=m, plan_current=plan[0] is not None and plan[1] is None, on_roll=bool(plan[2]))
    row = await _MOTION_FOR_BALLOT.first(session, motion_id=motion_id, household_id=household_id)
    if row is None:
        return None
    n = len(_MOTION_COLUMNS)
    values = {c.key: v for c, v in zip(_MOTION_COLUMNS, row[:n], strict=True)}
    m = base.attach_loaded(session, Motion, values) if attach else base.loaded(Motion, values)
    return BallotMotion(motion=m, plan_current=row[n] is not None and row[n + 1] is None, on_roll=bool(row[n + 2]))


@dataclass(frozen=True)
class TakenNumber:
    """A motion whose next ballot number was taken (its window open, its row and its community's audit head
    locked), with whether its plan version is still current; on SQLite, for the household named when the number
    was taken and a roll frozen before, what :func:`owner_before_ballot` would read (None otherwise)."""

    motion: Motion
    plan_current: bool
    seq: int
    before: OwnerBefore | None = None
    on_roll: bool = False


def _plan_current(plan_id: Any) -> Any:
    return (sa_select(col(Plan.id)).where(col(Plan.id) == plan_id, col(Plan.superseded_by).is_(None))).exists()


def _owner_before_columns() -> tuple[Any, ...]:
    """:func:`owner_before_ballot`'s one statement as five values (the owner's households and area on the roll,
    the choice of their latest current ballot, the household's ballots, its open paper slip): the motion
    ``m_id``, the household ``household_id``."""
    m_id: Any = bindparam("m_id")
    hid: Any = bindparam("household_id")
    group = (sa_select(col(RollEntry.owner_group))
             .where(col(RollEntry.motion_id) == m_id, col(RollEntry.household_id) == hid).scalar_subquery())
    owners = aliased(RollEntry)
    of_owner: tuple[Any, ...] = (owners.motion_id == m_id, owners.owner_group == group)
    # the owner's latest current ballot: its number over the owner's entries, then its choice. The LEFT JOIN
    # keeps the owner's few entries the outer loop (by the owner's index): with an inner join SQLite walked the
    # motion's current ballots by (motion_id, seq) instead, all of them for an owner who had not voted
    latest_seq = (sa_select(func.max(col(CurrentBallot.seq))).select_from(owners)
                  .outerjoin(CurrentBallot, and_(col(CurrentBallot.motion_id) == owners.motion_id,
                                            col(CurrentBallot.household_id) == owners.household_id))
                  .where(*of_owner).scalar_subquery())
    latest = (sa_select(col(CurrentBallot.choice))
              .where(col(CurrentBallot.motion_id) == m_id, col(CurrentBallot.seq) == latest_seq).scalar_subquery())
    return (sa_select(func.count()).select_from(owners).where(*of_owner).scalar_subquery(),
            sa_select(func.coalesce(func.sum(owners.area_centi), 0)).where(*of_owner).scalar_subquery(),
            latest,
            sa_select(func.count()).select_from(Ballot)
            .where(col(Ballot.motion_id) == m_id, col(Ballot.household_id) == hid).scalar_subquery(),
            sa_select(col(PaperSlip.id))
            .where(col(PaperSlip.motion_id) == m_id, col(PaperSlip.open_household) == hid).scalar_subquery())


def _take_number_pg() -> Any:
    """The plan's state and the audit head correlated to the motion row: PostgreSQL evaluates them after the
    row's lock, and the head's locking read returns its newest committed version. Whether the household is on
    the roll is read in the statement's snapshot, which may be older than the lock: a roll frozen by a
    transaction that committed while this one waited is not seen (False is to be read again)."""
    return _take_number(*_motion_t.c, _plan_current(_motion_t.c.plan_id), audit.locked_head(_motion_t.c.community_id),
                        _on_roll(_motion_t.c.id))


def _take_number_sqlite() -> Any:
    """SQLite (one writer: nothing moves between a statement's parts) also reads what the household's ballot will
    change, which PostgreSQL reads after the motion's lock (a RETURNING subquery reads the statement's snapshot,
    which may be older than the lock it waited for). Its values come from a WITH read by the motion's id: SQLite
    names columns in RETURNING without their table, which would leave a correlated subquery ambiguous."""
    motion: Any = aliased(Motion)
    by_id = sa_select(motion.community_id).where(motion.id == bindparam("m_id")).scalar_subquery()
    plan_of = sa_select(motion.plan_id).where(motion.id == bindparam("m_id")).scalar_subquery()
    values = (_plan_current(plan_of), audit.locked_head(by_id), _on_roll(bindparam("m_id")), *_owner_before_columns())
    names = ("t_plan_current", "t_head", "t_on_roll", "t_households", "t_area", "t_choice", "t_versions",
             "t_open_slip")
    ctx: Any = sa_select(*(v.label(n) for v, n in zip(values, names, strict=True))).cte("ballot_context")
    return _take_number(*_motion_t.c, *(sa_select(ctx.c[n]).scalar_subquery() for n in names)).add_cte(ctx)


_TAKE_NUMBER = HotWrite({"postgresql": _take_number_pg(), "sqlite": _take_number_sqlite()})


async def take_ballot_number(session: AsyncSession, *, motion_id: str, now: datetime,
                             household_id: str | None = None) -> TakenNumber | None:
    """An online ballot's first statement: the motion's next ballot number taken while its window is open at
    ``now`` (as :func:`next_ballot_seq`: the motion row locked, then its community's audit head), returning the
    motion and its plan's state — what :func:`motion_for_ballot` and :func:`next_ballot_seq` read in two; on
    SQLite, with ``household_id`` (the household the ballot is likely for), :func:`owner_before_ballot` too.
    The caller authorizes after it; a refusal rolls the transaction back, the number with it. None when no
    number was taken (an unknown motion, a window not open) or the session holds the motion already: the
    caller then takes the two statements' way, which gives the refusal its usual answer."""
    if not motion_id or len(motion_id) > base.ID_MAX or session.identity_map.get(
            session.identity_key(Motion, motion_id)) is not None:
        return None
    sqlite = dialect_name(session) == "sqlite"
    row = await _TAKE_NUMBER.first(session, m_id=motion_id, now=now, household_id=household_id)
    if row is None:
        return None
    n = len(_MOTION_COLUMNS)
    values = {c.key: v for c, v in zip(_MOTION_COLUMNS, row[:n], strict=True)}
    m = base.attach_loaded(session, Motion, values)
    audit.head_locked(session, m.community_id, row[n + 1])
    before = None
    if sqlite and household_id is not None and m.roll_frozen_at is not None:  # a roll frozen only now: after it
        before = _owner_before(*row[n + 3:])
    return TakenNumber(motion=m, plan_current=bool(row[n]), seq=int(values["ballot_seq"]), before=before,
                       on_roll=bool(row[n + 2]))


_GIVE_BACK = HotWrite(update(_motion_t).where(_motion_t.c.id == bindparam("m_id"))
                      .values(ballot_seq=_motion_t.c.ballot_seq - 1))


async def give_back_ballot_number(session: AsyncSession, taken: TakenNumber) -> None:
    """Return the number :func:`take_ballot_number` took, in the same transaction (the motion row is still
    locked by it: nobody took a number since), for a write that turned out to store no ballot."""
    await _GIVE_BACK.execute(session, m_id=taken.motion.id)
    set_committed_value(taken.motion, "ballot_seq", taken.seq - 1)


_ballot_t, _current_t = Ballot.__table__, CurrentBallot.__table__  # type: ignore[attr-defined]
_INSERT_BALLOT = HotWrite(insert(_ballot_t))  # every column: each call gives them all


def _higher_seq_wins(ins: Any) -> Any:
    """The current-ballot INSERT ``ins`` as an upsert: one row per (motion, household), a higher seq wins."""
    return ins.on_conflict_do_update(
        index_elements=["motion_id", "household_id"],
        set_={k: ins.excluded[k] for k in ("ballot_id", "seq", "choice", "channel", "cast_at")},
        where=_current_t.c.seq < ins.excluded.seq,
    )


_CURRENT_FROM_BALLOT = ("motion_id", "household_id", "ballot_id", "seq", "choice", "channel", "cast_at")


def _store_ballot_pg() -> Any:
    """PostgreSQL: the ballot's INSERT as a data-modifying WITH, and the current ballot upserted from the row it
    returns, in one statement (one round trip less on every ballot; SQLite has no data-modifying WITH: the
    ballot's trigger upserts its current row there, :data:`app.voting.models.CURRENT_BALLOT_TRIGGER`)."""
    b = _ballot_t
    stored = (insert(b).returning(b.c.motion_id, b.c.household_id, b.c.id, b.c.seq, b.c.choice, b.c.channel,
                                  b.c.cast_at).cte("stored_ballot"))
    return _higher_seq_wins(pg_insert(_current_t).from_select(
        list(_CURRENT_FROM_BALLOT),
        sa_select(stored.c.motion_id, stored.c.household_id, stored.c.id, stored.c.seq, stored.c.choice,
                  stored.c.channel, stored.c.cast_at)))


_STORE_BALLOT_PG = HotWrite(_store_ballot_pg())


@dataclass(frozen=True)
class TallyMove:
    """One owner (their households and area on the roll) moved into the running tally's bucket ``to``, out of
    ``from_`` if they were in one."""

    to: str
    from_: str | None
    households: int
    area: int

    def params(self, motion_id: str) -> dict[str, Any]:
        return {"m_id": motion_id, "to_bucket": self.to, "from_bucket": self.from_ if self.from_ is not None else self.to,
                "n": self.households, "a": self.area}

    def moved(self, rowcount: int) -> bool:
        """Whether the UPDATE that made it found the buckets (False: the running tally is missing)."""
        return rowcount == (1 if self.from_ is None or self.from_ == self.to else 2)


@dataclass(frozen=True)
class ProxyFields:
    """A proxy as stored on a ballot or a paper entry."""

    name: str
    relation: str
    key: str
    photo_sha256: str
    media_id: str


async def store_ballot(session: AsyncSession, *, ballot_id: str, motion_id: str, household_id: str, seq: int,
                       choice: str, channel: str, actor_id: str, cast_at: datetime, receipt_hash: str,
                       photo_sha256: str | None, photo_media_id: str | None, checked_by: str | None = None,
                       proxy: ProxyFields | None = None, move: TallyMove | None = None) -> bool:
    """INSERT the ballot version and make it the household's current ballot: INSERT … ON CONFLICT (motion_id,
    household_id) DO UPDATE — the database keeps one current ballot per household, and a higher ``seq`` always
    wins, whatever order concurrent transactions arrive in — and make the owner's ``move`` in the running
    tally. False when a move was asked and the running tally is missing (nothing was moved then). Core
    statements built once: two on SQLite (the ballot's INSERT, whose trigger upserts its current row:
    :data:`app.voting.models.CURRENT_BALLOT_TRIGGER`; the move), one on PostgreSQL (:func:`_store_ballot_pg`, with the move as its
    main statement)."""
    row = {
        "id": ballot_id, "motion_id": motion_id, "household_id": household_id, "seq": seq, "choice": choice,
        "channel": channel, "actor_id": actor_id, "cast_at": cast_at, "receipt_hash": receipt_hash,
        "photo_sha256": photo_sha256, "photo_media_id": photo_media_id, "checked_by": checked_by,
        "proxy_name": proxy.name if proxy else None, "proxy_relation": proxy.relation if proxy else None,
        "proxy_key": proxy.key if proxy else None, "proxy_photo_sha256": proxy.photo_sha256 if proxy else None,
        "proxy_media_id": proxy.media_id if proxy else None}
    if dialect_name(session) == "postgresql":
        if move is None:
            await _STORE_BALLOT_PG.execute(session, **row)
            return True
        return move.moved(await _STORE_BALLOT_MOVE_PG.execute(session, **row, **move.params(motion_id)))
    await _INSERT_BALLOT.execute(session, **row)  # its trigger upserts the current ballot (CURRENT_BALLOT_TRIGGER)
    return move is None or move.moved(await _MOVE.execute(session, **move.params(motion_id)))


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


# ---- paper slips under double entry, proxies ----------------------------------------------------------

async def open_slip(session: AsyncSession, motion_id: str, household_id: str) -> PaperSlip | None:
    """The household's slip pending or in conflict (read under the motion's lock)."""
    q = select(PaperSlip).where(PaperSlip.motion_id == motion_id, PaperSlip.open_household == household_id)
    return (await session.exec(q.execution_options(populate_existing=True))).first()


async def latest_slip(session: AsyncSession, motion_id: str, household_id: str) -> PaperSlip | None:
    """The household's most recent slip (settled or not)."""
    q = (select(PaperSlip).where(PaperSlip.motion_id == motion_id, PaperSlip.household_id == household_id)
         .order_by(col(PaperSlip.created_at).desc(), col(PaperSlip.id).desc()).limit(1))
    return (await session.exec(q)).first()


async def get_slip(session: AsyncSession, motion_id: str, slip_id: str) -> PaperSlip | None:
    q = select(PaperSlip).where(PaperSlip.id == slip_id, PaperSlip.motion_id == motion_id)
    return (await session.exec(q.execution_options(populate_existing=True))).first()


async def add_slip(session: AsyncSession, slip: PaperSlip) -> None:
    session.add(slip)
    await session.flush()


async def add_entry(session: AsyncSession, entry: PaperEntry) -> None:
    session.add(entry)
    await session.flush()


async def save_slip(session: AsyncSession, slip: PaperSlip) -> None:
    session.add(slip)
    await session.flush()


async def leave_slip_uncounted(session: AsyncSession, slip: PaperSlip, *, at: datetime, by: str | None,
                               reason: str) -> None:
    """Settle a slip still pending or in conflict as ``uncounted``: it never counts (a close, or its household
    taken off the roll)."""
    slip.status, slip.open_household, slip.settled_at, slip.settled_by, slip.reason = (
        SlipStatus.UNCOUNTED.value, None, at, by, reason)
    await save_slip(session, slip)


async def slip_entries(session: AsyncSession, slip_ids: list[str]) -> dict[str, list[PaperEntry]]:
    """The entries of each slip, in position order."""
    if not slip_ids:
        return {}
    q = select(PaperEntry).where(col(PaperEntry.slip_id).in_(slip_ids)).order_by(col(PaperEntry.position))
    out: dict[str, list[PaperEntry]] = {i: [] for i in slip_ids}
    for e in (await session.exec(q)).all():
        out[e.slip_id].append(e)
    return out


async def get_entry(session: AsyncSession, motion_id: str, entry_id: str) -> PaperEntry | None:
    q = select(PaperEntry).where(PaperEntry.id == entry_id, PaperEntry.motion_id == motion_id)
    return (await session.exec(q)).first()


async def supersede_slip(session: AsyncSession, *, slip_id: str, ballot_id: str, at: datetime) -> bool:
    """An online ballot of the household settles its unsettled slip as superseded (never counted)."""
    stmt = (update(PaperSlip).where(col(PaperSlip.id) == slip_id, col(PaperSlip.open_household).is_not(None))
            .values(status="superseded", open_household=None, settled_at=at, ballot_id=ballot_id))
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


async def unsettled_slips(session: AsyncSession, motion_id: str) -> list[PaperSlip]:
    q = (select(PaperSlip).where(PaperSlip.motion_id == motion_id, col(PaperSlip.open_household).is_not(None))
         .order_by(col(PaperSlip.id)).execution_options(populate_existing=True))
    return list((await session.exec(q)).all())


async def slips_page(session: AsyncSession, motion: Motion, *, status: str | None, after: str | None,
                     limit: int) -> list[tuple[PaperSlip, str, str, str]]:
    """Slips of the motion in id order after ``after`` (limit + 1 rows), with building, unit and room."""
    q = (select(PaperSlip, col(Building.name), col(Unit.name), col(Household.room))  # type: ignore[call-overload]
         .join(Household, col(Household.id) == PaperSlip.household_id)
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(PaperSlip.motion_id == motion.id))
    if status is not None:
        q = q.where(PaperSlip.status == status)
    q = base.keyset(q, PaperSlip.id, after=after, limit=limit)
    return [(s, b, u, r) for s, b, u, r in (await session.exec(q)).all()]


async def proxy_households(session: AsyncSession, motion_id: str, proxy_key: str, *, other_than: str) -> int:
    """Households other than ``other_than`` for which the proxy (by key) voted in the motion: their current
    ballot names the proxy, or an entry of their unsettled paper slip does."""
    counted = (select(CurrentBallot.household_id)
               .join(Ballot, col(Ballot.id) == CurrentBallot.ballot_id)
               .where(CurrentBallot.motion_id == motion_id, Ballot.proxy_key == proxy_key))
    pending = (select(PaperEntry.household_id)
               .join(PaperSlip, col(PaperSlip.id) == PaperEntry.slip_id)
               .where(PaperEntry.motion_id == motion_id, PaperEntry.proxy_key == proxy_key,
                      col(PaperSlip.open_household).is_not(None)))
    both = counted.union(pending).subquery("proxied")
    q = select(func.count()).select_from(both).where(both.c.household_id != other_than)
    return _int((await session.exec(q)).one())


# ---- the population: the roll, or (before it is frozen) the register ----------------------------------

def population(motion: Motion) -> Any:
    """Subquery (household_id, building, unit, room, area, owner) of the motion's electorate: its roll entries
    once frozen, else the register's households in scope (``owner`` is then the owner key: never served)."""
    if motion.roll_frozen_at is not None:
        return (select(col(RollEntry.household_id).label("household_id"), col(RollEntry.building).label("building"),  # type: ignore[call-overload]
                       col(RollEntry.unit).label("unit"), col(RollEntry.room).label("room"),
                       col(RollEntry.area_centi).label("area"), col(RollEntry.owner_group).label("owner"))
                .where(RollEntry.motion_id == motion.id)).subquery("electorate")
    return (select(col(Household.id).label("household_id"), col(Building.name).label("building"),  # type: ignore[call-overload]
                   col(Unit.name).label("unit"), col(Household.room).label("room"),
                   col(Household.area_centi).label("area"), col(Household.owner_key).label("owner"))
            .join(Building, col(Building.id) == Household.building_id)
            .join(Unit, col(Unit.id) == Household.unit_id)
            .where(*in_scope(motion))).subquery("electorate")


def _owner_key(session: AsyncSession, owner: Any) -> Any:
    """The owner column for GROUP BY / PARTITION BY; on PostgreSQL in byte order ("C"): grouping opaque digests
    needs no locale-aware sort."""
    return owner.collate("C") if session.get_bind().dialect.name == "postgresql" else owner


def _with_ballots(motion: Motion, pop: Any) -> Any:
    return and_(col(CurrentBallot.motion_id) == motion.id, col(CurrentBallot.household_id) == pop.c.household_id)


def owner_choices(motion: Motion) -> Any:
    """Subquery (owner, choice, household_id, seq): each owner's latest current ballot in the population."""
    pop = population(motion)
    scoped = (select(pop.c.owner.label("owner"), col(CurrentBallot.choice).label("choice"),
                     col(CurrentBallot.household_id).label("household_id"), col(CurrentBallot.seq).label("seq"))
              .join(pop, pop.c.household_id == CurrentBallot.household_id)
              .where(CurrentBallot.motion_id == motion.id)).subquery("scoped_ballots")
    latest = (select(scoped.c.owner, func.max(scoped.c.seq).label("seq"))
              .group_by(scoped.c.owner)).subquery("owner_latest")
    return (select(scoped.c.owner, scoped.c.choice, scoped.c.household_id, scoped.c.seq)
            .join(latest, and_(latest.c.owner == scoped.c.owner, latest.c.seq == scoped.c.seq))
            ).subquery("owner_choice")


@dataclass(frozen=True)
class ChoiceRow:
    owners: int
    households: int
    area: int

    @staticmethod
    def total_of(rows: Any) -> ChoiceRow:
        """The sum of several rows (every bucket of a full count: everyone on the roll)."""
        rows = list(rows)
        return ChoiceRow(sum(r.owners for r in rows), sum(r.households for r in rows), sum(r.area for r in rows))


CHOICE_CODES = {"agree": 1, "disagree": 2, "abstain": 3}
_CHOICE_OF_CODE = {v: k for k, v in CHOICE_CODES.items()}
TOTAL = "total"


async def full_choice_counts(session: AsyncSession, motion: Motion) -> dict[str | None, ChoiceRow]:
    """choice (None: the owner has not voted) → owners, households, area, in ONE pass: the population
    left-joined to its current ballots, grouped by owner; per owner ``max(seq * 4 + choice code)`` is the
    latest ballot (seq is unique per motion) and its code is that value mod 4 (0 never occurs: not voted is
    NULL). No self-join, so nothing depends on the planner's row estimates."""
    pop = population(motion)
    code = case(CHOICE_CODES, value=CurrentBallot.choice)
    latest = func.max(cast(CurrentBallot.seq, BigInteger) * 4 + code)
    per_owner = (select(func.count().label("n"), func.sum(cast(pop.c.area, BigInteger)).label("area"),
                        latest.label("latest"))
                 .select_from(pop).outerjoin(CurrentBallot, _with_ballots(motion, pop))
                 .group_by(_owner_key(session, pop.c.owner))).subquery("per_owner")
    bucket = (per_owner.c.latest % 4).label("code")
    q = select(bucket, func.count(), func.sum(per_owner.c.n), func.sum(per_owner.c.area)).group_by(bucket)
    return {(_CHOICE_OF_CODE[int(c)] if c is not None else None): ChoiceRow(_int(o), _int(n), _int(a))
            for c, o, n, a in (await session.exec(q)).all()}


async def running_tally(session: AsyncSession, motion: Motion) -> dict[str, ChoiceRow] | None:
    """The motion's running tally (bucket → row) if it is complete; None when it must be rebuilt."""
    q = (select(MotionTally.bucket, MotionTally.owners, MotionTally.households, MotionTally.area)
         .where(MotionTally.motion_id == motion.id)
         .execution_options(populate_existing=True))
    rows = {b: ChoiceRow(_int(o), _int(n), _int(a)) for b, o, n, a in (await session.exec(q)).all()}
    return rows if len(rows) == len(CHOICE_CODES) + 1 else None


async def write_running_tally(session: AsyncSession, motion: Motion, counts: dict[str | None, ChoiceRow]) -> None:
    """Replace the running tally with ``counts`` (from ``full_choice_counts``)."""
    await session.exec(delete(MotionTally).where(col(MotionTally.motion_id) == motion.id))  # type: ignore[call-overload]
    zero = ChoiceRow(0, 0, 0)
    rows = [{"motion_id": motion.id, "bucket": bucket, "owners": r.owners, "households": r.households, "area": r.area}
            for bucket, r in [(TOTAL, ChoiceRow.total_of(counts.values())),
                              *((c, counts.get(c, zero)) for c in CHOICE_CODES)]]
    await session.exec(upsert_insert(session, MotionTally).values(rows))  # type: ignore[call-overload]


# built once: this runs with every ballot (on SQLite inside the statement that takes the ballot's number)
_OWNER_BEFORE = HotRead(sa_select(*_owner_before_columns()))


@dataclass(frozen=True)
class OwnerBefore:
    """What a ballot changes, read before it is stored: the household's owner on the roll (households, area)
    and their current choice, and how many ballots the household has cast so far."""

    households: int
    area: int
    choice: str | None
    versions: int
    open_slip: str | None = None  # the household's paper slip pending or in conflict (double entry)


def _owner_before(households: Any, area: Any, choice: Any, versions: Any, open_slip: Any) -> OwnerBefore:
    """The five values of :func:`_owner_before_columns` as read."""
    return OwnerBefore(households=_int(households), area=_int(area), choice=choice, versions=_int(versions),
                       open_slip=open_slip)


async def owner_before_ballot(session: AsyncSession, motion: Motion, household_id: str) -> OwnerBefore:
    """(households, area) on the roll of the household's owner and the owner's current choice — read before the
    household's new ballot is stored; 0 households when it is not on the roll — and the household's ballots so
    far. One statement (:func:`_owner_before_columns`): the household's entry by primary key, its owner's
    entries by (motion_id, owner_group), each with its own current ballot by primary key, the latest one by
    (motion_id, seq), and the household's ballots by (motion_id, household_id) — the same cost at any size."""
    row = await _OWNER_BEFORE.first(session, m_id=motion.id, household_id=household_id)
    assert row is not None  # a SELECT of five scalar subqueries is one row
    return _owner_before(*row)


def _move_stmt() -> Any:
    sign = case((col(MotionTally.bucket) == bindparam("to_bucket"), 1), else_=-1)
    return (update(MotionTally)
            .where(col(MotionTally.motion_id) == bindparam("m_id"),
                   col(MotionTally.bucket).in_([bindparam("to_bucket"), bindparam("from_bucket")]))
            .values(owners=col(MotionTally.owners) + sign,
                    households=col(MotionTally.households) + sign * bindparam("n", type_=BigInteger),
                    area=col(MotionTally.area) + sign * bindparam("a", type_=BigInteger)))


_MOVE = HotWrite(_move_stmt())
# PostgreSQL: the ballot, its current row and the move in one statement, the move its main one (its row count)
_STORE_BALLOT_MOVE_PG = HotWrite(_move_stmt().add_cte(_store_ballot_pg().cte("made_current")))


async def households_with_choices(session: AsyncSession, motion: Motion, *, limit: int, after: str | None,
                                  ) -> list[tuple[str, str, str, str, int, str | None, bool, str | None, str | None]]:
    """(household_id, building, unit, room, area, owner's choice, has own ballot, proxy name, proxy relation —
    of the household's own current ballot) for a page of the population, in id order after ``after``."""
    pop = population(motion)
    chosen = owner_choices(motion)
    own = col(CurrentBallot.household_id).is_not(None)
    q = (select(pop.c.household_id, pop.c.building, pop.c.unit, pop.c.room, pop.c.area,  # type: ignore[call-overload]
                chosen.c.choice, own, col(Ballot.proxy_name), col(Ballot.proxy_relation))
         .select_from(pop)
         .outerjoin(chosen, chosen.c.owner == pop.c.owner)
         .outerjoin(CurrentBallot, _with_ballots(motion, pop))
         .outerjoin(Ballot, col(Ballot.id) == CurrentBallot.ballot_id)
         .order_by(pop.c.household_id).limit(limit))
    if after is not None:
        q = q.where(pop.c.household_id > after)
    return [(hid, b, u, room, _int(area), c, bool(o), pn, pr)
            for hid, b, u, room, area, c, o, pn, pr in (await session.exec(q)).all()]


async def participants(session: AsyncSession, motion: Motion) -> list[tuple[str, str, str, int]]:
    """(building, unit, room, area) of every household of the population counted as taking part — its owner
    has a current ballot on one of their households — ordered by building, unit, room. One pass: a window over
    each owner's households, no self-join."""
    pop = population(motion)
    voted = func.count(col(CurrentBallot.seq)).over(partition_by=_owner_key(session, pop.c.owner))
    per_household = (select(pop.c.household_id.label("id"), pop.c.building, pop.c.unit, pop.c.room, pop.c.area,  # type: ignore[call-overload]
                            voted.label("owner_ballots"))
                     .select_from(pop).outerjoin(CurrentBallot, _with_ballots(motion, pop))).subquery("per_household")
    q = (select(per_household.c.building, per_household.c.unit, per_household.c.room, per_household.c.area)
         .where(per_household.c.owner_ballots > 0)
         .order_by(per_household.c.building, per_household.c.unit, per_household.c.room, per_household.c.id))
    return [(b, u, room, _int(area)) for b, u, room, area in (await session.exec(q)).all()]  # type: ignore[call-overload]


async def owner_latest_seq(session: AsyncSession, motion: Motion, household_id: str) -> int | None:
    """The highest current-ballot seq among the households of the household's owner in the population."""
    pop = population(motion)
    me = aliased(pop)
    mine = select(me.c.owner).where(me.c.household_id == household_id).scalar_subquery()
    q = (select(func.max(CurrentBallot.seq)).select_from(pop).join(CurrentBallot, _with_ballots(motion, pop))
         .where(pop.c.owner == mine))
    v = (await session.exec(q)).one()
    return int(v) if v is not None else None


# ---- the electoral roll --------------------------------------------------------------------------------

async def register_population(session: AsyncSession, motion: Motion) -> list[tuple[str, str, str, str, int, str]]:
    """(household_id, building, unit, room, area, owner_key) of the register's households in the motion's scope
    now, in household id order (what a roll is frozen from)."""
    q = (select(col(Household.id), col(Building.name), col(Unit.name), col(Household.room),  # type: ignore[call-overload]
                col(Household.area_centi), col(Household.owner_key))
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(*in_scope(motion)).order_by(col(Household.id)))
    return [(h, b, u, r, _int(a), o) for h, b, u, r, a, o in (await session.exec(q)).all()]  # type: ignore[call-overload]


async def register_household(session: AsyncSession, household_id: str,
                             ) -> tuple[Household, str, str] | None:
    """A household of the register with its building and unit names."""
    q = (select(Household, col(Building.name), col(Unit.name))
         .join(Building, col(Building.id) == Household.building_id)
         .join(Unit, col(Unit.id) == Household.unit_id)
         .where(Household.id == household_id))
    row = (await session.exec(q)).first()  # type: ignore[call-overload]
    return (row[0], row[1], row[2]) if row is not None else None


async def insert_roll_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 1000):
        await session.exec(insert(RollEntry).values(rows[i:i + 1000]))  # type: ignore[call-overload]


async def roll_entries(session: AsyncSession, motion_id: str, *, after: str | None = None,
                       limit: int | None = None) -> list[RollEntry]:
    q = select(RollEntry).where(RollEntry.motion_id == motion_id).order_by(col(RollEntry.household_id))
    if after is not None:
        q = q.where(col(RollEntry.household_id) > after)
    if limit is not None:
        q = q.limit(limit)
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def roll_entry(session: AsyncSession, motion_id: str, household_id: str) -> RollEntry | None:
    return await session.get(RollEntry, (motion_id, household_id), populate_existing=True)


async def roll_entries_of(session: AsyncSession, motion_id: str, household_ids: list[str]) -> list[RollEntry]:
    if not household_ids:
        return []
    q = (select(RollEntry).where(RollEntry.motion_id == motion_id, col(RollEntry.household_id).in_(household_ids))
         .order_by(col(RollEntry.household_id)))
    return list((await session.exec(q)).all())


async def delete_roll_entry(session: AsyncSession, motion_id: str, household_id: str) -> None:
    stmt = delete(RollEntry).where(col(RollEntry.motion_id) == motion_id, col(RollEntry.household_id) == household_id)
    await session.exec(stmt)  # type: ignore[call-overload]


async def get_roll(session: AsyncSession, motion_id: str) -> MotionRoll | None:
    return await session.get(MotionRoll, motion_id, populate_existing=True)


async def rolls_for(session: AsyncSession, motion_ids: list[str]) -> dict[str, MotionRoll]:
    if not motion_ids:
        return {}
    q = select(MotionRoll).where(col(MotionRoll.motion_id).in_(motion_ids))
    return {r.motion_id: r for r in (await session.exec(q)).all()}


async def roll_amendments(session: AsyncSession, motion_id: str) -> list[RollAmendment]:
    q = select(RollAmendment).where(RollAmendment.motion_id == motion_id).order_by(col(RollAmendment.seq))
    return list((await session.exec(q)).all())


async def motions_to_freeze(session: AsyncSession, *, community_id: str | None, now: datetime,
                            opened_only: bool) -> list[Motion]:
    """Motions (of a community, or all) whose roll is not frozen yet — opened (ended ones included: a motion
    nobody touched while open), or also still scheduled unless ``opened_only`` — locked in id order (a register
    change holds off their freezing)."""
    q = (select(Motion).where(col(Motion.roll_frozen_at).is_(None))
         .order_by(col(Motion.id)).with_for_update().execution_options(populate_existing=True))
    if community_id is not None:
        q = q.where(Motion.community_id == community_id)
    if opened_only:
        q = q.where(col(Motion.opens_at) <= now)
    return list((await session.exec(q)).all())


async def open_motions_of(session: AsyncSession, community_id: str, now: datetime) -> list[Motion]:
    q = (select(Motion).where(Motion.community_id == community_id, col(Motion.opens_at) <= now,
                              col(Motion.closes_at) > now, col(Motion.closed_at).is_(None))
         .order_by(col(Motion.id)))
    return list((await session.exec(q)).all())


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


# ---- result revisions and corrections (app.voting.corrections) ------------------------------------

async def archive_result(session: AsyncSession, r: MotionResult, *, superseded_at: datetime) -> None:
    """Keep the result a correction replaces, as it was stored (``r`` read with its participants)."""
    session.add(ResultRevision(motion_id=r.motion_id, revision=r.revision, outcome=r.outcome, tally=r.tally,
                               participants=r.participants, closed_at=r.closed_at, recorded_at=r.recorded_at,
                               superseded_at=superseded_at))
    await session.flush()


async def replace_result(session: AsyncSession, *, motion_id: str, revision: int, values: dict[str, Any]) -> bool:
    """Store revision ``revision`` over revision ``revision - 1`` (compare-and-set): False when the stored result
    is not that revision."""
    stmt = (update(MotionResult)
            .where(col(MotionResult.motion_id) == motion_id, col(MotionResult.revision) == revision - 1)
            .values(revision=revision, **values))
    res = await session.exec(stmt)  # type: ignore[call-overload]
    return res.rowcount == 1


async def result_revisions(session: AsyncSession, motion_id: str, *, after: int | None = None,
                           limit: int | None = None) -> list[ResultRevision]:
    """The replaced results of a motion in revision order (without their participants lists)."""
    q = (select(ResultRevision).where(ResultRevision.motion_id == motion_id)
         .options(defer(ResultRevision.participants, raiseload=True))  # type: ignore[arg-type]
         .order_by(col(ResultRevision.revision)))
    if after is not None:
        q = q.where(col(ResultRevision.revision) > after)
    if limit is not None:
        q = q.limit(limit)
    return list((await session.exec(q)).all())


async def add_correction(session: AsyncSession, c: ResultCorrection) -> None:
    session.add(c)
    await session.flush()


async def corrections_of(session: AsyncSession, motion_id: str) -> list[ResultCorrection]:
    q = select(ResultCorrection).where(ResultCorrection.motion_id == motion_id).order_by(col(ResultCorrection.revision))
    return list((await session.exec(q)).all())


def _corrected_ballots(motion_id: str) -> Any:
    """select(ballot_id) of the ballots a correction moved or voided: they never count again."""
    return select(ResultCorrection.ballot_id).where(ResultCorrection.motion_id == motion_id,
                                                    col(ResultCorrection.ballot_id).is_not(None))


async def ballot_corrected(session: AsyncSession, motion_id: str, ballot_id: str) -> bool:
    q = _corrected_ballots(motion_id).where(ResultCorrection.ballot_id == ballot_id).limit(1)
    return (await session.exec(q)).first() is not None


async def take_ballot_seq(session: AsyncSession, *, motion_id: str) -> int:
    """The motion's next ballot number, window or not (a correction after close; the motion row is locked)."""
    stmt = (update(Motion).where(col(Motion.id) == motion_id)
            .values(ballot_seq=col(Motion.ballot_seq) + 1)
            .returning(col(Motion.ballot_seq))
            .execution_options(synchronize_session=False))
    row = (await session.exec(stmt)).one()  # type: ignore[call-overload]
    return int(row[0])


async def previous_ballot(session: AsyncSession, motion_id: str, household_id: str, *, before_seq: int) -> Ballot | None:
    """The household's latest ballot version before ``before_seq`` that no correction moved or voided."""
    q = (select(Ballot).where(Ballot.motion_id == motion_id, Ballot.household_id == household_id,
                              col(Ballot.seq) < before_seq,
                              col(Ballot.id).not_in(_corrected_ballots(motion_id)))
         .order_by(col(Ballot.seq).desc()).limit(1))
    return (await session.exec(q)).first()


async def set_current(session: AsyncSession, *, motion_id: str, household_id: str, ballot: Ballot | None) -> None:
    """Make ``ballot`` the household's current ballot, or leave it none (a correction: unconditional)."""
    await session.exec(delete(CurrentBallot).where(  # type: ignore[call-overload]
        col(CurrentBallot.motion_id) == motion_id, col(CurrentBallot.household_id) == household_id))
    if ballot is not None:
        await session.exec(insert(CurrentBallot).values(  # type: ignore[call-overload]
            motion_id=motion_id, household_id=household_id, ballot_id=ballot.id, seq=ballot.seq,
            choice=ballot.choice, channel=ballot.channel, cast_at=ballot.cast_at))


# ---- for turnout (read through the service) ------------------------------------------------------

async def open_motions(session: AsyncSession, now: datetime) -> list[Motion]:
    """Every motion open at ``now`` (``status_of`` is ``open``: opened, before its deadline, not closed by
    staff), in id order."""
    q = (select(Motion).where(col(Motion.opens_at) <= now, col(Motion.closes_at) > now,
                              col(Motion.closed_at).is_(None))
         .order_by(col(Motion.id)))
    return list((await session.exec(q)).all())


async def closed_motions_of(session: AsyncSession, community_id: str, now: datetime, limit: int) -> list[Motion]:
    """The community's motions closed at ``now`` (closed by staff, or past their deadline), the latest close
    first, at most ``limit``."""
    ended = func.coalesce(col(Motion.closed_at), col(Motion.closes_at))
    q = (select(Motion).where(Motion.community_id == community_id, col(Motion.opens_at) <= now,
                              or_(col(Motion.closed_at).is_not(None), col(Motion.closes_at) <= now))
         .order_by(ended.desc(), col(Motion.id).desc()).limit(limit))
    return list((await session.exec(q)).all())


def voted_households(motion: Motion) -> Any:
    """select(household_id) of the households that voted: those with a current ballot, and those whose signed
    paper slip was handed in and awaits its second entry or the resolution of a conflict (double entry; not
    counted yet). Turnout neither reminds nor visits them, and no second slip is printed for them."""
    return union(select(CurrentBallot.household_id).where(CurrentBallot.motion_id == motion.id),
                 select(col(PaperSlip.open_household)).where(PaperSlip.motion_id == motion.id,
                                                              col(PaperSlip.open_household).is_not(None)))


# ---- printed ballot slips (app.voting.slips) ---------------------------------------------------------

async def slip_households(session: AsyncSession, motion: Motion, *, building_id: str | None, unit_id: str | None,
                          non_responders_only: bool) -> list[tuple[str, str, str, str, int]]:
    """(household_id, building, unit, room, area) of the households a slip is printed for: the motion's roll
    once it is frozen (its entries as frozen), before that the register's households in the motion's scope;
    narrowed to a building or unit of the register, and to the households that have not voted (:func:`voted_households`)."""
    if motion.roll_frozen_at is not None:
        q = (select(col(RollEntry.household_id), col(RollEntry.building), col(RollEntry.unit),  # type: ignore[call-overload]
                    col(RollEntry.room), col(RollEntry.area_centi))
             .join(Household, col(Household.id) == RollEntry.household_id)
             .where(RollEntry.motion_id == motion.id))
        hid = col(RollEntry.household_id)
    else:
        q = (select(col(Household.id), col(Building.name), col(Unit.name), col(Household.room),  # type: ignore[call-overload]
                    col(Household.area_centi))
             .join(Building, col(Building.id) == Household.building_id)
             .join(Unit, col(Unit.id) == Household.unit_id)
             .where(*in_scope(motion)))
        hid = col(Household.id)
    if building_id is not None:
        q = q.where(col(Household.building_id) == building_id)
    if unit_id is not None:
        q = q.where(col(Household.unit_id) == unit_id)
    if non_responders_only:
        q = q.where(hid.not_in(voted_households(motion)))
    return [(h, b, u, r, _int(a)) for h, b, u, r, a in (await session.exec(q)).all()]
