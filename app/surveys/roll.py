"""The electoral roll of a questionnaire whose rule counts households — frozen when it opens, the same roll a
motion keeps (:mod:`app.voting.roll`).

Which questionnaires. One whose result a rule decides by households: a willingness question (the profile's
willingness rule) or a catalog item that is not mandatory under the profile's content rule — ``counts_households``
(:func:`app.surveys.common.counts_households`), decided when it opens with the rules profile frozen then (one
opened before migration 0007 is decided at its first touch). Needs questionnaires without a content rule,
contribution and satisfaction questionnaires keep no roll and count the register's households in scope.

When it is frozen. A questionnaire's status comes from the clock, so the roll is frozen by the FIRST write
that touches it at or after ``opens_at``: opening it (when it opens at once), a response (online or paper), a
results read or export, a roll read, an amendment, a close, an evidence export, or the worker's tick
(:func:`freeze_due_rolls`, step ``questionnaire_rolls`` of :mod:`app.turnout.worker`). A register change first freezes the roll of every opened-but-unfrozen
questionnaire of its community and holds the row lock of every draft and still-scheduled one until it commits,
so the roll equals the register as it was at ``opens_at``. Freezing takes the questionnaire row FOR UPDATE; a
response holds it FOR SHARE (taken after the freeze), so no response sees a half-built roll.

Lock order. Every transaction here takes the questionnaire row before the community's audit head (which each
audited write takes last), and so does a ballot with its motion's row. A register change takes the rows of
questionnaires and of motions and then freezes; were it to freeze a motion (taking the audit head) before it
locks a questionnaire, a response holding that questionnaire and waiting for the audit head would deadlock
with it. So surveys gives the register two listeners (:mod:`app.wiring`): :func:`lock_open_rolls` BEFORE
voting's — it only locks the questionnaires that may still freeze — and :func:`freeze_open_rolls` after it,
which freezes them (their locks already held) and reports the open ones.

What it holds. One entry per (active) household of the register in scope: ``household_id``, ``building``,
``unit``, ``room``, ``area_centi`` and ``owner_group`` = the first 32 hex digits of
``sha256("roll-owner|" + questionnaire_id + "|" + owner_key)``; totals (households, owners, area) and
``roll_hash`` — the owner group, the canonical serialisation, the hash and the totals are
:mod:`app.rules.roll`'s, exactly as for motions. Once frozen, the results count the roll only: denominators,
owner grouping ("one owner, one choice") and every numerator (answers of a household no longer on the roll
do not count), and only a household on the roll may answer.

Amendments (staff, while open): ``add`` a household of the register in scope that is not on the roll,
``remove`` one, or ``correct`` one (re-read from the register); each kept with the entry before and after,
its reason and the resulting hash, audited (``questionnaire.roll_amended``). Results are computed from the
roll on every read, so they move in the amendment's own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core import audit
from app.core.errors import Conflict, Invalid
from app.core.pagination import PageParams, encode_cursor
from app.core.units import format_area
from app.register.contracts import OpenRoll
from app.rules.roll import amendment_refusal, entry_dict, owner_group, roll_hash, totals
from app.surveys import repository as repo
from app.surveys.common import (
    auth_scope,
    counts_households,
    effective_status,
    profile_of,
    questionnaire_or_404,
    scope_of,
    viewable,
)
from app.surveys.models import (
    Questionnaire,
    QuestionnaireRoll,
    QuestionnaireRollAmendment,
    QuestionnaireRollEntry,
    QuestionnaireStatus,
)
from app.surveys.schemas import (
    SurveyRollAmended,
    SurveyRollAmendmentIn,
    SurveyRollAmendmentPublic,
    SurveyRollEntryPublic,
    SurveyRollPublic,
    SurveyRollTotals,
)

ROLL_HEADERS = ("房屋ID", "楼栋", "单元", "房号", "专有部分面积（㎡）", "面积（0.01㎡）", "业主组")

# ---- freezing ------------------------------------------------------------------------------------


def _due(q: Questionnaire, now: datetime) -> bool:
    """Opened by ``now``, not frozen, not known to keep no roll (ended ones included: nobody touched them)."""
    return (q.status == QuestionnaireStatus.OPEN and q.opens_at is not None and q.opens_at <= now
            and q.roll_frozen_at is None and q.counts_households is not False)


async def freeze(session: AsyncSession, q: Questionnaire, now: datetime) -> bool:
    """Freeze the roll of ``q`` (locked by the caller) from the register, once; True when this call froze it."""
    if not _due(q, now):
        return False
    if q.counts_households is None:  # opened before migration 0007
        q.counts_households = counts_households(q, (await profile_of(session, q))[1])
        session.add(q)
        if not q.counts_households:
            await session.flush()
            return False
    rows = await repo.register_population(session, scope_of(q=q))
    groups: dict[str, str] = {}
    entries = [{"questionnaire_id": q.id, "household_id": hid, "building": b, "unit": u, "room": room,
                "area_centi": area, "owner_group": groups.setdefault(key, owner_group(q.id, key))}
               for hid, b, u, room, area, key in rows]
    await repo.insert_roll_entries(session, entries)
    digest = roll_hash(entries)
    households, owners, area = totals(entries)
    session.add(QuestionnaireRoll(questionnaire_id=q.id, frozen_at=now, frozen_hash=digest, roll_hash=digest,
                                  households=households, owners=owners, area=area))
    q.roll_frozen_at = now
    session.add(q)
    await session.flush()
    await audit.append(session, chain=q.community_id, action="questionnaire.roll_frozen",
                       entity_type="questionnaire", entity_id=q.id, actor_id=None, at=now,
                       data={"roll_hash": digest, "households": households, "owners": owners, "area": area})
    return True


async def ensure_frozen(session: AsyncSession, q: Questionnaire, now: datetime) -> Questionnaire:
    """Called by every write that touches ``q``: freeze its roll if it is due (under the row lock, taken only
    then). Returns the questionnaire as it is now (the locked, refreshed row when it was due)."""
    if not _due(q, now):
        return q
    locked = await repo.lock_questionnaire(session, q.id)
    assert locked is not None
    await freeze(session, locked, now)
    return locked


async def lock_open_rolls(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]:
    """For the register, FIRST of its listeners: lock (FOR UPDATE, id order) every questionnaire of the community
    that may still freeze a roll — opened, scheduled or draft — before any listener appends to the audit chain
    (see "Lock order"). Freezes nothing, reports nothing."""
    await repo.questionnaires_to_freeze(session, community_id=community_id, now=now, opened_only=False)
    return []


async def freeze_open_rolls(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]:
    """For the register, BEFORE it changes a community's households: freeze the roll of every opened
    questionnaire of the community not frozen yet, and hold the row lock of every draft and still-scheduled
    one until the change commits (one opening meanwhile freezes from the changed register). Returns the open
    questionnaires whose rolls the change leaves as they are."""
    for q in await repo.questionnaires_to_freeze(session, community_id=community_id, now=now, opened_only=False):
        await freeze(session, q, now)
    return [OpenRoll(kind="questionnaire", id=q.id, title=q.title)
            for q in await repo.open_rolled_questionnaires(session, community_id, now)]


async def freeze_due_rolls(session: AsyncSession, *, now: datetime) -> int:
    """For the worker's tick: freeze the roll of every opened questionnaire nobody has touched yet."""
    n = 0
    for q in await repo.questionnaires_to_freeze(session, community_id=None, now=now, opened_only=True):
        n += await freeze(session, q, now)
    return n


