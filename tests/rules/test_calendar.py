"""Working days under the official calendar.

Expected dates are hard-coded from the State Council's 2026 holiday arrangement (国务院办公厅关于2026年
部分节假日安排的通知), as carried by the installed chinesecalendar data:
- New Year's Day: Jan 1–3 off; Sun Jan 4 is a working day.
- Spring Festival: Sun Feb 15 – Mon Feb 23 off (9 days); Sat Feb 14 and Sat Feb 28 are working days.
- Mid-Autumn Festival: Fri Sep 25 – Sun Sep 27 off.
- National Day: Thu Oct 1 – Wed Oct 7 off; Sun Sep 20 and Sat Oct 10 are working days.
2027 is not covered: Monday–Friday, provisional.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.rules import (
    SHANGHAI,
    Window,
    business_date,
    counting_start,
    first_working_day,
    is_working_day,
    window_for,
    window_state,
    working_days_between,
    working_days_left,
)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ---- single days --------------------------------------------------------------------------------

def test_spring_festival_2026_days() -> None:
    saturday_before = is_working_day(date(2026, 2, 14))
    assert saturday_before.working and saturday_before.adjusted_for == "春节" and not saturday_before.provisional
    for day in range(15, 24):
        info = is_working_day(date(2026, 2, day))
        assert not info.working and info.holiday_name == "春节" and not info.provisional, info
    assert is_working_day(date(2026, 2, 24)).working          # Tuesday, back to work
    saturday_after = is_working_day(date(2026, 2, 28))
    assert saturday_after.working and saturday_after.adjusted_for == "春节"
    sunday = is_working_day(date(2026, 3, 1))                   # an ordinary Sunday
    assert not sunday.working and sunday.holiday_name is None and sunday.adjusted_for is None
    assert is_working_day(date(2026, 3, 2)).working


def test_national_day_2026_days() -> None:
    assert is_working_day(date(2026, 9, 20)).working            # Sunday, 调休
    assert [is_working_day(date(2026, 9, d)).working for d in (25, 26, 27)] == [False] * 3  # Mid-Autumn
    assert is_working_day(date(2026, 9, 25)).holiday_name == "中秋"
    for day in range(1, 8):
        info = is_working_day(date(2026, 10, day))
        assert not info.working and info.holiday_name == "国庆节", info
    assert is_working_day(date(2026, 10, 8)).working            # Thursday
    assert is_working_day(date(2026, 10, 10)).working           # Saturday, 调休
    assert not is_working_day(date(2026, 10, 11)).working       # Sunday


def test_day_info_is_truthy_when_working() -> None:
    assert is_working_day(date(2026, 2, 14))
    assert not is_working_day(date(2026, 2, 16))


def test_years_outside_the_data_fall_back_to_monday_to_friday() -> None:
    friday = is_working_day(date(2027, 1, 1))  # surely a holiday, but not published yet
    assert friday.working and friday.provisional and friday.holiday_name is None
    saturday = is_working_day(date(2027, 1, 2))
    assert not saturday.working and saturday.provisional
    assert is_working_day(date(2003, 10, 1)).provisional        # before the data starts


def test_datetimes_are_not_dates() -> None:
    with pytest.raises(TypeError):
        is_working_day(datetime(2026, 2, 14, 12, tzinfo=SHANGHAI))


# ---- windows ------------------------------------------------------------------------------------

def test_window_across_spring_festival_2026() -> None:
    # Thu 12, Fri 13, Sat 14 (调休), holiday 15–23, Tue 24, Wed 25
    w = window_for(date(2026, 2, 12), 5)
    assert w == Window(date(2026, 2, 12), date(2026, 2, 25), sh(2026, 2, 26), 5, False)
    assert w.closes_at == datetime(2026, 2, 25, 16, 0, tzinfo=UTC)  # 24:00 Shanghai
    assert w.to_dict() == {"start_date": "2026-02-12", "end_date": "2026-02-25",
                           "closes_at": "2026-02-26T00:00:00+08:00", "working_days": 5, "provisional": False}


def test_window_started_on_a_holiday() -> None:
    # starts Mon Feb 16 (holiday): counting begins Tue 24; 24, 25, 26, 27 and Sat 28 (调休)
    w = window_for(date(2026, 2, 16), 5)
    assert (w.start_date, w.end_date, w.provisional) == (date(2026, 2, 16), date(2026, 2, 28), False)
    assert first_working_day(date(2026, 2, 16)).date == date(2026, 2, 24)
    assert window_for(date(2026, 2, 16), 1).end_date == date(2026, 2, 24)
    # starting on an adjusted working Saturday counts that Saturday
    assert window_for(date(2026, 2, 14), 1).end_date == date(2026, 2, 14)
    # starting on the last holiday day of New Year: Jan 3 off, Sun Jan 4 works, then Mon–Thu 5–8
    assert window_for(date(2026, 1, 3), 5).end_date == date(2026, 1, 8)


def test_window_across_national_day_2026() -> None:
    # Tue 29, Wed 30, holiday Oct 1–7, Thu 8, Fri 9, Sat 10 (调休)
    w = window_for(date(2026, 9, 29), 5)
    assert w.end_date == date(2026, 10, 10) and w.closes_at == sh(2026, 10, 11)
    # from Wed 30: 30, 8, 9, 10, then Sun 11 is a rest day → Mon 12
    assert window_for(date(2026, 9, 30), 5).end_date == date(2026, 10, 12)
    # Sun Sep 20 (调休) counts, then Mon–Thu 21–24
    assert window_for(date(2026, 9, 20), 5).end_date == date(2026, 9, 24)
    # Wed 23, Thu 24, Mid-Autumn 25–27, Mon 28, Tue 29, Wed 30
    assert window_for(date(2026, 9, 23), 5).end_date == date(2026, 9, 30)


def test_window_crossing_into_2027_is_provisional() -> None:
    # Mon Dec 28 – Thu Dec 31 are official working days; 2027 falls back to Mon–Fri: Fri Jan 1 counts
    w = window_for(date(2026, 12, 28), 5)
    assert (w.end_date, w.provisional) == (date(2027, 1, 1), True)
    # Wed 30, Thu 31, Fri Jan 1, Mon Jan 4, Tue Jan 5
    assert window_for(date(2026, 12, 30), 5).end_date == date(2027, 1, 5)
    assert window_for(date(2027, 1, 4), 5) == Window(date(2027, 1, 4), date(2027, 1, 8), sh(2027, 1, 9), 5, True)
    # four working days stay inside 2026: not provisional
    assert window_for(date(2026, 12, 28), 4).provisional is False


def test_a_window_is_provisional_if_any_day_fell_back() -> None:
    # 2003 is before the data: Mon Dec 29 – Wed Dec 31 by Mon–Fri; 2004 is official: Thu Jan 1 New Year's
    # Day off, Fri Jan 2 works, Sat–Sun off, Mon Jan 5 works
    w = window_for(date(2003, 12, 29), 5)
    assert (w.end_date, w.provisional) == (date(2004, 1, 5), True)
    assert working_days_between(date(2003, 12, 31), date(2004, 1, 5)) == (3, True)


@pytest.mark.parametrize("n", [0, -1, 366, True, 5.0])
def test_window_length_is_bounded(n) -> None:
    with pytest.raises(ValueError):
        window_for(date(2026, 3, 2), n)


def test_longest_window_terminates() -> None:
    w = window_for(date(2026, 3, 2), 365)
    assert w.provisional and w.end_date.year == 2027


# ---- counting start, business date --------------------------------------------------------------

def test_counting_start_partial_day_never_counts() -> None:
    assert counting_start(sh(2026, 3, 2, 0, 0, 0)) == date(2026, 3, 2)
    assert counting_start(sh(2026, 3, 2, 0, 0, 1)) == date(2026, 3, 3)
    assert counting_start(sh(2026, 3, 2, 0, 0, 0) + timedelta(microseconds=1)) == date(2026, 3, 3)
    assert counting_start(sh(2026, 3, 2, 23, 59, 59)) == date(2026, 3, 3)
    # the same instants given in UTC
    assert counting_start(datetime(2026, 3, 1, 16, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert counting_start(datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert counting_start(datetime(2026, 3, 1, 16, 0, 1, tzinfo=UTC)) == date(2026, 3, 3)
    with pytest.raises(ValueError):
        counting_start(datetime(2026, 3, 2))


def test_business_date() -> None:
    assert business_date(datetime(2026, 2, 25, 15, 59, 59, tzinfo=UTC)) == date(2026, 2, 25)
    assert business_date(datetime(2026, 2, 25, 16, 0, tzinfo=UTC)) == date(2026, 2, 26)
    with pytest.raises(ValueError):
        business_date(datetime(2026, 2, 25, 12))


# ---- counting working days ----------------------------------------------------------------------

def test_working_days_between_across_a_holiday() -> None:
    # Feb 9–13 (5), Sat 14 (调休), Feb 24–27 (4), Sat 28 (调休) = 11
    assert working_days_between(date(2026, 2, 9), date(2026, 2, 28)) == (11, False)
    # Mon Sep 28, Tue 29, Wed 30, Thu Oct 8, Fri 9, Sat 10 = 6
    assert working_days_between(date(2026, 9, 28), date(2026, 10, 11)) == (6, False)
    assert working_days_between(date(2026, 2, 15), date(2026, 2, 23)) == (0, False)
    assert working_days_between(date(2026, 2, 14), date(2026, 2, 14)) == (1, False)
    assert working_days_between(date(2026, 3, 2), date(2026, 3, 1)) == (0, False)
    # Thu Dec 31 plus Fri Jan 1 and Mon Jan 4 under the fallback
    assert working_days_between(date(2026, 12, 31), date(2027, 1, 4)) == (3, True)


def test_working_days_between_is_bounded() -> None:
    with pytest.raises(ValueError):
        working_days_between(date(2010, 1, 1), date(2026, 1, 1))


def test_window_state_and_days_left() -> None:
    w = window_for(date(2026, 2, 12), 5)  # Feb 12, 13, 14, 24, 25
    assert window_state(w, sh(2026, 2, 11, 23, 59, 59)) == "scheduled"
    assert working_days_left(w, sh(2026, 2, 11, 23, 59, 59)) == 5
    assert window_state(w, sh(2026, 2, 12)) == "open"
    assert working_days_left(w, sh(2026, 2, 12)) == 5
    assert working_days_left(w, sh(2026, 2, 13, 10)) == 4     # today (Fri 13) counts
    assert working_days_left(w, sh(2026, 2, 16, 10)) == 2     # holiday: 24 and 25 remain
    assert working_days_left(w, sh(2026, 2, 25, 23, 59, 59)) == 1
    assert window_state(w, sh(2026, 2, 26)) == "ended"
    assert working_days_left(w, sh(2026, 2, 26)) == 0
    assert window_state(w, datetime(2026, 2, 25, 15, 59, tzinfo=UTC)) == "open"
    assert window_state(w, datetime(2026, 2, 25, 16, 0, tzinfo=UTC)) == "ended"
    with pytest.raises(ValueError):
        window_state(w, datetime(2026, 2, 20))
