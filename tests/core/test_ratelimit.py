"""Rate limits on sign-in, activation and WeChat login: in memory, and on the real Redis when REDIS_URL is set."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from app.core.ratelimit import ACTIVATE_FAILURES_PER_PHONE, LOGIN_FAILURES_PER_ACCOUNT
from app.main import create_app
from tests.factories import ADMIN_PASSWORD, bootstrap_admin

BACKENDS = ["memory"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=BACKENDS)
async def limited_client(request, settings, clock, wechat):
    redis_url = os.environ.get("REDIS_URL") if request.param == "redis" else None
    s = settings.model_copy(update={"rate_limit_enabled": True, "redis_url": redis_url,
                                    "rate_limit_prefix": f"rl-test-{uuid.uuid4().hex[:8]}:"})
    http = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    application = create_app(s, clock=clock, http=http)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as c:
        yield application, c
    await application.state.rate_limits.limiter.close()
    await http.aclose()
    await application.state.db.dispose()


async def test_login_failures_lock_the_account(limited_client) -> None:
    app, client = limited_client
    await bootstrap_admin(app)
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT.limit):
        r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong-guess-1"})
        assert r.status_code == 401
    # even the right password is refused now: the account is cooling down
    r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 429 and r.json()["code"] == "auth.rate_limited"
    assert int(r.headers["Retry-After"]) > 0


async def test_activation_guesses_capped_per_phone(limited_client) -> None:
    _, client = limited_client
    body = {"phone": "13700000000", "name": "猜码者"}
    for i in range(ACTIVATE_FAILURES_PER_PHONE.limit):
        r = await client.post("/api/v1/auth/activate", json=body | {"activation_code": f"AAAA-BBBB-C{i:03d}"})
        assert r.status_code == 400
    r = await client.post("/api/v1/auth/activate", json=body | {"activation_code": "AAAA-BBBB-CCCC"})
    assert r.status_code == 429


async def test_wechat_login_per_ip(limited_client) -> None:
    _, client = limited_client
    codes = [await client.post("/api/v1/auth/wechat", json={"code": f"c{i}"}) for i in range(31)]
    assert [r.status_code for r in codes[:30]] == [401] * 30
    assert codes[30].status_code == 429
