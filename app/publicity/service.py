"""Publicity notices (公示), their working-day windows, and objections (异议).

Status is derived on every read from the clock and the objections, never stored or set by a job:

* ``failed``     an objection was accepted (even mid-window): the matter is revised and published again;
* ``scheduled``  before ``opens_at`` (the start date 00:00 Shanghai, or the publication time if later);
* ``open``       from ``opens_at`` to ``closes_at`` (24:00 of the end date); and ALSO after ``closes_at``
                 while some objection is still unanswered — then ``window_ended`` is true: the notice
                 cannot pass before every objection is answered, yet no new objection is taken;
* ``passed``     the window has ended and no objection is pending or accepted.

The window's working days are counted by the rules engine (official calendar with 调休); a partial day
never counts (Civil Code art. 201): a notice published during its start date starts counting the next
day (``counting_starts``, ``partial_day_excluded``), although residents may read it and object at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.policy import Principal, Scope, authorize, is_manager
from app.core import audit
from app.core.config import Settings
from app.core.content import (
    SKIPPED,
    VISIBLE_TEXT,
    AlreadyDecided,
    ContentScreen,
    Scene,
    content_notice,
    moderation_move,
)
from app.core.db import new_id
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.pagination import Page, PageParams, parse_time_cursor, time_cursor
from app.core.routing import API_PREFIX as API
from app.funding import service as funding_service
from app.media import service as media_service
from app.media.schemas import ModerationResult
from app.projects import service as projects_service
from app.projects.gates import GateState
from app.projects.models import Project
from app.publicity import repository as repo
from app.publicity.models import Notice, NoticeKind, NoticeStatus, Objection, ObjectionStatus
from app.publicity.posters import PARTICIPANTS_HEADER, Poster, notice_link
from app.publicity.repository import NoticeRow
from app.publicity.schemas import (
    Attachment,
    CalendarWindow,
    NoticeCreate,
    NoticePublic,
    ObjectionCounts,
    ObjectionCreate,
    ObjectionPublic,
    ResolutionRequest,
)
from app.register import service as register_service
from app.rules import (
    SHANGHAI,
    PublicityWindow,
    Window,
    business_date,
    is_partial_day,
    is_working_day,
    publicity_window,
    rule_words,
    working_days_between,
    working_days_left,
)
from app.supervision import service as supervision_service
from app.voting.contracts import (
    ClosedMotion,
    ConditionLine,
    FrozenRoll,
    ParticipantRow,
    ResultCorrectionNote,
    ResultNotice,
    ResultObjection,
)

MAX_DAYS_AHEAD = 731  # a start date more than two years ahead is a typo
NOTICE_ATTACHMENT = "notice_attachment"  # app.media owner types
OBJECTION_PHOTO = "objection"
MAX_ATTACHMENTS = 20
MAX_OBJECTION_PHOTOS = 9

STATUS_ZH = {NoticeStatus.SCHEDULED: "未开始", NoticeStatus.OPEN: "公示中", NoticeStatus.PASSED: "已通过",
             NoticeStatus.FAILED: "未通过"}
KIND_ZH = {NoticeKind.PLAN: "改造方案", NoticeKind.VOTE_RESULT: "表决结果", NoticeKind.VOTE_NOTICE: "投票公告",
           NoticeKind.FUNDING: "资金预算",
           NoticeKind.SUPERVISOR_ROSTER: "监督员名单", NoticeKind.ACCEPTANCE: "竣工验收", NoticeKind.OTHER: "其他"}


# ---- calendar (the rules engine) ------------------------------------------------------------------

def day_start(*, d: date) -> datetime:
    """00:00 Asia/Shanghai of a business date, as an aware UTC datetime."""
    return datetime.combine(d, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def next_working_day_after(*, d: date) -> date:
    nxt = d + timedelta(days=1)
    for _ in range(60):
        if is_working_day(nxt).working:
            return nxt
        nxt += timedelta(days=1)
    return nxt


def days_left(*, notice: Notice | NoticeRow, now: datetime) -> int:
    """Working days of the window still to come, today included if it is one (0 once the window ended)."""
    w = Window(start_date=notice.counting_starts, end_date=notice.end_date, closes_at=notice.closes_at,
               working_days=notice.working_days, provisional=notice.provisional)
    return int(working_days_left(w, now))


def notice_window(*, start_date: date, working_days: int, now: datetime) -> PublicityWindow:
    """The window of a notice published at ``now`` to start on ``start_date``: the preview and notice
    creation both call this, so they agree (a start date of today, published after 00:00, is a partial day)."""
    return publicity_window(start_date, working_days, partial_day=is_partial_day(start_date, now))


def calendar_window(*, start_date: date, working_days: int, now: datetime) -> CalendarWindow:
    """What a notice published now to start on ``start_date`` would get (years the official calendar does not
    cover are counted Mon–Fri and marked provisional)."""
    try:
        w = notice_window(start_date=start_date, working_days=working_days, now=now)
    except (OverflowError, ValueError) as exc:
        raise Invalid("calendar.date_out_of_range", "日期超出可计算范围", "Date out of range",
                      errors=[{"loc": ["query", "start_date"], "msg": "out of range"}]) from exc
    return CalendarWindow(start_date=w.start_date, counting_starts=w.counting_starts,
                          partial_day_excluded=w.partial_day_excluded, end_date=w.end_date, closes_at=w.closes_at,
                          working_days=w.working_days, provisional=w.provisional)


# ---- status --------------------------------------------------------------------------------------

def status_of(*, notice: Notice | NoticeRow, counts: dict[str, int], now: datetime) -> tuple[NoticeStatus, bool]:
    """(status, window_ended) at ``now``; the SQL filter in repository.status_clause mirrors this."""
    ended = now >= notice.closes_at
    if counts.get(ObjectionStatus.ACCEPTED, 0) > 0:
        return NoticeStatus.FAILED, ended
    if now < notice.opens_at:
        return NoticeStatus.SCHEDULED, False
    if not ended or counts.get(ObjectionStatus.PENDING, 0) > 0:
        return NoticeStatus.OPEN, ended
    return NoticeStatus.PASSED, True


def _counts(c: dict[str, int]) -> ObjectionCounts:
    p, a, r = c.get("pending", 0), c.get("accepted", 0), c.get("rejected", 0)
    return ObjectionCounts(total=p + a + r, pending=p, accepted=a, rejected=r)


def _attachment(m: Any, url: str) -> Attachment:
    return Attachment(id=m.id, filename=m.filename, mime=m.mime, size_bytes=m.size_bytes, width=m.width,
                      height=m.height, url=url, thumbnail_url=f"{url}?thumbnail=true" if m.thumb_sha256 else None)


def _public(n: Notice | NoticeRow, counts: dict[str, int], now: datetime, media: Sequence[Any] = (),
            superseded_by: str | None = None) -> NoticePublic:
    status, ended = status_of(notice=n, counts=counts, now=now)
    return NoticePublic(
        id=n.id, project_id=n.project_id, community_id=n.community_id, kind=n.kind, title=n.title, body=n.body,
        status=status.value, status_zh=STATUS_ZH[status], kind_zh=KIND_ZH.get(NoticeKind(n.kind), n.kind),
        window_ended=ended, start_date=n.start_date, counting_starts=n.counting_starts,
        partial_day_excluded=n.partial_day_excluded, end_date=n.end_date, opens_at=n.opens_at,
        closes_at=n.closes_at, working_days=n.working_days, provisional=n.provisional,
        days_left=0 if status in (NoticeStatus.FAILED, NoticeStatus.PASSED) else days_left(notice=n, now=now),
        objections=_counts(counts), plan_id=n.plan_id, motion_id=n.motion_id, created_at=n.created_at,
        created_by=n.created_by,
        attachments=[_attachment(m, f"{API}/notices/{n.id}/attachments/{m.id}") for m in media],
        revision=n.revision, superseded_by=superseded_by,
    )


async def _superseded(session: AsyncSession, notices: Sequence[Notice | NoticeRow]) -> dict[str, str]:
    """Vote-result notice id -> the notice of its result's next revision, for those a correction republished."""
    motions = sorted({n.motion_id for n in notices if n.kind == NoticeKind.VOTE_RESULT and n.motion_id})
    by_revision = {(r.motion_id, r.revision): r.id for r in await repo.result_notices(session, motions)}
    return {n.id: by_revision[(n.motion_id, n.revision + 1)] for n in notices
            if n.kind == NoticeKind.VOTE_RESULT and (n.motion_id, n.revision + 1) in by_revision}


