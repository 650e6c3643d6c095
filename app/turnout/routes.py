"""Turnout endpoints: progress, non-responders (JSON and the door-to-door XLSX sheet), reminders,
reminder opt-outs, notice reads, the on-demand run of automatic reminders, and the WeChat one-time
subscriptions a resident accepted."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse, Response

from app.auth.deps import HolderDep, PrincipalDep
from app.core import spreadsheet
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.idempotency import fingerprint, run_idempotent
from app.core.routing import api_router
from app.turnout import service
from app.turnout.models import ItemType
from app.turnout.schemas import (
    NonResponders,
    NoticeReadRecorded,
    NoticeReads,
    OptOutRequest,
    OptOutState,
    Progress,
    ReminderResult,
    ReminderRunResult,
    SubscriptionGrants,
    SubscriptionsRequest,
)
from app.turnout.sheet import XLSX_TYPE
from app.turnout.worker import wake_outbox

router = api_router("turnout")

Format = Annotated[Literal["json", "xlsx"], Query(description="xlsx: the printable door-to-door sheet")]
BuildingFilter = Annotated[str | None, Query(max_length=32, description="only this building")]
UnitFilter = Annotated[str | None, Query(max_length=32, description="only this unit")]
_XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {XLSX_TYPE: {}}, "description": "JSON, or the XLSX sheet with ?format=xlsx"}}


# ---- progress ------------------------------------------------------------------------------------

@router.get("/motions/{motion_id}/progress", response_model=Progress, operation_id="turnout_motion_progress")
async def motion_progress(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> Progress:
    """Staff: households, owners and area that voted / in scope, per building and unit, and how far each
    condition of the motion's rule is (owner grouping: one owner, one choice)."""
    return await service.progress(session, principal=principal, item_type=ItemType.MOTION, item_id=motion_id,
                                  now=clock.now())


@router.get("/questionnaires/{questionnaire_id}/progress", response_model=Progress,
            operation_id="turnout_questionnaire_progress")
async def questionnaire_progress(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                                 clock: ClockDep) -> Progress:
    """Staff: households and area that responded / in scope, per building and unit; for a willingness
    questionnaire, how far the profile's willingness rule is."""
    return await service.progress(session, principal=principal, item_type=ItemType.QUESTIONNAIRE,
                                  item_id=questionnaire_id, now=clock.now())


# ---- non-responders ------------------------------------------------------------------------------

async def _non_responders(item_type: ItemType, item_id: str, session: SessionDep, principal: PrincipalDep,
                          clock: ClockDep, format: str, building_id: str | None,
                          unit_id: str | None) -> NonResponders | Response:
    if format == "xlsx":
        content, ascii_name, utf8_name = await service.non_responders_sheet(
            session, principal=principal, item_type=item_type, item_id=item_id, now=clock.now(),
            building_id=building_id, unit_id=unit_id)
        return spreadsheet.download(content, XLSX_TYPE, ascii_name=ascii_name, utf8_name=utf8_name)
    return await service.non_responders(session, principal=principal, item_type=item_type, item_id=item_id,
                                        now=clock.now(), building_id=building_id, unit_id=unit_id)


@router.get("/motions/{motion_id}/non-responders", response_model=NonResponders, responses=_XLSX_RESPONSE,
            operation_id="turnout_motion_non_responders")
async def motion_non_responders(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                                format: Format = "json", building_id: BuildingFilter = None,
                                unit_id: UnitFilter = None) -> NonResponders | Response:
    """Staff: households in scope that have not voted (an owner who voted through another household in
    scope has voted for all of theirs), by building and unit; ``needs_visit`` when no WeChat reminder can
    reach them. ``?format=xlsx``: the door-to-door sheet."""
    return await _non_responders(ItemType.MOTION, motion_id, session, principal, clock, format, building_id, unit_id)


@router.get("/questionnaires/{questionnaire_id}/non-responders", response_model=NonResponders,
            responses=_XLSX_RESPONSE, operation_id="turnout_questionnaire_non_responders")
async def questionnaire_non_responders(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                                       clock: ClockDep, format: Format = "json", building_id: BuildingFilter = None,
                                       unit_id: UnitFilter = None) -> NonResponders | Response:
    """Staff: households in scope that have not responded, by building and unit. ``?format=xlsx``: the
    door-to-door sheet."""
    return await _non_responders(ItemType.QUESTIONNAIRE, questionnaire_id, session, principal, clock, format,
                                 building_id, unit_id)


# ---- reminders -----------------------------------------------------------------------------------

