"""WeChat's access-token store moved to :mod:`app.core.wechat_tokens` (auth, below turnout, shares it); the
names stay importable from here."""

from __future__ import annotations

from app.core.wechat_tokens import (
    LOCK_TTL,
    POLL_S,
    CachedToken,
    DatabaseTokenStore,
    MemoryTokenStore,
    RedisTokenStore,
    TokenBusy,
    TokenStore,
)

__all__ = ["LOCK_TTL", "POLL_S", "CachedToken", "DatabaseTokenStore", "MemoryTokenStore", "RedisTokenStore",
           "TokenBusy", "TokenStore"]