async def _publics(session: AsyncSession, notices: Sequence[Notice | NoticeRow], now: datetime, *,
                   counts: dict[str, dict[str, int]] | None = None,
                   with_media: set[str] | None = None) -> list[NoticePublic]:
    """The notices' public shapes. ``counts`` (objections by status) and ``with_media`` (the notices that have
    attachments), when the caller read them with the notices — the community list does, in the same
    statement — save a query each, and the attachments are read only for the notices that have some."""
    ids = [n.id for n in notices]
    if counts is None:
        counts = await repo.objection_counts(session, ids)
    media_ids = ids if with_media is None else [i for i in ids if i in with_media]
    media = await repo.media_of(session, owner_type=NOTICE_ATTACHMENT, owner_ids=media_ids) if media_ids else {}
    superseded = await _superseded(session, notices)
    return [_public(n, counts[n.id], now, media.get(n.id, ()), superseded.get(n.id)) for n in notices]


async def notice_or_404(session: AsyncSession, *, notice_id: str) -> Notice:
    n = await repo.get_notice(session, notice_id)
    if n is None:
        raise NotFound("notice.not_found", "公示不存在", "Notice not found")
    return n


def notice_scope(*, n: Notice) -> Scope:
    return Scope(jurisdiction_id=n.jurisdiction_id, community_id=n.community_id, project_id=n.project_id)


async def _view_scope(session: AsyncSession, principal: Principal, n: Notice) -> Scope:
    return await projects_service.member_scope(session, principal=principal, jurisdiction_id=n.jurisdiction_id,
                                               community_id=n.community_id, project_id=n.project_id)


# ---- notices -------------------------------------------------------------------------------------

async def publish_notice(
    session: AsyncSession, *, project: Project, kind: NoticeKind, title: str, body: str, start_date: date,
    now: datetime, actor_id: str | None, working_days: int | None = None, plan_id: str | None = None,
) -> Notice:
    """Create a notice after checking its start date and window length against the profile.

    For other domains too (e.g. a supervisor roster or an acceptance notice published by supervision).
    """
    _, profile = await register_service.profile_of(session, jurisdiction_id=project.jurisdiction_id)
    today = business_date(now)
    if start_date < today:
        raise Invalid("notice.start_in_past", f"公示开始日期不能早于今天（{today.isoformat()}）",
                      f"The start date is before today ({today.isoformat()}, Asia/Shanghai)",
                      errors=[{"loc": ["body", "start_date"], "msg": "before today (Asia/Shanghai)"}])
    if start_date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise Invalid("notice.start_too_far", "公示开始日期过远（不超过两年）", "The start date is more than two years ahead",
                      errors=[{"loc": ["body", "start_date"], "msg": "more than two years ahead"}])
    minimum = profile.publicity_working_days
    wd = minimum if working_days is None else working_days
    if wd < minimum:
        raise Invalid("notice.window_too_short", f"公示期不得少于 {minimum} 个工作日",
                      f"The window must be at least {minimum} working days",
                      errors=[{"loc": ["body", "working_days"], "msg": f"at least {minimum}"}], minimum=minimum)
    w = notice_window(start_date=start_date, working_days=wd, now=now)
    n = Notice(
        jurisdiction_id=project.jurisdiction_id, community_id=project.community_id, project_id=project.id,
        kind=kind.value, title=title, body=body, start_date=start_date, counting_starts=w.counting_starts,
        end_date=w.end_date, working_days=w.working_days, provisional=w.provisional,
        partial_day_excluded=w.partial_day_excluded, opens_at=max(day_start(d=start_date), now),
        closes_at=w.closes_at, plan_id=plan_id, created_at=now, created_by=actor_id,
    )
    await repo.add_notice(session, n)
    await audit.append(session, chain=project.community_id, action="notice.published", entity_type="notice",
                       entity_id=n.id, actor_id=actor_id, at=now,
                       data={"project_id": project.id, "kind": n.kind, "title": n.title,
                             "start_date": n.start_date.isoformat(), "counting_starts": n.counting_starts.isoformat(),
                             "end_date": n.end_date.isoformat(), "working_days": n.working_days,
                             "provisional": n.provisional})
    return n


