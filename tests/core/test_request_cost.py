"""What keeps the hot requests cheap (issue 17), checked so it stays so.

* No route depends on a plain ``def`` dependency: FastAPI runs those in its thread pool, a thread hand-off on
  every request.
* The SQL statements of a resident's ``GET /me`` (2), of the community's notice list (4: the principal's two,
  the community, the page with its objection counts) and of an online ballot (6: the principal's two, then the
  motion's next number taken, returning the motion — on SQLite with what the ballot changes for the
  household's owner, which PostgreSQL reads after the motion's lock —, the ballot with its current row and
  the running tally's move — on PostgreSQL one statement, on SQLite the ballot's INSERT, whose trigger
  upserts its current row, and the move —, and the audit entry with its chain's head — a data-modifying
  WITH on PostgreSQL, a trigger on SQLite), and of a paper ballot (10 on SQLite, 9 on PostgreSQL: its
  motion's frozen rules profile is read once per process) — counted by the engines, so a query added to
  these paths shows up here. The audit chain's head is locked and read by the statement that takes the
  motion's next ballot number, never on its own.
* A paper ballot copies no rules profile (its version's paper settings are kept), and on SQLite its first
  checks, before the photo is processed, leave the one writer alone (a read connection's transaction).
* The SQLite driver (:mod:`app.core.sqlite_async`, one thread hand-off per statement) behaves like a DBAPI
  cursor: rows, row counts, last row ids, executemany, and errors as the DBAPI's own exception classes.
* On PostgreSQL the first hot write opens the session's transaction itself (nothing of an online ballot goes
  through SQLAlchemy's execution path); on SQLite a connection back in the pool is rolled back only when it is
  in a transaction; the serving process collects its youngest generation every 10,000 allocations.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.sqlite_async import onehop_url
from tests.statements import app_statements
from tests.voting.helpers import API, jpeg, paper, setup_motion, vote


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = getattr(call, "__call__", None)  # noqa: B004 - a dependency may be an object (OAuth2PasswordBearer)
    return not inspect.isfunction(call) and (inspect.iscoroutinefunction(method)
                                            or inspect.isasyncgenfunction(method))


def _dependencies(dependant: Any) -> Iterator[Any]:
    for d in dependant.dependencies:
        if d.call is not None:
            yield d.call
        yield from _dependencies(d)


def _api_routes(app) -> list[APIRoute]:
    """Every APIRoute, those of included routers too (FastAPI ≥ 0.160 keeps an included router as one node:
    its effective routes are walked, as tests/security/conftest.py does)."""
    out: list[APIRoute] = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "effective_route_contexts"):
            out += [ctx.original_route for ctx in r.effective_route_contexts()
                    if isinstance(ctx.original_route, APIRoute)]
    return out


def test_no_route_runs_a_dependency_in_the_thread_pool(app) -> None:
    routes = _api_routes(app)
    assert len(routes) > 50
    sync = {f"{r.path}: {getattr(call, '__qualname__', call)}" for r in routes for call in _dependencies(r.dependant)
            if not _is_async(call)}
    assert not sync, sorted(sync)


async def test_no_request_asks_opentelemetry_for_its_providers(client, world, monkeypatch) -> None:
    """FastAPI's native OpenTelemetry is off (the app configures no provider): left on, unconfigured, it asked
    OpenTelemetry for its three providers on every request, an environment lookup each."""
    from opentelemetry import _logs, metrics, trace

    asked: list[str] = []
    for module, name in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider"),
                         (_logs, "get_logger_provider")):
        original = getattr(module, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            asked.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(module, name, counted)
    r = await client.get(f"{API}/me", headers=world.residents[0].headers)
    assert r.status_code == 200, r.text
    assert asked == []


def _ballot_statements(app, sqlite: int, postgresql: int) -> int:
    """A ballot's statements when it changes the owner's choice, by database (see the module's docstring)."""
    return sqlite if app.state.db.is_sqlite else postgresql


async def test_statements_of_the_hot_requests(app, client, world, clock) -> None:
    me = world.residents[0]
    with app_statements(app) as seen:
        r = await client.get(f"{API}/me", headers=me.headers)
    assert r.status_code == 200 and r.json()["households"], r.text
    assert len(seen) == 2, seen

    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200  # freezes
    with app_statements(app) as seen:
        r = await vote(client, me.headers, m["id"], "disagree")
    assert r.status_code == 200 and r.json()["version"] == 1, r.text
    assert len(seen) == _ballot_statements(app, 6, 6), seen
    assert [s for s in seen if s.startswith(("SELECT audit_head", "SELECT motion."))] == [], seen
    assert "UPDATE motion SET ballot_seq" in seen[2], seen  # the ballot's first: its number
    with app_statements(app) as seen:
        r = await vote(client, me.headers, m["id"], "agree")
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    assert len(seen) == _ballot_statements(app, 6, 6), seen
    assert [s for s in seen if s.startswith(("SELECT audit_head", "SELECT motion."))] == [], seen

    with app_statements(app) as seen:
        r = await client.get(f"{API}/communities/{world.community_id}/notices", headers=me.headers)
    assert r.status_code == 200 and r.json()["items"], r.text  # the vote notice the roll freeze published
    assert len(seen) == 4, seen


async def test_a_paper_ballot_reads_no_rules_profile(app, client, world, clock, monkeypatch) -> None:
    """A paper ballot needs its motion's frozen profile (double entry, the proxy cap). A version never changes:
    the process read it when the motion froze, and a paper ballot reads it no more (8 statements on both
    databases: the principal's 2, the motion before the photo is processed, then as an online ballot — its
    number taken first — with the slip's media row). Nor does it copy the profile: the paper settings of a
    version are kept once they are known."""
    from app.register.profiles import RulesProfile

    copies: list[bool] = []
    model_copy = RulesProfile.model_copy

    def counted_copy(self: RulesProfile, *args: Any, **kw: Any) -> RulesProfile:
        copies.append(True)
        return model_copy(self, *args, **kw)

    monkeypatch.setattr(RulesProfile, "model_copy", counted_copy)
    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200  # freezes
    others = [h["id"] for h in world.households if h["id"] != world.residents[0].household_id]
    r = await paper(client, world, m["id"], others[0], "agree", photo=jpeg())  # the settings become known
    assert r.status_code == 201 and r.json()["status"] == "counted", r.text
    assert copies, "the rules profile was never copied: this test no longer sees the copies it counts"
    for hid in others[1:3]:
        copies.clear()
        with app_statements(app) as seen:
            r = await paper(client, world, m["id"], hid, "disagree", photo=jpeg())
        assert r.status_code == 201 and r.json()["status"] == "counted", r.text
        assert [s for s in seen if "FROM rules_profile_version" in s or "FROM jurisdiction" in s] == []
        assert len(seen) == _ballot_statements(app, 8, 8), seen
        assert copies == [], "a paper ballot copied the rules profile"


async def test_a_paper_ballots_checks_leave_the_writer_alone(app, client, world, clock, monkeypatch) -> None:
    """On SQLite a paper ballot reads its principal and makes its first checks, before its photo is processed,
    in one read connection's session, given back before the photo is processed: the one writer begins one
    transaction per entry, the one that writes, and none for an entry those checks refuse."""
    from tests.media.hooks import while_processing

    if not app.state.db.is_sqlite:
        pytest.skip("SQLite's one writer connection")
    db = app.state.db
    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200  # freezes
    hid = next(h["id"] for h in world.households if h["id"] != world.residents[0].household_id)
    begun: list[str] = []
    taken: list[str] = []

    def on_begin(conn: Any) -> None:
        begun.append("begin")

    def on_checkout(*_: Any) -> None:
        taken.append("reader")

    async def held() -> int:
        return int(db.reader.sync_engine.pool.checkedout())

    while_photo = while_processing(monkeypatch, held)
    writer = db.writer.sync_engine
    event.listen(writer, "begin", on_begin)
    event.listen(db.reader.sync_engine, "checkout", on_checkout)
    try:
        r = await paper(client, world, m["id"], hid, "disagree", photo=jpeg())
        assert r.status_code == 201 and r.json()["status"] == "counted", r.text
        assert begun == ["begin"]
        assert taken == ["reader"]  # the principal and the checks: one read session
        assert while_photo == [0]  # given back before the photo was processed
        begun.clear()
        taken.clear()
        r = await paper(client, world, m["id"], "0" * 32, "agree", photo=jpeg())
        assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope", r.text
        assert begun == [] and taken == ["reader"]
        assert db.reader.sync_engine.pool.checkedout() == 0
    finally:
        event.remove(writer, "begin", on_begin)
        event.remove(db.reader.sync_engine, "checkout", on_checkout)


async def test_a_cached_rules_profile_is_the_callers_own_copy(app, world) -> None:
    from app.register import service as register_service

    async with app.state.db.read_session() as s:
        v, first = await register_service.profile_of(s, jurisdiction_id=world.jurisdiction_id)
        first.matter_rules.clear()
        first.proxy_max_households = 1
        _, again = await register_service.profile_of(s, jurisdiction_id=world.jurisdiction_id, version=v)
    assert again.matter_rules and again.proxy_max_households != 1


async def test_a_motion_read_by_a_hot_statement_is_the_sessions_own(app, client, world, clock) -> None:
    """The ballot path reads its motion without the ORM and makes it the session's object: a change to it is
    written back, a locking read refreshes it, and a second read in the same session gives the same object."""
    from sqlalchemy import inspect as sa_inspect

    from app.voting import repository as voting_repo

    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    hid = world.residents[0].household_id
    async with app.state.db.write_session() as s:
        got = await voting_repo.motion_for_ballot(s, m["id"], hid)
        assert got is not None and got.plan_current and got.on_roll
        state = sa_inspect(got.motion)
        assert state.persistent and not state.modified and got.motion.title == m["title"]
        again = await voting_repo.motion_for_ballot(s, m["id"], hid)
        assert again is not None and again.motion is got.motion and again.plan_current and again.on_roll
        other = await voting_repo.motion_for_ballot(s, m["id"], "f" * 32)
        assert other is not None and other.motion is got.motion and not other.on_roll
        got.motion.title = "改过的标题"
        await s.commit()
        s.expire(got.motion)  # as a rollback would leave it: read again, not lazily on first use
        again = await voting_repo.motion_for_ballot(s, m["id"], hid)
        assert again is not None and again.motion is got.motion
        assert not sa_inspect(got.motion).expired_attributes and got.motion.title == "改过的标题"
    async with app.state.db.write_session() as s:
        fresh = await voting_repo.get_motion(s, m["id"], lock=True)
        assert fresh is not None and fresh.title == "改过的标题"
        assert await voting_repo.motion_for_ballot(s, "0" * 32, hid) is None
    r = await vote(client, world.residents[0].headers, m["id"], "agree")  # the first ballot freezes the rule
    assert r.status_code == 200, r.text
    async with app.state.db.read_session() as s:
        got = await voting_repo.motion_for_ballot(s, m["id"], hid)
        assert got is not None and got.motion.rule_frozen and got.motion.title == "改过的标题"


@pytest.fixture
async def onehop(tmp_path) -> Any:
    engine = create_async_engine(onehop_url(f"sqlite+aiosqlite:///{tmp_path / 'onehop.db'}"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_sqlite_driver_is_a_dbapi_cursor(onehop) -> None:
    assert onehop.dialect.driver == "aiosqlite_onehop" and onehop.dialect.name == "sqlite"
    async with onehop.begin() as conn:
        r = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert r.rowcount == 1 and r.lastrowid == 1
        r = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        assert r.rowcount == 2
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert [tuple(x) for x in rows] == [(1, "a"), (2, "b"), (3, "c")]
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 9"))).first() is None
        r = await conn.execute(text("UPDATE t SET v = v || 'x' WHERE id > 1"))
        assert r.rowcount == 2
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 3
    with pytest.raises(IntegrityError):
        async with onehop.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
    async with onehop.connect() as conn:  # the failed transaction left nothing behind, the connection works
        assert (await conn.execute(text("SELECT group_concat(v) FROM t"))).scalar() == "a,bx,cx"


async def test_a_first_hot_write_opens_the_transaction_on_postgresql(app, client, world, clock) -> None:
    """On PostgreSQL an online ballot's statements all go by the driver: the first write opens the transaction as
    SQLAlchemy's asyncpg adapter would, so SQLAlchemy sends nothing itself; that transaction is the session's own
    (what SQLAlchemy sends next runs in it, a rollback undoes the write, a commit keeps it)."""
    if app.state.db.is_sqlite:
        pytest.skip("PostgreSQL's adapter opens its transaction lazily; SQLite's BEGIN is the app's own")
    from sqlalchemy import update
    from sqlmodel import select

    from app.core.hotread import HotWrite
    from app.voting.models import Motion

    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200  # freezes
    through_sqlalchemy: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        through_sqlalchemy.append(" ".join(statement.split()))

    engine = app.state.db.writer.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        with app_statements(app) as seen:
            r = await vote(client, world.residents[0].headers, m["id"], "disagree")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert r.status_code == 200, r.text
    assert len(seen) == 6, seen
    assert through_sqlalchemy == [], through_sqlalchemy

    retitle = HotWrite(update(Motion).where(Motion.id == m["id"]).values(title="热写入"))
    async with app.state.db.write_session() as s:
        assert await retitle.execute(s) == 1
        # the same transaction: SQLAlchemy's next statement sees the write and opens nothing of its own
        assert (await s.exec(select(Motion.title).where(Motion.id == m["id"]))).one() == "热写入"
        await s.rollback()
    async with app.state.db.write_session() as s:
        assert (await s.exec(select(Motion.title).where(Motion.id == m["id"]))).one() == m["title"]
    async with app.state.db.write_session() as s:
        assert await retitle.execute(s) == 1
        await s.commit()
    async with app.state.db.read_session() as s:
        assert (await s.exec(select(Motion.title).where(Motion.id == m["id"]))).one() == "热写入"


async def test_the_collector_runs_less_often_once_the_app_has_started(settings) -> None:
    """Start-up moves what it loaded out of the collector's generations and makes the youngest generation wait
    for many more allocations than Python's default 700 (a loaded process spent 8 % of its CPU collecting)."""
    import gc

    from app.main import GC_THRESHOLDS, create_app

    before = gc.get_threshold()
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] >= 10 * 700
            assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def test_sqlite_connections_back_in_the_pool_are_rolled_back_only_when_in_a_transaction(
        app, client, world, clock, monkeypatch) -> None:
    """On SQLite the pool no longer rolls back every connection it takes back: after a ballot's COMMIT the writer
    has no transaction, and the rollback was a hand-off to aiosqlite's thread for nothing. A connection given back
    in a transaction (begun behind SQLAlchemy's back here) is still rolled back before anyone gets it again."""
    if not app.state.db.is_sqlite:
        pytest.skip("SQLite's connections and their pool reset")
    from app.core.sqlite_async import OneHopConnection

    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    writer_rollbacks: list[bool] = []
    rollback = OneHopConnection.rollback

    def counted(self: OneHopConnection) -> None:
        if not self._inline_transactions:
            writer_rollbacks.append(True)
        rollback(self)

    monkeypatch.setattr(OneHopConnection, "rollback", counted)
    r = await vote(client, world.residents[0].headers, m["id"], "agree")
    assert r.status_code == 200, r.text
    assert writer_rollbacks == []
    refused = await vote(client, world.residents[0].headers, "0" * 32, "agree")  # a request that fails: rolled back
    assert refused.status_code == 404, refused.text
    assert writer_rollbacks == [True]

    writer_rollbacks.clear()
    async with app.state.db.writer.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection._conn
        raw.execute("BEGIN IMMEDIATE")
        assert raw.in_transaction
    assert writer_rollbacks == [True]
    async with app.state.db.writer.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection._conn
        assert not raw.in_transaction
    r = await vote(client, world.residents[0].headers, m["id"], "disagree")  # the writer is usable
    assert r.status_code == 200 and r.json()["version"] == 2, r.text


async def test_an_online_ballots_statements_find_their_rows_by_key_on_sqlite(app, client, world, clock) -> None:
    """Each statement of an online ballot reaches its rows through an index by their key (the motion's, the
    household's, the owner's): none walks a table, or all of a motion's rows of one (its current ballots, its
    roll), which would grow with the motion. SQLite's plans (EXPLAIN QUERY PLAN; parameters do not change them)."""
    if not app.state.db.is_sqlite:
        pytest.skip("SQLite's query plans")
    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200  # freezes
    with app_statements(app) as seen:
        r = await vote(client, world.residents[0].headers, m["id"], "disagree")
    assert r.status_code == 200, r.text
    assert len(seen) == 6, seen
    walks: list[tuple[str, str]] = []
    async with app.state.db.read_session() as s:
        conn = await s.connection()
        for sql in seen:
            plan = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (None,) * sql.count("?"))).all()
            for *_, detail in plan:
                scan = detail.startswith("SCAN ") and detail not in ("SCAN CONSTANT ROW", "SCAN ballot_context")
                if scan or detail.endswith("(motion_id=?)"):
                    walks.append((detail, sql[:80]))
    assert walks == []


