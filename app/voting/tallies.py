"""Tallies: the running tally kept by each ballot, the full count over the roll, and the final result
stored at close (compared with the running rows; the full count wins) and published. A correction after an
accepted objection (:mod:`app.voting.corrections`) recounts with the same :func:`count_final`; how final the
stored result is (provisional / final) comes from :mod:`app.voting.results`."""


from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, is_manager
from app.core import audit
from app.core.db import new_id
from app.core.errors import Conflict, Forbidden
from app.core.units import format_area
from app.rules import Choice, Counts, evaluate
from app.voting import repository as repo
from app.voting.contracts import (
    CLOSE_LISTENERS,
    ClosedMotion,
    ConditionLine,
    ParticipantRow,
    ResultCorrectionNote,
)
from app.voting.models import (
    Motion,
    MotionResult,
    MotionStatus,
    PaperSlip,
    SlipStatus,
)
from app.voting.results import StageOfResult, stage_for
from app.voting.schemas import (
    TallyPublic,
)
from app.voting.state import (
    RuleState,
    freeze,
    motion_for,
    motion_or_404,
    out_of_scope,
    scope_refs,
    status_of,
)

log = logging.getLogger("app.voting")
METRICS: Counter[str] = Counter()
"""``tally_mismatch``: closes whose running tally differed from the full count over the roll."""


# ---- tallies -------------------------------------------------------------------------------------

def counts_from_rows(*, rows: dict[Any, repo.ChoiceRow], total: repo.ChoiceRow) -> Counts:
    values = {"total_households": total.households, "total_owners": total.owners, "total_area": total.area}
    for c in Choice:
        r = rows.get(c.value)
        values[f"{c.value}_households"] = r.households if r else 0
        values[f"{c.value}_owners"] = r.owners if r else 0
        values[f"{c.value}_area"] = r.area if r else 0
    return Counts(**values)


async def full_counts(session: AsyncSession, *, m: Motion) -> Counts:
    """Counts of the motion's roll (before it is frozen: the register's scope) and current ballots by one
    aggregate pass (owner grouping applied)."""
    rows = await repo.full_choice_counts(session, m)
    return counts_from_rows(rows=rows, total=repo.ChoiceRow.total_of(rows.values()))


async def counts_of(session: AsyncSession, *, m: Motion) -> Counts:
    """The running tally of a frozen roll, else (a scheduled motion's preview, or rows missing) the full
    aggregate (a read never writes)."""
    running = await repo.running_tally(session, m) if m.roll_frozen_at is not None else None
    if running is None:
        return await full_counts(session, m=m)
    return counts_from_rows(rows=running, total=running[repo.TOTAL])


async def rebuild_running_tally(session: AsyncSession, *, m: Motion) -> None:
    """Recompute the running tally from the roll and the current ballots (after a bulk load)."""
    await repo.write_running_tally(session, m, await repo.full_choice_counts(session, m))


async def keep_running_tally(session: AsyncSession, m: Motion, *, household_id: str,
                             choice: Choice, before: repo.OwnerBefore | None = None,
                             ) -> tuple[repo.TallyMove | None, repo.OwnerBefore]:
    """Called with the motion row locked and its roll frozen, BEFORE the household's new ballot is stored:
    a household not on the roll cannot vote (404); returns the move of the owner into the new choice's bucket
    that storing the ballot makes (None when the owner's choice is unchanged), and what was read before it (how
    many ballots the household had cast before this one, its unsettled paper slip), in the same statement. When
    the store reports the buckets missing (the move changed nothing), :func:`rebuild_running_tally`. ``before``:
    that read made already, under the same lock (SQLite's :func:`repo.take_ballot_number`)."""
    if before is None:
        before = await repo.owner_before_ballot(session, m, household_id)
    n, area, prev = before.households, before.area, before.choice
    if n == 0:
        raise out_of_scope()
    move = None if prev == choice.value else repo.TallyMove(to=choice.value, from_=prev, households=n, area=area)
    return move, before


def _display(n: int, unit: str) -> str:
    return format_area(n) if unit == "area" else str(n)