async def _roster_body(session: AsyncSession, project_id: str) -> str:
    return await supervision_service.roster_text(session, project_id=project_id)


async def create_notice(session: AsyncSession, *, principal: Principal, project_id: str, body: NoticeCreate,
                        now: datetime) -> NoticePublic:
    project = await projects_service.project_or_404(session, project_id=project_id)
    authorize(principal, "notice.manage", projects_service.project_scope(project=project))
    text = (body.body or "").strip()
    plan_id = body.plan_id
    if not text and body.kind == NoticeKind.SUPERVISOR_ROSTER:
        text = (await _roster_body(session, project.id) or "").strip()
    if not text and body.kind == NoticeKind.FUNDING:  # generated from the current plan's ledger
        from app.publicity.funding import funding_notice_body

        disclosed = await funding_service.disclosure(session, project_id=project.id, plan_id=body.plan_id)
        text, plan_id = funding_notice_body(disclosed), disclosed.plan_id
    if not text:
        raise Invalid("notice.body_required", "公示内容不能为空", "The notice needs a body",
                      errors=[{"loc": ["body", "body"], "msg": "required"}])
    n = await publish_notice(session, project=project, kind=body.kind, title=body.title, body=text,
                             start_date=body.start_date, now=now, actor_id=principal.user_id,
                             working_days=body.working_days, plan_id=plan_id)
    if body.attachments:
        await _link_attachments(session, notice=n, media_ids=[a.media_id for a in body.attachments],
                                actor_id=principal.user_id, now=now)
    return (await _publics(session, [n], now))[0]


async def _link_attachments(session: AsyncSession, *, notice: Notice, media_ids: list[str], actor_id: str,
                            now: datetime) -> None:
    """Publish again attachments of an earlier notice of the same project (same stored bytes)."""
    from app.media.images import StoredDocument
    from app.media.service import attach, media_or_none

    for pos, mid in enumerate(media_ids):
        m = await media_or_none(session, media_id=mid)
        if m is None or m.owner_type != NOTICE_ATTACHMENT or m.project_id != notice.project_id:
            raise Invalid("notice.attachment_not_found", "附件不存在或不属于本项目的公示",
                          "No such attachment among this project's notices",
                          errors=[{"loc": ["body", "attachments", pos, "media_id"], "msg": "not found"}])
        stored = StoredDocument(sha256=m.sha256, mime=m.mime, size_bytes=m.size_bytes, filename=m.filename,
                                thumb_sha256=m.thumb_sha256, width=m.width, height=m.height)
        await attach(session, stored=stored, owner_type=NOTICE_ATTACHMENT, owner_id=notice.id,
                     community_id=notice.community_id, project_id=notice.project_id, uploaded_by=actor_id, now=now,
                     position=pos)


async def check_attachments(session: AsyncSession, *, principal: Principal, notice_id: str, count: int,
                            now: datetime) -> tuple[Notice, int]:
    """Staff may attach ``count`` more files to the notice now: (the notice, how many it has). Run before the
    files are processed and again before they are recorded."""
    n = await notice_or_404(session, notice_id=notice_id)
    authorize(principal, "notice.manage", notice_scope(n=n))
    counts = (await repo.objection_counts(session, [n.id]))[n.id]
    status, ended = status_of(notice=n, counts=counts, now=now)
    if ended or status == NoticeStatus.FAILED:
        raise Conflict("notice.closed", "公示已结束，不能再添加附件", "The notice is over; no more attachments")
    existing = len((await repo.media_of(session, owner_type=NOTICE_ATTACHMENT, owner_ids=[n.id]))[n.id])
    if not count:
        raise Invalid("notice.no_files", "请上传至少一个附件", "Upload at least one file",
                      errors=[{"loc": ["body", "files"], "msg": "no files"}])
    if existing + count > MAX_ATTACHMENTS:
        raise Invalid("notice.too_many_attachments", f"每条公示最多 {MAX_ATTACHMENTS} 个附件",
                      f"At most {MAX_ATTACHMENTS} attachments per notice",
                      errors=[{"loc": ["body", "files"], "msg": f"at most {MAX_ATTACHMENTS} in all"}])
    return n, existing


async def add_attachments(session: AsyncSession, *, principal: Principal, notice_id: str, files: Sequence[Any],
                          now: datetime) -> NoticePublic:
    """Staff attach PDFs or images already checked and cleaned by app.media (``staged_documents``) until
    the window ends; :func:`check_attachments` runs again first (the notice may have ended meanwhile)."""
    from app.media.service import attach

    n, existing = await check_attachments(session, principal=principal, notice_id=notice_id, count=len(files),
                                          now=now)
    added = []
    for i, stored in enumerate(files):
        m = await attach(session, stored=stored, owner_type=NOTICE_ATTACHMENT, owner_id=n.id,
                         community_id=n.community_id, project_id=n.project_id, uploaded_by=principal.user_id,
                         now=now, position=existing + i)
        added.append({"media_id": m.id, "sha256": m.sha256, "mime": m.mime, "size_bytes": m.size_bytes})
    await audit.append(session, chain=n.community_id, action="notice.attachments_added", entity_type="notice",
                       entity_id=n.id, actor_id=principal.user_id, at=now, data={"files": added})
    return (await _publics(session, [n], now))[0]


async def notice_attachment(session: AsyncSession, *, principal: Principal, notice_id: str,
                            media_id: str) -> Any:
    """The media row of one attachment, for whoever may see the notice (404 otherwise)."""
    n = await notice_or_404(session, notice_id=notice_id)
    authorize(principal, "notice.view", await _view_scope(session, principal, n))
    for m in (await repo.media_of(session, owner_type=NOTICE_ATTACHMENT, owner_ids=[n.id]))[n.id]:
        if m.id == media_id:
            return m
    raise NotFound("notice.attachment_not_found", "附件不存在", "Attachment not found")


