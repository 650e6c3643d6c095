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
