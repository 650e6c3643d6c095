"""WeChat's access token: one per appid, refreshed by one caller at a time and shared by every instance.

The token comes from WeChat's stable-token API (:meth:`app.core.wechat.WechatClient._fetch_token`). Asked
again before it lapses, that API answers the same token, so instances that race do not invalidate each other;
only a *forced* refresh (``force_refresh: true``) replaces it at once, and WeChat allows 20 of those a day.

A :class:`TokenStore` keeps the token with three instants of the app's clock (the injected one):

* ``refresh_at`` — five minutes before it lapses (half its life when WeChat gives less than ten minutes): from
  then on one caller refreshes it;
* ``expires_at`` — when WeChat lets it lapse: until then the others keep using it while that caller refreshes;
* ``forced_at`` — when a forced refresh produced it: a token forced less than :data:`FORCE_INTERVAL` ago is not
  forced again (a token WeChat keeps refusing is a problem for staff, not a reason to spend the day's 20).

:meth:`TokenStore.token` is the whole protocol. Each store keeps the token in memory per process in front of
the shared copy, so most calls touch neither Redis nor the database; this process's callers queue on one local
lock, so one of them goes to the shared copy. There, the caller that takes the refresh *lease* (one holder at
a time, across every instance, for :data:`LEASE`) reads the shared copy again and, if it is still due, fetches;
the others use the current token while it is valid, or wait (polling every :data:`POLL_S`, at most
:data:`WAIT`) and read what the holder stored. A caller whose call WeChat answered "invalid token" passes it
as ``stale``: it is refreshed with ``force_refresh`` only if the shared copy is still that token (another
caller may have replaced it already).

The shared copy, chosen once at start-up (:func:`make_token_store`):

* :class:`RedisTokenStore` — ``REDIS_URL``: the token under ``wx:token:<base>|<appid>`` (it lapses in Redis
  when WeChat lets it lapse), the lease a ``SET NX PX`` key released only by its holder.
* :class:`DatabaseTokenStore` — otherwise on PostgreSQL: the ``wechat_token`` table, one row per API base and appid, in short
  transactions of its own (never the request's: a rollback does not lose the token, a lease does not block the
  request). The lease is taken by an atomic ``UPDATE … WHERE lease_until <= now`` (PostgreSQL re-checks it on
  the row version it waited for; SQLite has one writer, ``BEGIN IMMEDIATE``); the token is written by its
  holder in one statement with the lease's release, so a row never holds half a token.
* :class:`MemoryTokenStore` — one process: on SQLite (see :func:`make_token_store`), and for a client built
  outside an app (tests).

Turnout's sender (:mod:`app.turnout.sender`) and the server-API client auth uses (:mod:`app.core.wechat`) take
the app's one store and the same key (``<base>|<appid>``): one token per appid, not one per caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from app.core.clock import Clock
from app.core.db import Database, upsert_insert
from app.core.models import WechatToken

log = logging.getLogger("app.core.wechat_tokens")

LEASE = timedelta(seconds=15)  # longer than a token fetch may take (WECHAT_TIMEOUT_S, 5 s by default)
LOCK_TTL = LEASE  # the name turnout's re-exports use
WAIT = timedelta(seconds=15)  # how long a caller without a usable token waits for another one's refresh
POLL_S = 0.05
FORCE_INTERVAL = timedelta(minutes=5)  # a token forced this recently is not forced again (WeChat: 20 a day)


@dataclass(frozen=True)
class CachedToken:
    value: str
    refresh_at: datetime  # from then on one caller refreshes it
    expires_at: datetime  # WeChat lets it lapse; the others use it until then
    forced_at: datetime | None = None  # it came from a forced refresh at this instant

    def fresh(self, now: datetime, stale: str | None) -> bool:
        return self.value != stale and now < self.refresh_at

    def valid(self, now: datetime, stale: str | None) -> bool:
        return self.value != stale and now < self.expires_at


Fetch = Callable[[bool], Awaitable[CachedToken]]
"""Fetches a token from WeChat; the argument is ``force_refresh``."""


class TokenBusy(Exception):
    """Another caller held the refresh lease for longer than :data:`WAIT`, and there was no valid token."""


class TokenStore:
    """The protocol (in-memory front, local queue, shared copy with a lease); subclasses keep the shared copy."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._front: dict[str, CachedToken] = {}
        self._local = asyncio.Lock()  # this process's callers queue here, not on the shared copy

    # ---- the shared copy (one implementation per backend) ------------------------------------------------
    async def read(self, key: str) -> CachedToken | None:
        raise NotImplementedError

    async def acquire(self, key: str, holder: str, until: datetime) -> bool:
        """Take the refresh lease of ``key`` if nobody holds it (or the holder's lapsed)."""
        raise NotImplementedError

    async def write(self, key: str, token: CachedToken, holder: str) -> bool:
        """Store the token and release the lease, only if ``holder`` still holds it."""
        raise NotImplementedError

    async def release(self, key: str, holder: str) -> None:
        """Release the lease without a new token (the fetch failed): the stored token stays as it was."""
        raise NotImplementedError

    # ---- the protocol ------------------------------------------------------------------------------------
    def cached(self, key: str) -> CachedToken | None:
        """This process's copy (no I/O)."""
        return self._front.get(key)

    async def token(self, key: str, fetch: Fetch, *, stale: str | None = None) -> str:
        """The token of ``key``: this process's copy while fresh, else the shared one, else fetched by the one
        caller holding the lease. ``stale``: WeChat refused this token (refreshed, forced, unless the shared
        copy is already another one)."""
        cur = self._front.get(key)
        if cur is not None and cur.fresh(self.clock.now(), stale):
            return cur.value
        if cur is not None and self._local.locked() and cur.valid(self.clock.now(), stale):
            return cur.value  # this process is refreshing it; the current one still works meanwhile
        async with self._local:
            cur = self._front.get(key)
            if cur is not None and cur.fresh(self.clock.now(), stale):
                return cur.value
            return await self._shared(key, fetch, stale)

    async def _shared(self, key: str, fetch: Fetch, stale: str | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT.total_seconds()
        while True:
            cur = await self.read(key)
            now = self.clock.now()
            if cur is not None and cur.fresh(now, stale):
                self._front[key] = cur
                return cur.value
            holder = secrets.token_hex(16)
            if await self.acquire(key, holder, now + LEASE):
                return await self._refresh(key, fetch, stale, holder)
            if cur is not None and cur.valid(now, stale):
                return cur.value  # another instance is refreshing it; this one still works meanwhile
            if loop.time() >= deadline:
                raise TokenBusy("access token: another instance holds the refresh lease")
            await asyncio.sleep(POLL_S)

    async def _refresh(self, key: str, fetch: Fetch, stale: str | None, holder: str) -> str:
        stored = False
        try:
            cur = await self.read(key)  # again, under the lease: the previous holder may have just stored one
            now = self.clock.now()
            if cur is not None and cur.fresh(now, stale):
                self._front[key] = cur
                return cur.value
            force = stale is not None and (cur is None or cur.value == stale)
            if force and cur is not None and cur.forced_at is not None and now - cur.forced_at < FORCE_INTERVAL:
                log.warning("WeChat refused the access token of %s again %s after a forced refresh: not forced "
                            "again before %s", key, now - cur.forced_at, FORCE_INTERVAL)
                return cur.value  # the caller's retry answers WeChat's refusal
            try:
                fresh = await fetch(force)
            except Exception:
                if cur is None or not cur.valid(now, stale):
                    raise
                log.warning("access token of %s: refresh failed, the current one is used until %s", key,
                            cur.expires_at, exc_info=True)
                return cur.value
            try:
                stored = await self.write(key, fresh, holder)
            except Exception:  # noqa: BLE001 - the token works; the next caller will store one
                log.exception("access token of %s: fetched but not stored", key)
            if not stored:
                log.warning("access token of %s: the lease lapsed during the fetch; not stored", key)
            self._front[key] = fresh
            return fresh.value
        finally:
            if not stored:
                try:
                    await self.release(key, holder)
                except Exception:  # noqa: BLE001 - the lease lapses by itself
                    log.exception("access token of %s: lease not released", key)


class MemoryTokenStore(TokenStore):
    """One process, no database (a client built outside an app: tests)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.tokens: dict[str, CachedToken] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}

    async def read(self, key: str) -> CachedToken | None:
        return self.tokens.get(key)

    async def acquire(self, key: str, holder: str, until: datetime) -> bool:
        lease = self.leases.get(key)
        if lease is not None and lease[1] > self.clock.now():
            return False
        self.leases[key] = (holder, until)
        return True

    async def write(self, key: str, token: CachedToken, holder: str) -> bool:
        if self.leases.get(key, ("", None))[0] != holder:
            return False
        self.tokens[key] = token
        del self.leases[key]
        return True

    async def release(self, key: str, holder: str) -> None:
        if self.leases.get(key, ("", None))[0] == holder:
            del self.leases[key]


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_WRITE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""


def _when(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


class RedisTokenStore(TokenStore):
    """The token in Redis, shared by every instance that uses the same Redis and ``prefix``."""

    def __init__(self, redis: Any, clock: Clock, *, prefix: str = "wx:token:") -> None:
        super().__init__(clock)
        self.redis = redis
        self.prefix = prefix

    async def read(self, key: str) -> CachedToken | None:
        raw = await self.redis.get(self.prefix + key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            expires_at = datetime.fromisoformat(data["expires_at"])
            refresh_at = _when(data.get("refresh_at")) or expires_at  # written before stable_token: one instant
            return CachedToken(str(data["value"]), refresh_at, expires_at, _when(data.get("forced_at")))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: fetched again

    async def acquire(self, key: str, holder: str, until: datetime) -> bool:
        ttl_ms = max(int((until - self.clock.now()) / timedelta(milliseconds=1)), 1)
        return bool(await self.redis.set(f"{self.prefix}{key}:lock", holder, nx=True, px=ttl_ms))

    async def write(self, key: str, token: CachedToken, holder: str) -> bool:
        ttl_ms = int((token.expires_at - self.clock.now()) / timedelta(milliseconds=1))
        if ttl_ms <= 0:
            return False
        data = {"value": token.value, "refresh_at": token.refresh_at.isoformat(),
                "expires_at": token.expires_at.isoformat(),
                "forced_at": token.forced_at.isoformat() if token.forced_at else None}
        return bool(await self.redis.eval(_WRITE, 2, self.prefix + key, f"{self.prefix}{key}:lock", holder,
                                          json.dumps(data), ttl_ms))

    async def release(self, key: str, holder: str) -> None:
        await self.redis.eval(_RELEASE, 1, f"{self.prefix}{key}:lock", holder)


class DatabaseTokenStore(TokenStore):
    """The token in the ``wechat_token`` table, in transactions of its own (``sessions``: the app's writer;
    ``reader``: where plain reads go — on SQLite not the one writer)."""

    def __init__(self, sessions: Any, clock: Clock, *, reader: Any = None) -> None:
        super().__init__(clock)
        self.sessions = sessions
        self.reader = reader or sessions

    @classmethod
    def of(cls, db: Database, clock: Clock) -> DatabaseTokenStore:
        return cls(db.write_session, clock, reader=db.read_session)

    async def read(self, key: str) -> CachedToken | None:
        async with self.reader() as session:
            row = (await session.exec(select(WechatToken).where(col(WechatToken.token_key) == key))).first()
        if row is None or row.access_token is None or row.refresh_at is None or row.expires_at is None:
            return None
        return CachedToken(row.access_token, row.refresh_at, row.expires_at, row.forced_at)

    async def acquire(self, key: str, holder: str, until: datetime) -> bool:
        now = self.clock.now()
        async with self.sessions() as session:
            first = (upsert_insert(session, WechatToken)
                     .values(token_key=key, lease_holder=holder, lease_until=until)
                     .on_conflict_do_nothing().returning(col(WechatToken.token_key)))
            taken = (await session.exec(first)).first() is not None
            if not taken:
                free = or_(col(WechatToken.lease_until).is_(None), col(WechatToken.lease_until) <= now)
                take = (update(WechatToken).where(col(WechatToken.token_key) == key, free)
                        .values(lease_holder=holder, lease_until=until).returning(col(WechatToken.token_key)))
                taken = (await session.exec(take)).first() is not None
            await session.commit()
        return taken

    async def write(self, key: str, token: CachedToken, holder: str) -> bool:
        async with self.sessions() as session:
            stmt = (update(WechatToken)
                    .where(col(WechatToken.token_key) == key, col(WechatToken.lease_holder) == holder)
                    .values(access_token=token.value, fetched_at=self.clock.now(), refresh_at=token.refresh_at,
                            expires_at=token.expires_at, forced_at=token.forced_at, lease_holder=None,
                            lease_until=None)
                    .returning(col(WechatToken.token_key)))
            stored = (await session.exec(stmt)).first() is not None
            await session.commit()
        return stored

    async def release(self, key: str, holder: str) -> None:
        mine = (col(WechatToken.token_key) == key, col(WechatToken.lease_holder) == holder)
        async with self.sessions() as session:
            # a row made only for this lease goes with it; a row with a token keeps it as it was
            await session.exec(delete(WechatToken).where(*mine, col(WechatToken.access_token).is_(None)))
            await session.exec(update(WechatToken).where(*mine).values(lease_holder=None, lease_until=None))
            await session.commit()


def make_token_store(*, clock: Clock, redis: Any, db: Database) -> TokenStore:
    """The app's one store, chosen at start-up: Redis when ``REDIS_URL`` is set, else PostgreSQL's
    ``wechat_token`` table, else (SQLite) this process's memory.

    SQLite has one writer, and a request that writes holds it from its first statement: a request that asks
    WeChat something (a content check, a phone number) while holding it would wait for itself if the token's
    refresh had to write the table. Each process there keeps its own copy instead, which the stable-token API
    makes safe: asked again before the token lapses, WeChat answers the same token, so a second process (a
    ``worker`` beside ``serve --no-worker``) never invalidates the first one's."""
    if redis is not None:
        return RedisTokenStore(redis, clock)
    if db.is_sqlite:
        return MemoryTokenStore(clock)
    return DatabaseTokenStore.of(db, clock)
