"""Fixed-window rate limits for sign-in, activation and WeChat login.

In memory by default (one process); Redis (``REDIS_URL``) when several instances share the limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from app.core.errors import TooManyRequests


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_s: int


# attempts per client address, and failures per account / phone
LOGIN_PER_IP = Limit("login-ip", 30, 60)
LOGIN_FAILURES_PER_ACCOUNT = Limit("login-fail", 8, 900)
ACTIVATE_PER_IP = Limit("activate-ip", 20, 60)
ACTIVATE_FAILURES_PER_IP = Limit("activate-fail-ip", 10, 3600)
ACTIVATE_FAILURES_PER_PHONE = Limit("activate-fail-phone", 5, 3600)
WECHAT_PER_IP = Limit("wechat-ip", 30, 60)


class Limiter(Protocol):
    async def count(self, key: str, window_s: int) -> int: ...
    async def incr(self, key: str, window_s: int) -> int: ...
    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, tuple[int, int]] = {}
        self._clock = clock

    def _window(self, window_s: int) -> int:
        return int(self._clock() // window_s)

    async def count(self, key: str, window_s: int) -> int:
        w = self._window(window_s)
        slot, n = self._buckets.get(key, (w, 0))
        return n if slot == w else 0

    async def incr(self, key: str, window_s: int) -> int:
        w = self._window(window_s)
        slot, n = self._buckets.get(key, (w, 0))
        n = n + 1 if slot == w else 1
        self._buckets[key] = (w, n)
        if len(self._buckets) > 100_000:  # bound memory: drop stale windows
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] == w}
        return n

    async def close(self) -> None:
        return None


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "rl:") -> None:
        import redis.asyncio as redis

        self._r = redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    def _key(self, key: str, window_s: int) -> str:
        return f"{self._prefix}{key}:{int(time.time() // window_s)}"

    async def count(self, key: str, window_s: int) -> int:
        v = await self._r.get(self._key(key, window_s))
        return int(v or 0)

    async def incr(self, key: str, window_s: int) -> int:
        k = self._key(key, window_s)
        pipe = self._r.pipeline()
        pipe.incr(k)
        pipe.expire(k, window_s + 1)
        n, _ = await pipe.execute()
        return int(n)

    async def close(self) -> None:
        await self._r.aclose()


def make_limiter(redis_url: str | None, prefix: str = "rl:") -> Limiter:
    return RedisLimiter(redis_url, prefix) if redis_url else MemoryLimiter()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse(limit: Limit) -> TooManyRequests:
    return TooManyRequests("auth.rate_limited", "尝试次数过多，请稍后再试", "Too many attempts, try again later",
                           retry_after=limit.window_s)


class RateLimits:
    """What the auth routes call; a no-op when rate limiting is disabled."""

    def __init__(self, limiter: Limiter, enabled: bool) -> None:
        self.limiter = limiter
        self.enabled = enabled

    async def hit(self, limit: Limit, subject: str) -> None:
        """Count an attempt; refuse when over the limit."""
        if not self.enabled:
            return
        if await self.limiter.incr(f"{limit.name}:{subject}", limit.window_s) > limit.limit:
            raise _refuse(limit)

    async def check(self, limit: Limit, subject: str) -> None:
        """Refuse if the failures already recorded reach the limit (does not count)."""
        if not self.enabled:
            return
        if await self.limiter.count(f"{limit.name}:{subject}", limit.window_s) >= limit.limit:
            raise _refuse(limit)

    async def fail(self, limit: Limit, subject: str) -> None:
        if self.enabled:
            await self.limiter.incr(f"{limit.name}:{subject}", limit.window_s)


def get_rate_limits(request: Request) -> RateLimits:
    return request.app.state.rate_limits
