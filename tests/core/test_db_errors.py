"""Values the database cannot hold are the client's fault: 422 problem+json, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.db import SessionDep


async def test_text_longer_than_its_column_is_422(app, client, database_url) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce VARCHAR lengths")

    @app.post("/test-only/too-long")
    async def too_long(session: SessionDep) -> dict:
        await session.execute(text("CREATE TEMP TABLE too_long (v VARCHAR(3)) ON COMMIT DROP"))
        await session.execute(text("INSERT INTO too_long VALUES (:v)"), {"v": "abcdef"})
        return {}

    r = await client.post("/test-only/too-long", headers={"Accept-Language": "en"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "request.invalid_data"


async def _terminate_others(database_url: str) -> None:
    database = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    killer = create_async_engine(database_url)  # outside the app's pool
    try:
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database})
    finally:
        await killer.dispose()


async def test_a_connection_the_server_dropped_is_503_and_the_next_request_works(app, client, database_url) -> None:
    """No ping before each checkout (issue 17): a pooled connection that PostgreSQL dropped (a restart, an
    idle timeout) fails the one request that finds it with a retryable 503, never a 500, and the pool is
    replaced, so the next request succeeds."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, not sockets")

    @app.get("/test-only/backend")
    async def backend(session: SessionDep) -> dict:
        return {"pid": (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()}

    pid = (await client.get("/test-only/backend")).json()["pid"]
    await _terminate_others(database_url)
    r = await client.get("/test-only/backend", headers={"Accept-Language": "en"})
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "service.unavailable" and r.headers["retry-after"] == "1"
    r = await client.get("/test-only/backend")
    assert r.status_code == 200 and r.json()["pid"] != pid


async def test_a_dropped_connection_under_a_hot_read_is_503_too(app, client, world, database_url) -> None:
    """The token check is a hot read sent by asyncpg itself (app.core.hotread): when its connection was dropped,
    the read goes again through SQLAlchemy, which maps the failure (503) and replaces the pool."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, not sockets")
    me = world.residents[0].headers
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200
    await _terminate_others(database_url)
    r = await client.get("/api/v1/me", headers=me | {"Accept-Language": "en"})
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "service.unavailable" and r.headers["retry-after"] == "1"
    r = await client.get("/api/v1/me", headers=me)
    assert r.status_code == 200 and r.json()["households"], r.text


async def test_no_free_connection_within_the_pool_timeout_is_503(settings, clock, world, database_url) -> None:
    """The PostgreSQL pool has no overflow: a request that finds every connection busy waits DB_POOL_TIMEOUT_S,
    then gets a retryable 503 (not a 500), and the next one after a connection came back works."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer connection and its own wait")
    import httpx

    from app.main import create_app

    small = create_app(settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_s": 0.3}), clock=clock)
    me = world.residents[0].headers
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://test") as c:
            async with small.state.db.writer.connect() as held:  # the pool's one connection, busy
                await held.execute(text("SELECT 1"))
                r = await c.get("/api/v1/me", headers=me | {"Accept-Language": "en"})
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "service.unavailable" and r.headers["retry-after"] == "1"
            r = await c.get("/api/v1/me", headers=me)
            assert r.status_code == 200, r.text
    finally:
        await small.state.http.aclose()
        await small.state.db.dispose()


async def test_a_write_that_cannot_take_sqlite_s_write_lock_is_503(settings, clock, world, database_url) -> None:
    """On SQLite a write transaction opens with ``BEGIN IMMEDIATE``, sent straight to the driver (issue 17). While
    another process holds the write lock past the busy timeout, a write request gets a retryable 503, not a 500;
    once the lock is released the next one goes through."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    import sqlite3

    import httpx

    from app.main import create_app

    small = create_app(settings.model_copy(update={"sqlite_busy_timeout_ms": 50}), clock=clock)

    @small.post("/test-only/write")
    async def write(session: SessionDep) -> dict:
        await session.connection()  # the session's transaction begins: BEGIN IMMEDIATE on the writer
        return {"written": True}

    other = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://test") as c:
            other.execute("BEGIN IMMEDIATE")  # another process's write transaction
            r = await c.post("/test-only/write", headers={"Accept-Language": "en"})
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "service.unavailable" and r.headers["retry-after"] == "1"
            me = await c.get("/api/v1/me", headers=world.residents[0].headers)  # reads are not held up
            assert me.status_code == 200, me.text
            other.execute("ROLLBACK")
            r = await c.post("/test-only/write")
            assert r.status_code == 200 and r.json() == {"written": True}, r.text
    finally:
        other.close()
        await small.state.http.aclose()
        await small.state.db.dispose()
