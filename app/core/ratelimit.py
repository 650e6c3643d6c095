"""Rate limits and failure back-off for sign-in, activation and WeChat login.

Everything is keyed by the client address: the socket peer, or the address a trusted proxy forwarded
(``FORWARDED_ALLOW_IPS``, none by default); IPv6 clients count by their /64.

* A :class:`Limit` caps attempts per address in a fixed window; over it → 429 until the window ends.
* A :class:`Backoff` slows failures down instead of locking anyone out: the first ``free`` failures cost
  nothing, after each further one the next attempt waits 2, 4, 8, … seconds, at most ``cap_s``; the count is
  forgotten ``forget_s`` after the last failure. Kept per address and per account (or phone) + address, so
  nobody's failures block a correct password or code sent from another address.

Counts live in memory (one process), or in Redis (``REDIS_URL``) when several instances share them. Time is
the request's (the app's injected clock), never the limiter's own.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fastapi import Request

from app.core.errors import TooManyRequests


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` attempts per fixed window of ``window_s`` seconds."""

    name: str
    limit: int
    window_s: int


@dataclass(frozen=True)
class Backoff:
    """``free`` failures, then waits of 2, 4, 8, … seconds up to ``cap_s``; forgotten after ``forget_s`` quiet."""

    name: str
    free: int
    cap_s: int
    forget_s: int = 3600

    def wait_after(self, failures: int) -> int:
        """Seconds the next attempt waits after the ``failures``-th failure."""
        if failures <= self.free:
            return 0
        return min(2 ** min(failures - self.free, 30), self.cap_s)


# README "Rate limits" states these numbers and what they mean for guessing.
LOGIN_PER_IP = Limit("login-ip", 30, 60)
LOGIN_FAILURES_PER_IP = Backoff("login-fail-ip", free=20, cap_s=300)
LOGIN_FAILURES_PER_ACCOUNT_IP = Backoff("login-fail-acct-ip", free=5, cap_s=300)
ACTIVATE_PER_IP = Limit("activate-ip", 60, 60)
ACTIVATE_FAILURES_PER_IP = Backoff("activate-fail-ip", free=30, cap_s=60)
ACTIVATE_FAILURES_PER_PHONE_IP = Backoff("activate-fail-phone-ip", free=5, cap_s=300)
WECHAT_PER_IP = Limit("wechat-ip", 60, 60)
# the lobby board (GET /board/{token}): a screen reloads once a minute; many screens may share one address
BOARD_PER_IP = Limit("board-ip", 120, 60)


