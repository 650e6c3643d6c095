"""A report's lifecycle as a table of actions: for each, the states it may start from, who may take it, the
state it leads to, and the handler that checks the action's own fields.

submitted → acknowledged → rectifying → rectified → verified → closed; dismissed from submitted or
acknowledged; a failed verification (``reject``) sends a rectified report back to rectifying, and ``reopen``
takes a verified or closed one back — both count in the report's ``reopen_count``, and the profile's
``reopen_flag_at``-th flags it for the street office. ``assign``, ``reject`` and ``reopen`` to rectifying set
a deadline in working days (:mod:`app.supervision.deadlines`); ``rectify`` runs the same-spot check of the
after-photos (:mod:`app.supervision.spot`), and ``reject`` and ``reopen`` clear it (a new round begins).

:func:`apply` is the one way through it: 409 ``report.invalid_transition`` (with the actions allowed now) when
the state does not allow the action, 403 when the caller may not take it, then the handler (422 for a missing
or wrong field), then a compare-and-set on the report's version (409 ``report.concurrent_change`` when someone
else moved it first); then the event, the audit entry and the messages (:mod:`app.supervision.alerts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import Role
from app.auth.policy import Principal, is_manager
from app.core import audit
from app.core.errors import Conflict, Forbidden, Invalid
from app.media import service as media_service
from app.projects.models import Project
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.supervision import alerts
from app.supervision import repository as repo
from app.supervision.common import shanghai_date
from app.supervision.deadlines import choose_deadline
from app.supervision.models import Report, ReportEvent, Status
from app.supervision.schemas import TransitionRequest
from app.supervision.spot import same_spot

STATUS_ZH = {"submitted": "已提交", "acknowledged": "已受理", "rectifying": "整改中", "rectified": "已整改",
             "verified": "已复核", "closed": "已关闭", "dismissed": "已驳回"}


@dataclass(frozen=True)
class Actor:
    """Who asks, as the table's rules need them: their roles in the project, and who did the last rectification."""

    user_id: str
    roles: frozenset[Role]
    report: Report
    rectifier: str | None


@dataclass(frozen=True)
class Move:
    """One request to take an action, as its handler sees it."""

    action: str
    report: Report
    project: Project
    body: TransitionRequest
    now: datetime
    today: date  # Asia/Shanghai
    profile: RulesProfile


@dataclass
class Change:
    """What a handler adds: report columns to set, facts for the event and the audit log, and (reopen only)
    the state chosen by the request."""

    values: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    to: str | None = None


class Handler(Protocol):
    """Checks the action's own fields (422 when one is missing or wrong) and says what they change."""

    async def __call__(self, session: AsyncSession, *, move: Move) -> Change: ...


# ---- who may ----------------------------------------------------------------------------------------

def _managers(a: Actor) -> bool:
    return is_manager(a.roles)


def _the_assignee(a: Actor) -> bool:
    return Role.CONTRACTOR in a.roles and a.report.assignee_id == a.user_id


def _an_independent_supervisor(a: Actor) -> bool:
    return Role.SUPERVISOR in a.roles and a.user_id != a.report.assignee_id and a.user_id != a.rectifier


def _managers_or_supervisors(a: Actor) -> bool:
    return is_manager(a.roles) or Role.SUPERVISOR in a.roles


def _not_permitted(a: Actor, action: str) -> Forbidden:
    return Forbidden("report.action_not_permitted", f"您无权执行“{ACTIONS[action].zh}”",
                     f"You may not {action} this report")


def _own_work_or_not_permitted(a: Actor, action: str) -> Forbidden:
    if a.user_id in (a.report.assignee_id, a.rectifier):
        return Forbidden("report.own_work", "施工单位不能复核自己的整改", "A contractor cannot verify their own work")
    return _not_permitted(a, action)


# ---- the action's own fields --------------------------------------------------------------------------

def _need(move: Move, name: str, ok: bool, zh: str) -> None:
    if not ok:
        raise Invalid(f"report.{name}_required", zh, f"{name} is required for {move.action}",
                      errors=[{"loc": ["body", name], "msg": f"required for {move.action}"}])