def tally_dict(m: Motion, state: RuleState, counts: Counts, *, status: MotionStatus, final: bool,
                now: datetime) -> dict[str, Any]:
    window_open = status != MotionStatus.CLOSED
    result = evaluate(state.rule, counts, window_open=window_open)
    d = result.to_dict()
    conditions = [c | {"numerator_display": _display(c["numerator"], c["unit"]),
                       "denominator_display": _display(c["denominator"], c["unit"])} for c in d["conditions"]]
    closed_at = (m.closed_at or m.closes_at) if status == MotionStatus.CLOSED else None
    return {
        "motion_id": m.id, "title": m.title, "status": status.value, "final": final, "rule": d["rule"],
        "profile_version": state.profile_version, "counts": d["counts"], "conditions": conditions,
        "outcome": d["outcome"], "decided_early": d["decided_early"], "window_open": d["window_open"],
        "closed_at": closed_at.isoformat() if closed_at else None, "computed_at": now.isoformat(),
    }


def stored_tally(r: MotionResult | Any, stage: StageOfResult | None = None) -> TallyPublic:
    """A stored result's tally (``r``: the current result or a replaced revision), with its revision and —
    for the current one — its stage."""
    extra: dict[str, Any] = {"result_revision": r.revision}
    if stage is not None:
        extra |= {"result_stage": stage.stage, "result_detail": stage.detail,
                  "result_notice_id": stage.notice.notice_id
                  if stage.notice is not None and stage.notice.revision == r.revision else None}
    return TallyPublic.model_validate(r.tally | extra)


async def result_tally(session: AsyncSession, m: Motion, r: MotionResult, now: datetime) -> TallyPublic:
    """The stored result as ``GET …/tally`` serves it: with its stage (provisional / final)."""
    return stored_tally(r, await stage_for(session, m, r, now))


async def participants_of(session: AsyncSession, m: Motion) -> list[dict[str, Any]]:
    return [{"building": b, "unit": u, "room": room, "area_m2": format_area(area)}
            for b, u, room, area in await repo.participants(session, m)]


async def count_final(session: AsyncSession, m: Motion, state: RuleState, *,
                      now: datetime) -> tuple[Counts, dict[str, Any], list[dict[str, Any]]]:
    """The final count of a closed motion from its roll and its current ballots, by one aggregate pass (owner
    grouping applied): the counts, the tally as stored, the participating households. Close and every
    correction of the count call this."""
    counts = await full_counts(session, m=m)
    tally = tally_dict(m, state, counts, status=MotionStatus.CLOSED, final=True, now=now)
    return counts, tally, await participants_of(session, m)


async def leave_uncounted(session: AsyncSession, m: Motion, *, now: datetime, actor_id: str | None,
                          reason: str) -> list[PaperSlip]:
    """A close settles the motion's paper slips still pending or in conflict as ``uncounted`` (they never
    count; audited on the motion with their ids). Call with the motion row locked."""
    slips = await repo.unsettled_slips(session, m.id)
    was = Counter(s.status for s in slips)
    for s in slips:
        await repo.leave_slip_uncounted(session, s, at=now, by=actor_id, reason=reason)
    if slips:
        await audit.append(session, chain=m.community_id, action="motion.paper_uncounted", entity_type="motion",
                           entity_id=m.id, actor_id=actor_id, at=now,
                           data={"reason": reason, "slip_ids": [s.id for s in slips],
                                 "pending": was[SlipStatus.PENDING.value],
                                 "conflict": was[SlipStatus.CONFLICT.value]})
    return slips


