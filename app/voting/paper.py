"""Paper slips as a checked channel (issue 19): scanned slip codes, double entry by two clerks, proxies.

* A slip's printed code (:func:`app.core.security.slip_code`) names the motion and the household under a keyed
  check; the tablet sends it as ``slip_code`` instead of typing the household (:func:`slip_household`).
* Where the motion's rules profile (the version frozen at its opening) sets ``paper_double_entry``, one
  clerk's entry makes a ``pending`` slip (``paper_slip`` / ``paper_entry``) that changes nothing of the count:
  no ballot, no current ballot, no running-tally move. A second, different clerk's entry of the same household
  either matches (same choice, same proxy) and the slip counts — one ballot, through the same path as every
  ballot (:func:`app.voting.ballots._record`), with both clerks recorded — or makes it a ``conflict``, which
  staff resolve from the slip photo (the resolver's choice counts). Every entry takes the motion's row lock
  first, as every ballot does, so entries, online ballots and a close of one motion never interleave.
* An online (or single-entry) ballot of a household whose slip is unsettled supersedes the slip (see
  :func:`app.voting.ballots._record`); a close refuses while slips are unsettled unless forced with a reason
  (:mod:`app.voting.motions`), and a close leaves them ``uncounted`` (:func:`app.voting.tallies.finalize`).
* A proxy (委托代理人) named on an entry needs the photo of the signed authorisation; the profile's
  ``proxy_max_households`` caps the households one proxy (by :func:`app.rules.proxy.proxy_key`) votes for in
  one motion, counting current ballots and unsettled slips that name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal
from app.core import audit
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import Conflict, Invalid, NotFound
from app.core.pagination import Page, PageParams, encode_cursor
from app.core.routing import API_PREFIX as API
from app.core.security import keyed_hash, read_slip_code
from app.rules import Choice
from app.rules.proxy import proxy_key
from app.voting import repository as repo
from app.voting.ballots import _paper_motion, _record, check_paper_ballot, take_paper_number
from app.voting.models import Channel, Motion, MotionStatus, PaperEntry, PaperSlip, SlipStatus
from app.voting.schemas import PaperBallotEntered, PaperEntryPublic, PaperResolveIn, PaperSlipPublic
from app.voting.state import (
    PAPER_BALLOT,
    freeze,
    motion_for,
    motion_or_404,
    paper_rules,
    plan_superseded,
    rule_state,
    status_of,
    window_closed,
)

PAPER_ENTRY = "paper_entry"  # app.media owner type: a double-entered slip's photo (owner: the entry)
PAPER_PROXY = "paper_proxy"  # app.media owner type: a proxy's signed authorisation (owner: ballot or entry)


@dataclass(frozen=True)
class ProxyGiven:
    """A proxy named on a paper entry, with the stored photo of the signed authorisation."""

    name: str
    relation: str
    photo: Any  # app.media's StoredImage


# ---- what the tablet sends ---------------------------------------------------------------------------

def slip_household(*, settings: Settings, motion_id: str, household_id: str | None, slip_code: str | None) -> str:
    """The household of a paper entry: read from the scanned ``slip_code`` (checked under the server's key,
    for this motion only) or the typed ``household_id``; both given, they must agree."""
    hid = (household_id or "").strip() or None
    code = (slip_code or "").strip() or None
    if code is None:
        if hid is None:
            raise Invalid(errors=[{"loc": ["body", "household_id"], "msg": "give household_id or slip_code",
                                   "type": "missing"}])
        return hid
    read = read_slip_code(settings.secret_key, code, motion_id=motion_id)
    if read is None:
        raise Invalid("ballot.slip_invalid", "选票编码无效（不是本次表决的选票，或编码有误）",
                      "The slip code is not valid for this motion (another motion's slip, or a wrong code)",
                      errors=[{"loc": ["body", "slip_code"], "msg": "invalid"}])
    if hid is not None and hid != read:
        raise Invalid("ballot.slip_mismatch", "选票编码与所填房屋不一致", "The slip code names another household",
                      errors=[{"loc": ["body", "household_id"], "msg": "does not match slip_code"}])
    return read


def proxy_fields(*, name: str | None, relation: str | None, photo_given: bool) -> tuple[str, str] | None:
    """The proxy's name and relation when one is named (422 when incomplete); None when none is."""
    name = (name or "").strip() or None
    relation = (relation or "").strip() or None
    if name is None:
        if relation is not None or photo_given:
            raise Invalid("ballot.proxy_name_required", "请填写委托代理人姓名",
                          "A proxy's relation or authorisation was given without the proxy's name",
                          errors=[{"loc": ["body", "proxy_name"], "msg": "required"}])
        return None
    if not proxy_key(name):
        raise Invalid("ballot.proxy_name_required", "请填写委托代理人姓名", "The proxy's name is empty",
                      errors=[{"loc": ["body", "proxy_name"], "msg": "empty"}])
    if relation is None:
        raise Invalid("ballot.proxy_relation_required", "请填写委托代理人与业主的关系",
                      "The proxy's relation to the owner is required",
                      errors=[{"loc": ["body", "proxy_relation"], "msg": "required"}])
    if not photo_given:
        raise Invalid("ballot.proxy_photo_required", "请上传签字的授权委托书照片",
                      "A photo of the signed authorisation is required when a proxy votes",
                      errors=[{"loc": ["body", "proxy_photo"], "msg": "required"}])
    return name, relation