async def on_roll(session: AsyncSession, q: Questionnaire, household_id: str) -> bool:
    """May this household answer ``q`` as far as the roll goes: on the frozen roll, or ``q`` keeps none / has
    not frozen it (then the register's scope decides)."""
    if q.roll_frozen_at is None:
        return True
    return await repo.roll_entry(session, q.id, household_id) is not None


# ---- amendments ----------------------------------------------------------------------------------

def _out_of_scope() -> Invalid:
    return Invalid("roll.out_of_scope", "该房屋不在本问卷的征询范围内",
                   "The household is not in the scope of this questionnaire",
                   errors=[{"loc": ["body", "household_id"], "msg": "not a household of the register in scope"}])


def _not_listed() -> Invalid:
    return Invalid("roll.not_listed", "该房屋不在名册中", "The household is not on the roll",
                   errors=[{"loc": ["body", "household_id"], "msg": "not on the roll"}])


async def amend(session: AsyncSession, q: Questionnaire, *, household_id: str, action: str, reason: str,
                actor_id: str, now: datetime) -> QuestionnaireRollAmendment:
    """Apply one amendment to the frozen roll of an open questionnaire (the caller holds its row lock)."""
    reg = await repo.register_household(session, scope_of(q=q), household_id)
    entry = await repo.roll_entry(session, q.id, household_id)
    refusal = amendment_refusal(action, listed=entry is not None, in_scope=reg is not None)
    if refusal == "already_listed":
        raise Conflict("roll.already_listed", "该房屋已在名册中", "The household is on the roll already")
    if refusal is not None:
        raise _not_listed() if refusal == "not_listed" else _out_of_scope()
    before = entry_dict(entry)
    after: dict[str, Any] | None = None
    if action == "remove":
        await repo.delete_roll_entry(session, q.id, household_id)
    else:
        assert reg is not None
        h, building, unit = reg
        after = {"household_id": h.id, "building": building, "unit": unit, "room": h.room,
                 "area_centi": h.area_centi, "owner_group": owner_group(q.id, h.owner_key)}
        if entry is None:
            session.add(QuestionnaireRollEntry(questionnaire_id=q.id, **after))
        else:
            for k, v in after.items():
                setattr(entry, k, v)
            session.add(entry)
    await session.flush()
    entries = await repo.roll_entries(session, q.id)
    digest = roll_hash(entries)
    header = await repo.get_roll(session, q.id)
    assert header is not None
    header.households, header.owners, header.area = totals(entries)
    header.roll_hash = digest
    header.amendments += 1
    session.add(header)
    row = QuestionnaireRollAmendment(questionnaire_id=q.id, seq=header.amendments, household_id=household_id,
                                     action=action, reason=reason, before=before, after=after, roll_hash=digest,
                                     actor_id=actor_id, at=now)
    session.add(row)
    await session.flush()
    await audit.append(session, chain=q.community_id, action="questionnaire.roll_amended",
                       entity_type="questionnaire", entity_id=q.id, actor_id=actor_id, at=now,
                       data={"seq": row.seq, "household_id": household_id, "action": action, "reason": reason,
                             "before": before, "after": after, "roll_hash": digest,
                             "households": header.households, "owners": header.owners, "area": header.area})
    return row