async def finalize(session: AsyncSession, m: Motion, *, now: datetime, actor_id: str | None,
                    reason: str) -> MotionResult:
    """Store the final tally of a closed motion once (idempotent; the motion row is locked first so no
    ballot or amendment is still being recorded): the full count over the roll and the current ballots,
    checked against the running rows. Append the audit entry and publish the vote-result notice."""
    locked = await repo.get_motion(session, m.id, lock=True)
    assert locked is not None
    existing = await repo.get_result(session, m.id)
    if existing is not None:
        return existing
    state = await freeze(session, locked, now)
    await leave_uncounted(session, locked, now=now, actor_id=actor_id, reason=reason)
    counts, tally, participants = await count_final(session, locked, state, now=now)
    running = await repo.running_tally(session, locked)
    if running is None or counts_from_rows(rows=running, total=running[repo.TOTAL]) != counts:
        METRICS["tally_mismatch"] += 1
        log.warning("motion %s: running tally %s differs from the full count over the roll %s; the full count "
                    "is stored", locked.id, running, counts)
    closed_at = locked.closed_at or locked.closes_at
    values = {"id": new_id(), "motion_id": locked.id, "revision": 1, "outcome": tally["outcome"], "tally": tally,
              "participants": participants, "closed_at": closed_at, "recorded_at": now}
    inserted = await repo.insert_result_once(session, values)
    result = await repo.get_result(session, locked.id)
    assert result is not None
    if inserted:
        await audit.append(session, chain=locked.community_id, action="motion.closed", entity_type="motion",
                           entity_id=locked.id, actor_id=actor_id, at=now,
                           data={"reason": reason, "closed_at": closed_at.isoformat(), "outcome": tally["outcome"],
                                 "profile_version": state.profile_version, "rule": state.spec,
                                 "counts": tally["counts"]})
        closed = await closed_motion(session, motion_id=locked.id, result=MotionResult(**values))  # as stored
        for listener in CLOSE_LISTENERS:
            await listener(session, closed=closed, now=now)
    return result


async def tally(session: AsyncSession, *, principal: Principal, motion_id: str, now: datetime) -> TallyPublic:
    """Live for staff (with pending / decided_early); residents in scope only after close. The first look
    after close stores the final tally (needs a write session)."""
    m, roles = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.view")
    st = status_of(m=m, now=now)
    if not is_manager(roles):
        if not scope_refs(principal, m):
            raise Forbidden("tally.not_in_scope", "您的房屋不在本次表决范围内", "Your household is not in scope")
        if st != MotionStatus.CLOSED:
            raise Forbidden("tally.not_public", "表决结束后公布结果", "Results are published after the vote closes")
    if st == MotionStatus.CLOSED:
        return await result_tally(session, m, await finalize(session, m, now=now, actor_id=None, reason="deadline"),
                                  now)
    state = await freeze(session, m, now)
    counts = await counts_of(session, m=m)
    return TallyPublic.model_validate(tally_dict(m, state, counts, status=st, final=False, now=now))


async def close_due_motions(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[str]:
    """For a periodic job: freeze the roll of every opened motion nobody has touched yet, then store (and
    publish) the final tally of every motion whose window has ended."""
    for opened in await repo.motions_to_freeze(session, community_id=None, now=now, opened_only=True):
        await freeze(session, opened, now)
    done = []
    for mid in await repo.due_motions(session, now=now, limit=limit):
        m = await repo.get_motion(session, mid)
        if m is not None:
            await finalize(session, m, now=now, actor_id=None, reason="deadline")
            done.append(mid)
    return done


async def closed_motion(session: AsyncSession, *, motion_id: str, result: MotionResult | None = None,
                        correction: ResultCorrectionNote | None = None) -> ClosedMotion:
    """What the vote-result notice shows: the motion, every condition with its numbers, the outcome and per
    participating household only building, unit, room and area (no names, no phones). ``result``: the stored
    result when the caller has just stored it (saves reading its participants back); ``correction``: what the
    correction that stored this revision changed."""
    m = await motion_or_404(session, motion_id=motion_id)
    r = result if result is not None else await repo.get_result(session, m.id, participants=True)
    if r is None:
        raise Conflict("motion.not_closed", "表决尚未结束", "The motion has not closed yet")
    conditions = tuple(ConditionLine(name=c["name"], label_zh=c["label_zh"], numerator=c["numerator_display"],
                                     denominator=c["denominator_display"], required=c["required"], met=c["met"])
                       for c in r.tally["conditions"])
    participants = tuple(ParticipantRow(building=str(h["building"]), unit=str(h["unit"]), room=str(h["room"]),
                                        area_m2=str(h["area_m2"])) for h in r.participants)
    return ClosedMotion(motion_id=m.id, project_id=m.project_id, plan_id=m.plan_id, title=m.title,
                        outcome=r.outcome, opens_at=m.opens_at, closed_at=r.closed_at, conditions=conditions,
                        participants=participants, revision=r.revision, correction=correction)