def _deadline(move: Move) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new deadline (the profile's, or the request's ``due_date``): report values and event data."""
    choice = choose_deadline(move.report, move.profile, now=move.now, today=move.today, given=move.body.due_date,
                             reason=move.body.reason)
    return choice.values(move.report), choice.data(move.body.reason)


def _reopened(move: Move) -> tuple[dict[str, Any], dict[str, Any]]:
    """One more reopening; the profile's ``reopen_flag_at``-th flags the report for the street office. A new
    rectification round begins: the same-spot check of the last one no longer stands."""
    count = move.report.reopen_count + 1
    values: dict[str, Any] = {"reopen_count": count, "location_check": None, "location_distance_m": None}
    if count >= move.profile.reopen_flag_at and move.report.flagged_at is None:
        values["flagged_at"] = move.now
    return values, {"reopen_count": count, "flagged": "flagged_at" in values}


async def _no_fields(session: AsyncSession, *, move: Move) -> Change:
    return Change()


async def _assign(session: AsyncSession, *, move: Move) -> Change:
    body = move.body
    _need(move, "assignee_id", body.assignee_id is not None, "请指定整改的施工单位人员")
    assert body.assignee_id is not None
    if await repo.get_appointment(session, project_id=move.project.id, user_id=body.assignee_id,
                                  role=Role.CONTRACTOR.value) is None:
        raise Invalid("report.assignee_not_contractor", "被指派人不是本项目的施工单位人员",
                      "The assignee is not a contractor of this project",
                      errors=[{"loc": ["body", "assignee_id"], "msg": "not a contractor of the project"}])
    values, data = _deadline(move)
    values["assignee_id"] = body.assignee_id
    if move.report.assigned_at is None:
        values["assigned_at"] = move.now
    return Change(values=values, data={"assignee_id": body.assignee_id} | data)


async def _rectify(session: AsyncSession, *, move: Move) -> Change:
    _need(move, "photo_ids", bool(move.body.photo_ids), "请附上整改后的照片")
    ids = list(dict.fromkeys(move.body.photo_ids or []))
    uploaded = {m.id: m for m in await media_service.media_for(session, owner_type="report_rectification",
                                                               owner_id=move.report.id)}
    unknown = [i for i in ids if i not in uploaded]
    if unknown:
        raise Invalid("report.unknown_photo", "照片不属于该报告的整改照片", "Unknown rectification photo",
                      errors=[{"loc": ["body", "photo_ids", i], "msg": "not uploaded for this report"}
                              for i in unknown[:10]])
    before = await media_service.media_for(session, owner_type="report", owner_id=move.report.id)
    spot = same_spot(move.report, before, [uploaded[i] for i in ids], move.profile.same_spot_distance_m)
    return Change(values={"rectified_at": move.now, "location_check": spot.check.value,
                          "location_distance_m": spot.distance_m},
                  data={"photo_ids": ids, "location_check": spot.check.value, "distance_m": spot.distance_m,
                        "threshold_m": spot.threshold_m})


async def _reject(session: AsyncSession, *, move: Move) -> Change:
    _need(move, "note", bool(move.body.note and move.body.note.strip()), "请说明复核不通过的原因")
    values, data = _deadline(move)
    reopened, counted = _reopened(move)
    return Change(values=values | reopened, data=data | counted)


async def _dismiss(session: AsyncSession, *, move: Move) -> Change:
    reason = move.body.reason
    _need(move, "reason", bool(reason and reason.strip()), "请填写驳回理由")
    return Change(values={"dismiss_reason": reason}, data={"reason": reason})


async def _reopen(session: AsyncSession, *, move: Move) -> Change:
    body, report = move.body, move.report
    to = body.to or (Status.RECTIFYING if report.assignee_id else Status.ACKNOWLEDGED)
    values: dict[str, Any]
    data: dict[str, Any]
    if to == Status.RECTIFYING:
        if report.assignee_id is None:
            raise Invalid("report.no_assignee", "该报告尚未指派施工单位，只能重新打开为“已受理”",
                          "No contractor assigned; reopen to acknowledged",
                          errors=[{"loc": ["body", "to"], "msg": "no assignee"}])
        values, data = _deadline(move)
    else:
        values, data = {"due_date": None, "deadline_working_days": None}, {}
    reopened, counted = _reopened(move)
    return Change(values=values | reopened, data={"to": str(to)} | data | counted, to=str(to))


# ---- the table ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    zh: str
    start: frozenset[Status]  # the states it may be taken in
    may: Callable[[Actor], bool]  # who may take it
    to: Status | None  # the state it leads to; None: chosen by the handler
    handler: Handler = _no_fields  # checks the action's own fields
    refusal: Callable[[Actor, str], Forbidden] = _not_permitted


ACTIONS: dict[str, Action] = {
    "acknowledge": Action("受理", frozenset({Status.SUBMITTED}), _managers, Status.ACKNOWLEDGED),
    "assign": Action("派单整改", frozenset({Status.ACKNOWLEDGED, Status.RECTIFYING}), _managers, Status.RECTIFYING,
                     _assign),
    "rectify": Action("提交整改", frozenset({Status.RECTIFYING}), _the_assignee, Status.RECTIFIED, _rectify),
    "verify": Action("复核", frozenset({Status.RECTIFIED}), _an_independent_supervisor, Status.VERIFIED,
                     refusal=_own_work_or_not_permitted),
    "reject": Action("复核不通过", frozenset({Status.RECTIFIED}), _an_independent_supervisor, Status.RECTIFYING,
                     _reject, refusal=_own_work_or_not_permitted),
    "close": Action("关闭", frozenset({Status.VERIFIED}), _managers, Status.CLOSED),
    "dismiss": Action("驳回", frozenset({Status.SUBMITTED, Status.ACKNOWLEDGED}), _managers, Status.DISMISSED,
                      _dismiss),
    "reopen": Action("重新打开", frozenset({Status.VERIFIED, Status.CLOSED}), _managers_or_supervisors, None,
                     _reopen),
}


def allowed_actions(*, status: str) -> list[str]:
    """The actions the state allows (whoever asks), in the table's order."""
    return [name for name, a in ACTIONS.items() if status in a.start]


