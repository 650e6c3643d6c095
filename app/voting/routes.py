"""Endpoints of plans, motions, ballots (online and paper), receipts and tallies."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from app.auth.deps import OptionalPrincipalDep, PrincipalDep, SessionPrincipalDep, WriteChecksDep
from app.core import printing, spreadsheet
from app.core.clock import ClockDep
from app.core.db import SessionDep, WriteSessionDep
from app.core.deps import SettingsDep
from app.core.errors import Invalid
from app.core.idempotency import fingerprint, run_idempotent
from app.core.limits import FORM_CHECKED
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.media.service import staged_images
from app.media.serving import media_response
from app.media.storage import StorageDep
from app.rules import Choice
from app.voting import service
from app.voting.models import Channel, CorrectionAction, SlipStatus
from app.voting.schemas import (
    BallotCast,
    BallotHistoryEntry,
    BallotReceipt,
    CloseIn,
    CloseResult,
    CorrectionIn,
    CorrectionResult,
    HouseholdChoice,
    MotionCreate,
    MotionPublic,
    PaperBallotEntered,
    PaperResolveIn,
    PaperSlipForm,
    PaperSlipPublic,
    PlanCreate,
    PlanPublic,
    PlanRevision,
    PlanSummary,
    ReceiptCheck,
    ResultRevisionPublic,
    RollAmended,
    RollAmendmentIn,
    RollPublic,
    TallyPublic,
)

router = api_router("voting")
PageDep = Annotated[PageParams, Depends(page_params)]

_PHOTO_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
                          "description": "the stored slip photo, without metadata"}}


# ---- plans -----------------------------------------------------------------------------------------

@router.post("/projects/{project_id}/plans", response_model=PlanPublic, status_code=201,
             operation_id="voting_plan_create")
async def create_plan(project_id: str, body: PlanCreate, request: Request, session: SessionDep,
                      principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: a project's plan — items (catalog references, scope, budget and residents' share in fen),
    funding sources per item or for the plan. With `supersedes` (the current version's id) it is a revision
    (version n+1); without it and with a plan already there: 409 `plan.exists`. Over-funding and unknown
    buildings/units: 422 `plan.invalid` listing every problem. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(project_id, body.model_dump(mode="json")),
        produce=lambda: service.create_plan(session, principal=principal, project_id=project_id, body=body, now=now))


@router.get("/projects/{project_id}/plans", response_model=Page[PlanSummary], operation_id="voting_plan_list")
async def list_plans(project_id: str, session: SessionDep, principal: PrincipalDep,
                     page: PageDep) -> Page[PlanSummary]:
    """Every version of the project's plan, oldest first (staff, residents of the community)."""
    return await service.list_plans(session, principal=principal, project_id=project_id, page=page)


@router.get("/plans/{plan_id}", response_model=PlanPublic, operation_id="voting_plan_get")
async def get_plan(plan_id: str, session: SessionDep, principal: PrincipalDep) -> PlanPublic:
    """One plan version with items, funding and exact totals; superseded versions stay readable."""
    return await service.get_plan(session, principal=principal, plan_id=plan_id)


@router.post("/plans/{plan_id}/revisions", response_model=PlanPublic, status_code=201,
             operation_id="voting_plan_revise")
async def revise_plan(plan_id: str, body: PlanRevision, request: Request, session: SessionDep,
                      principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: a new version of the plan; the old one is marked superseded (409 `plan.superseded` if it
    already was). Motions on the old version can no longer be voted on. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.revise_plan(session, principal=principal, plan_id=plan_id, body=body, now=now))


# ---- motions ---------------------------------------------------------------------------------------

@router.post("/plans/{plan_id}/motions", response_model=MotionPublic, status_code=201,
             operation_id="voting_motion_create")
