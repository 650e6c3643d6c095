"""Supervision endpoints: roster, photo reports and their lifecycle, the street office's views, figures and
ledger, acceptance, and photo serving."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from app.auth.deps import PrincipalDep
from app.auth.models import Role
from app.core import spreadsheet
from app.core.clock import ClockDep
from app.core.content import ScreenDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import Invalid
from app.core.idempotency import fingerprint, run_idempotent
from app.core.limits import FORM_CHECKED
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.media.schemas import ModerationRequest, ModerationResult, PhotoPublic
from app.media.serving import media_response
from app.media.storage import StorageDep
from app.media.visibility import visible_media
from app.supervision import service
from app.supervision.models import Severity, Status
from app.supervision.schemas import (
    AcceptanceCreate,
    AcceptancePublic,
    AppointmentPublic,
    ContractorAppoint,
    JurisdictionSupervisionStats,
    ProjectSupervisionStats,
    ReportFields,
    ReportPublic,
    ReportSummary,
    SignaturesAdd,
    StreetOfficeReport,
    SupervisorAppoint,
    TransitionRequest,
)

router = api_router("supervision")

PhotosField = Annotated[list[UploadFile], File(description="1–9 images (JPEG, PNG, WebP, HEIC), repeated field")]


def _fields(**values: str | None) -> ReportFields:
    try:
        return ReportFields.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        errors = [{"loc": ["body", *[p for p in e["loc"] if isinstance(p, (str, int))]], "msg": str(e["msg"])[:300]}
                  for e in exc.errors()[:50]]
        raise Invalid(errors=errors) from None


# ---- roster ----------------------------------------------------------------------------------------

@router.post("/projects/{project_id}/supervisors", response_model=AppointmentPublic, status_code=201,
             operation_id="supervision_supervisor_appoint")
async def appoint_supervisor(project_id: str, body: SupervisorAppoint, session: SessionDep, principal: PrincipalDep,
                             clock: ClockDep) -> AppointmentPublic:
    """Staff appoint a volunteer supervisor: an existing `user_id` of the project's community (a household
    member, its staff, or appointed to one of its projects; anyone else: 404 `user.not_found`), or
    `name`+`phone` for a new account (with optional `username`+`password` so the person can sign in).
    Grants the supervisor role on the project. The answer masks a phone that comes from the account."""
    return await service.appoint_supervisor(session, principal=principal, project_id=project_id, body=body,
                                            now=clock.now())


@router.get("/projects/{project_id}/supervisors", response_model=list[AppointmentPublic],
            operation_id="supervision_supervisor_list")
async def list_supervisors(project_id: str, session: SessionDep, principal: PrincipalDep) -> list[AppointmentPublic]:
    """The roster (anyone related to the project); phones masked except for staff."""
    return await service.roster(session, principal=principal, project_id=project_id, role=Role.SUPERVISOR)


@router.post("/projects/{project_id}/contractors", response_model=AppointmentPublic, status_code=201,
             operation_id="supervision_contractor_appoint")
async def appoint_contractor(project_id: str, body: ContractorAppoint, session: SessionDep, principal: PrincipalDep,
                             clock: ClockDep) -> AppointmentPublic:
    """Staff give a contractor's person an account on the project (role contractor) so reports can be
    assigned to them: `name`+`phone` for a new account, or a `user_id` under the supervisors' rule."""
    return await service.appoint_contractor(session, principal=principal, project_id=project_id, body=body,
                                            now=clock.now())


@router.get("/projects/{project_id}/contractors", response_model=list[AppointmentPublic],
            operation_id="supervision_contractor_list")
async def list_contractors(project_id: str, session: SessionDep, principal: PrincipalDep) -> list[AppointmentPublic]:
    return await service.roster(session, principal=principal, project_id=project_id, role=Role.CONTRACTOR)


# ---- reports ---------------------------------------------------------------------------------------

@router.post("/projects/{project_id}/reports", response_model=ReportPublic, status_code=201,
             dependencies=FORM_CHECKED, operation_id="supervision_report_file")
