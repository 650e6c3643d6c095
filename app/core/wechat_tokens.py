"""WeChat's access token, fetched by one instance at a time and shared by all of them.

WeChat keeps one access token per appid: fetching a new one (``/cgi-bin/token``) retires the previous one
within minutes, so instances that each fetched their own would keep invalidating each other's. The token is
therefore kept in a :class:`TokenStore` with its expiry (taken five minutes early, so it is refreshed before
WeChat lets it lapse), and fetched under the store's lock by whoever first finds it missing, expired or
rejected; the others wait and then read what was fetched.

* :class:`MemoryTokenStore` — one process. Enough where one process sends: SQLite deployments (the worker,
  in the app or as ``python -m app worker``, is the only sender, and only one may run on a SQLite file), and
  tests.
* :class:`RedisTokenStore` — ``REDIS_URL``: the token under ``wx:token:<base>|<appid>`` (it lapses in Redis
  when it expires), the lock a ``SET NX PX`` key released only by its holder. Several workers on PostgreSQL
  share a token this way.

Times are the app's clock (the injected one), like every other expiry in the app.

The store lives in core so that every caller of WeChat's server API shares it: turnout's sender
(:mod:`app.turnout.sender`) and the server-API client auth uses (:mod:`app.core.wechat`) keep the token under
the same key (``<base>|<appid>``), so there is one token per appid, not one per caller.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from app.core.clock import Clock

LOCK_TTL = timedelta(seconds=15)  # longer than a token fetch may take (WECHAT_TIMEOUT_S, 5 s by default)
POLL_S = 0.05


@dataclass(frozen=True)
class CachedToken:
    value: str
    expires_at: datetime  # the app clock's instant after which it is fetched again


class TokenBusy(Exception):
    """Another instance held the fetch lock for longer than :data:`LOCK_TTL`."""


class TokenStore(Protocol):
    async def get(self, key: str) -> CachedToken | None: ...

    async def put(self, key: str, token: CachedToken) -> None: ...

    def fetching(self, key: str) -> AbstractAsyncContextManager[None]:
        """Held while the token of ``key`` is being fetched: one fetcher at a time, across every instance
        that shares the store."""
        ...


@dataclass
class MemoryTokenStore:
    tokens: dict[str, CachedToken] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, key: str) -> CachedToken | None:
        return self.tokens.get(key)

    async def put(self, key: str, token: CachedToken) -> None:
        self.tokens[key] = token

    @asynccontextmanager
    async def fetching(self, key: str) -> AsyncIterator[None]:
        async with self.lock:
            yield


_MEMORY: weakref.WeakKeyDictionary[httpx.AsyncClient, MemoryTokenStore] = weakref.WeakKeyDictionary()


def memory_store_for(http: httpx.AsyncClient) -> MemoryTokenStore:
    """One in-memory store per HTTP client (the app's client lives as long as the app)."""
    store = _MEMORY.get(http)
    if store is None:
        store = MemoryTokenStore()
        _MEMORY[http] = store
    return store


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    """The token in Redis, shared by every instance that uses the same Redis and ``prefix``."""

    def __init__(self, redis: Any, clock: Clock, *, prefix: str = "wx:token:") -> None:
        self.redis = redis
        self.clock = clock
        self.prefix = prefix
        self._local = asyncio.Lock()  # this process's callers queue here, not on Redis

    async def get(self, key: str) -> CachedToken | None:
        raw = await self.redis.get(self.prefix + key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return CachedToken(str(data["value"]), datetime.fromisoformat(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: fetched again

    async def put(self, key: str, token: CachedToken) -> None:
        ttl_ms = int((token.expires_at - self.clock.now()) / timedelta(milliseconds=1))
        if ttl_ms <= 0:
            return
        await self.redis.set(self.prefix + key,
                             json.dumps({"value": token.value, "expires_at": token.expires_at.isoformat()}),
                             px=ttl_ms)

    @asynccontextmanager
    async def fetching(self, key: str) -> AsyncIterator[None]:
        lock_key, me = f"{self.prefix}{key}:lock", secrets.token_hex(16)
        ttl_ms = int(LOCK_TTL / timedelta(milliseconds=1))
        async with self._local:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + LOCK_TTL.total_seconds()
            while not await self.redis.set(lock_key, me, nx=True, px=ttl_ms):
                if loop.time() > deadline:
                    raise TokenBusy("token: another instance is fetching it")
                await asyncio.sleep(POLL_S)
            try:
                yield
            finally:
                await self.redis.eval(_RELEASE, 1, lock_key, me)