async def test_an_online_ballot_reads_its_principal_in_its_own_session(app, client, world, clock) -> None:
    """On SQLite an online ballot reads its principal in its own session: it takes no read connection, and THE
    writer once (other write requests read theirs through a read connection). A token that does not verify is
    refused before either is taken; a sign-in logged out is refused too."""
    if not app.state.db.is_sqlite:
        pytest.skip("SQLite's one writer and its read connections")
    db = app.state.db
    _, _, m = await setup_motion(client, world, clock.now() - timedelta(minutes=1))
    me = world.residents[0]
    assert (await vote(client, me.headers, m["id"], "agree")).status_code == 200  # freezes
    taken: dict[str, int] = {"writer": 0, "reader": 0}

    def counter(name: str) -> Any:
        def checkout(*_: Any) -> None:
            taken[name] += 1
        return checkout

    listeners = [(db.writer.sync_engine, counter("writer")), (db.reader.sync_engine, counter("reader"))]
    for engine, fn in listeners:
        event.listen(engine, "checkout", fn)
    try:
        r = await vote(client, me.headers, m["id"], "disagree")
        assert r.status_code == 200, r.text
        assert taken == {"writer": 1, "reader": 0}
        r = await vote(client, {"Authorization": "Bearer not-a-token"}, m["id"], "agree")
        assert r.status_code == 401, r.text
        assert taken == {"writer": 1, "reader": 0}
        # a write request of another route reads its principal through a read connection
        r = await client.post(f"{API}/communities/{world.community_id}/activation-codes", headers=world.staff,
                              json={})
        assert taken["reader"] == 1, (r.status_code, taken)
    finally:
        for engine, fn in listeners:
            event.remove(engine, "checkout", fn)
    # the sign-in logged out: its access token is refused by the ballot at once, as by every route
    assert (await client.post(f"{API}/auth/logout", json={"refresh_token": me.refresh_token})).status_code == 204
    r = await vote(client, me.headers, m["id"], "agree")
    assert r.status_code == 401 and r.json()["code"] == "auth.token_revoked", r.text
