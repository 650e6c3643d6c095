"""Survey endpoints: catalogs, questionnaires (create, edit, open, close), responses (online and paper),
results and their CSV / XLSX export, the electoral roll of a questionnaire whose rule counts households (read,
export, amend) and its evidence pack. Reads that may freeze a roll (results, the roll, the pack) run in a
write transaction."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from app.auth.deps import PrincipalDep
from app.core import spreadsheet
from app.core.clock import ClockDep
from app.core.db import SessionDep, WriteSessionDep
from app.core.idempotency import fingerprint, run_idempotent
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
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
    SurveyRollAmended,
    SurveyRollAmendmentIn,
    SurveyRollPublic,
)

router = api_router("surveys")

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
async def results(questionnaire_id: str, session: WriteSessionDep, principal: PrincipalDep, clock: ClockDep) -> Results:
    """Counts and exact shares per question and catalog item, participation, and the profile's rule outcome.
    Staff any time; residents in scope after close (403 ``survey.results_not_public``)."""
    return await service.results(session, principal=principal, questionnaire_id=questionnaire_id, now=clock.now())


@router.get("/questionnaires/{questionnaire_id}/results.csv", response_class=Response, responses=_CSV,
            operation_id="survey_results_csv", name="survey_results_csv")
async def results_csv(questionnaire_id: str, session: WriteSessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> Response:
    """Staff: the results as CSV (UTF-8 with BOM)."""
    r = await service.results_for_export(session, principal=principal, questionnaire_id=questionnaire_id,
                                         now=clock.now())
    ascii_name, utf8_name = export.filenames(r, "csv")
    return spreadsheet.download(await asyncio.to_thread(export.to_csv, r), export.CSV_TYPE,
                                ascii_name=ascii_name, utf8_name=utf8_name)


@router.get("/questionnaires/{questionnaire_id}/results.xlsx", response_class=Response, responses=_XLSX,
            operation_id="survey_results_xlsx", name="survey_results_xlsx")
async def results_xlsx(questionnaire_id: str, session: WriteSessionDep, principal: PrincipalDep,
                       clock: ClockDep) -> Response:
    """Staff: the results as an XLSX workbook."""
    r = await service.results_for_export(session, principal=principal, questionnaire_id=questionnaire_id,
                                         now=clock.now())
    ascii_name, utf8_name = export.filenames(r, "xlsx")
    return spreadsheet.download(await asyncio.to_thread(export.to_xlsx, r), export.XLSX_TYPE,
                                ascii_name=ascii_name, utf8_name=utf8_name)


# ---- the electoral roll ----------------------------------------------------------------------------

_ROLL_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {}, "text/csv": {}, spreadsheet.XLSX_TYPE: {}},
    "description": "JSON; staff may ask for `?format=csv` (UTF-8 with BOM) or `?format=xlsx`"}}


def _roll_xlsx(rows: list[list[Any]]) -> bytes:
    wb, ws = spreadsheet.workbook("征询名册")
    for row in rows:
        spreadsheet.append(ws, row)
    return spreadsheet.xlsx_bytes(wb)


@router.get("/questionnaires/{questionnaire_id}/roll", response_model=SurveyRollPublic, responses=_ROLL_RESPONSES,
            operation_id="survey_roll_get", name="survey_roll_get")
async def get_roll(questionnaire_id: str, session: WriteSessionDep, principal: PrincipalDep, clock: ClockDep,
                   page: Annotated[PageParams, Depends(page_params)],
                   format: Literal["json", "csv", "xlsx"] = "json") -> Any:  # noqa: A002 - the API's name
    """The electoral roll of a questionnaire whose rule counts households, frozen when it opened (the first look
    after opening freezes it): totals, `roll_hash` (see README, "Electoral roll"). Staff: a page of the entries
    and every amendment, or the whole roll with `?format=csv|xlsx`. Residents with a household in scope: totals,
    hashes and their own entries. Before opening: 409 `roll.not_open`; no roll: 409 `roll.none`."""
    now = clock.now()
    if format == "json":
        return await service.get_roll(session, principal=principal, questionnaire_id=questionnaire_id, page=page,
                                      now=now)
    q, header, rows = await service.roll_table(session, principal=principal, questionnaire_id=questionnaire_id,
                                               now=now)
    if format == "csv":
        content, media_type = await asyncio.to_thread(spreadsheet.csv_bytes, rows), spreadsheet.CSV_TYPE
    else:
        content, media_type = await asyncio.to_thread(_roll_xlsx, rows), spreadsheet.XLSX_TYPE
    return spreadsheet.download(content, media_type, ascii_name=f"roll-{q.id}.{format}",
                                utf8_name=f"征询名册-{header.roll_hash[:12]}.{format}")


@router.post("/questionnaires/{questionnaire_id}/roll/amendments", response_model=SurveyRollAmended,
             status_code=201, operation_id="survey_roll_amend", name="survey_roll_amend")
async def amend_roll(questionnaire_id: str, body: SurveyRollAmendmentIn, request: Request, session: SessionDep,
                     principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: correct the roll of an open questionnaire — `add` a household of the register in scope that is not
    on it, `remove` one, or `correct` one (re-read from the register) — with a reason; audited, and the results
    (counted from the roll) move in the same transaction. Outside the scope: 422 `roll.out_of_scope`; not on the
    roll: 422 `roll.not_listed`; already on it: 409 `roll.already_listed`; closed: 409 `roll.closed`; before
    opening: 409 `roll.not_open`; no roll: 409 `roll.none`. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(questionnaire_id, body.model_dump(mode="json")),
        produce=lambda: service.amend_roll(session, principal=principal, questionnaire_id=questionnaire_id,
                                           body=body, now=now))


# ---- the evidence pack -----------------------------------------------------------------------------

_ZIP_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}},
                                                         "description": "the evidence pack (see README, \"Evidence pack\")"}}


@router.get("/questionnaires/{questionnaire_id}/evidence.zip", response_class=Response, responses=_ZIP_RESPONSES,
            operation_id="survey_evidence", name="survey_evidence")
async def questionnaire_evidence(questionnaire_id: str, session: WriteSessionDep, principal: PrincipalDep,
                                 clock: ClockDep) -> Response:
    """Staff, after close (409 `survey.not_closed` before) of a questionnaire with a roll (409 `roll.none`): a
    zip with the roll and its amendments, the participation list (answers only where the rules profile lets
    staff see choices), the results, the questionnaire's audit entries with the chain head and a manifest of
    sha256 digests. Check it offline with `python -m app evidence-verify FILE.zip`."""
    from app.surveys import evidence

    pack = await evidence.gather(session, principal=principal, questionnaire_id=questionnaire_id, now=clock.now())
    content = await asyncio.to_thread(evidence.zip_bytes, pack)
    return spreadsheet.download(content, "application/zip", ascii_name=f"evidence-{pack.questionnaire_id}.zip",
                                utf8_name=f"征询证据-{pack.roll_hash[:12]}.zip")
