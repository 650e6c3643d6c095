"""The periodic work done once by several workers: outbox claims that skip what another worker holds, 1,000
due messages sent exactly once by two workers, a due motion closed once by two rounds at the same moment, the
tick's steps, and the command line (`worker`, `serve --no-worker`, one worker per SQLite file)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import text

from app.core.db import Database
from app.turnout import worker as worker_mod
from app.turnout.sender import Outbound, SendResult
from app.turnout.worker import run_outbox_once, tick
from tests.serverproc import ROOT
from tests.turnout.helpers import add_messages, messages


class CountingSender:
    """Records every delivery; yields to the event loop so that the two workers interleave."""

    def __init__(self, sent: Counter[str]) -> None:
        self.sent = sent

    async def send(self, message: Outbound) -> SendResult:
        await asyncio.sleep(0.001)
        self.sent[message.id] += 1
        return SendResult(ok=True)


async def test_two_workers_send_1000_due_messages_exactly_once(app, settings, clock) -> None:
    ids = await add_messages(app, now=clock.now(), recipients=[f"openid-{i}" for i in range(1000)])
    sent: Counter[str] = Counter()
    # two workers as two processes would be: each its own engine and connections, its own sender
    dbs = [Database(settings), Database(settings)]
    claimed = [0, 0]

    async def work(i: int) -> None:
        while True:
            stats = await run_outbox_once(dbs[i], http=app.state.http, settings=settings, clock=clock,
                                          sender=CountingSender(sent), batch_size=10, max_messages=100)
            claimed[i] += stats["claimed"]
            if stats["claimed"] == 0:
                return

    try:
        await asyncio.gather(work(0), work(1))
    finally:
        for db in dbs:
            await db.dispose()
    assert len(sent) == 1000 and set(sent) == set(ids) and set(sent.values()) == {1}  # each exactly once
    assert sum(claimed) == 1000 and min(claimed) > 0, claimed  # both took part
    rows = await messages(app, ids)
    assert {m.status for m in rows.values()} == {"sent"} and {m.attempts for m in rows.values()} == {1}


async def test_claims_skip_rows_another_worker_holds(app, settings, clock) -> None:
    """While one worker's claim transaction holds its rows, another worker's claim takes the next ones (on
    PostgreSQL, FOR UPDATE SKIP LOCKED) instead of waiting for them and finding them gone."""
    from app.turnout import repository as repo

    if not settings.is_sqlite:
        ids = await add_messages(app, now=clock.now(), recipients=[f"o{i}" for i in range(6)])
        a, b = Database(settings), Database(settings)
        try:
            async with a.write_session() as sa, b.write_session() as sb:
                first = await repo.claim_due(sa, now=clock.now(), lease_until=clock.now() + timedelta(minutes=5),
                                             token="a" * 32, limit=3)
                second = await asyncio.wait_for(repo.claim_due(
                    sb, now=clock.now(), lease_until=clock.now() + timedelta(minutes=5), token="b" * 32, limit=3),
                    timeout=5)  # not blocked by the first, still open, transaction
                await sa.commit()
                await sb.commit()
        finally:
            await a.dispose()
            await b.dispose()
        assert {m.id for m in first} | {m.id for m in second} == set(ids)
        assert not {m.id for m in first} & {m.id for m in second}
    else:  # SQLite: no row locks; the claim statement has no locking clause and claims stay one at a time
        from sqlalchemy.dialects import sqlite
        from sqlmodel import select

        from app.turnout.models import OutboxMessage

        q = select(OutboxMessage.id).limit(3).with_for_update(skip_locked=True)
        assert "FOR UPDATE" not in str(q.compile(dialect=sqlite.dialect()))
        ids = await add_messages(app, now=clock.now(), recipients=["o1", "o2"])
        stats = await run_outbox_once(app.state.db, http=app.state.http, settings=settings, clock=clock)
        assert stats["sent"] == 2 and {m.status for m in (await messages(app, ids)).values()} == {"sent"}


async def test_a_due_motion_closed_by_two_rounds_at_once_is_closed_once(app, client, world, clock, settings) -> None:
    from tests.voting.helpers import make_motion, make_plan, make_project, vote

    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, closes_at=(now + timedelta(hours=2)).isoformat(),
                          rule={"kind": "majority_of_participants"})
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200
    clock.advance(hours=3)

    class Twin:
        """A second worker's view of the app: its own database engine, the same clock and wiring."""

        def __init__(self) -> None:
            self.state = type("State", (), {"db": Database(settings), "clock": clock})()

    twin = Twin()
    try:
        results = await asyncio.gather(worker_mod.close_motions(app), worker_mod.close_motions(twin))
    finally:
        await twin.state.db.dispose()
    assert sorted(r["closed"] for r in results) in ([0, 1], [1, 1])  # the loser finds it done (or waited)
    async with app.state.db.read_session() as s:
        n = (await s.exec(text("SELECT count(*) FROM motion_result WHERE motion_id = :m").bindparams(m=m["id"]))).one()
        closes = (await s.exec(text("SELECT count(*) FROM audit_entry WHERE action = 'motion.closed'"))).one()
        notices = (await s.exec(text("SELECT count(*) FROM notice WHERE kind = 'vote_result' AND motion_id = :m")
                                .bindparams(m=m["id"]))).one()
    assert (n[0], closes[0], notices[0]) == (1, 1, 1)