async def file_report(
    project_id: str, request: Request, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
    settings: SettingsDep, storage: StorageDep, photos: PhotosField, screen: ScreenDep,
    catalog_item: Annotated[str, Form(max_length=200)],
    severity: Annotated[str, Form(max_length=10)],
    description: Annotated[str, Form(max_length=4000)],
    building_id: Annotated[str | None, Form(max_length=32)] = None,
    unit_id: Annotated[str | None, Form(max_length=32)] = None,
    building: Annotated[str | None, Form(max_length=50)] = None,
    unit: Annotated[str | None, Form(max_length=50)] = None,
    gps_lat: Annotated[str | None, Form(max_length=20)] = None,
    gps_lon: Annotated[str | None, Form(max_length=20)] = None,
) -> JSONResponse:
    """multipart/form-data. Supervisors of the project; residents only during the warranty after acceptance
    (403 `report.not_in_warranty`). 1–9 `photos` (422 `report.too_many_photos`); every photo is checked
    before anything is recorded, with no database transaction held meanwhile (the checks run again before
    the report is recorded). Honours `Idempotency-Key`. A WeChat user's typed title and description are
    checked by WeChat (msgSecCheck): 422 `content.rejected` when risky (nothing stored), `content_check`
    `review` (the filer and staff only) when WeChat asks for review or cannot answer; their photos stay
    `pending_check` (the filer and staff only) until WeChat's verdict or staff release them."""
    now = clock.now()
    fields = _fields(building_id=building_id, unit_id=unit_id, building=building, unit=unit, gps_lat=gps_lat,
                     gps_lon=gps_lon, catalog_item=catalog_item, severity=severity, description=description)
    await service.prepare_report(session, principal=principal, project_id=project_id, fields=fields, now=now)
    async with service.staged_photos(session, photos=photos, settings=settings, storage=storage) as stored:
        fp = fingerprint(project_id, fields.model_dump(mode="json"), [s.sha256 for s in stored])
        return await run_idempotent(
            session, request, user_id=principal.user_id, now=now, body_fingerprint=fp, status_code=201,
            produce=lambda: service.file_report(session, principal=principal, project_id=project_id, fields=fields,
                                                photos=stored, now=now, screen=screen))


@router.get("/projects/{project_id}/reports", response_model=Page[ReportSummary], operation_id="supervision_report_list")
async def list_reports(
    project_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: Status | None = None, severity: Severity | None = None, overdue: bool | None = None,
    building_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[ReportSummary]:
    """Newest first. Staff and supervisors see all; a contractor only reports assigned to them; a resident
    only their own."""
    return await service.list_reports(session, principal=principal, project_id=project_id, page=page,
                                      now=clock.now(), status=status, severity=severity.value if severity else None,
                                      overdue=overdue, building_id=building_id)


@router.get("/reports/{report_id}", response_model=ReportPublic, operation_id="supervision_report_get")
async def get_report(report_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> ReportPublic:
    """With events, photos and after-photos (ids and URLs; taken-at and GPS only for staff) and the actions
    the caller may take now."""
    return await service.get_report(session, principal=principal, report_id=report_id, now=clock.now())


@router.post("/reports/{report_id}/photos", response_model=list[PhotoPublic], status_code=201,
             dependencies=FORM_CHECKED, operation_id="supervision_report_photos_add")
async def add_report_photos(report_id: str, request: Request, session: SessionDep, principal: PrincipalDep,
                            clock: ClockDep, settings: SettingsDep, storage: StorageDep,
                            photos: PhotosField) -> JSONResponse:
    """The assigned contractor uploads after-photos (1–9 per call) while rectifying; then `rectify` names
    them in `photo_ids`. Checked again after the photos are processed (reassigned meanwhile: 404; no longer
    rectifying: 409 `report.invalid_transition`), nothing stored then."""
    now = clock.now()
    await service.check_rectification_upload(session, principal=principal, report_id=report_id)
    async with service.staged_photos(session, photos=photos, settings=settings, storage=storage) as stored:
        return await run_idempotent(
            session, request, user_id=principal.user_id, now=now, status_code=201,
            body_fingerprint=fingerprint(report_id, [s.sha256 for s in stored]),
            produce=lambda: service.add_rectification_photos(session, principal=principal, report_id=report_id,
                                                             photos=stored, now=now))


@router.post("/reports/{report_id}/transitions", response_model=ReportPublic,
             operation_id="supervision_report_transition")
async def transition_report(report_id: str, body: TransitionRequest, session: SessionDep, principal: PrincipalDep,
                            clock: ClockDep) -> ReportPublic:
    """`acknowledge` (staff) · `assign` {assignee_id, due_date?, reason?} (staff, to a contractor of the
    project; the deadline defaults to the rules profile's working days for the severity, a later `due_date`
    needs a `reason`) · `rectify` {photo_ids} (the assignee; after-photos far from the report's GPS mark it
    `location_unverified`) · `verify` (a supervisor, never the contractor) · `reject` {note, due_date?}
    (failed verification, the same supervisors: back to rectifying with a new deadline) · `close` (staff) ·
    `dismiss` {reason} (staff) · `reopen` {to?, due_date?} (staff or supervisor). `reject` and `reopen` count
    in `reopen_count`; the profile's `reopen_flag_at`-th flags the report for the street office. The reporter
    is told of every transition. Wrong state: 409 `report.invalid_transition` with `allowed_actions`; wrong
    role: 403."""
    return await service.transition(session, principal=principal, report_id=report_id, body=body, now=clock.now())


# ---- figures, the ledger and the street office -----------------------------------------------------

_XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {spreadsheet.XLSX_TYPE: {}},
                                                          "description": "the ledger as an XLSX workbook"}}


