"""Ballots: online and paper, one current ballot per household, receipts, the ballot history.

A ballot is the busiest write (issue 17), so an online ballot's transaction is four statements, each built once.
The first takes the motion's next ballot number (window open, the motion row locked, then the community's audit
head) and returns the motion with its plan's state; the caller is authorized after it. On SQLite it also reads,
for the household the ballot is likely for (the one named, or the caller's only one), what the ballot changes:
the owner's households and area on the roll, their current choice, the household's ballot count; PostgreSQL
reads that after the motion's lock, in the second. Then the ballot with its current-ballot upsert and the
running-tally move (PostgreSQL: one statement; SQLite: the ballot's INSERT, whose trigger upserts the current
row, and the move), and the audit entry with the head's move (a data-modifying WITH on PostgreSQL, a trigger on
SQLite). A paper ballot reads its motion first (with whether the household is on the roll) and takes the number
after it. A paper slip's photo row is written before the ballot, so the ballot row is written once with its
media id."""


from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef, Principal, authorize
from app.core import audit
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, encode_cursor
from app.core.routing import API_PREFIX as API
from app.core.security import keyed_hash, new_receipt
from app.core.units import format_area
from app.rules import Choice
from app.voting import repository as repo
from app.voting.models import (
    Channel,
    Motion,
    MotionStatus,
)
from app.voting.schemas import (
    BallotCast,
    BallotHistoryEntry,
    BallotReceipt,
    HouseholdChoice,
    ReceiptCheck,
)
from app.voting.state import (
    freeze,
    motion_for,
    motion_not_found,
    motion_scope,
    out_of_scope,
    plan_superseded,
    rule_state,
    scope_refs,
    status_of,
    window_closed,
)
from app.voting.tallies import keep_running_tally, rebuild_running_tally

# ---- ballots -------------------------------------------------------------------------------------

def _choose_household(principal: Principal, m: Motion, household_id: str | None) -> HouseholdRef:
    refs = scope_refs(principal, m)
    if household_id is not None:
        ref = next((r for r in refs if r.household_id == household_id), None)
        if ref is None:
            raise out_of_scope()
        acting = [ref]
    else:
        if not refs:
            raise out_of_scope()
        acting = [r for r in refs if r.may_act]
        if len(acting) > 1:
            raise Invalid("ballot.household_required", "您代表多户，请指定投票的房屋",
                          "You act for several households in scope: give household_id",
                          errors=[{"loc": ["body", "household_id"], "msg": "required",
                                   "choices": [r.household_id for r in acting]}])
        if not acting:
            acting = refs[:1]
    ref = acting[0]
    if not ref.may_act:
        raise Forbidden("ballot.not_permitted_relation", "只有业主或共有人可以投票",
                        "Only an owner or co-owner may vote for the household")
    return ref


async def _ballot_motion(session: AsyncSession, *, principal: Principal, motion_id: str, permission: str,
                         household_id: str | None = None, attach: bool = True) -> repo.BallotMotion:
    """The motion once the caller is authorized for it (404 / 403, as :func:`motion_for`), with whether its plan
    is current and whether ``household_id`` is on its frozen roll — one statement for what took three."""
    got = await repo.motion_for_ballot(session, motion_id, household_id, attach=attach)
    if got is None:
        raise motion_not_found()
    authorize(principal, permission, motion_scope(m=got.motion))
    return got


