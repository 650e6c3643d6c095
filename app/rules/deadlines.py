"""Rectification deadlines (整改期限) on the official working-day calendar, and the figures measured against
them. Pure code on :mod:`app.rules.calendar`; time is passed in.

* **Deadline**: ``N`` working days counted from the day after the assignment — the assignment day is a
  partial day and does not count (Civil Code art. 201, as for notices), unless the assignment is made at
  exactly 00:00 Shanghai. The due date is the Nth working day; it ends at 24:00 Asia/Shanghai. Statutory
  holidays do not count and adjusted working Saturdays/Sundays (调休) do. Years the calendar does not cover
  fall back to Monday–Friday and the deadline is ``provisional``.
* **Warning day**: the ``M``th working day before the due date (``M = 1``: the working day before it;
  ``M = 0``: the due date itself).
* **Overdue**: the Shanghai date is after the due date. **Working days overdue**: working days after the due
  date up to and including today.
* **Working days taken** to rectify: working days from the assignment's first counted day up to and including
  the Shanghai date of the rectification (rectified on the assignment day: 0; on the next working day: 1).
* **Median** of whole working days, exact: the median of integers is a multiple of ½, so it is handled as
  twice the median (an integer, :func:`median_x2`) and written "3" or "3.5" (:func:`halves_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.rules.calendar import business_date, counting_start, is_working_day, window_for, working_days_between

MAX_DEADLINE_WORKING_DAYS = 365


@dataclass(frozen=True)
class Deadline:
    """A rectification deadline: the first counted day, the due date (its Nth working day) and 24:00
    Shanghai of that date (``closes_at``)."""

    counting_starts: date
    due_date: date
    closes_at: datetime
    working_days: int
    provisional: bool


def rectification_deadline(assigned_at: datetime, working_days: int) -> Deadline:
    """The deadline of a rectification assigned at ``assigned_at`` (aware) with ``working_days`` (1–365)."""
    if isinstance(working_days, bool) or not isinstance(working_days, int) or not (
            1 <= working_days <= MAX_DEADLINE_WORKING_DAYS):
        raise ValueError(f"working_days must be an integer from 1 to {MAX_DEADLINE_WORKING_DAYS}, got {working_days!r}")
    start = counting_start(assigned_at)
    w = window_for(start, working_days)
    return Deadline(counting_starts=start, due_date=w.end_date, closes_at=w.closes_at, working_days=working_days,
                    provisional=w.provisional)


def warning_day(due_date: date, working_days_before: int) -> date:
    """The day the assignee is warned: the ``working_days_before``th working day before ``due_date`` (0: the
    due date itself)."""
    if isinstance(working_days_before, bool) or not isinstance(working_days_before, int) or working_days_before < 0:
        raise ValueError(f"working_days_before must be a non-negative integer, got {working_days_before!r}")
    day, counted = due_date, 0
    while counted < working_days_before:
        day -= timedelta(days=1)
        if is_working_day(day).working:
            counted += 1
    return day


def working_days_overdue(due_date: date, today: date) -> int:
    """Working days after ``due_date`` up to and including ``today`` (0 while not overdue)."""
    if today <= due_date:
        return 0
    return working_days_between(due_date + timedelta(days=1), today)[0]


def working_days_taken(assigned_at: datetime, done_at: datetime) -> int:
    """Working days from the assignment's first counted day through the Shanghai date of ``done_at``."""
    return working_days_between(counting_start(assigned_at), business_date(done_at))[0]


def median_x2(values: Sequence[int]) -> int | None:
    """Twice the median of integers (so it is an integer: the median itself may end in ½); None if empty."""
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return 2 * s[mid] if n % 2 else s[mid - 1] + s[mid]


def halves_text(x2: int) -> str:
    """A number given as twice its value, written exactly: 7 → "3.5", 6 → "3", −1 → "-0.5"."""
    sign = "-" if x2 < 0 else ""
    whole, half = divmod(abs(x2), 2)
    return f"{sign}{whole}.5" if half else f"{sign}{whole}"
