"""Endpoints of the residents' share ledger: the funding view, split rules, pledges, collections, refunds, the
households page and the street office's workbook."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from app.auth.deps import PrincipalDep
from app.core import spreadsheet
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.idempotency import fingerprint, run_idempotent
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.funding import service
from app.funding.schemas import (
    CollectionIn,
    FundingView,
    HouseholdFunding,
    PaymentRecorded,
    PledgeRequest,
    PledgesFromQuestionnaire,
    QuestionnairePledges,
    RefundIn,
    SplitRequest,
)
from app.funding.service import LedgerBook

router = api_router("funding")
PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("/plans/{plan_id}/funding", response_model=FundingView, operation_id="funding_get")
async def get_funding(plan_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> FundingView:
    """Per item of the project's current plan with a residents' share (then the items a revision dropped): budget,
    sources, share, split, pledged, collected (net of refunds), what counts, what is short, and the status
    (`funding`, `funded`, `dropped`). Residents also get their own households' shares, pledges and payments.
    Staff, admins and residents of the community."""
    return await service.funding_view(session, principal=principal, plan_id=plan_id, now=clock.now())


@router.put("/plans/{plan_id}/funding/split", response_model=FundingView, operation_id="funding_split_set")
async def set_split(plan_id: str, body: SplitRequest, session: SessionDep, principal: PrincipalDep,
                    clock: ClockDep) -> FundingView:
    """Staff: how each item's residents' share is split — `by_area` (exclusive area), `equal` (per household),
    `opted_in` (among the households that pledge for it) — in fen, largest remainder. 409 `funding.split_locked`
    once anyone has pledged or paid for the item. Shares follow the register until the item's first collection
    freezes its roll (households and areas); `recompute_shares` with a `reason` takes the roll again from the
    register (audited `funding.shares_recomputed`; 409 `funding.shares_not_frozen` before the first collection,
    422 `funding.reason_required` without a reason, 422 `funding.nothing_to_change` for an item with neither)."""
    return await service.set_split(session, principal=principal, plan_id=plan_id, body=body, now=clock.now())


@router.put("/plans/{plan_id}/pledges", response_model=HouseholdFunding, operation_id="funding_pledge")
async def pledge(plan_id: str, body: PledgeRequest, request: Request, session: SessionDep, principal: PrincipalDep,
                 clock: ClockDep) -> JSONResponse:
    """A household's pledges for items of the current plan: an owner or co-owner for their household, staff for
    any household from a signed paper form. Without an amount the pledge is "my share": stored without one, it
    counts the household's share as it stands whenever read; 0 withdraws. Out of the item's scope: 422
    `funding.household_out_of_scope`; funded or dropped item: 409 `funding.item_funded` / `funding.item_dropped`
    (an opt-in to an `opted_in` item is never refused because the item is covered); superseded plan version: 409
    `plan.superseded`. Returns the household's lines. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.pledge(session, principal=principal, plan_id=plan_id, body=body, now=now))


@router.post("/plans/{plan_id}/pledges:from-questionnaire", response_model=QuestionnairePledges,
             operation_id="funding_pledges_from_questionnaire")
async def pledges_from_questionnaire(plan_id: str, body: PledgesFromQuestionnaire, request: Request,
                                     session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: the answers to the amount question of a closed contribution questionnaire become pledges for one
    item in one step (skipped: households outside the item's scope, zero amounts and — unless `replace` — those
    that already pledged). 409 `funding.questionnaire_open` while it is open. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.pledges_from_questionnaire(session, principal=principal, plan_id=plan_id, body=body,
                                                           now=now))


@router.post("/plans/{plan_id}/collections", response_model=PaymentRecorded, status_code=201,
             operation_id="funding_collection_record")
async def record_collection(plan_id: str, body: CollectionIn, request: Request, session: SessionDep,
                            principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: money received from a household for an item (amount in fen, date, method, receipt number). A
    household outside the item's scope (its frozen roll, once collection started): 422
    `funding.household_out_of_scope`; the household's payments beyond its share without `over_share`: 422
    `funding.over_collected` (`share_fen`, `paid_fen`, `max_fen`); a date after today: 422
    `funding.date_in_future`; a receipt number already recorded: 409 `funding.receipt_taken`. The item's first
    collection freezes its shares. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.record_collection(session, principal=principal, plan_id=plan_id, body=body, now=now))


@router.post("/plans/{plan_id}/refunds", response_model=PaymentRecorded, status_code=201,
             operation_id="funding_refund_record")
async def record_refund(plan_id: str, body: RefundIn, request: Request, session: SessionDep,
                        principal: PrincipalDep, clock: ClockDep) -> JSONResponse:
    """Staff: money paid back to a household for an item (also a dropped one), up to what it paid net (422
    `funding.refund_exceeds_paid`), with a reason. Honours `Idempotency-Key`."""
    now = clock.now()
    return await run_idempotent(
        session, request, user_id=principal.user_id, now=now, status_code=201,
        body_fingerprint=fingerprint(plan_id, body.model_dump(mode="json")),
        produce=lambda: service.record_refund(session, principal=principal, plan_id=plan_id, body=body, now=now))


@router.get("/plans/{plan_id}/funding/households", response_model=Page[HouseholdFunding],
            operation_id="funding_households")
async def list_households(plan_id: str, session: SessionDep, principal: PrincipalDep,
                          page: PageDep) -> Page[HouseholdFunding]:
    """Staff: every household in an item's scope, or with a pledge or payment, by id — its share, pledge and
    payments per item."""
    return await service.households_page(session, principal=principal, plan_id=plan_id, page=page)


def _ledger_xlsx(book: LedgerBook) -> bytes:
    wb, ws = spreadsheet.workbook(book.sheets[0][0])
    for i, (title, rows) in enumerate(book.sheets):
        sheet = ws if i == 0 else wb.create_sheet(title)
        for row in rows:
            spreadsheet.append(sheet, row)
    return spreadsheet.xlsx_bytes(wb)


_XLSX: dict[int | str, dict[str, Any]] = {200: {"content": {spreadsheet.XLSX_TYPE: {}},
                                                "description": "the ledger workbook: items, households, payments"}}


@router.get("/plans/{plan_id}/funding/ledger.xlsx", response_class=Response, responses=_XLSX,
            operation_id="funding_ledger_xlsx")
async def ledger_xlsx(plan_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Staff and the street office: the residents' share ledger as a workbook (资金汇总, 分户明细, 收退款记录),
    written by the shared spreadsheet writer."""
    book = await service.ledger_book(session, principal=principal, plan_id=plan_id)
    content = await asyncio.to_thread(_ledger_xlsx, book)
    return spreadsheet.download(content, spreadsheet.XLSX_TYPE, ascii_name=f"funding-{book.plan_id}.xlsx",
                                utf8_name=f"居民出资台账-第{book.plan_version}版.xlsx")
