"""`python -m app demo` in process: the business date is Shanghai's whatever the hour in UTC, and a demo that
fails at any step leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.core.clock import FrozenClock
from app.core.db import Database, metadata
from app.demo import build
from app.publicity.models import Notice


async def _row_counts(db: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.read_session() as s:
        for table in metadata.sorted_tables:
            counts[table.name] = (await s.exec(select(func.count()).select_from(table))).one()
    return counts


async def test_demo_late_in_the_utc_evening_starts_its_notice_on_the_shanghai_date(settings) -> None:
    # 17:30 UTC on Monday 2026-11-23 is 01:30 on Tuesday 2026-11-24 in Shanghai: the notice must start then
    clock = FrozenClock(datetime(2026, 11, 23, 17, 30, tzinfo=UTC))
    db = Database(settings)
    try:
        out = await build(db, clock)
        assert len(out["activation_codes"]) == 36
        assert out["notice"]["status"] == "open", out["notice"]  # started today (Shanghai), not tomorrow or refused
        counts = await _row_counts(db)
        assert counts["motion"] == 1 and counts["household"] == 36
        async with db.read_session() as s:
            kinds = sorted((await s.exec(select(Notice.kind))).all())
        assert kinds == ["plan", "vote_notice"]  # and the vote notice published when the motion's roll froze
    finally:
        await db.dispose()


async def test_a_failed_demo_leaves_nothing(settings) -> None:
    # a start date before the Shanghai business date makes the last step (the notice) fail with 422
    clock = FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    db = Database(settings)
    try:
        with pytest.raises(RuntimeError, match="notice.start_in_past"):
            await build(db, clock, today=date(2026, 11, 20))
        counts = await _row_counts(db)
        assert counts["jurisdiction"] == 0 and counts["household"] == 0 and counts["app_user"] == 0
        assert {name: n for name, n in counts.items() if n} == {}
        # and the demo can be run again to completion afterwards
        out = await build(db, clock)
        assert out["motion_id"] and out["notice"]["id"]
    finally:
        await db.dispose()
