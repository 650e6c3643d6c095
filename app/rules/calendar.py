"""Working days under China's official calendar (statutory holidays and adjusted working days, 调休).

Uses the `chinesecalendar` data. Years it does not cover fall back to Monday–Friday and every result
built on such a day is marked provisional. Time is always passed in; nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar.constants import Holiday

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_WORKING_DAYS = 365
MAX_SPAN_DAYS = 3660

_HOLIDAY_ZH = {h.value: h.chinese for h in Holiday}


def _check_date(d: date) -> None:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"a calendar date is required, got {d!r}")


def _check_aware(moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


@dataclass(frozen=True)
class DayInfo:
    """One day: working or not, whether the fallback was used, and the holiday it belongs to.

    `holiday_name` is set on statutory holiday days (not working); `adjusted_for` names the holiday an
    adjusted working Saturday/Sunday (调休) belongs to. Truthy exactly when the day is a working day.
    """

    date: date
    working: bool
    provisional: bool
    holiday_name: str | None = None
    adjusted_for: str | None = None

    def __bool__(self) -> bool:
        return self.working


def is_working_day(d: date) -> DayInfo:
    """Official calendar for `d`; outside its years, Monday–Friday with provisional=True."""
    _check_date(d)
    return _day_info(d)


@lru_cache(maxsize=4096)
def _day_info(d: date) -> DayInfo:
    """The calendar data is fixed for the life of the process, and every notice of a list asks for the same
    few days (its working days left), so each day is looked up once: the library scans its whole table of
    holidays on every call (issue 17)."""
    try:
        working = chinese_calendar.is_workday(d)
        _, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:
        return DayInfo(d, d.weekday() < 5, True)
    name_zh = None if name is None else _HOLIDAY_ZH.get(name, str(name))
    if working:
        return DayInfo(d, True, False, None, name_zh)
    return DayInfo(d, False, False, name_zh, None)


def first_working_day(d: date) -> DayInfo:
    """The first working day on or after `d`."""
    _check_date(d)
    for offset in range(MAX_SPAN_DAYS):
        info = is_working_day(d + timedelta(days=offset))
        if info.working:
            return info
    raise ValueError(f"no working day within {MAX_SPAN_DAYS} days of {d.isoformat()}")  # pragma: no cover


def end_of_day(d: date) -> datetime:
    """24:00 of a Shanghai date, i.e. 00:00 Asia/Shanghai of the next day."""
    _check_date(d)
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=SHANGHAI)


def start_of_day(d: date) -> datetime:
    """00:00 Asia/Shanghai of a date."""
    _check_date(d)
    return datetime.combine(d, time(0), tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Window:
    """A publicity window: from start_date 00:00 to 24:00 of end_date (its Nth working day), Shanghai."""

    start_date: date
    end_date: date
    closes_at: datetime
    working_days: int
    provisional: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form (ISO dates, closes_at with its +08:00 offset)."""
        return {
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "closes_at": self.closes_at.isoformat(),
            "working_days": self.working_days,
            "provisional": self.provisional,
        }


def window_for(start_date: date, working_days: int) -> Window:
    """Window whose end is the Nth working day on or after start_date (start_date counts if working)."""
    _check_date(start_date)
    if isinstance(working_days, bool) or not isinstance(working_days, int) or not (
            1 <= working_days <= MAX_WORKING_DAYS):
        raise ValueError(f"working_days must be an integer from 1 to {MAX_WORKING_DAYS}, got {working_days!r}")
    counted = 0
    provisional = False
    day = start_date
    while True:
        info = is_working_day(day)
        provisional = provisional or info.provisional
        if info.working:
            counted += 1
            if counted == working_days:
                return Window(start_date, day, end_of_day(day), working_days, provisional)
        day += timedelta(days=1)


def business_date(now: datetime) -> date:
    """The Asia/Shanghai date of an aware datetime."""
    _check_aware(now)
    return now.astimezone(SHANGHAI).date()


def counting_start(published_at: datetime) -> date:
    """First day that counts: a partial day never counts (Civil Code art. 201).

    Published exactly at 00:00:00 Shanghai → that date; any later moment → the next day.
    """
    _check_aware(published_at)
    local = published_at.astimezone(SHANGHAI)
    if local.time() == time(0):
        return local.date()
    return local.date() + timedelta(days=1)


def is_partial_day(start_date: date, published_at: datetime) -> bool:
    """Whether a notice published at ``published_at`` loses its start date: published during that day,
    after 00:00 Shanghai. A later start date is a whole day (False), and so is an earlier one (nothing is
    published into the past)."""
    _check_date(start_date)
    return business_date(published_at) == start_date and counting_start(published_at) > start_date


@dataclass(frozen=True)
class PublicityWindow:
    """A notice's window: the start date asked for, the first day that counts (the next day when the start
    date is a partial day, Civil Code art. 201), the Nth working day counted from it and 24:00 Shanghai of
    that day (``closes_at``, an aware datetime in Asia/Shanghai: it serialises with ``+08:00``)."""

    start_date: date
    counting_starts: date
    partial_day_excluded: bool
    end_date: date
    closes_at: datetime
    working_days: int
    provisional: bool


def publicity_window(start_date: date, working_days: int, *, partial_day: bool) -> PublicityWindow:
    """The one window computation of notices and of their preview; ``partial_day`` (see
    :func:`is_partial_day`) moves the first counted day to the day after ``start_date``."""
    _check_date(start_date)
    counting = start_date + timedelta(days=1) if partial_day else start_date
    w = window_for(counting, working_days)
    return PublicityWindow(start_date=start_date, counting_starts=counting, partial_day_excluded=partial_day,
                           end_date=w.end_date, closes_at=w.closes_at, working_days=w.working_days,
                           provisional=w.provisional)


def working_days_between(a: date, b: date) -> tuple[int, bool]:
    """(working days in [a, b] inclusive, provisional); 0 when b < a."""
    _check_date(a)
    _check_date(b)
    return _working_days_between(a, b)


@lru_cache(maxsize=4096)
def _working_days_between(a: date, b: date) -> tuple[int, bool]:
    """Cached like :func:`_day_info`: a list of notices asks for today to each end date."""
    if b < a:
        return 0, False
    if (b - a).days > MAX_SPAN_DAYS:
        raise ValueError(f"span of more than {MAX_SPAN_DAYS} days")
    count = 0
    provisional = False
    day = a
    while day <= b:
        info = is_working_day(day)
        provisional = provisional or info.provisional
        count += info.working
        day += timedelta(days=1)
    return count, provisional


def window_state(window: Window, now: datetime) -> str:
    """"scheduled" before start_date 00:00 Shanghai, "open" until closes_at, then "ended"."""
    _check_aware(now)
    if now < start_of_day(window.start_date):
        return "scheduled"
    if now < window.closes_at:
        return "open"
    return "ended"


def working_days_left(window: Window, now: datetime) -> int:
    """Working days from today (counted if working) to end_date; all of them if scheduled; 0 once ended."""
    state = window_state(window, now)
    if state == "ended":
        return 0
    first = window.start_date if state == "scheduled" else business_date(now)
    return working_days_between(first, window.end_date)[0]