@router.get("/projects/{project_id}/supervision-stats", response_model=ProjectSupervisionStats,
            operation_id="supervision_project_stats")
async def project_stats(project_id: str, session: SessionDep, principal: PrincipalDep,
                        clock: ClockDep) -> ProjectSupervisionStats:
    """Staff, admins and the project's supervisors: reports by status, severity and catalog item; overdue
    share, median working days to rectify (exact, "3.5"), reopenings, flags and unverified locations, also
    per contractor."""
    return await service.project_stats(session, principal=principal, project_id=project_id, now=clock.now())


@router.get("/projects/{project_id}/rectification-ledger.xlsx", response_class=Response, responses=_XLSX_RESPONSE,
            operation_id="supervision_rectification_ledger")
async def rectification_ledger(project_id: str, session: SessionDep, principal: PrincipalDep,
                               clock: ClockDep) -> Response:
    """Staff and admins: the project's 整改台账, one row per report (XLSX)."""
    content, ascii_name, utf8_name = await service.ledger(session, principal=principal, project_id=project_id,
                                                          now=clock.now())
    return spreadsheet.download(content, spreadsheet.XLSX_TYPE, ascii_name=ascii_name, utf8_name=utf8_name)


@router.get("/jurisdictions/{jurisdiction_id}/overdue-reports", response_model=Page[StreetOfficeReport],
            operation_id="supervision_overdue_reports")
async def overdue_reports(jurisdiction_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                          page: Annotated[PageParams, Depends(page_params)]) -> Page[StreetOfficeReport]:
    """The street office (the jurisdiction's admins; global admins): reports past their due date, and reports
    reopened the profile's `reopen_flag_at` times and not yet settled, newest first, with when it was escalated.
    Staff of communities of the jurisdiction: the same for their communities only. Anyone else: 404."""
    return await service.overdue_reports(session, principal=principal, jurisdiction_id=jurisdiction_id, page=page,
                                         now=clock.now())


@router.get("/jurisdictions/{jurisdiction_id}/supervision-stats", response_model=JurisdictionSupervisionStats,
            operation_id="supervision_jurisdiction_stats")
async def jurisdiction_stats(jurisdiction_id: str, session: SessionDep, principal: PrincipalDep,
                             clock: ClockDep) -> JurisdictionSupervisionStats:
    """The street office: the project figures over the whole jurisdiction, per project and per contractor.
    Staff of communities of the jurisdiction: over their communities only (named in `community_ids`; null for
    the whole jurisdiction). Anyone else: 404."""
    return await service.jurisdiction_stats(session, principal=principal, jurisdiction_id=jurisdiction_id,
                                            now=clock.now())


# ---- acceptance ------------------------------------------------------------------------------------

