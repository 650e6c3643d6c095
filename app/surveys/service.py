"""Renovation willingness and needs questionnaires (意愿与需求征询): building them (custom or from the
profile's catalog), their window, one current response per household, and results.

* Status by the server clock: stored ``draft`` / ``open`` / ``closed``; an open questionnaire whose
  ``opens_at`` is ahead is ``scheduled``, one whose ``closes_at`` has passed is ``closed`` although nobody
  called /close.
* Responses: one current row per (questionnaire, household), upserted; every version kept with who, when and
  the channel (online / paper); the answers are stored one row per part for GROUP BY results.
* Results: per question counts and exact shares; per catalog item the want-count against ALL households in
  scope; the profile's willingness rule (and content rule for catalog items) through ``app.rules.evaluate``
  with counts built in SQL, one owner one choice (``app.rules.count_electorate`` semantics).

This module is the face of the domain: the routes, the composition root and other domains import it. The
work is done in

================================  ==========================================================================
``app.surveys.common``            errors, status by the clock, scope, loading a questionnaire, shared views
``app.surveys.questions``         the catalogs; building and checking a questionnaire's questions
``app.surveys.questionnaires``    create, edit, open, close, read and list questionnaires
``app.surveys.answers``           checking answers; online and paper responses; a response's history
``app.surveys.results``           results and the export's figures; the rules on the owner tallies
``app.surveys.facts``             the ``survey_passed`` gate, the ranking's figures, turnout's facts,
                                  funding's amount answers
``app.surveys.roll``              the electoral roll of a questionnaire whose rule counts households
``app.surveys.evidence``          the evidence pack of a closed questionnaire and its offline check
================================  ==========================================================================
"""

from __future__ import annotations

from app.surveys.answers import record_paper_response, respond, response_history, validate_answers
from app.surveys.common import auth_scope, effective_status, scope_of
from app.surveys.facts import (
    GATE_NAME,
    AmountAnswer,
    AmountAnswers,
    TurnoutFacts,
    amount_answers,
    open_turnout_facts,
    ranking_figures,
    turnout_facts,
    willingness_gate,
)
from app.surveys.questionnaires import (
    close_questionnaire,
    create_questionnaire,
    create_questionnaire_for,
    get_questionnaire,
    list_questionnaires,
    open_questionnaire,
    questionnaire_scope_households,
    update_questionnaire,
)
from app.surveys.questions import (
    build_questions,
    catalog_entries,
    catalog_item_title,
    ensure_catalogs,
    get_catalog,
)
from app.surveys.results import compute_results, results, results_for_export
from app.surveys.roll import (
    amend_roll,
    freeze_due_rolls,
    freeze_open_rolls,
    get_roll,
    lock_open_rolls,
    roll_table,
)

__all__ = [
    "GATE_NAME",
    "AmountAnswer",
    "AmountAnswers",
    "amount_answers",
    "TurnoutFacts",
    "amend_roll",
    "auth_scope",
    "build_questions",
    "catalog_entries",
    "catalog_item_title",
    "close_questionnaire",
    "compute_results",
    "create_questionnaire",
    "create_questionnaire_for",
    "effective_status",
    "ensure_catalogs",
    "freeze_due_rolls",
    "freeze_open_rolls",
    "get_catalog",
    "get_roll",
    "get_questionnaire",
    "list_questionnaires",
    "lock_open_rolls",
    "open_questionnaire",
    "open_turnout_facts",
    "questionnaire_scope_households",
    "ranking_figures",
    "record_paper_response",
    "respond",
    "response_history",
    "results",
    "results_for_export",
    "roll_table",
    "scope_of",
    "turnout_facts",
    "update_questionnaire",
    "validate_answers",
    "willingness_gate",
]