async def notice_poster(session: AsyncSession, *, settings: Settings, principal: Principal,
                        notice_id: str) -> Poster:
    """What the printed poster of a notice carries (staff of its community: ``notice.manage``)."""
    n = await notice_or_404(session, notice_id=notice_id)
    authorize(principal, "notice.manage", notice_scope(n=n))
    community = await register_service.community_or_404(session, community_id=n.community_id)
    return Poster(notice_id=n.id, community=community.name, kind=n.kind,
                  kind_zh=KIND_ZH.get(NoticeKind(n.kind), n.kind),
                  title=n.title, body=n.body, start_date=n.start_date, counting_starts=n.counting_starts,
                  partial_day_excluded=n.partial_day_excluded, end_date=n.end_date, closes_at=n.closes_at,
                  working_days=n.working_days, provisional=n.provisional,
                  link=notice_link(path=settings.miniprogram_notice_path, notice_id=n.id))


async def get_notice(session: AsyncSession, *, principal: Principal, notice_id: str, now: datetime) -> NoticePublic:
    n = await notice_or_404(session, notice_id=notice_id)
    authorize(principal, "notice.view", await _view_scope(session, principal, n))
    return (await _publics(session, [n], now))[0]


async def list_community_notices(session: AsyncSession, *, principal: Principal, community_id: str,
                                 page: PageParams, status: NoticeStatus | None, now: datetime) -> Page[NoticePublic]:
    """Newest first; what residents, staff (also on a lobby tablet) and the community's supervisors see."""
    community = await register_service.community_scope(session, community_id=community_id)  # 404 if none
    scope = await projects_service.member_scope(session, principal=principal, jurisdiction_id=community.jurisdiction_id,
                                                community_id=community_id)
    authorize(principal, "notice.view", scope)
    listed = await repo.community_notices_page(session, community_id, after=parse_time_cursor(page.after),
                                               limit=page.limit, status=status, now=now,
                                               media_owner_type=NOTICE_ATTACHMENT)
    shown = listed[:page.limit]
    rows = [n for n, _, _ in listed]
    items = await _publics(session, rows[:page.limit], now, counts={n.id: c for n, c, _ in shown},
                           with_media={n.id for n, _, has in shown if has})
    last = rows[page.limit - 1] if len(rows) > page.limit else None
    return Page(items=items, next_cursor=time_cursor(last.created_at, last.id) if last else None)


# ---- objections ----------------------------------------------------------------------------------

def _photo(m: Any, o: Objection, *, viewer: Principal, manager: bool) -> Attachment:
    a = _attachment(m, f"{API}/objections/{o.id}/photos/{m.id}")
    if manager or m.uploaded_by == viewer.user_id:
        a.check_status = m.check_status
    return a


def _objection_public(o: Objection, *, viewer: Principal, manager: bool, name: str | None,
                      room: str | None, photos: Sequence[Any] = (), unavailable: bool = False) -> ObjectionPublic:
    mine = o.filed_by == viewer.user_id
    who = manager or mine
    resolved = o.status != ObjectionStatus.PENDING
    shown = [m for m in photos if media_service.photo_shown(m=m, viewer_id=viewer.user_id, staff=manager)]
    return ObjectionPublic(
        content_check=o.content_check if who else None,
        content_notice=content_notice(o.content_check, unavailable=unavailable) if mine else None,
        id=o.id, notice_id=o.notice_id, text=o.text, status=o.status, filed_at=o.filed_at, mine=mine,
        filed_by=o.filed_by if who else None, filed_by_name=name if who else None,
        household_id=o.household_id if who else None, room=room if who else None,
        decision=o.status if resolved else None, reason=o.resolution_reason if resolved else None,
        resolved_at=o.resolved_at,
        photos=[_photo(m, o, viewer=viewer, manager=manager) for m in shown],
    )


async def file_objection(session: AsyncSession, *, principal: Principal, notice_id: str, body: ObjectionCreate,
                         now: datetime, screen: ContentScreen | None = None) -> ObjectionPublic:
    """File an objection; a WeChat user's text is checked by WeChat first (``screen``): 422
    ``content.rejected`` for risky text (nothing stored), held for review (shown to the filer and staff
    only) for review or when WeChat cannot answer."""
    n = await notice_or_404(session, notice_id=notice_id)
    authorize(principal, "objection.file", notice_scope(n=n))
    counts = (await repo.objection_counts(session, [n.id]))[n.id]
    status, ended = status_of(notice=n, counts=counts, now=now)
    if status == NoticeStatus.FAILED:
        raise Conflict("objection.notice_failed", "该公示已因异议被采纳而终止，请关注重新发布的公示",
                       "This notice already failed (an objection was accepted)")
    if status == NoticeStatus.SCHEDULED:
        raise Conflict("objection.window_not_open", f"公示尚未开始（{n.start_date.isoformat()} 起）",
                       "The publicity window has not opened yet", opens_at=n.opens_at.isoformat())
    if ended:
        raise Conflict("objection.window_closed", f"公示期已于 {n.end_date.isoformat()} 24:00 结束，不能再提出异议",
                       "The publicity window has closed", closes_at=n.closes_at.isoformat())
    later = (await _superseded(session, [n])).get(n.id)
    if later is not None:
        raise Conflict("objection.notice_superseded", "该表决结果已更正并重新公示，请对更正后的公示提出异议",
                       "The result was corrected and published again: object to the new notice",
                       superseded_by=later)
    mine = principal.households_in(n.community_id)
    household_id = body.household_id
    if household_id is not None:
        if household_id not in {h.household_id for h in mine}:
            raise NotFound("household.not_found", "该房屋不属于您", "Not one of your households")
    elif len(mine) == 1:
        household_id = mine[0].household_id
    screening = SKIPPED
    if screen is not None:
        openid = await auth_service.wechat_openid(session, user_id=principal.user_id)
        screening = await screen.text(openid=openid, text=body.text, scene=Scene.COMMENT)
    o = Objection(notice_id=n.id, community_id=n.community_id, household_id=household_id,
                  filed_by=principal.user_id, text=body.text, filed_at=now, content_check=screening.status.value)
    await repo.add_objection(session, o)
    await audit.append(session, chain=n.community_id, action="objection.filed", entity_type="objection",
                       entity_id=o.id, actor_id=principal.user_id, at=now,
                       data={"notice_id": n.id, "household_id": household_id, "text": o.text} | screening.audit())
    return await _one_objection(session, o, viewer=principal, manager=False, unavailable=screening.unavailable)


