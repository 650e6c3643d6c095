"""Rectification deadlines on the official calendar (app.rules.deadlines).

2026 per the State Council's arrangement as the chinesecalendar data carries it: National Day Thu Oct 1 –
Wed Oct 7 off, Sat Oct 10 a working day; Spring Festival Sun Feb 15 – Mon Feb 23 off, Sat Feb 14 a working
day. 2027 is not in the data: Monday–Friday, provisional.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.rules import SHANGHAI
from app.rules.deadlines import (
    halves_text,
    median_x2,
    rectification_deadline,
    warning_day,
    working_days_overdue,
    working_days_taken,
)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_national_day_2026_by_severity() -> None:
    assigned = sh(2026, 9, 28, 10, 0)  # Monday, during the day: counting starts Tuesday
    due = {n: rectification_deadline(assigned, n) for n in (3, 7, 15)}
    assert due[3].counting_starts == date(2026, 9, 29)
    assert due[3].due_date == date(2026, 10, 8)  # 29, 30, (1–7 off), 8
    assert due[7].due_date == date(2026, 10, 13)  # … 9, Sat 10 (adjusted), 12, 13
    assert due[15].due_date == date(2026, 10, 23)
    assert due[3].closes_at == sh(2026, 10, 9, 0, 0) and due[3].closes_at.utcoffset().total_seconds() == 8 * 3600
    assert not any(d.provisional for d in due.values())


def test_the_assignment_day_counts_only_from_midnight() -> None:
    assert rectification_deadline(sh(2026, 9, 28, 0, 0), 3).due_date == date(2026, 9, 30)
    assert rectification_deadline(sh(2026, 9, 28, 0, 0, 1), 3).due_date == date(2026, 10, 8)
    # the same instant in UTC: Shanghai's date decides (2026-09-27T16:00Z is Monday 00:00 in Shanghai)
    assert rectification_deadline(datetime(2026, 9, 27, 16, 0, tzinfo=UTC), 3).due_date == date(2026, 9, 30)


def test_spring_festival_2026_and_an_uncovered_year() -> None:
    # Friday Feb 13 afternoon: Sat Feb 14 is a working day, then nine days off
    d = rectification_deadline(sh(2026, 2, 13, 15, 0), 3)
    assert (d.counting_starts, d.due_date, d.provisional) == (date(2026, 2, 14), date(2026, 2, 25), False)
    later = rectification_deadline(sh(2027, 2, 5, 10, 0), 3)  # 2027: Mon–Fri only, marked provisional
    assert later.due_date == date(2027, 2, 10) and later.provisional


def test_bad_inputs() -> None:
    for n in (0, 366, True, 2.0):
        with pytest.raises(ValueError):
            rectification_deadline(sh(2026, 9, 28, 10), n)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rectification_deadline(datetime(2026, 9, 28, 10), 3)  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError):
        warning_day(date(2026, 10, 8), -1)


def test_warning_day_is_working_days_before() -> None:
    assert warning_day(date(2026, 10, 8), 1) == date(2026, 9, 30)  # over the National Day week
    assert warning_day(date(2026, 10, 12), 1) == date(2026, 10, 10)  # the adjusted Saturday
    assert warning_day(date(2026, 10, 13), 2) == date(2026, 10, 10)
    assert warning_day(date(2026, 2, 24), 1) == date(2026, 2, 14)  # over the Spring Festival
    assert warning_day(date(2026, 10, 8), 0) == date(2026, 10, 8)
    assert warning_day(date(2026, 10, 11), 1) == date(2026, 10, 10)  # a Sunday due date: the day before works


def test_working_days_overdue_and_taken() -> None:
    due = date(2026, 10, 8)
    assert working_days_overdue(due, date(2026, 10, 8)) == 0
    assert working_days_overdue(due, date(2026, 10, 9)) == 1
    assert working_days_overdue(due, date(2026, 10, 11)) == 2  # Sat 10 works, Sun 11 does not
    assert working_days_overdue(due, date(2026, 9, 1)) == 0
    assigned = sh(2026, 9, 28, 10, 0)
    assert working_days_taken(assigned, sh(2026, 9, 28, 18, 0)) == 0  # the same day
    assert working_days_taken(assigned, sh(2026, 9, 29, 9, 0)) == 1
    assert working_days_taken(assigned, sh(2026, 10, 7, 12, 0)) == 2  # holidays do not count
    assert working_days_taken(assigned, datetime(2026, 10, 7, 17, 0, tzinfo=UTC)) == 3  # Oct 8 01:00 Shanghai
    assert working_days_taken(assigned, sh(2026, 9, 20, 9, 0)) == 0  # before the assignment


def test_median_is_exact() -> None:
    assert median_x2([]) is None
    assert median_x2([3]) == 6 and halves_text(6) == "3"
    assert median_x2([4, 1]) == 5 and halves_text(5) == "2.5"
    assert median_x2([5, 1, 3]) == 6
    assert median_x2([0, 0, 1, 2]) == 1 and halves_text(1) == "0.5"
    assert halves_text(0) == "0" and halves_text(-1) == "-0.5" and halves_text(-4) == "-2"