# ---- entering a slip --------------------------------------------------------------------------------

async def _check_proxy_cap(session: AsyncSession, m: Motion, *, household_id: str, key: str, cap: int) -> None:
    n = await repo.proxy_households(session, m.id, key, other_than=household_id)
    if n >= cap:
        raise Invalid("ballot.proxy_limit", f"同一委托代理人在本次表决中最多代理 {cap} 户",
                      f"One proxy may vote for at most {cap} households in this motion", limit=cap,
                      errors=[{"loc": ["body", "proxy_name"], "msg": f"already proxy for {n} households"}])


async def _attach(session: AsyncSession, *, stored: Any, owner_type: str, owner_id: str, m: Motion,
                  principal: Principal, now: datetime) -> str:
    from app.media import service as media_service

    return await media_service.attach_id(session, stored=stored, owner_type=owner_type, owner_id=owner_id,
                                         community_id=m.community_id, project_id=m.project_id,
                                         uploaded_by=principal.user_id, now=now)


async def _locked_open_motion(session: AsyncSession, m: Motion, now: datetime) -> Motion:
    locked = await motion_or_404(session, motion_id=m.id, lock=True)
    st = status_of(m=locked, now=now)
    if st != MotionStatus.OPEN:
        raise window_closed(st)
    await freeze(session, locked, now)
    return locked


async def check_paper_entry(session: AsyncSession, *, principal: Principal, motion_id: str, household_id: str,
                            now: datetime) -> bool:
    """Before the slip photo is stored: the caller may enter paper ballots here and the household is in scope
    (:func:`check_paper_ballot`). True when the motion's rules count a paper ballot at once (no double entry),
    which lets :func:`enter_paper_ballot` begin with the motion's next number."""
    m = await check_paper_ballot(session, principal=principal, motion_id=motion_id, household_id=household_id)
    return not (await paper_rules(session, m=m, now=now)).double_entry