async def _remind(item_type: ItemType, item_id: str, request: Request, background: BackgroundTasks,
                  session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    now = clock.now()

    async def produce() -> ReminderResult:
        return await service.send_reminders(session, principal=principal, item_type=item_type, item_id=item_id,
                                            now=now)

    response = await run_idempotent(session, request, user_id=principal.user_id, now=now,
                                    body_fingerprint=fingerprint(item_type.value, item_id), produce=produce,
                                    status_code=202)
    background.add_task(wake_outbox, request.app)  # runs after the commit
    return response


@router.post("/motions/{motion_id}/reminders", response_model=ReminderResult, status_code=202,
             operation_id="turnout_motion_remind")
async def motion_remind(motion_id: str, request: Request, background: BackgroundTasks, session: SessionDep,
                        principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: queue a WeChat reminder for every household that has not voted and can be reached (at most one
    per household per day); 409 ``reminder.not_open`` unless the motion is open."""
    return await _remind(ItemType.MOTION, motion_id, request, background, session, principal, clock)


@router.post("/questionnaires/{questionnaire_id}/reminders", response_model=ReminderResult, status_code=202,
             operation_id="turnout_questionnaire_remind")
async def questionnaire_remind(questionnaire_id: str, request: Request, background: BackgroundTasks,
                               session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: queue a WeChat reminder for every household that has not responded and can be reached;
    409 ``reminder.not_open`` unless the questionnaire is open."""
    return await _remind(ItemType.QUESTIONNAIRE, questionnaire_id, request, background, session, principal, clock)


@router.post("/ops/reminders:run", response_model=ReminderRunResult, operation_id="turnout_reminders_run")
async def run_reminders(request: Request, background: BackgroundTasks, session: SessionDep,
                        principal: PrincipalDep, clock: ClockDep) -> ReminderRunResult:
    """Global admin: queue the automatic reminders that are due now (the worker does this on its own)."""
    result = await service.run_due_reminders(session, principal=principal, now=clock.now())
    background.add_task(wake_outbox, request.app)
    return result


# ---- opt-outs ------------------------------------------------------------------------------------

@router.get("/households/{household_id}/reminders", response_model=OptOutState,
            operation_id="turnout_household_reminders_get")
async def get_reminder_setting(household_id: str, session: SessionDep, principal: PrincipalDep) -> OptOutState:
    """A member of the household: whether they (and the household) receive reminders."""
    return await service.get_opt_out(session, principal=principal, household_id=household_id)


@router.put("/households/{household_id}/reminders", response_model=OptOutState,
            operation_id="turnout_household_reminders_set")
async def set_reminder_setting(household_id: str, body: OptOutRequest, session: SessionDep, principal: PrincipalDep,
                               clock: ClockDep) -> OptOutState:
    """A member of the household opts out of reminders (``{"opt_out": true}``) or back in."""
    return await service.set_opt_out(session, principal=principal, household_id=household_id, opt_out=body.opt_out,
                                     now=clock.now())


# ---- notice reads --------------------------------------------------------------------------------

@router.post("/notices/{notice_id}/read", response_model=NoticeReadRecorded, operation_id="turnout_notice_read")
async def notice_read(notice_id: str, session: SessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> NoticeReadRecorded:
    """A resident has opened the notice: recorded once per household (idempotent)."""
    return await service.record_notice_read(session, notice_id=notice_id, principal=principal, now=clock.now())


@router.get("/notices/{notice_id}/reads", response_model=NoticeReads, operation_id="turnout_notice_reads")
async def notice_reads(notice_id: str, session: SessionDep, principal: PrincipalDep) -> NoticeReads:
    """Staff: households that have seen the notice / households in the community, per building and unit."""
    return await service.notice_reads(session, principal=principal, notice_id=notice_id)


# ---- one-time subscriptions (WeChat) ---------------------------------------------------------------

@router.post("/me/subscriptions", response_model=SubscriptionGrants, operation_id="turnout_me_subscriptions",
             responses={403: {"description": "wechat.not_bound: the user did not sign in through WeChat"},
                        422: {"description": "validation.failed (no, or more than 3, template ids); "
                                             "subscription.template_unknown"}})
async def record_subscriptions(body: SubscriptionsRequest, session: SessionDep, holder: HolderDep,
                               clock: ClockDep) -> SubscriptionGrants:
    """The signed-in WeChat user accepted these templates in ``wx.requestSubscribeMessage``: one more unused
    one-time subscription of each (one subscription, one message). Answers the user's unused count of every
    template the service sends."""
    return await service.record_subscriptions(session, holder=holder, template_ids=body.template_ids,
                                              now=clock.now())