@router.post("/projects/{project_id}/acceptance", response_model=AcceptancePublic, status_code=201,
             operation_id="supervision_acceptance_record")
async def record_acceptance(project_id: str, body: AcceptanceCreate, session: SessionDep, principal: PrincipalDep,
                            clock: ClockDep) -> AcceptancePublic:
    """Staff record the completion acceptance with the residents' representatives who signed; sets the
    project's accepted_at (the warranty starts) and creates a draft satisfaction questionnaire."""
    return await service.record_acceptance(session, principal=principal, project_id=project_id, body=body,
                                           now=clock.now())


@router.get("/projects/{project_id}/acceptance", response_model=AcceptancePublic,
            operation_id="supervision_acceptance_get")
async def get_acceptance(project_id: str, session: SessionDep, principal: PrincipalDep) -> AcceptancePublic:
    return await service.get_acceptance(session, principal=principal, project_id=project_id)


@router.post("/projects/{project_id}/acceptance/signatures", response_model=AcceptancePublic,
             operation_id="supervision_acceptance_sign")
async def add_signatures(project_id: str, body: SignaturesAdd, session: SessionDep, principal: PrincipalDep,
                         clock: ClockDep) -> AcceptancePublic:
    """Staff add representatives who signed later."""
    return await service.add_signatures(session, principal=principal, project_id=project_id, body=body,
                                        now=clock.now())


@router.post("/projects/{project_id}/acceptance/photos", response_model=AcceptancePublic,
             dependencies=FORM_CHECKED, operation_id="supervision_acceptance_photos_add")
async def add_acceptance_photos(project_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                                settings: SettingsDep, storage: StorageDep, photos: PhotosField) -> AcceptancePublic:
    """multipart/form-data, 1–9 `photos` of the acceptance (staff)."""
    await service.check_acceptance_upload(session, principal=principal, project_id=project_id)
    async with service.staged_photos(session, photos=photos, settings=settings, storage=storage) as stored:
        return await service.add_acceptance_photos(session, principal=principal, project_id=project_id,
                                                   photos=stored, now=clock.now())


# ---- photos ----------------------------------------------------------------------------------------

_PHOTO_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "application/pdf": {}},
                          "description": "the stored version, without metadata"}}


@router.get("/photos/{photo_id}", response_class=Response, responses=_PHOTO_RESPONSES, operation_id="media_photo_get")
async def get_photo(photo_id: str, session: SessionDep, principal: PrincipalDep, storage: StorageDep) -> Response:
    """Only to those who may see the photo's owner (others: 404). EXIF/GPS stripped."""
    m = await visible_media(session, principal=principal, media_id=photo_id)
    return await media_response(storage, m, thumbnail=False)


@router.get("/photos/{photo_id}/thumbnail", response_class=Response, responses=_PHOTO_RESPONSES,
            operation_id="media_photo_thumbnail")
async def get_photo_thumbnail(photo_id: str, session: SessionDep, principal: PrincipalDep,
                              storage: StorageDep) -> Response:
    m = await visible_media(session, principal=principal, media_id=photo_id)
    return await media_response(storage, m, thumbnail=True)


# ---- WeChat's content check: staff's decision on a report's text ------------------------------------

@router.post("/moderation/reports/{report_id}/approve", response_model=ModerationResult,
             operation_id="moderation_report_approve")
async def approve_report(report_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                         body: ModerationRequest | None = None) -> ModerationResult:
    """Staff approve a report's text held for review (or rejected before): supervisors see the report.
    Audited (`content.approved`); 409 `moderation.already_decided`."""
    return await service.moderate_report(session, principal=principal, report_id=report_id, approve=True,
                                         reason=body.reason if body else None, now=clock.now())


@router.post("/moderation/reports/{report_id}/reject", response_model=ModerationResult,
             operation_id="moderation_report_reject")
async def reject_report(report_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                        body: ModerationRequest | None = None) -> ModerationResult:
    """Staff reject a report's text: only staff, the filer and an assignee see it (it is still followed up).
    Audited (`content.rejected`); 409 `moderation.already_decided`."""
    return await service.moderate_report(session, principal=principal, report_id=report_id, approve=False,
                                         reason=body.reason if body else None, now=clock.now())