async def enter_paper_ballot(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                             household_id: str, choice: Choice, photo: Any, proxy: ProxyGiven | None,
                             now: datetime, counts_at_once: bool = False) -> PaperBallotEntered:
    """Staff enter a household's signed paper slip (with its photo, and a proxy's authorisation when one
    voted). Without double entry it counts at once (channel paper, the one-ballot rule); with it, see the
    module's docstring. ``counts_at_once`` (what :func:`check_paper_entry` found): the first statement takes the
    motion's next ballot number, as an online ballot's does; should the rules say otherwise now, the number is
    given back and the entry is taken the double-entry way."""
    took = None
    if counts_at_once:
        took = await take_paper_number(session, principal=principal, motion_id=motion_id, household_id=household_id,
                                       now=now)
    if took is not None:
        m = took.motion
        rules = await paper_rules(session, m=m, now=now)
        if rules.double_entry:  # not what the checks found: no ballot is stored now
            await repo.give_back_ballot_number(session, took)
            took = None
    else:
        got = await _paper_motion(session, principal=principal, motion_id=motion_id, household_id=household_id)
        if not got.plan_current:
            raise plan_superseded()
        st = status_of(m=got.motion, now=now)
        if st != MotionStatus.OPEN:
            raise window_closed(st)
        m = got.motion
        rules = await paper_rules(session, m=m, now=now)
    key = proxy_key(proxy.name) if proxy is not None else None
    if rules.double_entry:
        return await _double_entry(session, settings=settings, principal=principal, m=m, household_id=household_id,
                                   choice=choice, photo=photo, proxy=proxy, key=key, cap=rules.proxy_max_households,
                                   now=now)
    ballot_id = new_id()
    stored_proxy = None
    if proxy is not None and key:
        if took is None:
            m = await _locked_open_motion(session, m, now)  # the cap is counted under the motion's lock
        else:  # the motion's row is locked by the number taken
            await freeze(session, m, now)
        await _check_proxy_cap(session, m, household_id=household_id, key=key, cap=rules.proxy_max_households)
        media_id = await _attach(session, stored=proxy.photo, owner_type=PAPER_PROXY, owner_id=ballot_id, m=m,
                                 principal=principal, now=now)
        stored_proxy = repo.ProxyFields(proxy.name, proxy.relation, key, proxy.photo.sha256, media_id)

    async def attach_photo(bid: str) -> str:
        return await _attach(session, stored=photo, owner_type=PAPER_BALLOT, owner_id=bid, m=m,
                             principal=principal, now=now)

    r = await _record(session, settings, m, household_id=household_id, choice=choice, channel=Channel.PAPER,
                      actor_id=principal.user_id, now=now, photo_sha256=photo.sha256, attach_photo=attach_photo,
                      ballot_id=ballot_id, proxy=stored_proxy, seq=took.seq if took is not None else None,
                      before=took.before if took is not None else None)
    return PaperBallotEntered(status="counted", slip_id=None, entry_id=None, household_id=household_id,
                              choice=choice, entered_at=now, proxy_name=proxy.name if proxy else None,
                              proxy_relation=proxy.relation if proxy else None, receipt=r.receipt,
                              ballot_id=r.ballot_id, cast_at=r.cast_at, version=r.version)


