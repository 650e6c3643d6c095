"""The electoral roll of a motion: who may vote, with which area, grouped by owner — frozen when it opens.

When it is frozen. A motion's status comes from the clock, so the roll is frozen by the FIRST write that
touches the motion at or after ``opens_at``: a ballot (online or paper), a tally read, a roll read, an
amendment, a close, or the worker's tick (``close_due_motions``). A register change (a household import) first
freezes the roll of every opened-but-unfrozen motion of its community, under each motion's row lock, and holds
the lock of every still-scheduled one until it commits — so a freeze never reads a register that a change
dated at or after ``opens_at`` has touched, and the roll equals the register as it was at ``opens_at``.
Freezing and ballots both take the motion row, so no ballot sees a half-built roll.

What it holds. One entry per household in the motion's scope: ``household_id``, the ``building``, ``unit`` and
``room`` names, ``area_centi`` (exclusive area in 0.01 m²) and ``owner_group`` — the first 32 hex digits of
``sha256("roll-owner|" + motion_id + "|" + owner_key)``, where ``owner_key`` is the register's keyed hash
(HMAC with the server's secret) of the owner's identity. Households of one owner share the group within the
motion; the group of one owner differs between motions, and neither it nor the stored owner key is ever the
other. Totals: households, owners (distinct groups), area.

``roll_hash``: the SHA-256 of the canonical serialisation — one line per entry, sorted by ``household_id``,
fields tab-separated with ``\\``, tab, newline and carriage return escaped. The owner group, the serialisation,
the hash and the totals are pure functions in :mod:`app.rules.roll`, shared with the rolls of questionnaires
(:mod:`app.surveys.roll`) and the offline check of evidence packs; the formula is written out there.
``frozen_hash`` is the hash when frozen; ``roll_hash`` the hash now, after any amendment.

Amendments (staff, while open): ``add`` a household of the register in the scope that is not on the roll,
``remove`` one, or ``correct`` one (its entry is re-read from the register). Each is kept with the entry
before and after, its reason and the resulting hash, audited in the community's chain, and the running tally
is rebuilt from the roll in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import audit
from app.core.errors import Conflict, Invalid
from app.register import scope as register_scope
from app.register.models import Household
from app.rules import Rule
from app.rules import roll as rules_roll
from app.rules.roll import FIELDS, canonical_line, roll_hash
from app.voting import repository as repo
from app.voting.contracts import ROLL_FROZEN_LISTENERS, FrozenRoll
from app.voting.models import Motion, MotionRoll, RollAmendment, RollEntry, ScopeKind

__all__ = ["FIELDS", "amend", "canonical_line", "entry_dict", "freeze", "owner_group", "roll_hash"]


def owner_group(motion_id: str, owner_key: str) -> str:
    """The per-motion digest of a (stored, already keyed) owner key (:func:`app.rules.roll.owner_group`)."""
    return rules_roll.owner_group(motion_id, owner_key)


def _totals(entries: list[Any]) -> tuple[int, int, int]:
    return rules_roll.totals(entries)


async def _rebuild_tally(session: AsyncSession, m: Motion) -> None:
    await repo.write_running_tally(session, m, await repo.full_choice_counts(session, m))


async def freeze(session: AsyncSession, m: Motion, now: datetime) -> bool:
    """Freeze the roll of an opened motion from the register, once (under the motion's row lock; ``m`` is
    refreshed); its running tally is built from it. True when this call froze it."""
    locked = await repo.get_motion(session, m.id, lock=True)
    assert locked is not None
    if locked.roll_frozen_at is not None:
        return False
    rows = await repo.register_population(session, locked)
    groups: dict[str, str] = {}
    entries = [{"motion_id": locked.id, "household_id": hid, "building": b, "unit": u, "room": room,
                "area_centi": area, "owner_group": groups.setdefault(key, owner_group(locked.id, key))}
               for hid, b, u, room, area, key in rows]
    await repo.insert_roll_entries(session, entries)
    digest = roll_hash(entries)
    households, owners, area = _totals(entries)
    session.add(MotionRoll(motion_id=locked.id, frozen_at=now, frozen_hash=digest, roll_hash=digest,
                           households=households, owners=owners, area=area))
    locked.roll_frozen_at = now
    session.add(locked)
    await session.flush()
    await _rebuild_tally(session, locked)
    await audit.append(session, chain=locked.community_id, action="motion.roll_frozen", entity_type="motion",
                       entity_id=locked.id, actor_id=None, at=now,
                       data={"roll_hash": digest, "households": households, "owners": owners, "area": area})
    frozen = await _frozen_roll(session, locked, digest=digest, totals=(households, owners, area), now=now)
    for listener in ROLL_FROZEN_LISTENERS:  # publicity publishes the vote notice (app.wiring)
        await listener(session, frozen=frozen, now=now)
    return True


async def _frozen_roll(session: AsyncSession, m: Motion, *, digest: str, totals: tuple[int, int, int],
                       now: datetime) -> FrozenRoll:
    """What the roll-frozen listeners hear. The rule is frozen into the motion before its roll (``_freeze``)."""
    assert m.rule_frozen is not None, "the rule is frozen before the roll"
    b = await repo.get_building(session, m.building_id) if m.building_id else None
    u = await repo.get_unit(session, m.unit_id) if m.unit_id else None
    households, owners, area = totals
    return FrozenRoll(motion_id=m.id, project_id=m.project_id, community_id=m.community_id, plan_id=m.plan_id,
                      title=m.title, scope=m.scope, building=b.name if b else None, unit=u.name if u else None,
                      households=households, owners=owners, area=area, roll_hash=digest, opens_at=m.opens_at,
                      closes_at=m.closes_at, frozen_at=now, rule=Rule.from_dict(m.rule_frozen))


def _in_scope(m: Motion, h: Household) -> bool:
    """A household of the register in the motion's scope (app.register.scope: a deactivated one is not)."""
    return register_scope.contains(h, m.community_id,
                                   building_id=m.building_id if m.scope == ScopeKind.BUILDING else None,
                                   unit_id=m.unit_id if m.scope == ScopeKind.UNIT else None)


