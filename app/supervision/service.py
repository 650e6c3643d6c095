"""Quality supervision, as the rest of the app calls it: the roster, photo reports and their lifecycle,
acceptance, the photo checks and the two gates.

The rules live in the parts this module gathers: :mod:`~app.supervision.roster`,
:mod:`~app.supervision.reports` (who sees a report, filing, rectification photos),
:mod:`~app.supervision.lifecycle` (the table of actions), :mod:`~app.supervision.acceptance` and
:mod:`~app.supervision.common` (dates, the warranty, staged photos).
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
from app.supervision.common import (
    MAX_AFTER_PHOTOS,
    in_warranty,
    is_overdue,
    no_photos,
    staged_photos,
    too_many_photos,
    warranty_until,
)
from app.supervision.lifecycle import ACTIONS, allowed_actions
from app.supervision.reports import (
    ReportDraft,
    add_rectification_photos,
    check_rectification_upload,
    critical_reports_gate,
    file_report,
    get_report,
    list_reports,
    prepare_report,
    report_photo_visible,
    transition,
)
from app.supervision.roster import appoint_contractor, appoint_supervisor, roster, roster_text

__all__ = [
    "ACTIONS",
    "MAX_AFTER_PHOTOS",
    "SATISFACTION_QUESTIONS",
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
    "list_reports",
    "no_photos",
    "prepare_report",
    "record_acceptance",
    "report_photo_visible",
    "roster",
    "roster_text",
    "staged_photos",
    "too_many_photos",
    "transition",
    "warranty_until",
]