class Limiter(Protocol):
    """Counters; ``now`` is the caller's clock in epoch seconds."""

    async def incr(self, key: str, window_s: int, now: float) -> int:
        """Count an attempt in the current window; the count so far in it."""
        ...

    async def failures(self, key: str, forget_s: int, now: float) -> tuple[int, float]:
        """(failures, time of the last one), or (0, 0.0) once forgotten."""
        ...

    async def fail(self, key: str, forget_s: int, now: float) -> int:
        """Record a failure at ``now``; the failures counted so far."""
        ...

    async def clear(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._failures: dict[str, tuple[int, float, float]] = {}  # key → (count, last, forgotten at)

    async def incr(self, key: str, window_s: int, now: float) -> int:
        w = int(now // window_s)
        slot, n = self._windows.get(key, (w, 0))
        n = n + 1 if slot == w else 1
        self._windows[key] = (w, n)
        if len(self._windows) > 100_000:  # bound memory: drop stale windows
            self._windows = {k: v for k, v in self._windows.items() if v[0] == w}
        return n

    async def failures(self, key: str, forget_s: int, now: float) -> tuple[int, float]:
        n, last, _ = self._failures.get(key, (0, 0.0, 0.0))
        return (n, last) if n and now - last < forget_s else (0, 0.0)

    async def fail(self, key: str, forget_s: int, now: float) -> int:
        n, _ = await self.failures(key, forget_s, now)
        self._failures[key] = (n + 1, now, now + forget_s)
        if len(self._failures) > 100_000:  # bound memory: drop forgotten failures
            self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
        return n + 1

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    async def close(self) -> None:
        return None


# Failures as a hash {n, last}; reset when the last one is older than forget_s (by the caller's clock, so an
# injected clock works too); the key's TTL only cleans up.
_FAIL_SCRIPT = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local now = tonumber(ARGV[1])
local n = 1
if last and now - last < tonumber(ARGV[2]) then
  n = (tonumber(redis.call('HGET', KEYS[1], 'n')) or 0) + 1
end
redis.call('HSET', KEYS[1], 'n', n, 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 1)
return n
"""


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "rl:") -> None:
        import redis.asyncio as redis

        self._r = redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix
        self._fail = self._r.register_script(_FAIL_SCRIPT)

    async def incr(self, key: str, window_s: int, now: float) -> int:
        k = f"{self._prefix}{key}:{int(now // window_s)}"
        pipe = self._r.pipeline()
        pipe.incr(k)
        pipe.expire(k, window_s + 1)
        n, _ = await pipe.execute()
        return int(n)

    async def failures(self, key: str, forget_s: int, now: float) -> tuple[int, float]:
        n, last = await self._r.hmget(self._prefix + key, ["n", "last"])
        if n is None or last is None or now - float(last) >= forget_s:
            return 0, 0.0
        return int(n), float(last)

    async def fail(self, key: str, forget_s: int, now: float) -> int:
        return int(await self._fail(keys=[self._prefix + key], args=[repr(now), forget_s]))

    async def clear(self, key: str) -> None:
        await self._r.delete(self._prefix + key)

    async def close(self) -> None:
        await self._r.aclose()


def make_limiter(redis_url: str | None, prefix: str = "rl:") -> Limiter:
    return RedisLimiter(redis_url, prefix) if redis_url else MemoryLimiter()


def client_ip(request: Request) -> str:
    """The address limits count by: the peer (or what a trusted proxy forwarded); an IPv6 client's /64."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _refuse(retry_after: float) -> TooManyRequests:
    return TooManyRequests("auth.rate_limited", "尝试次数过多，请稍后再试", "Too many attempts, try again later",
                           retry_after=max(1, math.ceil(retry_after)))


class RateLimits:
    """What the auth routes call with the request's time; a no-op when rate limiting is disabled."""

    def __init__(self, limiter: Limiter, enabled: bool) -> None:
        self.limiter = limiter
        self.enabled = enabled

    async def hit(self, limit: Limit, subject: str, at: datetime) -> None:
        """Count an attempt; refuse (until the window ends) when over the limit."""
        if not self.enabled:
            return
        now = at.timestamp()
        if await self.limiter.incr(f"{limit.name}:{subject}", limit.window_s, now) > limit.limit:
            raise _refuse(limit.window_s - now % limit.window_s)

    async def check(self, backoff: Backoff, subject: str, at: datetime) -> None:
        """Refuse while ``subject`` is waiting after its last failure (does not count)."""
        if not self.enabled:
            return
        now = at.timestamp()
        n, last = await self.limiter.failures(f"{backoff.name}:{subject}", backoff.forget_s, now)
        wait = last + backoff.wait_after(n) - now
        if n and wait > 0:
            raise _refuse(wait)

    async def failed(self, backoff: Backoff, subject: str, at: datetime) -> None:
        if self.enabled:
            await self.limiter.fail(f"{backoff.name}:{subject}", backoff.forget_s, at.timestamp())

    async def succeeded(self, backoff: Backoff, subject: str) -> None:
        """Forget ``subject``'s failures (after a correct password: the typos were the owner's)."""
        if self.enabled:
            await self.limiter.clear(f"{backoff.name}:{subject}")


async def get_rate_limits(request: Request) -> RateLimits:
    return request.app.state.rate_limits