async def _double_entry(session: AsyncSession, *, settings: Settings, principal: Principal, m: Motion,
                        household_id: str, choice: Choice, photo: Any, proxy: ProxyGiven | None, key: str | None,
                        cap: int, now: datetime) -> PaperBallotEntered:
    m = await _locked_open_motion(session, m, now)
    slip = await repo.open_slip(session, m.id, household_id)
    if slip is not None and slip.status == SlipStatus.CONFLICT:
        raise Conflict("ballot.slip_conflict", "该户的纸质选票两次录入不一致，请先核对照片处理冲突",
                       "This household's slip is in conflict: resolve it first", slip_id=slip.id)
    first: PaperEntry | None = None
    if slip is not None:
        first = (await repo.slip_entries(session, [slip.id]))[slip.id][0]
        if first.actor_id == principal.user_id:
            raise Conflict("ballot.same_clerk", "同一选票须由另一名工作人员再次录入",
                           "The same slip must be entered again by a different clerk", slip_id=slip.id)
    else:
        current = await repo.current_ballot(session, m.id, household_id)
        if current is not None and current.channel == Channel.PAPER and current.choice == choice.value:
            # a further entry of a slip already counted (e.g. a third clerk, or two second entries at once)
            raise Conflict("ballot.slip_already_counted", "该户的纸质选票已核对计入",
                           "This household's paper slip is already counted with this choice",
                           ballot_id=current.ballot_id)
        last = await repo.latest_slip(session, m.id, household_id)
        if last is not None and last.status == SlipStatus.SUPERSEDED:
            was = (await repo.slip_entries(session, [last.id]))[last.id]
            if was and was[0].choice == choice.value and was[0].actor_id != principal.user_id:
                # the second entry of a slip the household's later online ballot superseded
                raise Conflict("ballot.slip_superseded", "该户已在线投票，此纸质选票不再计入",
                               "The household voted online after this slip was handed in: the slip does not count",
                               slip_id=last.id, ballot_id=last.ballot_id)
    if key:
        await _check_proxy_cap(session, m, household_id=household_id, key=key, cap=cap)
    if slip is None:
        slip = PaperSlip(motion_id=m.id, household_id=household_id, open_household=household_id,
                         status=SlipStatus.PENDING.value, created_at=now)
        await repo.add_slip(session, slip)
    entry_id = new_id()
    entry = PaperEntry(
        id=entry_id, slip_id=slip.id, motion_id=m.id, household_id=household_id, position=2 if first else 1,
        actor_id=principal.user_id, choice=choice.value, entered_at=now, photo_sha256=photo.sha256,
        photo_media_id=await _attach(session, stored=photo, owner_type=PAPER_ENTRY, owner_id=entry_id, m=m,
                                     principal=principal, now=now))
    if proxy is not None and key:
        entry.proxy_name, entry.proxy_relation, entry.proxy_key = proxy.name, proxy.relation, key
        entry.proxy_photo_sha256 = proxy.photo.sha256
        entry.proxy_media_id = await _attach(session, stored=proxy.photo, owner_type=PAPER_PROXY, owner_id=entry_id,
                                             m=m, principal=principal, now=now)
    await repo.add_entry(session, entry)
    await audit.append(session, chain=m.community_id, action="paper_slip.entered", entity_type="paper_slip",
                       entity_id=slip.id, actor_id=principal.user_id, at=now,
                       data={"motion_id": m.id, "household_id": household_id, "entry_id": entry.id,
                             "position": entry.position, "photo_sha256": entry.photo_sha256,
                             "proxy_name": entry.proxy_name, "proxy_relation": entry.proxy_relation,
                             "proxy_photo_sha256": entry.proxy_photo_sha256,
                             "choice_digest": keyed_hash(settings.secret_key, f"{entry.id}|{choice.value}",
                                                         purpose="choice")})
    answer = PaperBallotEntered(status="pending", slip_id=slip.id, entry_id=entry.id, household_id=household_id,
                                choice=choice, entered_at=now, proxy_name=entry.proxy_name,
                                proxy_relation=entry.proxy_relation)
    if first is None:
        return answer
    if first.choice != choice.value or (first.proxy_key or None) != (entry.proxy_key or None):
        differs = [f for f, a, b in (("choice", first.choice, choice.value),
                                     ("proxy", first.proxy_key or None, entry.proxy_key or None)) if a != b]
        slip.status = SlipStatus.CONFLICT.value
        await repo.save_slip(session, slip)
        await audit.append(session, chain=m.community_id, action="paper_slip.conflict", entity_type="paper_slip",
                           entity_id=slip.id, actor_id=principal.user_id, at=now,
                           data={"motion_id": m.id, "household_id": household_id, "differs": differs,
                                 "entries": [first.id, entry.id]})
        return answer.model_copy(update={"status": "conflict"})
    r = await _count_slip(session, settings=settings, m=m, slip=slip, choice=choice, entries=[first, entry],
                          proxy_entry=first if first.proxy_key else None, checked_by=principal.user_id, now=now)
    await audit.append(session, chain=m.community_id, action="paper_slip.counted", entity_type="paper_slip",
                       entity_id=slip.id, actor_id=principal.user_id, at=now,
                       data={"motion_id": m.id, "household_id": household_id, "ballot_id": r.ballot_id,
                             "entered_by": [first.actor_id, entry.actor_id]})
    return answer.model_copy(update={"status": "counted", "receipt": r.receipt, "ballot_id": r.ballot_id,
                                     "cast_at": r.cast_at, "version": r.version})


