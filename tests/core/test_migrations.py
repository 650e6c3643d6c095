"""`alembic upgrade head` builds exactly the schema the models describe, on the backend under test."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import metadata
from tests.conftest import _pg_admin, _pg_base_url, _with_db


def _upgrade(url: str) -> None:
    from app.__main__ import migrate

    migrate(url)


async def _diff(url: str) -> list:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        def compare(sync_conn):
            ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return compare_metadata(ctx, metadata)

        diff = await conn.run_sync(compare)
    await engine.dispose()
    return diff


def test_upgrade_head_matches_models(tmp_path) -> None:
    pg = _pg_base_url()
    if pg is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
        _upgrade(url)
        diff = asyncio.run(_diff(url))
    else:
        name = f"m_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
        try:
            url = _with_db(pg, name)
            _upgrade(url)
            diff = asyncio.run(_diff(url))
        finally:
            asyncio.run(_pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert diff == [], f"models and migrations differ: {diff[:5]}"


@pytest.mark.skipif(_pg_base_url() is not None, reason="SQLite-only: checks the embedded file's settings")
def test_sqlite_runs_wal_with_foreign_keys(tmp_path) -> None:
    from app.core.config import Settings
    from app.core.db import Database

    async def check():
        db = Database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"))
        async with db.writer.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            fk = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        await db.dispose()
        return mode, fk, busy

    assert asyncio.run(check()) == ("wal", 1, 5000)


@pytest.mark.skipif(_pg_base_url() is not None, reason="SQLite-only: the triggers exist on SQLite alone")
def test_sqlite_triggers_the_same_by_migration_and_by_create_all(tmp_path) -> None:
    """The two SQLite triggers (a ballot made current, the audit head moved) exist whichever way the schema was
    built, with the same text as the models'; and they work: an entry moves its head, a ballot with a lower
    number than the household's current one does not replace it."""
    from sqlalchemy import create_engine, text

    from app.core.models import AUDIT_HEAD_TRIGGER
    from app.voting.models import CURRENT_BALLOT_TRIGGER

    def triggers(path) -> dict[str, str]:
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        engine.dispose()
        return dict(rows)

    migrated = tmp_path / "migrated.db"
    _upgrade(f"sqlite+aiosqlite:///{migrated}")
    created = tmp_path / "created.db"
    engine = create_engine(f"sqlite:///{created}")
    metadata.create_all(engine)
    engine.dispose()
    expected = {"audit_entry_moves_head": AUDIT_HEAD_TRIGGER, "ballot_made_current": CURRENT_BALLOT_TRIGGER}
    assert triggers(migrated) == expected
    assert triggers(created) == expected

    engine = create_engine(f"sqlite:///{migrated}")
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys = OFF"))
        conn.execute(text("INSERT INTO audit_head (chain, last_seq, last_hash) VALUES ('c', 0, 'g')"))
        conn.execute(text("INSERT INTO audit_entry (id, chain, seq, at, action, entity_type, entity_id, data, "
                          "prev_hash, hash) VALUES ('e1', 'c', 1, '2026-12-04 00:00:00', 'a', 't', 'x', '{}', "
                          "'g', 'h1')"))
        assert conn.execute(text("SELECT last_seq, last_hash FROM audit_head")).one() == (1, "h1")
        # the household's current ballot after each insert: a lower number (b1 after b2) changes nothing
        steps = [(("b2", 2, "agree"), ("b2", 2, "agree")), (("b1", 1, "disagree"), ("b2", 2, "agree")),
                 (("b3", 3, "abstain"), ("b3", 3, "abstain"))]
        for (bid, seq, choice), current in steps:
            conn.execute(text("INSERT INTO ballot (id, motion_id, household_id, seq, choice, channel, actor_id, "
                              "cast_at, receipt_hash) VALUES (:id, 'm', 'h', :seq, :choice, 'online', 'u', "
                              "'2026-12-04 00:00:00', :id)"), {"id": bid, "seq": seq, "choice": choice})
            assert conn.execute(text("SELECT ballot_id, seq, choice FROM current_ballot")).all() == [current]
    engine.dispose()
