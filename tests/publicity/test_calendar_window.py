"""GET /calendar/window previews exactly what a notice published at that moment gets: the same computation
(app.rules.publicity_window, the partial-day rule decided by the server clock) and the same closes_at text."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.rules import is_partial_day, publicity_window
from tests.projects.helpers import make_project, sh, travel

API = "/api/v1"
WINDOW_FIELDS = ("start_date", "counting_starts", "partial_day_excluded", "end_date", "closes_at", "working_days",
                 "provisional")


async def _preview(client, world, start: str, working_days: int = 5) -> dict:
    r = await client.get(f"{API}/calendar/window", headers=world.residents[0].headers,
                         params={"start_date": start, "working_days": working_days})
    assert r.status_code == 200, r.text
    return r.json()


async def _notice_views(client, world, project_id: str, start: str, working_days: int = 5) -> list[dict]:
    """The notice as created, as read back and as listed: each one's window fields."""
    r = await client.post(f"{API}/projects/{project_id}/notices", headers=world.staff, json={
        "kind": "plan", "title": "改造方案公示", "body": "方案全文见附件。", "start_date": start,
        "working_days": working_days})
    assert r.status_code == 201, r.text
    created = r.json()
    read = (await client.get(f"{API}/notices/{created['id']}", headers=world.staff)).json()
    listed = next(n for n in (await client.get(f"{API}/communities/{world.community_id}/notices",
                                               headers=world.staff, params={"limit": 200})).json()["items"]
                  if n["id"] == created["id"])
    return [{k: n[k] for k in WINDOW_FIELDS} for n in (created, read, listed)]


async def test_preview_on_the_start_day_is_partial_like_the_notice(client, world, clock) -> None:
    p = await make_project(client, world)
    await travel(client, world, clock, sh(2026, 12, 3, 11, 30))  # Thu 3 Dec, mid-morning in Shanghai
    preview = await _preview(client, world, "2026-12-03")
    # today has begun: it does not count; Fri 4, Mon 7, Tue 8, Wed 9, Thu 10
    assert preview == {"start_date": "2026-12-03", "counting_starts": "2026-12-04", "partial_day_excluded": True,
                       "end_date": "2026-12-10", "closes_at": "2026-12-11T00:00:00+08:00", "working_days": 5,
                       "provisional": False}
    assert await _notice_views(client, world, p["id"], "2026-12-03") == [preview] * 3


async def test_preview_the_day_before_is_not_partial(client, world, clock) -> None:
    p = await make_project(client, world)
    await travel(client, world, clock, sh(2026, 12, 2, 17))  # Wed 2 Dec
    preview = await _preview(client, world, "2026-12-03")
    assert preview == {"start_date": "2026-12-03", "counting_starts": "2026-12-03", "partial_day_excluded": False,
                       "end_date": "2026-12-09", "closes_at": "2026-12-10T00:00:00+08:00", "working_days": 5,
                       "provisional": False}
    assert await _notice_views(client, world, p["id"], "2026-12-03") == [preview] * 3
    # a start date two years out, in the years the official calendar does not cover: the same, provisional
    later = await _preview(client, world, "2028-03-01", 7)
    assert later["provisional"] is True and later["partial_day_excluded"] is False
    assert await _notice_views(client, world, p["id"], "2028-03-01", 7) == [later] * 3


async def test_preview_at_midnight_counts_the_whole_day(client, world, clock) -> None:
    p = await make_project(client, world)
    await travel(client, world, clock, sh(2026, 12, 3))  # 00:00:00 Shanghai: the whole day is ahead
    preview = await _preview(client, world, "2026-12-03")
    assert preview["partial_day_excluded"] is False and preview["end_date"] == "2026-12-09"
    assert await _notice_views(client, world, p["id"], "2026-12-03") == [preview] * 3


@pytest.mark.parametrize(("published_at", "partial"), [
    (sh(2026, 12, 2, 23, 59, 59), False),                # the day before
    (sh(2026, 12, 3), False),                            # exactly 00:00 Shanghai
    (datetime(2026, 12, 2, 16, 0, tzinfo=UTC), False),   # the same instant in UTC
    (datetime(2026, 12, 2, 16, 0, 1, tzinfo=UTC), True),  # one second into the day
    (sh(2026, 12, 3, 23, 59, 59), True),
    (sh(2026, 12, 4, 9), False),                         # after the start date: nothing is published backwards
])
def test_is_partial_day(published_at, partial) -> None:
    assert is_partial_day(date(2026, 12, 3), published_at) is partial


def test_publicity_window_with_and_without_the_partial_day() -> None:
    whole = publicity_window(date(2026, 12, 3), 5, partial_day=False)
    part = publicity_window(date(2026, 12, 3), 5, partial_day=True)
    assert (whole.counting_starts, whole.end_date, whole.partial_day_excluded) == (date(2026, 12, 3),
                                                                                  date(2026, 12, 9), False)
    assert (part.counting_starts, part.end_date, part.partial_day_excluded) == (date(2026, 12, 4),
                                                                               date(2026, 12, 10), True)
    assert part.start_date == whole.start_date == date(2026, 12, 3)
    assert part.closes_at.isoformat() == "2026-12-11T00:00:00+08:00"
    # Fri 13 Feb 2026 partial: Sat 14 (调休 working day), then the Spring Festival holiday, 24–27
    assert publicity_window(date(2026, 2, 13), 5, partial_day=True).end_date == date(2026, 2, 27)