async def list_objections(session: AsyncSession, *, principal: Principal, notice_id: str,
                          page: PageParams) -> Page[ObjectionPublic]:
    """Staff see every objection; residents the resolved ones (with resolutions) and their own."""
    n = await notice_or_404(session, notice_id=notice_id)
    roles = authorize(principal, "notice.view", await _view_scope(session, principal, n))
    manager = is_manager(roles)
    rows = await repo.objections_page(session, n.id, after=parse_time_cursor(page.after),
                                      limit=page.limit, visible_to=None if manager else principal.user_id)
    rows_shown = rows[:page.limit]
    photos = await repo.media_of(session, owner_type=OBJECTION_PHOTO, owner_ids=[o.id for o, _, _ in rows_shown])
    items = [_objection_public(o, viewer=principal, manager=manager, name=name, room=room, photos=photos[o.id])
             for o, name, room in rows_shown]
    last = rows[page.limit - 1][0] if len(rows) > page.limit else None
    return Page(items=items, next_cursor=time_cursor(last.filed_at, last.id) if last else None)


async def resolve_objection(session: AsyncSession, *, principal: Principal, objection_id: str,
                            body: ResolutionRequest, now: datetime) -> ObjectionPublic:
    o = await repo.get_objection(session, objection_id)
    if o is None:
        raise NotFound("objection.not_found", "异议不存在", "Objection not found")
    n = await notice_or_404(session, notice_id=o.notice_id)
    authorize(principal, "objection.resolve", notice_scope(n=n))
    if not await repo.resolve_objection(session, objection_id=o.id, status=body.decision, reason=body.reason,
                                        by=principal.user_id, at=now):
        current = await repo.get_objection(session, o.id, fresh=True)
        raise Conflict("objection.already_resolved", "该异议已答复，不能重复处理", "This objection was already resolved",
                       decision=current.status if current else None)
    await audit.append(session, chain=n.community_id, action="objection.resolved", entity_type="objection",
                       entity_id=o.id, actor_id=principal.user_id, at=now,
                       data={"notice_id": n.id, "decision": body.decision, "reason": body.reason})
    if body.decision == ObjectionStatus.ACCEPTED:
        await audit.append(session, chain=n.community_id, action="notice.failed", entity_type="notice",
                           entity_id=n.id, actor_id=principal.user_id, at=now,
                           data={"objection_id": o.id, "kind": n.kind})
    fresh = await repo.get_objection(session, o.id, fresh=True)
    assert fresh is not None
    return await _one_objection(session, fresh, viewer=principal, manager=True)


async def _one_objection(session: AsyncSession, o: Objection, *, viewer: Principal, manager: bool,
                         unavailable: bool = False) -> ObjectionPublic:
    rooms = await repo.households_rooms(session, [o.household_id] if o.household_id else [])
    photos = await repo.media_of(session, owner_type=OBJECTION_PHOTO, owner_ids=[o.id])
    name = await repo.user_name(session, o.filed_by) if manager or o.filed_by == viewer.user_id else None
    return _objection_public(o, viewer=viewer, manager=manager, name=name,
                             room=rooms.get(o.household_id) if o.household_id else None, photos=photos[o.id],
                             unavailable=unavailable)


async def check_objection_photos(session: AsyncSession, *, principal: Principal, objection_id: str, count: int,
                                 now: datetime) -> tuple[Objection, Notice, int]:
    """The filer may add ``count`` photos (1–9 in all) while the notice is open and the objection unanswered:
    (the objection, its notice, how many photos it has). Run before the photos are processed and again
    before they are recorded."""
    o = await repo.get_objection(session, objection_id)
    if o is None:
        raise NotFound("objection.not_found", "异议不存在", "Objection not found")
    n = await notice_or_404(session, notice_id=o.notice_id)
    authorize(principal, "objection.file", notice_scope(n=n))
    if o.filed_by != principal.user_id:
        raise Forbidden("objection.not_yours", "只能为自己提出的异议添加照片", "Only the filer may add photos")
    if o.status != ObjectionStatus.PENDING:
        raise Conflict("objection.already_resolved", "该异议已答复，不能再添加照片", "This objection was already resolved")
    counts = (await repo.objection_counts(session, [n.id]))[n.id]
    status, ended = status_of(notice=n, counts=counts, now=now)
    if ended or status == NoticeStatus.FAILED:
        raise Conflict("objection.window_closed", "公示期已结束，不能再添加照片", "The publicity window has closed",
                       closes_at=n.closes_at.isoformat())
    existing = len((await repo.media_of(session, owner_type=OBJECTION_PHOTO, owner_ids=[o.id]))[o.id])
    if not count or existing + count > MAX_OBJECTION_PHOTOS:
        raise Invalid("objection.photo_count", f"每条异议可附 1–{MAX_OBJECTION_PHOTOS} 张照片",
                      f"1-{MAX_OBJECTION_PHOTOS} photos per objection",
                      errors=[{"loc": ["body", "photos"], "msg": f"1-{MAX_OBJECTION_PHOTOS} photos in all"}])
    return o, n, existing