async def _count_slip(session: AsyncSession, *, settings: Settings, m: Motion, slip: PaperSlip, choice: Choice,
                      entries: list[PaperEntry], proxy_entry: PaperEntry | None, checked_by: str,
                      now: datetime) -> Any:
    """Count a settled slip: its ballot (entered by the first clerk, checked by ``checked_by``), with the photo
    of the entry that shows the counted choice (the first one when both do)."""
    shown = next((e for e in entries if e.choice == choice.value), entries[0])
    proxy = None
    if proxy_entry is not None and proxy_entry.proxy_key:
        assert proxy_entry.proxy_name and proxy_entry.proxy_relation and proxy_entry.proxy_photo_sha256
        assert proxy_entry.proxy_media_id
        proxy = repo.ProxyFields(proxy_entry.proxy_name, proxy_entry.proxy_relation, proxy_entry.proxy_key,
                                 proxy_entry.proxy_photo_sha256, proxy_entry.proxy_media_id)
    r = await _record(session, settings, m, household_id=slip.household_id, choice=choice, channel=Channel.PAPER,
                      actor_id=entries[0].actor_id, now=now, photo_sha256=shown.photo_sha256,
                      photo_media_id=shown.photo_media_id, checked_by=checked_by, proxy=proxy,
                      settling_slip=slip.id)
    slip.status, slip.open_household = SlipStatus.COUNTED.value, None
    slip.settled_at, slip.settled_by, slip.ballot_id = now, checked_by, r.ballot_id
    await repo.save_slip(session, slip)
    return r