# ---- reading and amending (the service functions of the routes) -----------------------------------

def _not_open() -> Conflict:
    return Conflict("roll.not_open", "问卷尚未开始，名册在开始时冻结", "The roll is frozen when the questionnaire opens")


def _none() -> Conflict:
    return Conflict("roll.none", "本问卷的规则不按户计数，没有名册",
                    "This questionnaire keeps no roll: no rule of it counts households")


async def frozen_roll(session: AsyncSession, q: Questionnaire, now: datetime) -> tuple[Questionnaire, QuestionnaireRoll]:
    """The roll header of an opened questionnaire (frozen now if this is the first touch); 409 ``roll.not_open``
    before opening, 409 ``roll.none`` when it keeps no roll."""
    if q.status == QuestionnaireStatus.DRAFT or effective_status(q=q, now=now) is QuestionnaireStatus.SCHEDULED:
        raise _not_open()
    q = await ensure_frozen(session, q, now)
    header = await repo.get_roll(session, q.id) if q.roll_frozen_at is not None else None
    if header is None:
        raise _none()
    return q, header


def entry_public(e: Any) -> SurveyRollEntryPublic:
    d = entry_dict(e)
    assert d is not None
    return SurveyRollEntryPublic(**d, area_m2=format_area(int(d["area_centi"])))


