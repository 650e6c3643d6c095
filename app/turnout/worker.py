"""The outbox worker: delivers queued messages with retries and exponential backoff.

:func:`run_outbox_once` processes due messages in small batches, each in short transactions of its own: a
batch is claimed (status ``in_progress`` with a lease) in one transaction, sent outside any transaction
(never holding the SQLite writer while waiting for WeChat), and the results are recorded in another. A
message that fails is tried again after 1, 2, 4, 8 … minutes (capped at 30) and is marked ``failed`` after
``MAX_ATTEMPTS`` attempts (at once when WeChat's answer cannot change, e.g. the user refused), with the
errcode kept; a failing message never holds back the others. Template data is fitted to WeChat's field rules
(:mod:`app.rules.wechat_fields`) before any sender sees it (data that cannot be fitted: failed at once), and
WeChat's 43101 (the user refused, or has no subscription left) also sets the user's grants of the template to
zero (:mod:`app.turnout.grants`). A worker that dies mid-batch leaves its claims
to expire (lease), and they are taken up again: delivery is at least once.

:func:`tick` is one round of the periodic work: every step of :data:`STEPS` in turn (due motions closed — and
the rolls of opened motions nobody touched frozen —, the rolls of opened questionnaires nobody touched frozen,
supervision's deadline warnings and escalations, automatic reminders — which then count the frozen rolls —,
then the outbox, so that what a step queued goes out in the same round); a step that fails is logged and the others still run. To add periodic
work, write ``async def step(app) -> dict[str, int]`` (counts for the log; short transactions of its own,
idempotent: two workers may run it at the same moment) and put it in :data:`STEPS` before the outbox.

Where it runs: :func:`install_outbox_worker` runs :class:`OutboxWorker` in the app's process for the app's
lifetime (``RUN_WORKER``, the default: one instance, SQLite); ``python -m app worker`` runs it alone, next to
app instances started with ``serve --no-worker``. Several workers on PostgreSQL are safe: claims skip rows
another worker holds (``FOR UPDATE SKIP LOCKED``) and are compare-and-set, a motion is closed under its row
lock once, reminders are unique per household and day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import new_id
from app.core.wechat_tokens import DatabaseTokenStore, RedisTokenStore, TokenStore
from app.rules.wechat_fields import FieldError, fit_data
from app.turnout import repository as repo
from app.turnout.grants import template_of
from app.turnout.models import OutboxStatus
from app.turnout.sender import NO_SUBSCRIPTION, Outbound, Sender, SendResult, make_sender

log = logging.getLogger("app.turnout.worker")

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=30)
LEASE = timedelta(minutes=5)
BATCH_SIZE = 10
MAX_PER_RUN = 200
DEFAULT_INTERVAL_S = 10.0


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: 1, 2, 4, 8 … minutes, capped."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def _maker(db: Any) -> Any:
    """A session factory from an app.core.db.Database (its writer) or an async_sessionmaker."""
    return db.write_session if hasattr(db, "write_session") else db


def _expired(payload: dict[str, Any], now: datetime) -> bool:
    raw = payload.get("expires_at")
    if not isinstance(raw, str):
        return False
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return False
    return at.tzinfo is not None and now >= at


async def _deliver(sender: Sender, message: Outbound, clock: Clock) -> SendResult:
    if _expired(message.payload, clock.now()):
        return SendResult(ok=False, error="expired: the item closed before delivery", permanent=True)
    if message.channel == "wechat_subscribe":
        try:  # WeChat's field rules (thing ≤ 20 characters, phrase, time, number …), for every sender
            data = fit_data(message.payload.get("data") or {})
        except FieldError as exc:
            return SendResult(ok=False, error=f"template data: {exc}"[:500], permanent=True)
        message = replace(message, payload={**message.payload, "data": data})
    try:
        return await sender.send(message)
    except Exception as exc:  # noqa: BLE001 - one broken message must not stop the batch
        log.exception("outbox message %s: sender error", message.id)
        return SendResult(ok=False, error=f"sender error: {type(exc).__name__}"[:500])


def _outcome(result: SendResult, attempts: int, now: datetime, max_attempts: int) -> tuple[str, dict[str, Any]]:
    if result.ok:
        return "sent", {"status": OutboxStatus.SENT.value, "sent_at": now, "last_error": None, "last_errcode": None}
    base = {"last_error": (result.error or "error")[:500], "last_errcode": result.errcode}
    if result.permanent or attempts >= max_attempts:
        return "failed", {**base, "status": OutboxStatus.FAILED.value}
    return "retrying", {**base, "status": OutboxStatus.PENDING.value, "next_attempt_at": now + backoff(attempts)}


async def run_outbox_once(db: Any, *, http: httpx.AsyncClient, settings: Settings, clock: Clock,
                          sender: Sender | None = None, batch_size: int = BATCH_SIZE,
                          max_messages: int = MAX_PER_RUN, redis: Any = None,
                          tokens: TokenStore | None = None) -> dict[str, int]:
    """Deliver the messages due now; returns counts {claimed, sent, retrying, failed}.

    ``db``: the app's Database (``app.state.db``) or a session factory. ``tokens``: the app's WeChat token store
    (``app.state.wechat_tokens``); without it, one for this run on ``redis`` (the app's Redis client) if given,
    else on ``db`` — the token is shared through either.
    """
    maker = _maker(db)
    if tokens is None and sender is None and settings.outbox_sender == "wechat":
        tokens = (RedisTokenStore(redis, clock) if redis is not None
                  else DatabaseTokenStore(maker, clock, reader=getattr(db, "read_session", None)))
    sender = sender or make_sender(http=http, settings=settings, clock=clock, tokens=tokens)
    max_attempts = int(getattr(settings, "outbox_max_attempts", MAX_ATTEMPTS))
    stats = {"claimed": 0, "sent": 0, "retrying": 0, "failed": 0}
    while stats["claimed"] < max_messages:
        token = new_id()
        now = clock.now()
        async with maker() as session:
            batch = await repo.claim_due(session, now=now, lease_until=now + LEASE, token=token,
                                         limit=min(batch_size, max_messages - stats["claimed"]))
            claimed = [(Outbound(m.id, m.channel, m.recipient, dict(m.payload), m.user_id), m.attempts)
                       for m in batch]
            await session.commit()
        if not claimed:
            break
        stats["claimed"] += len(claimed)
        results = await asyncio.gather(*(_deliver(sender, m, clock) for m, _ in claimed))
        done_at = clock.now()
        async with maker() as session:
            for (message, attempts), result in zip(claimed, results, strict=True):
                kind, values = _outcome(result, attempts, done_at, max_attempts)
                if await repo.record_outcome(session, message_id=message.id, token=token, values=values):
                    stats[kind] += 1
                    if result.errcode == NO_SUBSCRIPTION and message.user_id:  # WeChat: none left
                        await repo.clear_grant(session, user_id=message.user_id,
                                               template_id=template_of(message.payload), now=done_at)
                if kind == "failed":
                    log.warning("outbox message %s failed after %s attempts: %s", message.id, attempts,
                                values["last_error"])
            await session.commit()
    return stats


TickStep = Callable[[Any], Awaitable[dict[str, int]]]


async def close_motions(app: Any) -> dict[str, int]:
    """Finalise the motions whose deadline passed (stored tally, vote-result notice)."""
    from app.voting.service import close_due_motions

    async with app.state.db.write_session() as session:
        closed = await close_due_motions(session, now=app.state.clock.now())
        await session.commit()
    return {"closed": len(closed)}


async def freeze_questionnaire_rolls(app: Any) -> dict[str, int]:
    """Freeze the electoral roll of every opened questionnaire whose rule counts households and that nobody
    has touched since it opened (app.surveys: audited, recorded at this round's time)."""
    from app.surveys.service import freeze_due_rolls

    async with app.state.db.write_session() as session:
        frozen = await freeze_due_rolls(session, now=app.state.clock.now())
        await session.commit()
    return {"questionnaire_rolls_frozen": frozen}


async def supervision_deadlines(app: Any) -> dict[str, int]:
    """Queue supervision's deadline warnings and escalations that are due (once each per deadline)."""
    from app.supervision.service import run_deadline_alerts

    async with app.state.db.write_session() as session:
        run = await run_deadline_alerts(session, now=app.state.clock.now())
        await session.commit()
    return {"deadline_warnings": run.warnings, "escalations": run.escalations}


async def queue_reminders(app: Any) -> dict[str, int]:
    """Queue the automatic reminders that are due."""
    from app.turnout.service import schedule_due_reminders

    async with app.state.db.write_session() as session:
        queued = await schedule_due_reminders(session, now=app.state.clock.now())
        await session.commit()
    return {"queued": queued}


async def deliver_outbox(app: Any) -> dict[str, int]:
    return await run_outbox_once(app.state.db, http=app.state.http, settings=app.state.settings,
                                 clock=app.state.clock, tokens=app.state.wechat_tokens)


# the round, in order; the outbox last (see the module's docstring to add a step)
STEPS: list[tuple[str, TickStep]] = [
    ("close_motions", close_motions),
    ("questionnaire_rolls", freeze_questionnaire_rolls),
    ("supervision_deadlines", supervision_deadlines),
    ("reminders", queue_reminders),
    ("outbox", deliver_outbox),
]


async def tick(app: Any) -> dict[str, int]:
    """One round of the worker: each of :data:`STEPS`; a failing step is logged (``errors`` counts them) and
    does not keep the next ones from running."""
    stats: dict[str, int] = {"errors": 0}
    for name, step in STEPS:
        try:
            stats.update(await step(app))
        except Exception:  # noqa: BLE001 - one bad step (database hiccup, a bug) must not stop the others
            log.exception("worker step %s failed", name)
            stats["errors"] += 1
    return stats


class OutboxWorker:
    def __init__(self, app: Any, *, interval_s: float) -> None:
        self.app = app
        self.interval_s = interval_s
        self.wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await tick(self.app)
            except Exception:  # noqa: BLE001 - the loop must survive a bad round (database down, …)
                log.exception("outbox worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.interval_s)
            self.wakeup.clear()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="turnout-outbox-worker")

    async def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()


def wake_outbox(app: Any) -> None:
    """Ask a running worker to go now (after a request queued messages and committed)."""
    worker = getattr(app.state, "outbox_worker", None)
    if worker is not None:
        worker.wakeup.set()


def install_outbox_worker(app: Any, *, interval_s: float | None = None) -> None:
    """Run the outbox worker for the app's lifetime (wraps the app's lifespan: started after the app's own
    startup, stopped before its shutdown closes the HTTP client and the database). Interval:
    ``interval_s``, else ``settings.outbox_interval_s`` if defined, else 10 s."""
    settings = app.state.settings
    interval = interval_s or float(getattr(settings, "outbox_interval_s", DEFAULT_INTERVAL_S))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            worker = OutboxWorker(app, interval_s=interval)
            app.state.outbox_worker = worker
            worker.start()
            try:
                yield state
            finally:
                await worker.stop()
                app.state.outbox_worker = None

    app.router.lifespan_context = lifespan
