"""Test fixtures: a real database per test (SQLite file or PostgreSQL), the real ASGI app over httpx.

``DATABASE_URL`` picks the backend: unset → SQLite files under a temp dir; a PostgreSQL URL → one fresh
database per test session (created and dropped here), truncated before each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401
from app.core.clock import FrozenClock
from app.core.config import Settings
from app.core.db import metadata
from app.main import create_app
from tests.fakes import FakeWechat

# Monday 2026-11-23 10:00 Asia/Shanghai
DEFAULT_NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def _pg_base_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def _with_db(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_all(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()


class DatabaseTemplate:
    def __init__(self, kind: str, tmp: Path, url: str | None = None) -> None:
        self.kind = kind
        self.tmp = tmp
        self.url = url

    def fresh_url(self, name: str) -> str:
        if self.kind == "sqlite":
            path = self.tmp / f"{name}-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self.tmp / "template.db", path)
            return f"sqlite+aiosqlite:///{path}"
        assert self.url
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        asyncio.run(_pg_admin(self.url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return self.url


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplate]:
    tmp = tmp_path_factory.mktemp("db")
    pg = _pg_base_url()
    if pg is None:
        engine = create_engine(f"sqlite:///{tmp / 'template.db'}")
        metadata.create_all(engine)
        engine.dispose()
        yield DatabaseTemplate("sqlite", tmp)
        return
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
    url = _with_db(pg, name)
    try:
        asyncio.run(_create_all(url))
        yield DatabaseTemplate("postgresql", tmp, url)
    finally:
        asyncio.run(_pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(db_template: DatabaseTemplate, request: pytest.FixtureRequest) -> str:
    return db_template.fresh_url(request.node.name[:40].replace("[", "_").replace("]", "_").replace("/", "_"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEFAULT_NOW)


@pytest.fixture
def wechat(clock: FrozenClock) -> FakeWechat:
    return FakeWechat(clock=clock)  # its access tokens lapse on the test's clock


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test", database_url=database_url, secret_key=TEST_SECRET, media_dir=tmp_path / "media",
        wechat_api_base="https://wechat.test", rate_limit_enabled=False, redis_url=None,
    )


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock, wechat: FakeWechat) -> AsyncIterator:
    http = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    application = create_app(settings, clock=clock, http=http)
    yield application
    await http.aclose()
    await application.state.db.dispose()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def world(app, client: httpx.AsyncClient):
    """A jurisdiction (Laoshan preset), a community with 12 households, staff, and 4 activated residents."""
    from tests.factories import build_world

    return await build_world(app, client)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real S3 server (SeaweedFS on 127.0.0.1, free ports) for the whole session; tests make their own
    buckets with ``seaweedfs.create_bucket()`` (tests/s3server.py)."""
    from tests.s3server import SeaweedFS

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
