"""Money in the open (阳光操作): the residents' share of plan items — how it is split among households,
what households pledge, what is collected and refunded — and whether it is covered, which gates
approved → construction.

This module is the face of the domain: the routes, the composition root and publicity import it. The work is
done in

============================  ================================================================================
``app.funding.lines``         the ledger lines (one per item with a residents' share, kept across plan
                              versions), their status, and each household's share (``app.rules.shares``)
``app.funding.common``        finding the plan and its project, errors, shared shapes
``app.funding.views``         the funding view, a resident's own households, staff's household pages, the
                              street office's workbook
``app.funding.entries``       pledges, pledges from a contribution questionnaire, collections, refunds, split
``app.funding.provided``      the ``funding_complete`` gate, the disclosure behind the funding notice, the plan
                              listener
============================  ================================================================================
"""

from __future__ import annotations

from app.funding.entries import (
    pledge,
    pledges_from_questionnaire,
    record_collection,
    record_refund,
    set_split,
)
from app.funding.provided import (
    GATE_NAME,
    DisclosedHousehold,
    DisclosedItem,
    DisclosedSource,
    FundingDisclosure,
    disclosure,
    funding_gate,
    on_plan_version,
)
from app.funding.views import LedgerBook, funding_view, households_page, ledger_book

__all__ = [
    "GATE_NAME",
    "DisclosedHousehold",
    "DisclosedItem",
    "DisclosedSource",
    "FundingDisclosure",
    "LedgerBook",
    "disclosure",
    "funding_gate",
    "funding_view",
    "households_page",
    "ledger_book",
    "on_plan_version",
    "pledge",
    "pledges_from_questionnaire",
    "record_collection",
    "record_refund",
    "set_split",
]