async def _record(session: AsyncSession, settings: Settings, m: Motion, *, household_id: str, choice: Choice,
                  channel: Channel, actor_id: str, now: datetime, photo_sha256: str | None = None,
                  attach_photo: Callable[[str], Awaitable[str]] | None = None, ballot_id: str | None = None,
                  photo_media_id: str | None = None, checked_by: str | None = None,
                  proxy: repo.ProxyFields | None = None, settling_slip: str | None = None,
                  seq: int | None = None, before: repo.OwnerBefore | None = None) -> BallotReceipt:
    """Take the motion's next ballot number (window open, motion row locked), freeze the motion at its first
    write, move the owner in the running tally, store the ballot as the household's current one and audit it.
    ``attach_photo(ballot_id)`` records a paper slip's photo and returns its media id, stored with the ballot
    (or ``photo_media_id``: a double-entered slip's photo, already recorded). ``checked_by``: the second clerk
    (or the resolver) of a double-entered slip, ``settling_slip`` that slip; ``proxy``: who voted for the
    household. A ballot of a household whose paper slip is still unsettled (double entry) supersedes the
    slip: it is never counted. ``seq``: the number already taken (:func:`repo.take_ballot_number`), ``before``
    what that statement read for this household."""
    if seq is None:
        st = status_of(m=m, now=now)
        if st != MotionStatus.OPEN:
            raise window_closed(st)
        seq = await repo.next_ballot_seq(session, motion_id=m.id, now=now, audit_chain=m.community_id)
        if seq is None:  # closed by a concurrent request
            raise window_closed(MotionStatus.CLOSED)
    await freeze(session, m, now)
    receipt = new_receipt()
    move, before = await keep_running_tally(session, m, household_id=household_id, choice=choice, before=before)
    ballot_id = ballot_id or new_id()
    media_id = await attach_photo(ballot_id) if attach_photo is not None else photo_media_id
    if not await repo.store_ballot(session, ballot_id=ballot_id, motion_id=m.id, household_id=household_id,
                                   seq=seq, choice=choice.value, channel=channel.value, actor_id=actor_id,
                                   cast_at=now, receipt_hash=keyed_hash(settings.secret_key, receipt, purpose="receipt"),
                                   photo_sha256=photo_sha256, photo_media_id=media_id, checked_by=checked_by,
                                   proxy=proxy, move=move):
        await rebuild_running_tally(session, m=m)  # the buckets were missing: the move changed nothing
    version = before.versions + 1  # the household's ballots so far (read under the motion's lock) and this one
    data: dict[str, Any] = {
        "motion_id": m.id, "household_id": household_id, "seq": seq, "version": version, "channel": channel.value,
        "photo_sha256": photo_sha256,
        # a keyed digest of the choice: integrity checkable, the choice not revealed
        "choice_digest": keyed_hash(settings.secret_key, f"{ballot_id}|{choice.value}", purpose="choice")}
    if checked_by is not None:
        data |= {"checked_by": checked_by, "paper_slip_id": settling_slip}
    if proxy is not None:
        data |= {"proxy_name": proxy.name, "proxy_relation": proxy.relation, "proxy_key": proxy.key,
                 "proxy_photo_sha256": proxy.photo_sha256}
    await audit.append(session, chain=m.community_id,
                       action="ballot.paper_entered" if channel == Channel.PAPER else "ballot.cast",
                       entity_type="ballot", entity_id=ballot_id, actor_id=actor_id, at=now, data=data)
    if before.open_slip is not None and before.open_slip != settling_slip:
        # decided: the household's later ballot wins over a slip handed in earlier and not yet settled
        if await repo.supersede_slip(session, slip_id=before.open_slip, ballot_id=ballot_id, at=now):
            await audit.append(session, chain=m.community_id, action="paper_slip.superseded",
                               entity_type="paper_slip", entity_id=before.open_slip, actor_id=actor_id, at=now,
                               data={"motion_id": m.id, "household_id": household_id, "ballot_id": ballot_id,
                                     "channel": channel.value})
    return BallotReceipt(receipt=receipt, ballot_id=ballot_id, household_id=household_id, choice=choice,
                         channel=channel, cast_at=now, version=version)