async def add_objection_photos(session: AsyncSession, *, principal: Principal, objection_id: str,
                               photos: Sequence[Any], now: datetime,
                               screen: ContentScreen | None = None) -> ObjectionPublic:
    """Record photos already checked and cleaned by app.media (``staged_images``, EXIF stripped);
    :func:`check_objection_photos` runs again first (the objection may have been answered meanwhile). A
    WeChat user's photos are submitted to WeChat's check first (``screen``) and stay ``pending_check``."""
    o, n, existing = await check_objection_photos(session, principal=principal, objection_id=objection_id,
                                                  count=len(photos), now=now)
    openid = await auth_service.wechat_openid(session, user_id=principal.user_id) if screen is not None else None
    submitted = (await media_service.submit_photos(screen=screen, openid=openid, count=len(photos), now=now)
                 if screen is not None else [])
    added = []
    for i, stored in enumerate(photos):
        media_id, checked = submitted[i] if submitted else (None, None)
        m = await media_service.attach(session, stored=stored, owner_type=OBJECTION_PHOTO, owner_id=o.id,
                                       community_id=n.community_id, project_id=n.project_id,
                                       uploaded_by=principal.user_id, now=now, position=existing + i,
                                       checked=checked, media_id=media_id)
        added.append({"media_id": m.id, "sha256": m.sha256})
    await audit.append(session, chain=n.community_id, action="objection.photos_added", entity_type="objection",
                       entity_id=o.id, actor_id=principal.user_id, at=now,
                       data={"photos": added} | ({"checks": media_service.check_audit(submissions=submitted)}
                                                 if submitted else {}))
    return await _one_objection(session, o, viewer=principal, manager=False)


async def objection_photo(session: AsyncSession, *, principal: Principal, objection_id: str, media_id: str) -> Any:
    """One photo of an objection, for those who may see the objection (staff; residents once it is answered,
    or their own)."""
    o = await repo.get_objection(session, objection_id)
    if o is None:
        raise NotFound("objection.not_found", "异议不存在", "Objection not found")
    n = await notice_or_404(session, notice_id=o.notice_id)
    roles = authorize(principal, "notice.view", await _view_scope(session, principal, n))
    manager, mine = is_manager(roles), o.filed_by == principal.user_id
    if not (manager or mine or (o.status != ObjectionStatus.PENDING and o.content_check in VISIBLE_TEXT)):
        raise NotFound("objection.not_found", "异议不存在", "Objection not found")
    for m in (await repo.media_of(session, owner_type=OBJECTION_PHOTO, owner_ids=[o.id]))[o.id]:
        if m.id == media_id and media_service.photo_served(m=m, viewer_id=principal.user_id, staff=manager):
            return m
    raise NotFound("objection.photo_not_found", "照片不存在", "Photo not found")


async def moderate_objection(session: AsyncSession, *, principal: Principal, objection_id: str, approve: bool,
                             reason: str | None, now: datetime) -> ModerationResult:
    """Staff approve an objection's text held by WeChat's check (others see it once it is answered) or reject
    it (never shown to others; the objection itself still stands and is answered as any other). Audited."""
    o = await repo.get_objection(session, objection_id)
    if o is None:
        raise NotFound("moderation.not_found", "没有该内容", "No such content")
    n = await notice_or_404(session, notice_id=o.notice_id)
    authorize(principal, "content.moderate", notice_scope(n=n))
    target, sources = moderation_move(approve=approve)
    before = o.content_check
    if not await repo.set_objection_content(session, objection_id=o.id, status=target.value, only_from=sources):
        raise AlreadyDecided(status_now=before)
    await audit.append(session, chain=n.community_id, action="content.approved" if approve else "content.rejected",
                       entity_type="objection", entity_id=o.id, actor_id=principal.user_id, at=now,
                       data={"from": before, "to": target.value, "reason": reason})
    return ModerationResult(kind="objections", id=o.id, status=target.value)


# ---- for other domains ---------------------------------------------------------------------------

