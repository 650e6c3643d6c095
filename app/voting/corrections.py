"""Corrections of a closed motion's count after an accepted objection to its result notice (询异), and the
result's revisions.

The vote-result notice opens a window in which residents may object to the count. When staff accept an
objection (publicity: ``POST /objections/{id}/resolution``), the notice fails and the result stays
provisional (:mod:`app.voting.results`) until staff correct the count and the republished result passes. A
correction (``POST /motions/{id}/corrections``, staff with ``motion.manage``) names the accepted objection —
any objection to one of this motion's result notices; 409 for one pending, rejected or about something else —
and makes exactly one change to the ballots:

* ``move`` a paper ballot entered for the wrong household (``ballot_id``) to the household it belongs to
  (``household_id``, on the roll): a new ballot version of that household with the same choice, slip photo and
  cast time; the wrong household's current ballot, if it was this one, falls back to its latest earlier
  ballot that still counts (or none);
* ``void`` a ballot that should not count (``ballot_id``): the same fall-back for its household;
* ``add`` a signed paper slip that was never entered (``household_id``, ``choice``, the slip ``photo``): a new
  paper ballot version of that household;
* ``reaffirm`` the count (no other field): the committee accepted the objection — so the notice failed — but
  finds nothing to correct (e.g. the slip it questions was entered right after all). No ballot changes; the
  same recount stores revision n+1 with the same counts and republishes it, so that a fresh window can run and
  the result can become final (otherwise the failed notice would leave it provisional for good). The reason
  says why the count stands. It names an accepted objection to the CURRENT revision's notice (409
  ``correction.objection_superseded`` for one to an earlier revision: a later revision has answered it), so
  one objection is reaffirmed once.

A moved or voided ballot never counts again (``motion_correction.ballot_id``) and every ballot version stays
in ``ballot``. A moved or added ballot takes the motion's next ballot number, so it must really be its
owner's latest act: a move is refused (409 ``correction.later_ballot``) when the owner of the right household
voted after the slip was taken — it would not count; void it instead — and an add when the owner has voted at
all (409 ``correction.household_voted``).

Then, under the motion's row lock, in one transaction: the running tally is rebuilt, the final tally is
recounted from the roll and the current ballots by the function close uses (:func:`app.voting.tallies.
count_final`), the stored result is kept as a revision (``motion_result_revision``) and replaced by revision
n+1, the correction is recorded and audited (``motion.result_corrected`` with the new counts; a new ballot
also ``ballot.corrected``), and the close listeners hear of the new revision: publicity publishes it as a new
vote-result notice (revision n+1) with a fresh window, and the notice of the revision it replaces takes no
more objections. A final result is not corrected any more (409 ``correction.result_final``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal
from app.core import audit
from app.core.config import Settings
from app.core.errors import Conflict, Invalid
from app.core.pagination import Page, PageParams, encode_cursor
from app.core.security import keyed_hash, new_receipt
from app.core.units import format_area
from app.voting import repository as repo
from app.voting.contracts import (
    CLOSE_LISTENERS,
    RESULT_PUBLICITY,
    ParticipantRow,
    ResultCorrectionNote,
    ResultObjection,
)
from app.voting.models import (
    Ballot,
    Channel,
    CorrectionAction,
    Motion,
    MotionResult,
    MotionStatus,
    ResultCorrection,
    RollEntry,
)
from app.voting.results import stage_for
from app.voting.schemas import CorrectionIn, CorrectionPublic, CorrectionResult, ResultRevisionPublic
from app.voting.state import PAPER_BALLOT, freeze, motion_for, status_of
from app.voting.tallies import closed_motion, count_final, rebuild_running_tally, stored_tally

# ---- checks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    result: MotionResult
    objection: ResultObjection
    ballot: Ballot | None  # move, void
    target: RollEntry | None  # move, add


def _invalid(code: str, zh: str, en: str, field: str, msg: str) -> Invalid:
    return Invalid(code, zh, en, errors=[{"loc": ["body", field], "msg": msg}])


def _fields(body: CorrectionIn, photo_given: bool) -> None:
    """The fields each action needs, and only those (422 ``correction.invalid`` listing every problem)."""
    need = {CorrectionAction.MOVE: {"ballot_id", "household_id"}, CorrectionAction.VOID: {"ballot_id"},
            CorrectionAction.ADD: {"household_id", "choice"}, CorrectionAction.REAFFIRM: set()}[body.action]
    errors = [{"loc": ["body", f], "msg": f"required for {body.action.value}"}
              for f in sorted(need) if getattr(body, f) is None]
    errors += [{"loc": ["body", f], "msg": f"not used by {body.action.value}"}
               for f in ("ballot_id", "household_id", "choice") if f not in need and getattr(body, f) is not None]
    if errors:
        raise Invalid("correction.invalid", "更正内容有误", "The correction is invalid", errors=errors)
    if body.action == CorrectionAction.ADD and not photo_given:
        raise _invalid("correction.photo_required", "补录纸质选票须上传签字选票的照片",
                       "Adding a paper ballot needs the photo of the signed slip", "photo", "required")
    if body.action != CorrectionAction.ADD and photo_given:
        raise _invalid("correction.photo_not_expected", "只有补录纸质选票时上传照片（移动的选票沿用原照片）",
                       "A photo is taken only when a paper ballot is added", "photo", "not used")


async def _objection(session: AsyncSession, m: Motion, objection_id: str) -> ResultObjection:
    o = await RESULT_PUBLICITY.objection_reader()(session, objection_id=objection_id)
    if o is None or o.motion_id != m.id:
        raise Conflict("correction.objection_not_on_result", "更正计票须依据对本表决结果公示提出并被采纳的异议",
                       "A correction needs an objection to this motion's vote-result notice", objection_id=objection_id)
    if o.status != "accepted":
        raise Conflict("correction.objection_not_accepted", "该异议尚未被采纳，不能据此更正计票",
                       "The objection was not accepted", objection_status=o.status)
    return o


async def _check(session: AsyncSession, m: Motion, body: CorrectionIn, *, photo_given: bool, now: datetime,
                 ballots: bool = True) -> _Checked:
    """Everything a correction needs; ``ballots`` False: not what the correction itself changes (the ballots
    corrected or cast), so that a replay of a correction with the same Idempotency-Key gets past it."""
    _fields(body, photo_given)
    if status_of(m=m, now=now) != MotionStatus.CLOSED:
        raise Conflict("motion.not_closed", "表决尚未结束，不能更正计票", "The motion has not closed")
    objection = await _objection(session, m, body.objection_id)
    result = await repo.get_result(session, m.id)
    if result is None:  # an objection to its result notice means the result was stored
        raise Conflict("motion.not_closed", "表决结果尚未生成", "The result has not been stored yet")
    if (await stage_for(session, m, result, now)).final:
        raise Conflict("correction.result_final", "表决结果公示已期满，结果已确定，不能再更正",
                       "The result is final: its notice has passed")
    if body.action == CorrectionAction.REAFFIRM and objection.revision != result.revision:
        raise Conflict("correction.objection_superseded",
                       f"该异议针对第 {objection.revision} 版表决结果，已由第 {result.revision} 版答复，不能据此维持结果",
                       "The objection is to an earlier revision of the result, which a later revision answers",
                       objection_revision=objection.revision, result_revision=result.revision)
    ballot = target = None
    if body.ballot_id is not None:
        ballot = await repo.get_ballot(session, m.id, body.ballot_id)
        if ballot is None:
            raise _invalid("correction.ballot_not_found", "本表决中没有该选票", "No such ballot in this motion",
                           "ballot_id", "not found")
        if ballots and await repo.ballot_corrected(session, m.id, ballot.id):
            raise Conflict("correction.ballot_already_corrected", "该选票已被更正（移动或作废）",
                           "This ballot was already moved or voided")
        if body.action == CorrectionAction.MOVE and ballot.channel != Channel.PAPER:
            raise _invalid("correction.not_paper", "只有纸质选票可以改登到其他房屋（网上投票须作废）",
                           "Only a paper ballot can be moved to another household", "ballot_id", "not paper")
    if body.household_id is not None:
        target = await repo.roll_entry(session, m.id, body.household_id)
        if target is None:
            raise _invalid("correction.household_not_listed", "该房屋不在本次表决名册上",
                           "The household is not on the motion's roll", "household_id", "not on the roll")
        if ballot is not None and ballot.household_id == target.household_id:
            raise _invalid("correction.same_household", "选票已登记在该房屋", "The ballot is already this household's",
                           "household_id", "same household")
        latest = await repo.owner_latest_seq(session, m, target.household_id) if ballots else None
        if body.action == CorrectionAction.MOVE and ballot is not None and latest is not None and latest > ballot.seq:
            raise Conflict("correction.later_ballot", "该户业主在这张纸质选票之后另有投票，改登后它也不计入；请改为作废",
                           "The owner of that household voted after this slip: it would not count; void it instead")
        if body.action == CorrectionAction.ADD and latest is not None:
            raise Conflict("correction.household_voted", "该户业主已有投票，不能补录；如登记有误请移动或作废选票",
                           "The owner of that household has a ballot already: move or void ballots instead")
    return _Checked(result=result, objection=objection, ballot=ballot, target=target)


async def check_correction(session: AsyncSession, *, principal: Principal, motion_id: str, body: CorrectionIn,
                           photo_given: bool, now: datetime) -> Motion:
    """Before a slip photo is processed: the caller may correct this motion's count on this objection, and the
    fields hold (:func:`correct_result` checks everything again under the motion's lock, the ballots too)."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage")
    await _check(session, m, body, photo_given=photo_given, now=now, ballots=False)
    return m


# ---- the correction ------------------------------------------------------------------------------


async def _place(session: AsyncSession, m: Motion, household_id: str | None) -> ParticipantRow | None:
    """Where a household is, as the notice prints it: its roll entry, else the register."""
    if household_id is None:
        return None
    e = await repo.roll_entry(session, m.id, household_id)
    if e is not None:
        return ParticipantRow(building=e.building, unit=e.unit, room=e.room, area_m2=format_area(e.area_centi))
    got = await repo.register_household(session, household_id)
    if got is None:
        return None
    h, building, unit = got
    return ParticipantRow(building=building, unit=unit, room=h.room, area_m2=format_area(h.area_centi))


def _correction_public(c: ResultCorrection) -> CorrectionPublic:
    return CorrectionPublic(
        id=c.id, motion_id=c.motion_id, revision=c.revision, objection_id=c.objection_id,
        action=CorrectionAction(c.action), ballot_id=c.ballot_id, from_household_id=c.from_household_id,
        household_id=c.household_id, new_ballot_id=c.new_ballot_id, photo_sha256=c.photo_sha256, reason=c.reason,
        outcome_before=c.outcome_before, outcome=c.outcome, actor_id=c.actor_id, at=c.at)


async def _unseat(session: AsyncSession, m: Motion, ballot: Ballot) -> None:
    """A moved or voided ballot stops counting: if it is its household's current ballot, the household's
    latest earlier ballot that still counts takes its place (or none)."""
    cur = await repo.current_ballot(session, m.id, ballot.household_id)
    if cur is not None and cur.ballot_id == ballot.id:
        prev = await repo.previous_ballot(session, m.id, ballot.household_id, before_seq=ballot.seq)
        await repo.set_current(session, motion_id=m.id, household_id=ballot.household_id, ballot=prev)


async def _enter(session: AsyncSession, settings: Settings, m: Motion, c: ResultCorrection, *, household_id: str,
                 choice: str, cast_at: datetime, photo_sha256: str | None, photo_media_id: str | None,
                 actor_id: str, now: datetime) -> tuple[Ballot, str]:
    """A ballot version entered by the correction: the motion's next number, current for its household."""
    receipt = new_receipt()
    b = Ballot(motion_id=m.id, household_id=household_id, seq=await repo.take_ballot_seq(session, motion_id=m.id),
               choice=choice, channel=Channel.PAPER.value, actor_id=actor_id, cast_at=cast_at,
               receipt_hash=keyed_hash(settings.secret_key, receipt, purpose="receipt"), photo_sha256=photo_sha256,
               photo_media_id=photo_media_id)
    await repo.insert_ballot(session, b)
    await repo.set_current(session, motion_id=m.id, household_id=household_id, ballot=b)
    version = await repo.ballot_versions(session, m.id, household_id)
    # like every ballot's entry: household, seq, channel and photo, the choice only as a keyed digest
    await audit.append(session, chain=m.community_id, action="ballot.corrected", entity_type="ballot", entity_id=b.id,
                       actor_id=actor_id, at=now,
                       data={"motion_id": m.id, "household_id": household_id, "seq": b.seq, "version": version,
                             "channel": b.channel, "photo_sha256": photo_sha256, "correction_id": c.id,
                             "correction": c.action, "moved_from": c.ballot_id,
                             "choice_digest": keyed_hash(settings.secret_key, f"{b.id}|{b.choice}", purpose="choice")})
    return b, receipt


async def correct_result(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                         body: CorrectionIn, photo: Any | None, now: datetime) -> CorrectionResult:
    """Staff correct a closed motion's count on an accepted objection to its result notice: the change (none
    for a ``reaffirm``), the recount, revision n+1 stored (n kept), audited and republished — all in this
    transaction. ``photo``: the
    slip of an ``add``, already checked and cleaned by app.media (``staged_images``)."""
    from app.media import service as media_service

    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage", lock=True)
    checked = await _check(session, m, body, photo_given=photo is not None, now=now)
    result = await repo.get_result(session, m.id, participants=True)
    assert result is not None
    ballot, target = checked.ballot, checked.target
    c = ResultCorrection(motion_id=m.id, revision=result.revision + 1, objection_id=checked.objection.objection_id,
                         action=body.action.value, ballot_id=ballot.id if ballot else None,
                         from_household_id=ballot.household_id if ballot else None,
                         household_id=target.household_id if target else None, reason=body.reason,
                         outcome_before=result.outcome, outcome=result.outcome, actor_id=principal.user_id, at=now)
    await repo.add_correction(session, c)  # first: the moved or voided ballot no longer counts from here on
    receipt = None
    if ballot is not None:
        await _unseat(session, m, ballot)
    if body.action == CorrectionAction.MOVE:
        assert ballot is not None and target is not None
        c.photo_sha256 = ballot.photo_sha256
        new, receipt = await _enter(session, settings, m, c, household_id=target.household_id, choice=ballot.choice,
                                    cast_at=ballot.cast_at, photo_sha256=ballot.photo_sha256,
                                    photo_media_id=ballot.photo_media_id, actor_id=principal.user_id, now=now)
        c.new_ballot_id = new.id
    elif body.action == CorrectionAction.ADD:
        assert target is not None and body.choice is not None and photo is not None
        c.photo_sha256 = photo.sha256
        new, receipt = await _enter(session, settings, m, c, household_id=target.household_id,
                                    choice=body.choice.value, cast_at=now, photo_sha256=photo.sha256,
                                    photo_media_id=None, actor_id=principal.user_id, now=now)
        media = await media_service.attach(session, stored=photo, owner_type=PAPER_BALLOT, owner_id=new.id,
                                           community_id=m.community_id, project_id=m.project_id,
                                           uploaded_by=principal.user_id, now=now)
        new.photo_media_id = media.id
        session.add(new)
        c.new_ballot_id = new.id
    # the recount (a reaffirm changed no ballot: the same counts): the running rows rebuilt, the final tally
    # counted from the roll as at close
    await rebuild_running_tally(session, m=m)
    state = await freeze(session, m, now)
    _, tally, participants = await count_final(session, m, state, now=now)
    await repo.archive_result(session, result, superseded_at=now)
    replaced = await repo.replace_result(session, motion_id=m.id, revision=c.revision, values={
        "outcome": tally["outcome"], "tally": tally, "participants": participants, "recorded_at": now})
    assert replaced, "the motion row is locked: nobody else corrects it meanwhile"
    c.outcome = tally["outcome"]
    session.add(c)
    await session.flush()
    await audit.append(session, chain=m.community_id, action="motion.result_corrected", entity_type="motion",
                       entity_id=m.id, actor_id=principal.user_id, at=now,
                       data={"correction_id": c.id, "objection_id": c.objection_id, "action": c.action,
                             "ballot_id": c.ballot_id, "from_household_id": c.from_household_id,
                             "household_id": c.household_id, "new_ballot_id": c.new_ballot_id,
                             "photo_sha256": c.photo_sha256, "reason": c.reason, "revision": c.revision,
                             "outcome_before": c.outcome_before, "outcome": c.outcome, "counts": tally["counts"]})
    stored = await repo.get_result(session, m.id, participants=True)
    assert stored is not None and stored.revision == c.revision
    note = ResultCorrectionNote(action=c.action, reason=c.reason, objection_id=c.objection_id,
                                from_place=await _place(session, m, c.from_household_id),
                                to_place=await _place(session, m, c.household_id))
    closed = await closed_motion(session, motion_id=m.id, result=stored, correction=note)
    for listener in CLOSE_LISTENERS:  # publicity republishes the result: revision n+1, a fresh window
        await listener(session, closed=closed, now=now)
    return CorrectionResult(correction=_correction_public(c),
                            tally=stored_tally(stored, await stage_for(session, m, stored, now)), receipt=receipt)


# ---- reading the revisions -------------------------------------------------------------------------


async def result_revisions(session: AsyncSession, *, principal: Principal, motion_id: str, page: PageParams,
                           now: datetime) -> Page[ResultRevisionPublic]:
    """Staff: every revision of a closed motion's stored result, oldest first, each with the correction that
    produced it; the current one with its stage. Empty until a result is stored."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage")
    current = await repo.get_result(session, m.id)
    if current is None:
        return Page(items=[], next_cursor=None)
    after = int(page.after) if page.after and page.after.isdigit() else 0
    corrections = {c.revision: c for c in await repo.corrections_of(session, m.id)}
    rows: list[Any] = [*await repo.result_revisions(session, m.id, after=after, limit=page.limit + 1), current]
    rows = [r for r in rows if r.revision > after][:page.limit + 1]
    stage = await stage_for(session, m, current, now)
    items = []
    for r in rows[:page.limit]:
        is_current = r.revision == current.revision
        c = corrections.get(r.revision)
        items.append(ResultRevisionPublic(
            revision=r.revision, current=is_current, outcome=r.outcome, recorded_at=r.recorded_at,
            superseded_at=None if is_current else r.superseded_at,
            tally=stored_tally(r, stage if is_current else None),
            correction=_correction_public(c) if c is not None else None))
    nxt = encode_cursor(str(items[-1].revision)) if len(rows) > page.limit and items else None
    return Page(items=items, next_cursor=nxt)


# ---- the evidence pack ---------------------------------------------------------------------------


async def results_evidence(session: AsyncSession, *, motion_id: str) -> list[tuple[str, bytes]]:
    """``results.json`` for a closed motion's evidence pack when its count was corrected (an
    :class:`app.voting.contracts.EvidenceSource`, registered by app.wiring): every replaced revision's stored
    tally with when it was replaced, and every correction with its objection, reason, ballots and actor. The
    current revision is the pack's ``tally.json``; its counts are the ones the last ``motion.result_corrected``
    audit entry records."""
    corrections = await repo.corrections_of(session, motion_id)
    if not corrections:
        return []
    revisions = [{"revision": r.revision, "outcome": r.outcome, "recorded_at": r.recorded_at.isoformat(),
                  "superseded_at": r.superseded_at.isoformat(), "tally": r.tally}
                 for r in await repo.result_revisions(session, motion_id)]
    data = {"motion_id": motion_id, "replaced_revisions": revisions,
            "corrections": [_correction_public(c).model_dump(mode="json") for c in corrections]}
    return [("results.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8"))]