async def cast_ballot(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                      body: BallotCast, now: datetime) -> BallotReceipt:
    """A resident's online ballot for one household in scope (owner / co-owner); replaces the household's
    earlier ballot until close.

    Its first statement takes the motion's next ballot number (window open), returning the motion: the caller
    is authorized after it, and any refusal rolls the number back with the transaction. Where no number was
    taken (an unknown motion, a window not open), the motion is read and the refusals come in their usual
    order: 404, 403, the household, the plan, the window."""
    acting = [r.household_id for r in principal.households if r.may_act]
    likely = body.household_id or (acting[0] if len(acting) == 1 else None)
    took = await repo.take_ballot_number(session, motion_id=motion_id, now=now, household_id=likely)
    before = None
    if took is not None:
        m, plan_current, seq = took.motion, took.plan_current, took.seq
        authorize(principal, "motion.vote", motion_scope(m=m))
    else:
        got = await _ballot_motion(session, principal=principal, motion_id=motion_id, permission="motion.vote")
        m, plan_current, seq = got.motion, got.plan_current, None
    ref = _choose_household(principal, m, body.household_id)
    if not plan_current:
        raise plan_superseded()
    if took is not None and ref.household_id == likely:
        before = took.before
    return await _record(session, settings, m, household_id=ref.household_id, choice=body.choice,
                         channel=Channel.ONLINE, actor_id=principal.user_id, now=now, seq=seq, before=before)


async def _paper_motion(session: AsyncSession, *, principal: Principal, motion_id: str,
                        household_id: str, attach: bool = True) -> repo.BallotMotion:
    valid = bool(household_id) and len(household_id) <= 32
    got = await _ballot_motion(session, principal=principal, motion_id=motion_id,
                               permission="motion.paper_ballot", household_id=household_id if valid else None,
                               attach=attach)
    await _require_listed(session, got.motion, household_id, on_roll=got.on_roll)
    return got


async def _require_listed(session: AsyncSession, m: Motion, household_id: str, *, on_roll: bool,
                          read_again: bool = False) -> None:
    """404 ``ballot.household_not_in_scope`` unless the household a paper slip is for is on the motion's frozen
    roll (``on_roll``, as read with the motion), or, before the roll is frozen, in the register's scope (the
    first write freezes the roll from it). ``read_again``: a "no" came from a statement's snapshot, which on
    PostgreSQL can be older than a roll frozen while the statement waited for the motion's lock."""
    if not household_id or len(household_id) > 32:
        raise out_of_scope()
    if m.roll_frozen_at is None:
        listed = await repo.household_in_scope(session, m, household_id) is not None
    else:
        listed = on_roll or (read_again and await repo.on_roll(session, m.id, household_id))
    if not listed:
        raise out_of_scope()


async def take_paper_number(session: AsyncSession, *, principal: Principal, motion_id: str, household_id: str,
                            now: datetime) -> repo.TakenNumber | None:
    """The first statement of a paper ballot that counts at once (no double entry), as an online ballot's: the
    motion's next number taken while its window is open, then the refusals of :func:`_paper_motion` in their
    order (403, the household, the plan); a refusal rolls the number back with the transaction. None when no
    number was taken: the caller reads the motion and refuses as usual."""
    took = await repo.take_ballot_number(session, motion_id=motion_id, now=now, household_id=household_id)
    if took is None:
        return None
    authorize(principal, "motion.paper_ballot", motion_scope(m=took.motion))
    await _require_listed(session, took.motion, household_id, on_roll=took.on_roll, read_again=True)
    if not took.plan_current:
        raise plan_superseded()
    return took


async def check_paper_ballot(session: AsyncSession, *, principal: Principal, motion_id: str,
                             household_id: str) -> Motion:
    """Before the slip photo is stored: the caller may enter paper ballots here, the household is in scope. The
    motion it gives belongs to no session (the write step reads it again)."""
    return (await _paper_motion(session, principal=principal, motion_id=motion_id, household_id=household_id,
                                attach=False)).motion


async def paper_ballot_photo(session: AsyncSession, *, principal: Principal, motion_id: str, ballot_id: str) -> Any:
    """The media row of a paper ballot's slip photo (staff only)."""
    from app.media import service as media_service

    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    b = await repo.get_ballot(session, m.id, ballot_id) if ballot_id and len(ballot_id) <= 32 else None
    media = await media_service.media_or_none(session, media_id=b.photo_media_id) if b and b.photo_media_id else None
    if media is None:
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    return media


