"""Quality supervision, as the rest of the app calls it: the roster, photo reports and their lifecycle,
deadlines with their warnings and escalations, the street office's views, figures and ledger, acceptance,
the photo checks and the two gates.

The rules live in the parts this module gathers: :mod:`~app.supervision.roster`,
:mod:`~app.supervision.reports` (who sees a report, filing, rectification photos),
:mod:`~app.supervision.lifecycle` (the table of actions), :mod:`~app.supervision.deadlines` (which deadline
an action sets), :mod:`~app.supervision.spot` (same-spot after-photos), :mod:`~app.supervision.alerts` (who
is told what; the worker's deadline round), :mod:`~app.supervision.stats` and :mod:`~app.supervision.ledger`
(the street office), :mod:`~app.supervision.acceptance` and :mod:`~app.supervision.common` (dates, the
warranty, staged photos). Messages leave through the outbox contract of :mod:`~app.supervision.contracts`.
"""

from __future__ import annotations

from app.supervision.acceptance import (
    SATISFACTION_QUESTIONS,
    acceptance_gate,
    acceptance_photo_visible,
    add_acceptance_photos,
    add_signatures,
    check_acceptance_upload,
    get_acceptance,
    record_acceptance,
)
from app.supervision.alerts import AlertRun, run_deadline_alerts
from app.supervision.common import (
    MAX_AFTER_PHOTOS,
    in_warranty,
    is_overdue,
    no_photos,
    staged_photos,
    too_many_photos,
    warranty_until,
)
from app.supervision.ledger import ledger
from app.supervision.lifecycle import ACTIONS, allowed_actions
from app.supervision.reports import (
    ReportDraft,
    add_rectification_photos,
    check_rectification_upload,
    critical_reports_gate,
    file_report,
    get_report,
    list_reports,
    moderate_report,
    prepare_report,
    report_photo_visible,
    transition,
)
from app.supervision.roster import appoint_contractor, appoint_supervisor, roster, roster_text
from app.supervision.stats import jurisdiction_stats, overdue_reports, project_stats

__all__ = [
    "ACTIONS",
    "MAX_AFTER_PHOTOS",
    "SATISFACTION_QUESTIONS",
    "AlertRun",
    "ReportDraft",
    "acceptance_gate",
    "acceptance_photo_visible",
    "add_acceptance_photos",
    "add_rectification_photos",
    "add_signatures",
    "allowed_actions",
    "appoint_contractor",
    "appoint_supervisor",
    "check_acceptance_upload",
    "check_rectification_upload",
    "critical_reports_gate",
    "file_report",
    "get_acceptance",
    "get_report",
    "in_warranty",
    "is_overdue",
    "jurisdiction_stats",
    "ledger",
    "list_reports",
    "moderate_report",
    "no_photos",
    "overdue_reports",
    "prepare_report",
    "project_stats",
    "record_acceptance",
    "report_photo_visible",
    "roster",
    "roster_text",
    "run_deadline_alerts",
    "staged_photos",
    "too_many_photos",
    "transition",
    "warranty_until",
]