def totals_public(header: QuestionnaireRoll) -> SurveyRollTotals:
    return SurveyRollTotals(households=header.households, owners=header.owners, area_centi=header.area,
                            area_m2=format_area(header.area))


def amendment_public(a: QuestionnaireRollAmendment) -> SurveyRollAmendmentPublic:
    return SurveyRollAmendmentPublic(seq=a.seq, household_id=a.household_id, action=a.action,  # type: ignore[arg-type]
                                     reason=a.reason, before=entry_public(a.before) if a.before else None,
                                     after=entry_public(a.after) if a.after else None, roll_hash=a.roll_hash,
                                     actor_id=a.actor_id, at=a.at)


async def get_roll(session: AsyncSession, *, principal: Principal, questionnaire_id: str, page: PageParams,
                   now: datetime) -> SurveyRollPublic:
    """Staff: totals, hashes, a page of the entries and every amendment. Residents with a household in scope:
    totals, hashes and their own entries (residents outside the scope do not see the questionnaire: 404)."""
    q, staff, mine = await viewable(session, principal, questionnaire_id)
    q, header = await frozen_roll(session, q, now)
    nxt = None
    log: list[SurveyRollAmendmentPublic] | None = None
    if staff:
        rows = await repo.roll_entries(session, q.id, after=page.after, limit=page.limit + 1)
        entries = [entry_public(e) for e in rows[:page.limit]]
        nxt = encode_cursor(entries[-1].household_id) if len(rows) > page.limit and entries else None
        log = [amendment_public(a) for a in await repo.roll_amendments(session, q.id)]
    else:
        entries = [entry_public(e) for e in await repo.roll_entries_of(session, q.id, [h.household_id for h in mine])]
    return SurveyRollPublic(questionnaire_id=q.id, status=effective_status(q=q, now=now), frozen_at=header.frozen_at,
                            frozen_hash=header.frozen_hash, roll_hash=header.roll_hash, totals=totals_public(header),
                            amendments=header.amendments, entries=entries, next_cursor=nxt, amendment_log=log)


async def roll_table(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                     now: datetime) -> tuple[Questionnaire, QuestionnaireRoll, list[list[Any]]]:
    """Staff: the whole roll as table rows (header first) for the CSV / XLSX export, with its header."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    q, header = await frozen_roll(session, q, now)
    rows: list[list[Any]] = [list(ROLL_HEADERS)]
    rows += [[e.household_id, e.building, e.unit, e.room, format_area(e.area_centi), e.area_centi, e.owner_group]
             for e in await repo.roll_entries(session, q.id)]
    return q, header, rows


async def amend_roll(session: AsyncSession, *, principal: Principal, questionnaire_id: str,
                     body: SurveyRollAmendmentIn, now: datetime) -> SurveyRollAmended:
    """Staff: add, remove or correct one household on the roll of an open questionnaire (audited; its results,
    computed from the roll, move in the same transaction). Before opening: 409 ``roll.not_open``; closed: 409
    ``roll.closed``; no roll: 409 ``roll.none``."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    locked = await repo.lock_questionnaire(session, questionnaire_id)
    assert locked is not None
    q = locked
    if effective_status(q=q, now=now) is QuestionnaireStatus.CLOSED:
        raise Conflict("roll.closed", "问卷已结束，名册不能再更正", "The questionnaire has closed; its roll is final")
    q, _ = await frozen_roll(session, q, now)
    a = await amend(session, q, household_id=body.household_id, action=body.action, reason=body.reason,
                    actor_id=principal.user_id, now=now)
    header = await repo.get_roll(session, q.id)
    assert header is not None
    return SurveyRollAmended(amendment=amendment_public(a), roll_hash=header.roll_hash, totals=totals_public(header))