async def create_motion(plan_id: str, body: MotionCreate, request: Request, session: SessionDep,
                        principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: a motion on the plan or one of its items — matter, scope (community / building / unit, by ids
    or by names), rule (default: the rules profile's rule for the matter, frozen when the motion opens),
    window (`closes_at` after `opens_at`, at most 366 days). Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.create_motion(session, principal=principal, plan_id=plan_id, body=body, now=now))


@router.get("/projects/{project_id}/motions", response_model=Page[MotionPublic], operation_id="voting_motion_list")
async def list_motions(project_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                       page: PageDep) -> Page[MotionPublic]:
    return await service.list_motions(session, principal=principal, project_id=project_id, page=page,
                                      now=clock.now())


@router.get("/motions/{motion_id}", response_model=MotionPublic, operation_id="voting_motion_get")
async def get_motion(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> MotionPublic:
    """The motion with its status by the server clock, its rule, and (residents) the caller's households in
    scope with their own current ballot."""
    return await service.get_motion(session, principal=principal, motion_id=motion_id, now=clock.now())


@router.post("/motions/{motion_id}/close", response_model=CloseResult, operation_id="voting_motion_close")
async def close_motion(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                       body: CloseIn | None = None) -> CloseResult:
    """Staff: close an open motion now; the final tally is stored and the vote-result notice published.
    Scheduled: 409 `motion.not_open`; already closed: the stored result. Paper slips pending or in conflict
    (double entry): 409 `motion.paper_unsettled` (`pending`, `conflict`) unless the body says
    `{"force": true, "reason": …}` (without a reason: 422 `motion.force_reason_required`): they stay uncounted,
    audited, listed in `paper_uncounted`."""
    return await service.close_motion(session, principal=principal, motion_id=motion_id, now=clock.now(), body=body)


@router.get("/motions/{motion_id}/tally", response_model=TallyPublic, operation_id="voting_motion_tally")
async def get_tally(motion_id: str, session: WriteSessionDep, principal: PrincipalDep, clock: ClockDep) -> TallyPublic:
    """Every condition with numerator, denominator, required share, met and shortfall; the outcome. Staff:
    live (`pending`, `decided_early`). Residents in scope: after close only (403 `tally.not_public`). After
    close it is the stored final tally."""
    return await service.tally(session, principal=principal, motion_id=motion_id, now=clock.now())


# ---- ballots ---------------------------------------------------------------------------------------

@router.put("/motions/{motion_id}/ballot", response_model=BallotReceipt, operation_id="voting_ballot_cast")
async def cast_ballot(motion_id: str, body: BallotCast, request: Request, session: SessionDep,
                      principal: SessionPrincipalDep, clock: ClockDep, settings: SettingsDep) -> JSONResponse:
    """A resident (owner / co-owner) votes for a household in scope; replaces its ballot until close.
    `household_id` is required when acting for several households in scope (422 `ballot.household_required`).
    Tenant / family: 403 `ballot.not_permitted_relation`; outside the window: 409 `ballot.window_closed`;
    superseded plan: 409 `motion.plan_superseded`. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now,
        body_fingerprint=fingerprint(motion_id, body.model_dump(mode="json")),
        produce=lambda: service.cast_ballot(session, settings=settings, principal=principal, motion_id=motion_id,
                                            body=body, now=now))


@router.post("/motions/{motion_id}/paper-ballots", response_model=PaperBallotEntered, status_code=201,
             dependencies=FORM_CHECKED, operation_id="voting_paper_ballot_enter")
async def enter_paper_ballot(
    motion_id: str, request: Request, session: SessionDep, checks: WriteChecksDep, clock: ClockDep,
    settings: SettingsDep, storage: StorageDep, form: Annotated[PaperSlipForm, Form()],
) -> JSONResponse:
    """Staff (committee tablet), multipart: `household_id` or the scanned `slip_code` (422 `ballot.slip_invalid`
    for another motion's slip or a wrong code, `ballot.slip_mismatch` when both disagree), `choice`, `photo` of
    the signed slip (422 `ballot.photo_required`); a proxy with `proxy_name`, `proxy_relation` and `proxy_photo`
    of the signed authorisation (422 `ballot.proxy_photo_required`, `ballot.proxy_relation_required`,
    `ballot.proxy_name_required`; over the profile's cap per proxy: 422 `ballot.proxy_limit`). Channel `paper`;
    the same one-ballot rule. Without double entry it counts at once (`status` `counted`); with the profile's
    `paper_double_entry` the first entry is `pending` (not counted), a second clerk's matching entry makes it
    `counted`, a different one `conflict` (the same clerk again: 409 `ballot.same_clerk`; a slip in conflict:
    409 `ballot.slip_conflict`; an entry repeating the counted slip: 409 `ballot.slip_already_counted`). A
    replay with the same `Idempotency-Key` returns the first result; the same key with another body: 409
    `idempotency.key_reused`."""
    now = clock.now()
    choice, photo, proxy_photo = form.choice, form.photo, form.proxy_photo
    hid = service.slip_household(settings=settings, motion_id=motion_id, household_id=form.household_id,
                                 slip_code=form.slip_code)
    principal = checks.principal
    at_once = await service.check_paper_entry(checks.session, principal=principal, motion_id=motion_id,
                                              household_id=hid, now=now)
    await checks.done()
    if photo is None or photo.size == 0:
        raise Invalid("ballot.photo_required", "请上传签字选票的照片", "A photo of the signed slip is required",
                      errors=[{"loc": ["body", "photo"], "msg": "required"}])
    has_proxy_photo = proxy_photo is not None and proxy_photo.size != 0
    named = service.proxy_fields(name=form.proxy_name, relation=form.proxy_relation, photo_given=has_proxy_photo)
    uploads = [photo] + ([proxy_photo] if named is not None and proxy_photo is not None else [])
    # the photos are processed with no transaction held; enter_paper_ballot checks everything again
    async with staged_images(session, uploads=uploads, settings=settings, storage=storage) as stored:
        proxy = service.ProxyGiven(named[0], named[1], stored[1]) if named is not None else None
        fp = fingerprint(motion_id, hid, choice.value, stored[0].sha256,
                         *((named[0], named[1], stored[1].sha256) if named is not None else ()))
        return await run_idempotent(
            session, request, user_id=principal.user_id, now=now, body_fingerprint=fp, status_code=201,
            produce=lambda: service.enter_paper_ballot(session, settings=settings, principal=principal,
                                                       motion_id=motion_id, household_id=hid, choice=choice,
                                                       photo=stored[0], proxy=proxy, now=now,
                                                       counts_at_once=at_once))


@router.get("/motions/{motion_id}/paper-ballots", response_model=Page[PaperSlipPublic],
            operation_id="voting_paper_slip_list")
async def list_paper_slips(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                           page: PageDep, status: SlipStatus | None = None) -> Page[PaperSlipPublic]:
    """Staff: the motion's double-entered paper slips (`?status=pending|conflict|counted|superseded|uncounted`),
    each with its clerks' entries (photo and authorisation links; entered choices only where the rules profile
    lets staff see choices)."""
    return await service.list_slips(session, principal=principal, motion_id=motion_id, status=status, page=page,
                                    now=clock.now())


@router.post("/motions/{motion_id}/paper-ballots/{slip_id}/resolve", response_model=PaperSlipPublic,
             operation_id="voting_paper_slip_resolve")
async def resolve_paper_slip(motion_id: str, slip_id: str, body: PaperResolveIn, request: Request,
                             session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                             settings: SettingsDep) -> JSONResponse:
    """Staff: resolve a slip in `conflict` from its photo — the given `choice` counts (with a `reason`,
    audited); `proxy_from` says whose proxy details count. Not in conflict: 409 `paper_slip.not_in_conflict`;
    unknown: 404 `paper_slip.not_found`; outside the window: 409 `ballot.window_closed`. Honours
    `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now,
        body_fingerprint=fingerprint(motion_id, slip_id, body.model_dump(mode="json")),
        produce=lambda: service.resolve_slip(session, settings=settings, principal=principal, motion_id=motion_id,
                                             slip_id=slip_id, body=body, now=now))


@router.get("/motions/{motion_id}/paper-entries/{entry_id}/photo", response_class=Response,
            responses=_PHOTO_RESPONSES, operation_id="voting_paper_entry_photo")
async def paper_entry_photo(motion_id: str, entry_id: str, session: SessionDep, principal: PrincipalDep,
                            storage: StorageDep) -> Response:
    """Staff: the slip photo of one clerk's entry of a double-entered slip (metadata stripped)."""
    m = await service.entry_file(session, principal=principal, motion_id=motion_id, entry_id=entry_id,
                                 authorisation=False)
    return await media_response(storage, m)


@router.get("/motions/{motion_id}/paper-entries/{entry_id}/authorisation", response_class=Response,
            responses=_PHOTO_RESPONSES, operation_id="voting_paper_entry_authorisation")
async def paper_entry_authorisation(motion_id: str, entry_id: str, session: SessionDep, principal: PrincipalDep,
                                    storage: StorageDep) -> Response:
    """Staff: the photo of the proxy's signed authorisation given with one clerk's entry."""
    m = await service.entry_file(session, principal=principal, motion_id=motion_id, entry_id=entry_id,
                                 authorisation=True)
    return await media_response(storage, m)


@router.get("/motions/{motion_id}/paper-ballots/{ballot_id}/authorisation", response_class=Response,
            responses=_PHOTO_RESPONSES, operation_id="voting_paper_ballot_authorisation")
async def paper_ballot_authorisation(motion_id: str, ballot_id: str, session: SessionDep, principal: PrincipalDep,
                                     storage: StorageDep) -> Response:
    """Staff: the photo of the signed authorisation of a ballot a proxy cast (metadata stripped)."""
    m = await service.ballot_authorisation(session, principal=principal, motion_id=motion_id, ballot_id=ballot_id)
    return await media_response(storage, m)


@router.get("/motions/{motion_id}/paper-ballots/{ballot_id}/photo", response_class=Response,
            responses=_PHOTO_RESPONSES, operation_id="voting_paper_ballot_photo")
async def paper_ballot_photo(motion_id: str, ballot_id: str, session: SessionDep, principal: PrincipalDep,
                             storage: StorageDep) -> Response:
    """Staff: the slip photo of a paper ballot (metadata stripped)."""
    m = await service.paper_ballot_photo(session, principal=principal, motion_id=motion_id, ballot_id=ballot_id)
    return await media_response(storage, m)


@router.get("/motions/{motion_id}/ballots", response_model=Page[BallotHistoryEntry],
            operation_id="voting_ballot_history")
async def ballot_history(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                         page: PageDep, channel: Channel | None = None) -> Page[BallotHistoryEntry]:
    """Staff: every ballot version in order (`?channel=paper` for paper entries), with who entered it and
    whether it is current; choices only where the rules profile lets staff see them."""
    return await service.ballot_history(session, principal=principal, motion_id=motion_id, channel=channel,
                                        page=page, now=clock.now())


@router.get("/motions/{motion_id}/choices", response_model=Page[HouseholdChoice], operation_id="voting_motion_choices")
async def household_choices(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                            page: PageDep) -> Page[HouseholdChoice]:
    """Staff, only where the rules profile's `staff_see_choices` is true (else 403 `ballot.choices_private`):
    each household in scope with the choice counted for it."""
    return await service.household_choices(session, principal=principal, motion_id=motion_id, page=page,
                                           now=clock.now())


@router.get("/ballot-receipts/{receipt}", response_model=ReceiptCheck, operation_id="voting_receipt_check")
async def check_receipt(receipt: str, session: SessionDep,
                        principal: OptionalPrincipalDep, clock: ClockDep, settings: SettingsDep) -> ReceiptCheck:
    """Anyone holding a receipt: the ballot is recorded as cast (motion, time, channel) and whether it is the
    household's current ballot. The choice is shown only to signed-in members of the household."""
    return await service.check_receipt(session, settings=settings, principal=principal, receipt=receipt,
                                       now=clock.now())


# ---- the electoral roll ----------------------------------------------------------------------------

_ROLL_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {}, "text/csv": {}, spreadsheet.XLSX_TYPE: {}},
    "description": "JSON; staff may ask for `?format=csv` (UTF-8 with BOM) or `?format=xlsx`"}}


def _roll_xlsx(rows: list[list[Any]]) -> bytes:
    wb, ws = spreadsheet.workbook("表决名册")
    for row in rows:
        spreadsheet.append(ws, row)
    return spreadsheet.xlsx_bytes(wb)


@router.get("/motions/{motion_id}/roll", response_model=RollPublic, responses=_ROLL_RESPONSES,
            operation_id="voting_roll_get")
async def get_roll(motion_id: str, session: WriteSessionDep, principal: PrincipalDep, clock: ClockDep,
                   page: PageDep, format: Literal["json", "csv", "xlsx"] = "json") -> Any:  # noqa: A002 - the API's name
    """The electoral roll frozen when the motion opened (the first look after opening freezes it): totals,
    `roll_hash` (see README, "Electoral roll"). Staff: a page of the entries and every amendment, or the whole
    roll with `?format=csv|xlsx`. Residents with a household in scope: totals, hash and their own entries
    (403 `roll.not_in_scope` otherwise). Scheduled: 409 `roll.not_open`."""
    now = clock.now()
    if format == "json":
        return await service.get_roll(session, principal=principal, motion_id=motion_id, page=page, now=now)
    m, header, rows = await service.roll_table(session, principal=principal, motion_id=motion_id, now=now)
    if format == "csv":
        content, media_type = await asyncio.to_thread(spreadsheet.csv_bytes, rows), spreadsheet.CSV_TYPE
    else:
        content, media_type = await asyncio.to_thread(_roll_xlsx, rows), spreadsheet.XLSX_TYPE
    return spreadsheet.download(content, media_type, ascii_name=f"roll-{m.id}.{format}",
                                utf8_name=f"表决名册-{header.roll_hash[:12]}.{format}")


@router.post("/motions/{motion_id}/roll/amendments", response_model=RollAmended, status_code=201,
             operation_id="voting_roll_amend")
async def amend_roll(motion_id: str, body: RollAmendmentIn, request: Request, session: SessionDep,
                     principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: correct the roll of an open motion — `add` a household of the register in scope that is not on it,
    `remove` one, or `correct` one (re-read from the register) — with a reason; audited, and the running tally
    moves in the same transaction. Outside the scope: 422 `roll.out_of_scope`; not on the roll: 422
    `roll.not_listed`; already on it: 409 `roll.already_listed`; closed: 409 `roll.closed`; scheduled: 409
    `roll.not_open`. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(motion_id, body.model_dump(mode="json")),
        produce=lambda: service.amend_roll(session, principal=principal, motion_id=motion_id, body=body, now=now))


# ---- staged results: corrections of the count, result revisions ---------------------------------------

@router.post("/motions/{motion_id}/corrections", response_model=CorrectionResult, status_code=201,
             dependencies=FORM_CHECKED, operation_id="voting_result_correct")
async def correct_result(
    motion_id: str, request: Request, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
    settings: SettingsDep, storage: StorageDep,
    objection_id: Annotated[str, Form(min_length=1, max_length=32)],
    action: Annotated[CorrectionAction, Form()],
    reason: Annotated[str, Form(min_length=1, max_length=500)],
    ballot_id: Annotated[str | None, Form(max_length=32)] = None,
    household_id: Annotated[str | None, Form(max_length=32)] = None,
    choice: Annotated[Choice | None, Form()] = None,
    photo: Annotated[UploadFile | None, File(description="add: photo of the signed slip (JPEG, PNG, WebP, HEIC)")] = None,
) -> JSONResponse:
    """Staff, multipart, after close: correct the count on an ACCEPTED objection (`objection_id`) to one of the
    motion's vote-result notices, with a `reason` — `move` a paper ballot (`ballot_id`) entered for the wrong
    household to the right one (`household_id`), `void` a ballot (`ballot_id`) that should not count, `add`
    a signed slip never entered (`household_id`, `choice`, `photo`), or `reaffirm` the count (no other field:
    the objection was accepted but there is nothing to correct; the `reason` says why the count stands).
    Audited; the tally is recounted from the roll and the current ballots as at close (a `reaffirm` changes
    no ballot: the same counts), stored as the result's next revision (earlier ones: `GET …/results`) and
    republished as a new vote-result notice with a fresh window. Objection not accepted or not about this
    result: 409 `correction.objection_not_accepted` / `correction.objection_not_on_result`; `reaffirm` on an
    objection to an earlier revision: 409 `correction.objection_superseded`; result final: 409
    `correction.result_final`; not closed: 409 `motion.not_closed`; the owner voted after the slip: 409
    `correction.later_ballot`; 422 for fields the action lacks or does not use. Honours `Idempotency-Key`."""
    now = clock.now()
    body = CorrectionIn(objection_id=objection_id, action=action, reason=reason, ballot_id=ballot_id or None,
                        household_id=household_id or None, choice=choice)
    fp = fingerprint(motion_id, body.model_dump(mode="json"))
    if photo is None or photo.size == 0:
        return await run_idempotent(
            session, request, user_id=principal.user_id, now=now, body_fingerprint=fp, status_code=201,
            produce=lambda: service.correct_result(session, settings=settings, principal=principal,
                                                   motion_id=motion_id, body=body, photo=None, now=now))
    await service.check_correction(session, principal=principal, motion_id=motion_id, body=body, photo_given=True,
                                   now=now)
    # the photo is processed with no transaction held; correct_result checks everything again
    async with staged_images(session, uploads=[photo], settings=settings, storage=storage) as (stored,):
        return await run_idempotent(
            session, request, user_id=principal.user_id, now=now, body_fingerprint=fingerprint(fp, stored.sha256),
            status_code=201,
            produce=lambda: service.correct_result(session, settings=settings, principal=principal,
                                                   motion_id=motion_id, body=body, photo=stored, now=now))


@router.get("/motions/{motion_id}/results", response_model=Page[ResultRevisionPublic],
            operation_id="voting_result_revisions")
async def result_revisions(motion_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                           page: PageDep) -> Page[ResultRevisionPublic]:
    """Staff: every revision of the closed motion's stored result, oldest first — the one stored at close and
    one per correction, each with its tally as stored and the correction that produced it; the current one
    with its `result_stage`. Empty before a result is stored."""
    return await service.result_revisions(session, principal=principal, motion_id=motion_id, page=page,
                                          now=clock.now())


# ---- the evidence pack -----------------------------------------------------------------------------

_ZIP_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}},
                                                         "description": "the evidence pack (see README, \"Evidence pack\")"}}


@router.get("/motions/{motion_id}/evidence.zip", response_class=Response, responses=_ZIP_RESPONSES,
            operation_id="voting_motion_evidence")
async def motion_evidence(motion_id: str, session: WriteSessionDep, principal: PrincipalDep, clock: ClockDep,
                          storage: StorageDep) -> Response:
    """Staff, after close (409 `motion.not_closed` before): a zip with the roll and its amendments, the
    participation list (choices only where the rules profile lets staff see them), the stored final tally, the
    motion's notices with objections, its audit entries with the chain head, the slip photos and a manifest
    of sha256 digests. Check it offline with `python -m app evidence-verify FILE.zip`."""
    from app.voting import evidence

    pack = await evidence.gather(session, principal=principal, motion_id=motion_id, storage=storage,
                                 now=clock.now())
    content = await asyncio.to_thread(evidence.zip_bytes, pack)
    return spreadsheet.download(content, "application/zip", ascii_name=f"evidence-{pack.motion_id}.zip",
                                utf8_name=f"表决证据-{pack.roll_hash[:12]}.zip")


# ---- printed ballot slips --------------------------------------------------------------------------

@router.get("/motions/{motion_id}/slips.pdf", response_class=Response,
            responses=printing.pdf_responses("the ballot slips (业主表决票), one A4 page per household"),
            operation_id="voting_slips_pdf")
async def ballot_slips(
    motion_id: str, session: WriteSessionDep, principal: PrincipalDep, settings: SettingsDep, clock: ClockDep,
    building_id: Annotated[str | None, Query(max_length=64, description="only this building's households")] = None,
    unit_id: Annotated[str | None, Query(max_length=64, description="only this unit's households")] = None,
    non_responders_only: Annotated[bool, Query(
        description="only households that have not voted (no current ballot, no paper slip awaiting its second "
                    "entry)")] = False,
) -> Response:
    """Staff who may enter paper ballots: a PDF with one slip per household of the motion's scope — its
    electoral roll once frozen, before that the register's active households in scope — in building, unit,
    room order: the motion's title, the rule in words, the voting window, the household's place and area,
    boxes for 同意 / 不同意 / 弃权, a signature and date line, and the slip code (as a QR code and in print)
    that `POST …/paper-ballots` reads back. Narrowed by `building_id`, `unit_id` (422 `slips.bad_filter` when
    not in the motion's community or scope) and `non_responders_only`. `X-Slip-Count` gives the number of
    slips (none: one page saying so). Audited (`motion.slips_printed`). No CJK font on the server: 503
    `documents.font_missing`."""
    from app.voting import slips

    font = printing.font_file(settings)
    now = clock.now()
    sheet = await service.slip_sheet(session, settings=settings, principal=principal, motion_id=motion_id,
                                     building_id=building_id, unit_id=unit_id,
                                     non_responders_only=non_responders_only, now=now)
    return printing.PdfResponse(partial(slips.build, font, sheet_data=sheet, created=now),
                                ascii_name=f"slips-{sheet.motion_id}.pdf", utf8_name=f"业主表决票-{sheet.title[:60]}.pdf",
                                headers={"X-Slip-Count": str(len(sheet.slips))})