def entry_dict(e: RollEntry | dict[str, Any] | None) -> dict[str, Any] | None:
    return rules_roll.entry_dict(e)


def _out_of_scope() -> Invalid:
    return Invalid("roll.out_of_scope", "该房屋不在本次表决范围内", "The household is not in the scope of this motion",
                   errors=[{"loc": ["body", "household_id"], "msg": "not a household of the register in scope"}])


def _not_listed() -> Invalid:
    return Invalid("roll.not_listed", "该房屋不在表决名册中", "The household is not on the roll",
                   errors=[{"loc": ["body", "household_id"], "msg": "not on the roll"}])


async def amend(session: AsyncSession, m: Motion, *, household_id: str, action: str, reason: str, actor_id: str,
                now: datetime) -> RollAmendment:
    """Apply one amendment to the frozen roll of an open motion (the caller holds the motion's row lock)."""
    reg = await repo.register_household(session, household_id) if len(household_id) <= 32 else None
    in_scope = reg is not None and _in_scope(m, reg[0])
    entry = await repo.roll_entry(session, m.id, household_id) if len(household_id) <= 32 else None
    refusal = rules_roll.amendment_refusal(action, listed=entry is not None, in_scope=in_scope)
    if refusal == "already_listed":
        raise Conflict("roll.already_listed", "该房屋已在表决名册中", "The household is on the roll already")
    if refusal is not None:
        raise _not_listed() if refusal == "not_listed" else _out_of_scope()
    before = entry_dict(entry)
    after: dict[str, Any] | None = None
    left_uncounted: str | None = None
    if action == "remove":
        await repo.delete_roll_entry(session, m.id, household_id)
        slip = await repo.open_slip(session, m.id, household_id)
        if slip is not None:  # a double-entered slip pending or in conflict: it can no longer count
            await repo.leave_slip_uncounted(session, slip, at=now, by=actor_id, reason=reason)
            left_uncounted = slip.id
    else:
        assert reg is not None
        h, building, unit = reg
        after = {"household_id": h.id, "building": building, "unit": unit, "room": h.room,
                 "area_centi": h.area_centi, "owner_group": owner_group(m.id, h.owner_key)}
        if entry is None:
            session.add(RollEntry(motion_id=m.id, **after))
        else:
            for k, v in after.items():
                setattr(entry, k, v)
            session.add(entry)
    await session.flush()
    entries = await repo.roll_entries(session, m.id)
    digest = roll_hash(entries)
    header = await repo.get_roll(session, m.id)
    assert header is not None
    header.households, header.owners, header.area = _totals(entries)
    header.roll_hash = digest
    header.amendments += 1
    session.add(header)
    row = RollAmendment(motion_id=m.id, seq=header.amendments, household_id=household_id, action=action,
                        reason=reason, before=before, after=after, roll_hash=digest, actor_id=actor_id, at=now)
    session.add(row)
    await session.flush()
    await _rebuild_tally(session, m)
    await audit.append(session, chain=m.community_id, action="motion.roll_amended", entity_type="motion",
                       entity_id=m.id, actor_id=actor_id, at=now,
                       data={"seq": row.seq, "household_id": household_id, "action": action, "reason": reason,
                             "before": before, "after": after, "roll_hash": digest,
                             "households": header.households, "owners": header.owners, "area": header.area})
    if left_uncounted is not None:
        await audit.append(session, chain=m.community_id, action="paper_slip.uncounted", entity_type="paper_slip",
                           entity_id=left_uncounted, actor_id=actor_id, at=now,
                           data={"motion_id": m.id, "household_id": household_id, "reason": reason,
                                 "roll_amendment": row.seq})
    return row