async def test_a_failing_step_does_not_stop_the_round(app, clock, monkeypatch) -> None:
    ids = await add_messages(app, now=clock.now(), recipients=["o1"])

    async def broken(_app) -> dict[str, int]:
        raise RuntimeError("boom")

    monkeypatch.setattr(worker_mod, "STEPS", [("broken", broken), *worker_mod.STEPS])
    stats = await tick(app)
    assert stats["errors"] == 1 and stats["sent"] == 1 and stats["closed"] == 0 and stats["queued"] == 0
    assert (await messages(app, ids))[ids[0]].status == "sent"


async def test_create_app_runs_the_worker_unless_told_not_to(settings, clock) -> None:
    import httpx

    from app.main import create_app

    for run_worker in (True, False):
        http = httpx.AsyncClient()
        application = create_app(settings.model_copy(update={"run_worker": run_worker}), clock=clock, http=http)
        async with application.router.lifespan_context(application):
            assert (getattr(application.state, "outbox_worker", None) is not None) is run_worker


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_worker_command_runs_a_round_and_one_worker_per_sqlite_file(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", "MEDIA_DIR": str(tmp_path / "media"),
        "SECRET_KEY": "worker-test-secret-0123456789abcdefghijklmnopqrstuvwxyz", "ENVIRONMENT": "test",
        "OUTBOX_INTERVAL_S": "0.2"}
    r = _cli("worker", "--once", env=env)
    assert r.returncode == 0, r.stderr
    # a running worker holds the file's worker lock: a second worker and a serve with its own worker are refused
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        first = subprocess.Popen([sys.executable, "-m", "app", "worker", "--no-migrate"], cwd=ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "worker running" not in log.read_text():
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "worker running every 0.2 s on sqlite" in log.read_text()
        probe = _cli("worker", "--once", "--no-migrate", env=env)
        assert probe.returncode == 2 and "another worker already runs" in probe.stderr
        served = _cli("serve", "--port", "1", "--no-migrate", env=env, timeout=60)
        assert served.returncode == 2 and "serve --no-worker" in served.stderr
    finally:
        first.terminate()
        first.wait(timeout=20)
    assert first.returncode == 0, log.read_text()  # stopped cleanly on SIGTERM
    # once it is gone, the next worker takes the lock
    assert _cli("worker", "--once", "--no-migrate", env=env).returncode == 0