async def ballot_history(session: AsyncSession, *, principal: Principal, motion_id: str, channel: Channel | None,
                         page: PageParams, now: datetime) -> Page[BallotHistoryEntry]:
    """Every ballot version (staff), oldest first; choices only where the profile lets staff see them."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    state = await rule_state(session, m=m, now=now)
    after = int(page.after) if page.after and page.after.isdigit() else None
    rows = await repo.ballots_page(session, m, channel=channel.value if channel else None, after_seq=after,
                                   limit=page.limit)
    items = []
    for b, building, unit, room, current in rows[:page.limit]:
        version = await repo.ballot_version_of(session, b)
        url = f"{API}/motions/{m.id}/paper-ballots/{b.id}/photo" if b.photo_media_id else None
        auth_url = f"{API}/motions/{m.id}/paper-ballots/{b.id}/authorisation" if b.proxy_media_id else None
        items.append(BallotHistoryEntry(
            ballot_id=b.id, household_id=b.household_id, building=building, unit=unit, room=room, version=version,
            channel=Channel(b.channel), cast_at=b.cast_at, actor_id=b.actor_id, current=current,
            has_photo=b.photo_media_id is not None, photo_url=url,
            choice=Choice(b.choice) if state.staff_see_choices else None, checked_by=b.checked_by,
            proxy_name=b.proxy_name, proxy_relation=b.proxy_relation, authorisation_url=auth_url))
    nxt = encode_cursor(str(rows[page.limit - 1][0].seq)) if len(rows) > page.limit else None
    return Page(items=items, next_cursor=nxt)


async def household_choices(session: AsyncSession, *, principal: Principal, motion_id: str, page: PageParams,
                            now: datetime) -> Page[HouseholdChoice]:
    """Each household's counted choice, for staff only where the profile's ``staff_see_choices`` is set."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.manage")
    state = await rule_state(session, m=m, now=now)
    if not state.staff_see_choices:
        raise Forbidden("ballot.choices_private", "按规则，工作人员只能查看汇总结果",
                        "By the rules profile, staff see aggregates only")
    rows = await repo.households_with_choices(session, m, limit=page.limit + 1, after=page.after)
    items = [HouseholdChoice(household_id=hid, building=b, unit=u, room=room, area_m2=format_area(area),
                             choice=Choice(c) if c else None, own_ballot=own, proxy_name=pn, proxy_relation=pr)
             for hid, b, u, room, area, c, own, pn, pr in rows[:page.limit]]
    nxt = encode_cursor(items[-1].household_id) if len(rows) > page.limit and items else None
    return Page(items=items, next_cursor=nxt)


async def check_receipt(session: AsyncSession, *, settings: Settings, principal: Principal | None, receipt: str,
                        now: datetime) -> ReceiptCheck:
    """Anyone holding a receipt learns that the ballot is recorded as cast and whether it still counts; the
    choice is shown only to members of the household."""
    if not receipt or len(receipt) > 64:
        raise NotFound("receipt.not_found", "回执无效", "Unknown receipt")
    b = await repo.ballot_by_receipt(session, keyed_hash(settings.secret_key, receipt, purpose="receipt"))
    if b is None:
        raise NotFound("receipt.not_found", "回执无效", "Unknown receipt")
    m = await repo.get_motion(session, b.motion_id)
    assert m is not None
    cur = await repo.current_ballot(session, m.id, b.household_id)
    current = cur is not None and cur.ballot_id == b.id
    counted = False
    if current:
        counted = await repo.owner_latest_seq(session, m, b.household_id) == b.seq
    member = principal is not None and any(r.household_id == b.household_id for r in principal.households)
    return ReceiptCheck(motion_id=m.id, motion_title=m.title, motion_status=status_of(m=m, now=now), cast_at=b.cast_at,
                        channel=Channel(b.channel), current=current, counted=counted,
                        status="current" if current else "superseded",
                        choice=Choice(b.choice) if member else None)


