"""Survey endpoints: catalogs, questionnaires (create, edit, open, close), responses (online and paper),
results and their CSV / XLSX export."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from app.auth.deps import PrincipalDep
from app.core import spreadsheet
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.idempotency import fingerprint, run_idempotent
from app.core.pagination import Page, PageParams, page_params
from app.surveys import export, service
from app.surveys.schemas import (
    CatalogPublic,
    OpenRequest,
    PaperResponseIn,
    QuestionnaireCreate,
    QuestionnairePublic,
    QuestionnaireSummary,
    QuestionnaireUpdate,
    ResponseHistory,
    ResponseIn,
    ResponsePublic,
    Results,
)

router = APIRouter(tags=["surveys"])

_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with BOM, Chinese headers"}}
_XLSX: dict[int | str, dict[str, Any]] = {200: {"content": {export.XLSX_TYPE: {}}, "description": "XLSX workbook, Chinese headers"}}


@router.get("/catalogs/{name}", response_model=CatalogPublic, operation_id="survey_catalog_get", name="survey_catalog_get")
async def get_catalog(name: str, session: SessionDep, principal: PrincipalDep) -> CatalogPublic:
    """A renovation content catalog (改造内容清单): ``linyi`` (36 items) or ``qingdao`` (27 items with
    selection class mandatory / recommended / optional). Any signed-in user."""
    return await service.get_catalog(session, principal=principal, name=name)


@router.post("/projects/{project_id}/questionnaires", response_model=QuestionnairePublic, status_code=201,
             operation_id="survey_questionnaire_create", name="survey_questionnaire_create")
async def create_questionnaire(project_id: str, body: QuestionnaireCreate, request: Request, session: SessionDep,
                               principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff create a draft: custom ``questions`` and/or ``from_catalog: true`` (one catalog_items question
    listing every item of the profile's catalog; mandatory items need no vote). Honours ``Idempotency-Key``."""
    now = clock.now()

    async def produce() -> QuestionnairePublic:
        return await service.create_questionnaire(session, principal=principal, project_id=project_id, body=body,
                                                  now=now)

    return await run_idempotent(session, request, user_id=principal.user_id, now=now,
                                body_fingerprint=fingerprint(body.model_dump(mode="json")), produce=produce,
                                status_code=201)


@router.get("/projects/{project_id}/questionnaires", response_model=Page[QuestionnaireSummary],
            operation_id="survey_questionnaire_list", name="survey_questionnaire_list")
async def list_questionnaires(project_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                              page: Annotated[PageParams, Depends(page_params)]) -> Page[QuestionnaireSummary]:
    """Newest first. Staff see every questionnaire; residents those past draft that take in their household."""
    return await service.list_questionnaires(session, principal=principal, project_id=project_id, page=page,
                                             now=clock.now())


@router.get("/questionnaires/{questionnaire_id}", response_model=QuestionnairePublic,
            operation_id="survey_questionnaire_get", name="survey_questionnaire_get")
async def get_questionnaire(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                            clock: ClockDep) -> QuestionnairePublic:
    """Questions, window and status (by the server clock), and the caller's households in scope with their
    current responses. Residents in scope and staff."""
    return await service.get_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id,
                                           now=clock.now())


@router.patch("/questionnaires/{questionnaire_id}", response_model=QuestionnairePublic,
              operation_id="survey_questionnaire_update", name="survey_questionnaire_update")
async def update_questionnaire(questionnaire_id: str, body: QuestionnaireUpdate, session: SessionDep,
                               principal: PrincipalDep, clock: ClockDep) -> QuestionnairePublic:
    """Staff edit a draft; 409 ``survey.frozen`` once it is open."""
    return await service.update_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id,
                                              body=body, now=clock.now())


@router.post("/questionnaires/{questionnaire_id}/open", response_model=QuestionnairePublic,
             operation_id="survey_open", name="survey_open")
async def open_questionnaire(questionnaire_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep,
                             body: Annotated[OpenRequest | None, Body()] = None) -> QuestionnairePublic:
    """Staff open a draft (optionally with ``opens_at`` / ``closes_at``); questions freeze."""
    return await service.open_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id,
                                            body=body, now=clock.now())