async def resolve_slip(session: AsyncSession, *, settings: Settings, principal: Principal, motion_id: str,
                       slip_id: str, body: PaperResolveIn, now: datetime) -> PaperSlipPublic:
    """Staff resolve a conflict from the slip photo: the resolver's choice counts (audited, with the reason)."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot",
                            lock=True)
    slip = await repo.get_slip(session, m.id, slip_id) if slip_id and len(slip_id) <= 32 else None
    if slip is None:
        raise NotFound("paper_slip.not_found", "纸质选票记录不存在", "Paper slip not found")
    if slip.status != SlipStatus.CONFLICT:
        raise Conflict("paper_slip.not_in_conflict", "该选票不在冲突状态", "This slip is not in conflict",
                       slip_status=slip.status)
    st = status_of(m=m, now=now)
    if st != MotionStatus.OPEN:
        raise window_closed(st)
    entries = (await repo.slip_entries(session, [slip.id]))[slip.id]
    if body.proxy_from == "none":
        proxy_entry = None
    elif body.proxy_from in ("first", "second"):
        proxy_entry = entries[0 if body.proxy_from == "first" else 1]
    else:
        proxy_entry = next((e for e in entries if e.proxy_key), None)
    r = await _count_slip(session, settings=settings, m=m, slip=slip, choice=body.choice, entries=entries,
                          proxy_entry=proxy_entry, checked_by=principal.user_id, now=now)
    slip.resolved_choice, slip.reason = body.choice.value, body.reason
    await repo.save_slip(session, slip)
    await audit.append(session, chain=m.community_id, action="paper_slip.resolved", entity_type="paper_slip",
                       entity_id=slip.id, actor_id=principal.user_id, at=now,
                       data={"motion_id": m.id, "household_id": slip.household_id, "ballot_id": r.ballot_id,
                             "reason": body.reason, "entered_by": [e.actor_id for e in entries],
                             "proxy_from": body.proxy_from,
                             "choice_digest": keyed_hash(settings.secret_key, f"{r.ballot_id}|{body.choice.value}",
                                                         purpose="choice")})
    hh = await repo.register_household(session, slip.household_id)
    see = (await rule_state(session, m=m, now=now)).staff_see_choices
    assert hh is not None
    return _slip_public(m, slip, hh[1], hh[2], hh[0].room, entries, see).model_copy(update={"receipt": r.receipt})


# ---- what staff see ---------------------------------------------------------------------------------------

def _entry_public(m: Motion, e: PaperEntry, see: bool) -> PaperEntryPublic:
    base = f"{API}/motions/{m.id}/paper-entries/{e.id}"
    return PaperEntryPublic(entry_id=e.id, position=e.position, actor_id=e.actor_id, entered_at=e.entered_at,
                            choice=Choice(e.choice) if see else None, photo_url=f"{base}/photo",
                            proxy_name=e.proxy_name, proxy_relation=e.proxy_relation,
                            authorisation_url=f"{base}/authorisation" if e.proxy_media_id else None)


def _slip_public(m: Motion, s: PaperSlip, building: str, unit: str, room: str, entries: list[PaperEntry],
                 see: bool) -> PaperSlipPublic:
    return PaperSlipPublic(slip_id=s.id, household_id=s.household_id, building=building, unit=unit, room=room,
                           status=s.status, created_at=s.created_at, settled_at=s.settled_at,  # type: ignore[arg-type]
                           settled_by=s.settled_by, ballot_id=s.ballot_id, reason=s.reason,
                           entries=[_entry_public(m, e, see) for e in entries])


async def list_slips(session: AsyncSession, *, principal: Principal, motion_id: str, status: SlipStatus | None,
                     page: PageParams, now: datetime) -> Page[PaperSlipPublic]:
    """Staff: the motion's double-entered slips (``?status=``), with each clerk's entry; entered choices only
    where the rules profile lets staff see choices."""
    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    see = (await rule_state(session, m=m, now=now)).staff_see_choices
    rows = await repo.slips_page(session, m, status=status.value if status else None, after=page.after,
                                 limit=page.limit)
    shown = rows[:page.limit]
    entries = await repo.slip_entries(session, [s.id for s, *_ in shown])
    items = [_slip_public(m, s, b, u, r, entries[s.id], see) for s, b, u, r in shown]
    nxt = encode_cursor(shown[-1][0].id) if len(rows) > page.limit and shown else None
    return Page(items=items, next_cursor=nxt)


def _photo_not_found() -> NotFound:
    return NotFound("photo.not_found", "照片不存在", "Photo not found")


async def entry_file(session: AsyncSession, *, principal: Principal, motion_id: str, entry_id: str,
                     authorisation: bool) -> Any:
    """The media row of a paper entry's slip photo, or of its proxy's authorisation (staff only)."""
    from app.media import service as media_service

    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    e = await repo.get_entry(session, m.id, entry_id) if entry_id and len(entry_id) <= 32 else None
    media_id = (e.proxy_media_id if authorisation else e.photo_media_id) if e is not None else None
    media = await media_service.media_or_none(session, media_id=media_id) if media_id else None
    if media is None:
        raise _photo_not_found()
    return media


async def ballot_authorisation(session: AsyncSession, *, principal: Principal, motion_id: str, ballot_id: str) -> Any:
    """The media row of the signed authorisation of a ballot a proxy cast (staff only)."""
    from app.media import service as media_service

    m, _ = await motion_for(session, principal=principal, motion_id=motion_id, permission="motion.paper_ballot")
    b = await repo.get_ballot(session, m.id, ballot_id) if ballot_id and len(ballot_id) <= 32 else None
    media = await media_service.media_or_none(session, media_id=b.proxy_media_id) if b and b.proxy_media_id else None
    if media is None:
        raise _photo_not_found()
    return media
