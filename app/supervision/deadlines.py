"""Which deadline an action sets: the rules profile's working days for the report's severity, counted on the
official calendar from the day after the action (:func:`app.rules.deadlines.rectification_deadline`).

``assign``, ``reject`` (failed verification) and ``reopen`` to rectifying each set a new deadline. The one
taking the action may give a ``due_date`` instead: an earlier one (shortening) is always accepted; a later
one than the profile's needs a ``reason`` (422 ``report.deadline_reason_required`` without one), and the
event and the audit entry record the standard due date, the working days and the reason. A due date in the
past is 422 ``report.due_date_past``. Every deadline moves the report's ``deadline_seq``, so the worker warns
and escalates once per deadline (:mod:`app.supervision.alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.core.errors import Invalid
from app.register.profiles import RulesProfile
from app.rules.deadlines import rectification_deadline
from app.supervision.models import Report


@dataclass(frozen=True)
class DeadlineChoice:
    """The due date set, the profile's standard one, and what the report and the event record of it."""

    due_date: date
    standard_due_date: date
    working_days: int
    extended: bool
    provisional: bool

    def values(self, report: Report) -> dict[str, Any]:
        return {"due_date": self.due_date, "deadline_working_days": self.working_days,
                "deadline_seq": report.deadline_seq + 1}

    def data(self, reason: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"due_date": self.due_date.isoformat(),
                               "standard_due_date": self.standard_due_date.isoformat(),
                               "working_days": self.working_days, "extended": self.extended}
        if self.provisional:
            out["provisional"] = True
        if self.extended:
            out["extension_reason"] = reason
        return out


def choose_deadline(report: Report, profile: RulesProfile, *, now: datetime, today: date, given: date | None,
                    reason: str | None) -> DeadlineChoice:
    """The deadline an action taken at ``now`` sets (``today``: its Shanghai date); see the module doc."""
    n = profile.rectification_days(report.severity)
    standard = rectification_deadline(now, n)
    if given is None:
        return DeadlineChoice(standard.due_date, standard.due_date, n, False, standard.provisional)
    if given < today:
        raise Invalid("report.due_date_past", "整改期限不能早于今天", "The due date is in the past",
                      errors=[{"loc": ["body", "due_date"], "msg": "before today (Asia/Shanghai)"}])
    extended = given > standard.due_date
    if extended and not (reason and reason.strip()):
        raise Invalid("report.deadline_reason_required",
                      f"整改期限超过规定的 {n} 个工作日（{standard.due_date.isoformat()}），请填写理由",
                      f"A due date after the profile's {n} working days ({standard.due_date.isoformat()}) needs a reason",
                      errors=[{"loc": ["body", "reason"], "msg": "required when the due date is later than "
                                                                 f"{standard.due_date.isoformat()}"}],
                      standard_due_date=standard.due_date.isoformat(), working_days=n)
    return DeadlineChoice(given, standard.due_date, n, extended, standard.provisional)