async def publicity_gate(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    """"publicity_passed": the project's latest plan notice has passed (window over, no objection pending
    or accepted). A failed or still-running later plan notice keeps the gate shut."""
    n = await repo.latest_plan_notice(session, project_id)
    if n is None:
        return GateState(name="publicity_passed", met=False, detail="尚未发布改造方案公示", figures={"notice_id": None})
    counts = (await repo.objection_counts(session, [n.id]))[n.id]
    pub = _public(n, counts, now)
    figures: dict[str, Any] = {
        "notice_id": n.id, "status": pub.status, "window_ended": pub.window_ended,
        "start_date": n.start_date.isoformat(), "counting_starts": n.counting_starts.isoformat(),
        "end_date": n.end_date.isoformat(), "closes_at": n.closes_at.isoformat(), "working_days": n.working_days,
        "days_left": pub.days_left, "objections": pub.objections.model_dump(),
    }
    end = f"{n.end_date.isoformat()} 24:00"
    if pub.status == NoticeStatus.PASSED:
        detail = f"方案公示已于 {end} 期满，无异议或异议未被采纳"
    elif pub.status == NoticeStatus.FAILED:
        detail = f"方案公示有 {counts['accepted']} 条异议被采纳，公示未通过：须修改方案并重新公示"
    elif pub.status == NoticeStatus.SCHEDULED:
        detail = f"方案公示尚未开始（{n.start_date.isoformat()} 起，至 {end}）"
    elif pub.window_ended:
        detail = f"方案公示期已满，但仍有 {counts['pending']} 条异议未答复"
    else:
        detail = f"方案公示尚未期满（至 {end}，还剩 {pub.days_left} 个工作日）"
        if counts["pending"]:
            detail += f"，另有 {counts['pending']} 条异议未答复"
    return GateState(name="publicity_passed", met=pub.status == NoticeStatus.PASSED, detail=detail, figures=figures)


@dataclass(frozen=True)
class OpenNotice:
    """A notice as a public screen shows it (the lobby board): no body, no author, no ids of people."""

    kind: str
    kind_zh: str
    title: str
    start_date: date
    end_date: date
    closes_at: datetime  # 24:00 Asia/Shanghai of the end date (a vote notice: when its motion closes)
    days_left: int  # working days of the window still to come, today included if it is one
    window_ended: bool  # the window is over but an objection is still unanswered
    provisional: bool  # a year the official calendar does not cover yet (counted Mon–Fri)
    pending_objections: int


async def open_notices(session: AsyncSession, *, community_id: str, now: datetime, limit: int = 50) -> list[OpenNotice]:
    """The community's notices open at ``now`` (the status rule of :func:`status_of`), the end soonest first.
    No authorization: the caller decides who may see this public list."""
    rows = await repo.community_notices_page(session, community_id, after=None, limit=limit, status=NoticeStatus.OPEN,
                                             now=now, media_owner_type=NOTICE_ATTACHMENT)
    out = []
    for n, counts, _ in rows[:limit]:
        status, ended = status_of(notice=n, counts=counts, now=now)
        if status != NoticeStatus.OPEN:
            continue
        out.append(OpenNotice(kind=n.kind, kind_zh=KIND_ZH.get(NoticeKind(n.kind), n.kind), title=n.title,
                              start_date=n.start_date, end_date=n.end_date, closes_at=n.closes_at,
                              days_left=days_left(notice=n, now=now),
                              window_ended=ended, provisional=n.provisional,
                              pending_objections=counts.get(ObjectionStatus.PENDING, 0)))
    out.sort(key=lambda o: (o.end_date, o.title))
    return out


def _fmt_condition(c: ConditionLine) -> str:
    met = "达到" if c.met else "未达到"
    return f"{c.label_zh}：{c.numerator}/{c.denominator}，要求 {c.required}，{met}"


OUTCOME_ZH = {"passed": "通过", "failed": "未通过", "pending": "未决"}


def _local_time(t: datetime) -> str:
    """Shanghai wall-clock minutes ("2026-11-23 10:00")."""
    return t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _building(name: str) -> str:
    return f"{name}号楼" if name.isdigit() else name


def _unit(name: str) -> str:
    return f"{name}单元" if name.isdigit() else name


def _location(h: ParticipantRow) -> str:
    """"1号楼1单元101" from register names ("1", "1", "101"); names that already say so are kept."""
    return f"{_building(h.building)}{_unit(h.unit)}{h.room}"


def _correction_words(c: ResultCorrectionNote) -> str:
    """What a correction changed, in places only (never a choice)."""
    src = _location(c.from_place) if c.from_place else "（未知房屋）"
    dst = _location(c.to_place) if c.to_place else "（未知房屋）"
    if c.action == "move":
        return f"原登记为 {src} 的纸质选票经核实属于 {dst}，已改为计入 {dst}"
    if c.action == "void":
        return f"{src} 的一张选票经核实不应计入，已作废（该户如有此前的有效投票，以此前的投票计入）"
    if c.action == "reaffirm":
        return "经复核，计票无误，无须更正；维持原表决结果，重新公示"
    return f"补录 {dst} 的纸质选票（签字选票照片已存档）"


def vote_result_body(*, closed: ClosedMotion) -> str:
    """The notice text: the motion, per condition its numbers, then per participating household ONLY its
    room and area (never names or phones). A corrected revision first says what the correction changed."""
    lines = []
    if closed.correction is not None:
        c = closed.correction
        lines += [f"更正公示：本公示为表决结果第 {closed.revision} 版，更正此前公示的第 {closed.revision - 1} 版。",
                  "更正依据：对表决结果公示提出的异议经核实予以采纳。",
                  f"更正内容：{_correction_words(c)}", f"更正理由：{c.reason}", ""]
    lines += [f"表决事项：{closed.title}", f"表决结果：{OUTCOME_ZH.get(closed.outcome, closed.outcome)}",
              f"投票开始：{_local_time(closed.opens_at)}", f"投票截止：{_local_time(closed.closed_at)}"]
    if closed.conditions:
        lines.append("各项条件：")
        lines += [f"  {i}. {_fmt_condition(c)}" for i, c in enumerate(closed.conditions, 1)]
    lines.append(f"{PARTICIPANTS_HEADER} {len(closed.participants)} 户，仅列房号与专有部分面积）：")  # posters.py reads it
    lines += [f"  {_location(h)}  {h.area_m2} m²" for h in closed.participants]
    return "\n".join(lines)  # every participating household, however many


async def publish_vote_result(session: AsyncSession, *, closed: ClosedMotion, now: datetime) -> Notice:
    """The vote-result notice of a closed motion's result revision (voting calls it when a motion closes, and
    again with revision n+1 after each correction of the count: app.wiring); idempotent per motion and
    revision. It starts on the first working day after the close or correction (DOMAIN: within one working
    day), with the profile's full window: a corrected result is challenged afresh (询异)."""
    motion_id = closed.motion_id
    existing = await repo.notice_for_motion(session, motion_id, NoticeKind.VOTE_RESULT, revision=closed.revision)
    if existing is not None:
        return existing
    project = await projects_service.project_or_404(session, project_id=closed.project_id)
    _, profile = await register_service.profile_of(session, jurisdiction_id=project.jurisdiction_id)
    start = next_working_day_after(d=business_date(now))
    # published ahead of its start date (the next working day), so never a partial day
    w = publicity_window(start, profile.publicity_working_days, partial_day=False)
    title = (f"表决结果公示：{closed.title}" if closed.revision == 1
             else f"表决结果更正公示（第 {closed.revision} 版）：{closed.title}")[:200]
    inserted = await repo.insert_notice_once(session, {
        "id": new_id(),
        "jurisdiction_id": project.jurisdiction_id, "community_id": project.community_id, "project_id": project.id,
        "kind": NoticeKind.VOTE_RESULT.value, "title": title, "body": vote_result_body(closed=closed), "start_date": start,
        "counting_starts": w.counting_starts, "end_date": w.end_date, "working_days": w.working_days,
        "provisional": w.provisional, "partial_day_excluded": w.partial_day_excluded, "opens_at": day_start(d=start),
        "closes_at": w.closes_at, "plan_id": closed.plan_id, "motion_id": motion_id, "revision": closed.revision,
        "created_at": now, "created_by": None,
    })
    notice = await repo.notice_for_motion(session, motion_id, NoticeKind.VOTE_RESULT, revision=closed.revision)
    assert notice is not None
    if inserted:
        await audit.append(session, chain=project.community_id, action="notice.published", entity_type="notice",
                           entity_id=notice.id, actor_id=None, at=now,
                           data={"project_id": project.id, "kind": notice.kind, "motion_id": motion_id,
                                 "start_date": notice.start_date.isoformat(), "end_date": notice.end_date.isoformat()}
                           | ({"revision": closed.revision} if closed.revision > 1 else {}))
    return notice


# ---- for voting: the state of each motion's result notices ------------------------------------------

async def result_notices(session: AsyncSession, *, motion_ids: list[str], now: datetime) -> dict[str, ResultNotice]:
    """Each motion's latest vote-result notice with its status now, the objections accepted on it and the
    objections still unanswered on any of the motion's result notices (voting derives from this whether a
    result is provisional or final; registered by app.wiring)."""
    notices = await repo.result_notices(session, motion_ids)
    counts = await repo.objection_counts(session, [n.id for n in notices])
    latest: dict[str, Notice] = {}
    pending: dict[str, int] = {}
    for n in notices:
        assert n.motion_id is not None
        latest[n.motion_id] = n  # ordered by revision: the last one wins
        pending[n.motion_id] = pending.get(n.motion_id, 0) + counts[n.id].get(ObjectionStatus.PENDING, 0)
    out = {}
    for mid, n in latest.items():
        status, ended = status_of(notice=n, counts=counts[n.id], now=now)
        out[mid] = ResultNotice(notice_id=n.id, revision=n.revision, status=status.value, window_ended=ended,
                                start_date=n.start_date, end_date=n.end_date, closes_at=n.closes_at,
                                pending=pending[mid], accepted=counts[n.id].get(ObjectionStatus.ACCEPTED, 0))
    return out


async def result_objection(session: AsyncSession, *, objection_id: str) -> ResultObjection | None:
    """An objection to a vote-result notice, with its notice's motion and revision (None for any other
    objection, or none at all)."""
    o = await repo.get_objection(session, objection_id, fresh=True) if objection_id and len(objection_id) <= 32 else None
    n = await repo.get_notice(session, o.notice_id) if o is not None else None
    if o is None or n is None or n.kind != NoticeKind.VOTE_RESULT or n.motion_id is None:
        return None
    return ResultObjection(objection_id=o.id, notice_id=n.id, motion_id=n.motion_id, revision=n.revision,
                           status=o.status)


def _area_m2(area_centi: int) -> str:
    """0.01 m² as square metres with two decimals ("1034.50")."""
    return f"{area_centi // 100}.{area_centi % 100:02d}"


def _scope_words(frozen: FrozenRoll, community: str) -> str:
    """"全小区（name）", "1号楼", "1号楼2单元" (register names that already say so are kept)."""
    if frozen.scope == "building" and frozen.building:
        return _building(frozen.building)
    if frozen.scope == "unit" and frozen.building and frozen.unit:
        return f"{_building(frozen.building)}{_unit(frozen.unit)}"
    return f"全小区（{community}）"


def vote_notice_body(*, frozen: FrozenRoll, community: str) -> str:
    """The vote notice (投票公告): the motion, its scope, the voting window, the roll's totals and hash, and the
    rule in words."""
    return "\n".join([
        f"表决事项：{frozen.title}",
        f"表决范围：{_scope_words(frozen, community)}",
        f"投票时间：{_local_time(frozen.opens_at)} 至 {_local_time(frozen.closes_at)}（北京时间）",
        f"表决名册（{_local_time(frozen.frozen_at)} 冻结）：总户数 {frozen.households} 户，"
        f"业主人数 {frozen.owners} 人，总面积 {_area_m2(frozen.area)} m²",
        f"名册哈希（SHA-256）：{frozen.roll_hash}",
        f"表决规则：{rule_words(frozen.rule)}",
        f"规则依据：{frozen.rule.legal_source}",
        "如认为表决名册有误（漏登、错登或面积有误），请在投票截止前提出异议。",
    ])


async def publish_vote_notice(session: AsyncSession, *, frozen: FrozenRoll, now: datetime) -> Notice:
    """The vote notice of a motion whose roll was just frozen (voting calls it in the freezing transaction:
    app.wiring); idempotent per motion. Generated, so neither the start-date nor the minimum-length check of
    :func:`publish_notice` applies: it is published at once (its start date is the freeze's business date, a
    partial day that does not count) and takes objections until the motion closes — while the roll can still
    be amended. ``working_days`` is what that window has; the vote-result notice then opens its own window."""
    existing = await repo.notice_for_motion(session, frozen.motion_id, NoticeKind.VOTE_NOTICE)
    if existing is not None:
        return existing
    project = await projects_service.project_or_404(session, project_id=frozen.project_id)
    community = await register_service.community_or_404(session, community_id=project.community_id)
    start = business_date(now)
    closes_at = max(frozen.closes_at, now)
    end = max(business_date(closes_at - timedelta(microseconds=1)), start)
    partial = is_partial_day(start, now)
    counting = start + timedelta(days=1) if partial else start
    working_days, provisional = working_days_between(counting, end)
    inserted = await repo.insert_notice_once(session, {
        "id": new_id(),
        "jurisdiction_id": project.jurisdiction_id, "community_id": project.community_id, "project_id": project.id,
        "kind": NoticeKind.VOTE_NOTICE.value, "title": f"投票公告：{frozen.title}"[:200],
        "body": vote_notice_body(frozen=frozen, community=community.name), "start_date": start, "counting_starts": counting,
        "end_date": end, "working_days": working_days, "provisional": provisional,
        "partial_day_excluded": partial, "opens_at": now, "closes_at": closes_at, "plan_id": frozen.plan_id,
        "motion_id": frozen.motion_id, "created_at": now, "created_by": None,
    })
    notice = await repo.notice_for_motion(session, frozen.motion_id, NoticeKind.VOTE_NOTICE)
    assert notice is not None
    if inserted:
        await audit.append(session, chain=project.community_id, action="notice.published", entity_type="notice",
                           entity_id=notice.id, actor_id=None, at=now,
                           data={"project_id": project.id, "kind": notice.kind, "motion_id": frozen.motion_id,
                                 "roll_hash": frozen.roll_hash, "start_date": notice.start_date.isoformat(),
                                 "end_date": notice.end_date.isoformat(),
                                 "closes_at": notice.closes_at.isoformat()})
    return notice

