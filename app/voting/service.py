"""Voting's service: the functions the routes and the other domains call. It only gathers them; each lives in
the module of its job:

* :mod:`app.voting.plans` — a plan is versioned: a revision is version n+1 and the old version stays readable,
  marked superseded.
* :mod:`app.voting.state` — a motion decides by a rule: the explicit one given at creation, or the profile's
  rule for its matter. The rules profile version in force when the motion OPENS is frozen into it (stored the
  first time a write sees it open; until then it is derived from the profile versions' creation times, so it
  never depends on when somebody happens to look). Status comes from the server clock: scheduled → open →
  closed (closes_at passed, or closed by staff).
* :mod:`app.voting.motions` — create, read, list and close motions.
* :mod:`app.voting.ballots` — one ballot per household, replaced until close; every version kept in
  ``ballot``; ``current_ballot`` is upserted (unique per motion and household). Owners with several households
  in scope have ONE choice: their latest ballot counts for all of them (see repository).
* :mod:`app.voting.roll` and :mod:`app.voting.roll_access` — the electoral roll is frozen when the motion
  opens; who may vote, the denominators and owner grouping come from it only: a register change after opening
  changes nothing of an open motion.
* :mod:`app.voting.tallies` — tallies are running: each ballot moves its owner between the buckets of
  ``motion_tally`` in its own transaction, so a tally costs the same at 100 and at 100,000 households; the
  buckets are built from the roll when it is frozen and rebuilt by one aggregate pass after an amendment. The
  final tally is computed at close from the roll and the current ballots (under the motion's lock), compared
  with the running rows (a mismatch is logged and counted; the full count wins), stored once
  (``motion_result``) and served from there ever after.
* :mod:`app.voting.provided` — what other domains ask of voting: the project gate, the ranking's figures,
  turnout's view of a motion, plan versions as funding reads them (``plan_facts``, ``current_plan_facts``).
* :mod:`app.voting.results` — staged results: a closed motion's result is ``provisional`` until its
  vote-result notice has passed with every objection to the count answered, then ``final`` (derived on every
  read from publicity's notices, like a notice's status); the project gate needs final results.
* :mod:`app.voting.corrections` — on an accepted objection to the result notice, staff correct the count (move
  a paper ballot to the right household, void one, add a missing slip): audited, recounted as at close, stored
  as the result's next revision (earlier ones stay readable) and republished with a fresh window.
* :mod:`app.voting.slips` — printed ballot slips for the households that vote on paper: one page each with the
  slip code as a QR code (staff who may enter paper ballots; audited).
"""

from __future__ import annotations

from app.voting.ballots import (
    ballot_history,
    cast_ballot,
    check_paper_ballot,
    check_receipt,
    household_choices,
    paper_ballot_photo,
)
from app.voting.corrections import check_correction, correct_result, result_revisions, results_evidence
from app.voting.motions import close_motion, create_motion, get_motion, list_motions
from app.voting.paper import (
    ProxyGiven,
    ballot_authorisation,
    check_paper_entry,
    enter_paper_ballot,
    entry_file,
    list_slips,
    proxy_fields,
    resolve_slip,
    slip_household,
)
from app.voting.plans import create_plan, get_plan, list_plans, revise_plan
from app.voting.provided import (
    MotionTurnout,
    PlanFacts,
    PlanItemFacts,
    PublishedResult,
    SourceAmount,
    current_plan_facts,
    motion_scope_households,
    motion_turnout,
    motions_gate,
    open_motions_turnout,
    participating_households,
    plan_facts,
    published_results,
    ranking_figures,
)
from app.voting.roll_access import amend_roll, freeze_open_rolls, get_roll, roll_table
from app.voting.slips import SlipSheet, slip_sheet
from app.voting.state import RuleState, motion_or_404, motion_scope, rule_state, status_of
from app.voting.tallies import (
    METRICS,
    close_due_motions,
    closed_motion,
    counts_from_rows,
    counts_of,
    full_counts,
    rebuild_running_tally,
    tally,
)

__all__ = [
    "METRICS", "MotionTurnout", "PlanFacts", "PlanItemFacts", "RuleState", "SourceAmount", "current_plan_facts",
    "plan_facts", "PublishedResult", "published_results", "amend_roll", "ballot_history", "cast_ballot", "check_paper_ballot",
    "check_receipt", "close_due_motions", "close_motion", "closed_motion", "counts_from_rows", "counts_of",
    "create_motion", "create_plan", "freeze_open_rolls", "full_counts", "get_motion", "get_plan", "get_roll",
    "check_correction", "correct_result", "result_revisions", "results_evidence",
    "household_choices", "list_motions", "list_plans", "motion_or_404", "motion_scope", "motion_scope_households",
    "motion_turnout", "motions_gate", "open_motions_turnout", "paper_ballot_photo", "participating_households",
    "ranking_figures", "rebuild_running_tally", "enter_paper_ballot", "check_paper_entry", "ProxyGiven", "ballot_authorisation", "entry_file",
    "list_slips", "proxy_fields", "resolve_slip", "slip_household", "revise_plan", "roll_table", "rule_state",
    "status_of", "tally",
    "SlipSheet", "slip_sheet",
]