@router.post("/questionnaires/{questionnaire_id}/close", response_model=QuestionnairePublic,
             operation_id="survey_close", name="survey_close")
async def close_questionnaire(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                              clock: ClockDep) -> QuestionnairePublic:
    """Staff close an open questionnaire (it also closes by itself at ``closes_at``)."""
    return await service.close_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id,
                                             now=clock.now())


@router.put("/questionnaires/{questionnaire_id}/response", response_model=ResponsePublic,
            operation_id="survey_respond", name="survey_respond")
async def respond(questionnaire_id: str, body: ResponseIn, request: Request, session: SessionDep,
                  principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """An owner / co-owner answers for the household (``household_id`` required when acting for several in
    scope); replaces the current response until close. 422 ``survey.invalid_answers``, 409
    ``survey.window_closed``, 403 ``survey.not_permitted_relation``. Honours ``Idempotency-Key``."""
    now = clock.now()

    async def produce() -> ResponsePublic:
        return await service.respond(session, principal=principal, questionnaire_id=questionnaire_id, body=body,
                                     now=now)

    return await run_idempotent(session, request, user_id=principal.user_id, now=now,
                                body_fingerprint=fingerprint(body.model_dump(mode="json")), produce=produce)


@router.get("/questionnaires/{questionnaire_id}/response/history", response_model=ResponseHistory,
            operation_id="survey_response_history", name="survey_response_history")
async def response_history(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                           household_id: Annotated[str | None, Query(max_length=32)] = None) -> ResponseHistory:
    """Every version of a household's response (who, when, channel)."""
    return await service.response_history(session, principal=principal, questionnaire_id=questionnaire_id,
                                          household_id=household_id)


@router.post("/questionnaires/{questionnaire_id}/paper-responses", response_model=ResponsePublic, status_code=201,
             operation_id="survey_paper_response", name="survey_paper_response")
async def paper_response(questionnaire_id: str, body: PaperResponseIn, request: Request, session: SessionDep,
                         principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff enter a door-to-door paper form (入户问卷) for a household in scope: channel ``paper``.
    Honours ``Idempotency-Key``."""
    now = clock.now()

    async def produce() -> ResponsePublic:
        return await service.record_paper_response(session, principal=principal, questionnaire_id=questionnaire_id,
                                                   body=body, now=now)

    return await run_idempotent(session, request, user_id=principal.user_id, now=now,
                                body_fingerprint=fingerprint(body.model_dump(mode="json")), produce=produce,
                                status_code=201)


@router.get("/questionnaires/{questionnaire_id}/results", response_model=Results, operation_id="survey_results", name="survey_results")
async def results(questionnaire_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> Results:
    """Counts and exact shares per question and catalog item, participation, and the profile's rule outcome.
    Staff any time; residents in scope after close (403 ``survey.results_not_public``)."""
    return await service.results(session, principal=principal, questionnaire_id=questionnaire_id, now=clock.now())


@router.get("/questionnaires/{questionnaire_id}/results.csv", response_class=Response, responses=_CSV,
            operation_id="survey_results_csv", name="survey_results_csv")
async def results_csv(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> Response:
    """Staff: the results as CSV (UTF-8 with BOM)."""
    r = await service.results_for_export(session, principal=principal, questionnaire_id=questionnaire_id,
                                         now=clock.now())
    ascii_name, utf8_name = export.filenames(r, "csv")
    return spreadsheet.download(await asyncio.to_thread(export.to_csv, r), export.CSV_TYPE,
                                ascii_name=ascii_name, utf8_name=utf8_name)


@router.get("/questionnaires/{questionnaire_id}/results.xlsx", response_class=Response, responses=_XLSX,
            operation_id="survey_results_xlsx", name="survey_results_xlsx")
async def results_xlsx(questionnaire_id: str, session: SessionDep, principal: PrincipalDep,
                       clock: ClockDep) -> Response:
    """Staff: the results as an XLSX workbook."""
    r = await service.results_for_export(session, principal=principal, questionnaire_id=questionnaire_id,
                                         now=clock.now())
    ascii_name, utf8_name = export.filenames(r, "xlsx")
    return spreadsheet.download(await asyncio.to_thread(export.to_xlsx, r), export.XLSX_TYPE,
                                ascii_name=ascii_name, utf8_name=utf8_name)