def permitted_actions(actor: Actor) -> list[str]:
    """The actions ``actor`` may take on the report now."""
    return [name for name in allowed_actions(status=actor.report.status) if ACTIONS[name].may(actor)]


async def rectifier_of(session: AsyncSession, *, report_id: str) -> str | None:
    """Who submitted the report's latest rectification (they may not verify it)."""
    event = await repo.last_event(session, report_id, "rectify")
    return event.actor_id if event else None


def invalid_transition(report: Report, zh: str, en: str) -> Conflict:
    return Conflict("report.invalid_transition", zh, en, status_now=report.status,
                    allowed_actions=allowed_actions(status=report.status))


async def apply(session: AsyncSession, *, principal: Principal, roles: frozenset[Role], report: Report,
                project: Project, body: TransitionRequest, now: datetime) -> Report:
    """Take ``body.action`` on ``report`` (the caller's roles in the project already checked for
    ``report.act``): state, then who, then the action's fields; records the event and the audit entry, tells
    whom it concerns, and returns the report as it is now."""
    name = body.action
    action = ACTIONS[name]
    if report.status not in action.start:
        raise invalid_transition(report, f"报告当前状态为“{STATUS_ZH[report.status]}”，不能执行“{action.zh}”",
                                 f"Action {name} is not allowed while the report is {report.status}")
    actor = Actor(user_id=principal.user_id, roles=roles, report=report,
                  rectifier=await rectifier_of(session, report_id=report.id))
    if not action.may(actor):
        raise action.refusal(actor, name)
    profile = await register_service.profile_for_community(session, community_id=project.community_id)
    change = await action.handler(session, move=Move(action=name, report=report, project=project, body=body,
                                                     now=now, today=shanghai_date(now), profile=profile))
    to_status = change.to or action.to
    assert to_status is not None
    values = {"updated_at": now} | change.values | {"status": str(to_status)}
    if not await repo.transition(session, report_id=report.id, expected_version=report.version, values=values):
        raise Conflict("report.concurrent_change", "报告已被他人同时处理，请刷新后重试",
                       "The report was changed concurrently; reload and retry")
    session.add(ReportEvent(report_id=report.id, action=name, from_status=report.status, to_status=str(to_status),
                            actor_id=principal.user_id, at=now, note=body.note, data=change.data))
    await audit.append(session, chain=project.community_id, action=f"report.{name}", entity_type="report",
                       entity_id=report.id, actor_id=principal.user_id, at=now,
                       data={"from": report.status, "to": str(to_status), "note": body.note} | change.data)
    await session.flush()
    fresh = await repo.get_report(session, report.id, fresh=True)
    assert fresh is not None
    await alerts.queue(session, alerts.transition_messages(fresh, action=name, to_status=str(to_status),
                                                           actor_id=principal.user_id, now=now), now=now)
    if "flagged_at" in change.values:
        await alerts.flag(session, report=fresh, project=project, now=now)
    return fresh
